//! The server under test: the real binary started, killed and restarted
//! on the same database, and what the soak reads of that database.

use super::SoakOptions;
use anyhow::{bail, Context};
use std::io::{BufRead, BufReader, Write as _};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The running server process.
pub(super) struct Server {
    child: Child,
    pub(super) port: u16,
    pub(super) started: Instant,
}

impl Server {
    pub(super) fn start(opts: &SoakOptions, token: &str, port: u16) -> anyhow::Result<Server> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(opts.dir.join("server.log"))
            .context("opening the server log")?;
        let mut child = Command::new(&opts.binary)
            .arg("--database")
            .arg(opts.dir.join("soak.db"))
            .args(["--admin-token", token])
            .args(["--webhook-allow-private", "true"])
            .args(["--trusted-proxies", "127.0.0.1/32,::1/128"])
            .args(["--forwarded-header", "x-forwarded-for"])
            .arg("serve")
            .arg("--listen")
            .arg(SocketAddr::new(opts.bind.ip(), port).to_string())
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(log.try_clone()?)
            .spawn()
            .with_context(|| format!("starting {}", opts.binary.display()))?;
        let started = Instant::now();
        let stdout = child.stdout.take().context("the server's output")?;
        let mut lines = BufReader::new(stdout).lines();
        let port = loop {
            let Some(line) = lines.next() else {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "the server ended before it listened (see {}/server.log)",
                    opts.dir.display()
                );
            };
            let line = line?;
            writeln!(&log, "{line}")?;
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let addr = rest.split_whitespace().next().unwrap_or_default();
                let port = addr.rsplit(':').next().and_then(|p| p.parse::<u16>().ok());
                break port.context("the server's address")?;
            }
        };
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let _ = writeln!(&log, "{line}");
            }
        });
        Ok(Server {
            child,
            port,
            started,
        })
    }

    /// [`Server::start`], tried again for a few seconds: the port of a
    /// process killed a moment ago may not be free yet.
    pub(super) fn restart(opts: &SoakOptions, token: &str, port: u16) -> anyhow::Result<Server> {
        let mut tries = 0;
        loop {
            match Server::start(opts, token, port) {
                Ok(server) => return Ok(server),
                Err(e) if tries < 20 => {
                    tracing::warn!(error = %e, "the server did not start; trying again");
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub(super) fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    }

    /// SIGKILL (std's `Child::kill`), and wait for the process to be gone.
    pub(super) fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill().context("killing the server")?;
        self.child.wait().context("waiting for the killed server")?;
        Ok(())
    }
}

impl Drop for Server {
    /// A soak that ends early (an error) leaves no server behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub(super) fn open_database(db: &Path) -> anyhow::Result<rusqlite::Connection> {
    let conn =
        rusqlite::Connection::open(db).with_context(|| format!("opening {}", db.display()))?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

pub(super) fn pending_deliveries(db: &Path) -> anyhow::Result<i64> {
    let conn = open_database(db)?;
    Ok(conn.query_row(
        "SELECT count(*) FROM deliveries WHERE status = 'pending'",
        [],
        |r| r.get(0),
    )?)
}

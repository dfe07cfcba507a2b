//! The README's tour, followed against the real server as written.

use super::shell::shell_commands;
use super::{downwave_invocation, fenced_blocks, scratch, BIN, ROOT};
use crate::receiver::{eventually, Receiver};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

/// A `curl` command from the docs as a request: method, path, headers, body.
struct Curl {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

fn curl(words: &[String]) -> Curl {
    let mut c = Curl {
        method: String::new(),
        path: String::new(),
        headers: Vec::new(),
        body: None,
    };
    let mut it = words.iter().skip(1);
    while let Some(w) = it.next() {
        match w.as_str() {
            "-X" => c.method = it.next().unwrap().clone(),
            "-H" => {
                let (k, v) = it.next().unwrap().split_once(':').unwrap();
                c.headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
            "-d" => c.body = Some(it.next().unwrap().clone()),
            word => {
                if let Some((_, path)) = word.split_once("localhost:8080") {
                    c.path = path.to_owned();
                }
            }
        }
    }
    if c.method.is_empty() {
        c.method = if c.body.is_some() { "POST" } else { "GET" }.to_owned();
    }
    c
}

impl Curl {
    async fn send(&self, port: u16) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(self.method.as_bytes()).unwrap();
        let mut req =
            reqwest::Client::new().request(method, format!("http://127.0.0.1:{port}{}", self.path));
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        if let Some(body) = &self.body {
            req = req.body(body.clone());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

/// A server started by a test, killed when dropped, so a failed assertion
/// leaves no process behind.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a command from the docs as written (in `dir`), on a free port
/// instead of 8080; returns it with the port.
fn start_as_written(args: &[String], dir: &Path) -> (Server, u16) {
    let mut child = Process::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("DOWNWAVE_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    let mut lines = BufReader::new(stdout).lines();
    let port = loop {
        let line = lines
            .next()
            .expect("the server printed its address")
            .unwrap();
        if let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    (server, port)
}

/// The README's tour, step by step, with its own commands: the demo, a
/// report (counted, then a duplicate), the restart with a token and a
/// webhook that receives its signed ping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_tour_works_as_written() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let commands: Vec<Vec<String>> = fenced_blocks(&readme, "sh")
        .iter()
        .flat_map(|(_, block)| shell_commands(block).unwrap())
        .map(|(_, words)| words)
        .collect();
    let downwave = |first: &[&str]| -> Vec<String> {
        commands
            .iter()
            .filter_map(|w| downwave_invocation(w).unwrap())
            .map(|e| e.args)
            .find(|args| args.iter().take(first.len()).eq(first.iter()))
            .unwrap_or_else(|| panic!("the README runs `downwave {}`", first.join(" ")))
    };
    let curl_to = |path: &str| -> Curl {
        commands
            .iter()
            .filter(|w| w[0] == "curl")
            .map(|w| curl(w))
            .find(|c| c.path == path)
            .unwrap_or_else(|| panic!("the README sends a request to {path}"))
    };
    let dir = scratch();

    // 1. The demo, and its outage.
    let demo = downwave(&["serve", "--demo"]);
    assert_eq!(demo, ["serve", "--demo"]);
    let (server, port) = start_as_written(&demo, dir.path());
    let base = format!("http://127.0.0.1:{port}");
    let home = reqwest::get(&base).await.unwrap().text().await.unwrap();
    for name in ["Claude", "AWS", "Dependent 01", "Bystander 1", "Solo"] {
        assert!(home.contains(name), "the home page lists {name}");
    }
    // The outage was moved to begin at 11:49 UTC within the last day; once
    // it is half an hour old, the detector has opened it.
    let now = chrono::Utc::now().timestamp();
    let began = downwave::sim::scenario::MARCH2_OUTAGE
        + (now - downwave::sim::scenario::MARCH2_OUTAGE).div_euclid(86_400) * 86_400;
    if now - began >= 30 * 60 {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let events: Value = reqwest::get(format!("{base}/api/v1/events"))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let found =
                events["events"].as_array().unwrap().iter().any(|e| {
                    e["service"] == "claude" && !e["waves"].as_array().unwrap().is_empty()
                });
            if found {
                break;
            }
            assert!(Instant::now() < deadline, "no claude event: {events}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // 2. A report, counted once.
    let report = curl_to("/api/v1/reports");
    let (status, body) = report.send(port).await;
    assert_eq!(
        (status, &body["counted"]),
        (202, &Value::Bool(true)),
        "{body}"
    );
    let (status, body) = report.send(port).await;
    assert_eq!((status, &body["reason"]), (200, &Value::from("duplicate")));
    drop(server);

    // 3. Restarted with a token; a webhook receives its ping.
    let with_token = downwave(&["serve", "--admin-token"]);
    let (_server, port) = start_as_written(&with_token, dir.path());
    let receiver = Receiver::start().await;
    let mut subscribe = curl_to("/api/v1/webhooks");
    let mut subscription: Value = serde_json::from_str(subscribe.body.as_deref().unwrap()).unwrap();
    // The README's receiver listens on port 9000; the test's wherever it could.
    assert_eq!(subscription["url"], "http://127.0.0.1:9000/");
    subscription["url"] = Value::from(format!("{}/", receiver.url));
    subscribe.body = Some(subscription.to_string());
    let (status, created) = subscribe.send(port).await;
    assert_eq!(status, 201, "{created}");
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    let (status, queued) = curl_to("/api/v1/webhooks/1/test").send(port).await;
    assert_eq!(status, 202, "{queued}");
    eventually("the ping", || !receiver.received().is_empty()).await;
    let ping = &receiver.received()[0];
    assert_eq!(ping.body["type"], "ping");
    assert!(ping.signature.starts_with("v1,"), "{}", ping.signature);
}

//! Which database the suite runs on. SQLite by default; with
//! `DOWNWAVE_TEST_BACKEND=postgres`, PostgreSQL: the suite starts its own
//! throwaway cluster (initdb and pg_ctl from Debian's packages, in a
//! temporary folder, as the `postgres` user when run as root, which
//! PostgreSQL refuses to run as), gives each test database path its own
//! database in it, and stops and removes it when the test process ends.

use downwave::store::Location;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// True when the suite runs on PostgreSQL.
pub fn postgres() -> bool {
    std::env::var("DOWNWAVE_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// Says that a test about what only one backend has is skipped on this run
/// (it runs in the other one). True when skipped.
pub fn skip_on_postgres(why: &str) -> bool {
    if postgres() {
        eprintln!("skipped on PostgreSQL: {why}");
    }
    postgres()
}

/// Where the test database `path` lives on this run: the file itself with
/// SQLite; with PostgreSQL, a database of the suite's cluster that belongs
/// to that path (the same on every call, so a restart finds its data).
pub fn location(path: &Path) -> Location {
    if !postgres() {
        return Location::Sqlite(path.to_owned());
    }
    static MADE: OnceLock<Mutex<Vec<(PathBuf, String)>>> = OnceLock::new();
    let mut made = MADE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some((_, url)) = made.iter().find(|(p, _)| p == path) {
        return Location::Postgres(url.clone());
    }
    let cluster = cluster();
    let name = format!("t{}_{}", std::process::id(), made.len());
    run(
        Command::new(bin_dir().join("psql"))
            .arg(cluster.url("postgres"))
            .args(["-q", "-c", &format!("CREATE DATABASE {name}")]),
        "creating a test database",
    );
    let url = cluster.url(&name);
    made.push((path.to_owned(), url.clone()));
    Location::Postgres(url)
}

/// Opens the test database `path` directly, as an operator would.
pub fn open(path: &Path) -> downwave::store::Db {
    let opts = downwave::store::OpenOptions::default();
    downwave::store::open_writer(location(path), &opts).unwrap()
}

/// What `--database` is given for the test database `path`.
pub fn database_arg(path: &Path) -> String {
    match location(path) {
        Location::Sqlite(p) => p.display().to_string(),
        Location::Postgres(url) => url,
    }
}

struct Cluster {
    port: u16,
    dir: PathBuf,
}

impl Cluster {
    fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }
}

/// The suite's cluster, started on first use.
fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(start_cluster)
}

/// The folder of PostgreSQL's programs: `DOWNWAVE_PG_BIN`, else the newest
/// of Debian's `/usr/lib/postgresql/N/bin`.
fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("DOWNWAVE_PG_BIN") {
        return dir.into();
    }
    let mut versions: Vec<u32> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (Debian's postgresql package), or DOWNWAVE_PG_BIN is set")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    versions.sort_unstable();
    let newest = versions.last().expect("a PostgreSQL version is installed");
    PathBuf::from(format!("/usr/lib/postgresql/{newest}/bin"))
}

/// A command run as the user the cluster belongs to: this one, or
/// `postgres` when this is root.
fn as_owner(program: &Path) -> Command {
    if rustix::process::getuid().is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// The watchdog outlives the test process on purpose: it is never waited for.
#[allow(clippy::zombie_processes)]
fn start_cluster() -> Cluster {
    let bin = bin_dir();
    let dir = tempfile::Builder::new()
        .prefix("downwave-pg-")
        .tempdir()
        .unwrap()
        .keep();
    make_certificates(&dir);
    if rustix::process::getuid().is_root() {
        run(
            Command::new("chown").args(["-R", "postgres:"]).arg(&dir),
            "giving the cluster folder to postgres",
        );
    }
    let data = dir.join("data");
    run(
        as_owner(&bin.join("initdb")).arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]),
        "initdb",
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // fsync off: a test cluster dies with its run; what is measured for
    // durability is measured on a real one (docs/scale.md).
    // TLS offered with a certificate for 127.0.0.1 from the suite's own
    // authority (see `certificate_authority`); taken only when asked for.
    let options = format!(
        "-p {port} -k {dir} -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off \
         -c full_page_writes=off -c ssl=on -c ssl_cert_file={dir}/server.pem \
         -c ssl_key_file={dir}/server.key",
        dir = dir.display()
    );
    run(
        as_owner(&bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("log"))
            .args(["-o", &options, "-w", "start"]),
        "pg_ctl start",
    );
    // Stopped and removed once this process is gone, however it ends.
    let pg_ctl = bin.join("pg_ctl");
    let runas = if rustix::process::getuid().is_root() {
        "runuser -u postgres -- "
    } else {
        ""
    };
    let watchdog = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
         {runas}{pg_ctl} -D {data} stop -m immediate; rm -rf {dir}",
        pid = std::process::id(),
        pg_ctl = pg_ctl.display(),
        data = data.display(),
        dir = dir.display(),
    );
    Command::new("sh")
        .args(["-c", &watchdog])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the cluster's watchdog");
    Cluster { port, dir }
}

/// The PEM file of the authority that signed the suite's cluster's
/// certificate (for 127.0.0.1 and localhost).
pub fn certificate_authority() -> PathBuf {
    cluster().dir.join("ca.pem")
}

/// The PEM file of an authority that signed nothing the cluster has.
pub fn other_authority() -> PathBuf {
    cluster().dir.join("other-ca.pem")
}

/// Makes, with the openssl command (which Debian's postgresql package
/// brings), two authorities and a server certificate from the first.
fn make_certificates(dir: &Path) {
    let openssl = |args: &[&str], what: &str| {
        run(Command::new("openssl").current_dir(dir).args(args), what);
    };
    for (name, cn) in [("ca", "downwave test CA"), ("other-ca", "another CA")] {
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "7",
                "-subj",
                &format!("/CN={cn}"),
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.pem"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
            "making a certificate authority",
        );
    }
    openssl(
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
        "making the server's key",
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "7",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
        "signing the server's certificate",
    );
    // PostgreSQL refuses a key others may read.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.join("server.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
}

//! Several nodes on one PostgreSQL database, through the real binary: run
//! by the suite's PostgreSQL pass (`DOWNWAVE_TEST_BACKEND=postgres`), skipped
//! on SQLite, which one node has to itself.

use crate::process::{downwave, run_ok, start_logged, Log};
use crate::receiver::{eventually, Receiver};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::process::Child;
use std::time::{Duration, Instant};

/// A node, killed when the test ends however it ends.
struct Node {
    child: Child,
    port: u16,
    log: Log,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_node(db: &std::path::Path) -> Node {
    start_node_with(db, &[])
}

fn start_node_with(db: &std::path::Path, args: &[&str]) -> Node {
    let (child, port, log) = start_logged(
        downwave(db)
            .args([
                "--trusted-proxies",
                "127.0.0.1/32",
                "--rate-limit-per-minute",
                "100000",
                "--rate-limit-burst",
                "100000",
            ])
            .args(args),
    );
    Node { child, port, log }
}

impl Node {
    fn leads(&self) -> bool {
        self.log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("this node now leads the detector"))
    }

    async fn import(&self, client: &reqwest::Client, lines: String) {
        let base = format!("http://127.0.0.1:{}", self.port);
        crate::process::import_into(client, &base, lines).await;
    }

    /// Claude's status on this node's board.
    async fn status(&self, client: &reqwest::Client) -> String {
        let url = format!("http://127.0.0.1:{}/api/v1/services", self.port);
        let body: Value = client.get(url).send().await.unwrap().json().await.unwrap();
        body["services"][0]["status"].as_str().unwrap().to_owned()
    }

    async fn events(&self, client: &reqwest::Client) -> Vec<Value> {
        let url = format!(
            "http://127.0.0.1:{}/api/v1/events?service=claude",
            self.port
        );
        let body: Value = client.get(url).send().await.unwrap().json().await.unwrap();
        body["events"].as_array().unwrap().clone()
    }
}

/// A database for a cluster test, with the service `claude`; `None` on
/// SQLite, which one node has to itself.
fn database_with_claude() -> Option<(tempfile::TempDir, std::path::PathBuf)> {
    if !crate::backend::postgres() {
        eprintln!("skipped on SQLite: one node has the database to itself");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cluster.db");
    run_ok(downwave(&db).args(["service", "add", "claude", "--name", "Claude"]));
    Some((dir, db))
}

/// Sends a report for `claude` as the client at `from` through `node`; the
/// status (202 counted, 200 not).
async fn report(client: &reqwest::Client, node: u16, from: &str) -> u16 {
    client
        .post(format!("http://127.0.0.1:{node}/api/v1/reports"))
        .header("x-forwarded-for", from)
        .json(&json!({"service": "claude", "category": "login"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Every client reports through both nodes at the same moment, twice over:
/// each counts once, whichever node its reports reach, and every report is
/// stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reporter_counts_once_whichever_node_it_reaches() {
    let Some((_dir, db)) = database_with_claude() else {
        return;
    };
    let (a, b) = (start_node(&db), start_node(&db));
    let client = reqwest::Client::new();
    const CLIENTS: usize = 300;
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let client = client.clone();
        let (pa, pb) = (a.port, b.port);
        tasks.push(tokio::spawn(async move {
            let from = format!("10.{}.{}.7", i / 256, i % 256);
            // Both at once, then both again: the claim race, then the
            // window on both nodes.
            let (x, y) = tokio::join!(report(&client, pa, &from), report(&client, pb, &from));
            let (z, w) = tokio::join!(report(&client, pb, &from), report(&client, pa, &from));
            [x, y, z, w]
        }));
    }
    let mut counted = 0;
    for t in tasks {
        let statuses = t.await.unwrap();
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 202),
            "{statuses:?}"
        );
        let n = statuses.iter().filter(|s| **s == 202).count();
        assert_eq!(n, 1, "one report of four counted: {statuses:?}");
        counted += n;
    }
    assert_eq!(counted, CLIENTS);
    let conn = crate::backend::open(&db);
    let (stored, stored_counted): (i64, i64) = conn
        .query_row(
            "SELECT count(*), CAST(COALESCE(SUM(counted), 0) AS BIGINT) FROM reports",
            downwave::params![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (stored, stored_counted),
        (4 * CLIENTS as i64, CLIENTS as i64)
    );
    let in_minutes: i64 = conn
        .query_row(
            "SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) FROM report_minutes",
            downwave::params![],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        in_minutes, CLIENTS as i64,
        "the counts add up to the counted rows"
    );
}

/// The simulated clock's speed in the failover test: 8 minutes a second.
const SPEED: i64 = 480;

/// Two nodes on one database and a clock running [`SPEED`] times as fast
/// from `start`, with a subscriber on the second node.
struct Pair {
    a: Node,
    b: Node,
    client: reqwest::Client,
    receiver: Receiver,
    start: i64,
    anchor_ms: i64,
}

/// What the feed saw of the kill.
struct Kill {
    /// The open outage just before it.
    event: Option<i64>,
    /// How long after it the other node led.
    led_after: Option<Duration>,
    /// How long after the leader's board the follower's showed the outage
    /// (both polled between imports).
    follower_lag: Option<Duration>,
}

impl Pair {
    /// Starts the first node, waits until it leads, then the second.
    async fn start(db: &std::path::Path, start: i64) -> Pair {
        // Both nodes read `start` two seconds from now.
        let anchor_ms = chrono::Utc::now().timestamp_millis() + 2_000;
        let start_text = chrono::DateTime::from_timestamp(start, 0)
            .unwrap()
            .to_rfc3339();
        let clock = format!("{start_text},{anchor_ms},{SPEED}");
        // A minute closes four simulated minutes after its end: room for
        // the feed, which runs a few simulated seconds behind.
        let args = [
            "--simulated-clock",
            &clock,
            "--detector-grace-secs",
            "240",
            "--admin-token",
            "t",
            "--webhook-allow-private",
            "true",
        ];
        let a = start_node_with(db, &args);
        eventually("the first node to lead", || a.leads()).await;
        let b = start_node_with(db, &args);
        let client = reqwest::Client::new();
        let receiver = Receiver::start().await;
        let r = client
            .post(format!("http://127.0.0.1:{}/api/v1/webhooks", b.port))
            .bearer_auth("t")
            .json(&json!({"url": receiver.url, "format": "generic"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        Pair {
            a,
            b,
            client,
            receiver,
            start,
            anchor_ms,
        }
    }

    /// The time both nodes read, Unix seconds.
    fn now(&self) -> i64 {
        self.start + (chrono::Utc::now().timestamp_millis() - self.anchor_ms) * SPEED / 1000
    }

    /// Imports what came before the start through the leader, then every
    /// line as its time comes, alternately through each live node, until
    /// `end`; SIGKILLs the leader at `kill`. How many lines went.
    async fn feed(&mut self, lines: &[(i64, String)], kill: i64, end: i64) -> (usize, Kill) {
        while self.now() < self.start {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut next = lines.partition_point(|(t, _)| *t < self.start);
        let history: String = lines[..next].iter().map(|(_, l)| l.as_str()).collect();
        self.a.import(&self.client, history).await;
        let (mut turn, mut killed_at) = (0, None::<Instant>);
        let mut seen = Kill {
            event: None,
            led_after: None,
            follower_lag: None,
        };
        let mut outage_shown: (Option<Instant>, Option<Instant>) = (None, None);
        while next < lines.len() && lines[next].0 < end {
            let now = self.now();
            let upto = lines.partition_point(|(t, _)| *t < now - 2);
            if upto > next {
                let chunk: String = lines[next..upto].iter().map(|(_, l)| l.as_str()).collect();
                let through = if killed_at.is_some() || turn % 2 == 1 {
                    &self.b
                } else {
                    &self.a
                };
                through.import(&self.client, chunk).await;
                turn += 1;
                next = upto;
            }
            if killed_at.is_none() && seen.follower_lag.is_none() {
                if outage_shown.0.is_none() && self.a.status(&self.client).await == "outage" {
                    outage_shown.0 = Some(Instant::now());
                }
                if outage_shown.1.is_none() && self.b.status(&self.client).await == "outage" {
                    outage_shown.1 = Some(Instant::now());
                }
                if let (Some(leader), Some(follower)) = outage_shown {
                    seen.follower_lag = Some(follower.saturating_duration_since(leader));
                }
            }
            if killed_at.is_none() && now >= kill {
                seen.event = self.before_the_kill().await;
                self.a.child.kill().unwrap();
                self.a.child.wait().unwrap();
                killed_at = Some(Instant::now());
            }
            if let Some(at) = killed_at {
                if seen.led_after.is_none() && self.b.leads() {
                    seen.led_after = Some(at.elapsed());
                }
                let waited = at.elapsed();
                assert!(seen.led_after.is_some() || waited < Duration::from_secs(10));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (next, seen)
    }

    /// The one open outage, as the follower shows it.
    async fn before_the_kill(&self) -> Option<i64> {
        let open = self.b.events(&self.client).await;
        assert_eq!(open.len(), 1, "one outage before the kill: {open:?}");
        assert_eq!(open[0]["status"], "open");
        // The follower's own board shows what the leader found.
        assert!(!self.b.leads());
        assert_eq!(self.b.status(&self.client).await, "outage");
        open[0]["id"].as_i64()
    }

    /// The events once every one has ended (or a minute has passed).
    async fn ended_events(&self) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let events = self.b.events(&self.client).await;
            if events.iter().all(|e| e["status"] == "resolved") || Instant::now() > deadline {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Each message the subscriber got, by kind; fails on one got twice.
    async fn messages_once(&self) -> Vec<String> {
        eventually("the resolution", || {
            self.receiver
                .received()
                .iter()
                .any(|m| m.body["type"] == "outage.resolved")
        })
        .await;
        let mut by_id: HashMap<String, Vec<String>> = HashMap::new();
        for m in self.receiver.received() {
            let kind = m.body["type"].as_str().unwrap_or("").to_owned();
            by_id.entry(m.id.clone()).or_default().push(kind);
        }
        assert!(
            by_id.values().all(|k| k.len() == 1),
            "a message twice: {by_id:?}"
        );
        let mut kinds: Vec<String> = by_id.into_values().flatten().collect();
        kinds.sort();
        kinds
    }
}

/// March-2 fed live, its reports alternately through two nodes on a clock
/// running 480 times as fast; the leader is killed with SIGKILL in the
/// second wave. Before it, the follower shows the outage within 5 seconds
/// of the leader. The follower leads within 10 seconds, the outage carries on
/// as the same event to its end with three waves, every imported report is
/// stored, and the subscriber hears each message once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_killed_mid_outage_the_other_node_carries_it_on() {
    use chrono::{TimeZone, Utc};
    let Some((_dir, db)) = database_with_claude() else {
        return;
    };
    let at = |h, m| {
        Utc.with_ymd_and_hms(2026, 3, 2, h, m, 0)
            .unwrap()
            .timestamp()
    };
    let mut pair = Pair::start(&db, at(11, 40)).await;
    let lines: Vec<(i64, String)> = crate::events::march2_between(i64::MIN, i64::MAX)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let at = chrono::DateTime::parse_from_rfc3339(v["at"].as_str().unwrap()).unwrap();
            (at.timestamp(), format!("{l}\n"))
        })
        .collect();
    // In the second wave (13:00), the leader dies without a word.
    let (sent, kill) = pair.feed(&lines, at(13, 0), at(16, 0)).await;
    let led_after = kill.led_after.expect("the other node leads");
    eprintln!("the other node led {led_after:?} after the kill");
    // A change on the leader reaches the follower's board (what its pages
    // and live streams show) within 5 seconds.
    let lag = kill.follower_lag.expect("both nodes showed the outage");
    eprintln!("the follower showed the outage {lag:?} after the leader");
    assert!(lag < Duration::from_secs(5), "{lag:?}");
    // The outage ends: the same event, with its three waves.
    let events = pair.ended_events().await;
    assert_eq!(events.len(), 1, "one outage: {events:?}");
    assert_eq!(events[0]["id"].as_i64(), kill.event, "the same event");
    assert_eq!(events[0]["status"], "resolved", "{events:?}");
    assert_eq!(
        events[0]["waves"].as_array().unwrap().len(),
        3,
        "{events:?}"
    );
    let conn = crate::backend::open(&db);
    let stored: i64 = conn
        .query_row("SELECT count(*) FROM reports", downwave::params![], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(stored, sent as i64, "every imported report stored");
    // The subscriber heard the opening, each wave and the end, each once.
    let kinds = pair.messages_once().await;
    let count = |k: &str| kinds.iter().filter(|x| *x == k).count();
    assert_eq!(
        (count("outage.opened"), count("outage.resolved")),
        (1, 1),
        "{kinds:?}"
    );
}

/// What the API changes through one node (a service added, a service's
/// providers, a maintenance window) the other node's API and pages show
/// within seconds: not only after a miss, or at the next detector minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_one_node_changes_the_other_shows() {
    let Some((_dir, db)) = database_with_claude() else {
        return;
    };
    let admin = ["--admin-token", "t"];
    let (a, b) = (start_node_with(&db, &admin), start_node_with(&db, &admin));
    let client = reqwest::Client::new();
    let get = |node: &Node, path: &str| {
        let url = format!("http://127.0.0.1:{}{path}", node.port);
        let client = client.clone();
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    // The other node has drawn its pages and holds its catalog.
    assert!(!get(&b, "/").await.contains("AWS"));
    assert!(!get(&b, "/s/claude").await.contains("database upgrade"));

    let at_a = |method: reqwest::Method, path: &str, body: Value| {
        let url = format!("http://127.0.0.1:{}/api/v1{path}", a.port);
        let request = client.request(method, url).bearer_auth("t").json(&body);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let made = json!({"slug": "aws", "name": "AWS", "categories": ["login"]});
    assert_eq!(at_a(reqwest::Method::POST, "/services", made).await, 201);
    let providers = json!({"depends_on": ["aws"]});
    assert_eq!(
        at_a(reqwest::Method::PATCH, "/services/claude", providers).await,
        200
    );
    let window = json!({"minutes": 60, "reason": "database upgrade"});
    let path = "/services/claude/maintenance";
    assert_eq!(at_a(reqwest::Method::POST, path, window).await, 201);
    let changed = Instant::now();

    loop {
        let listed = get(&b, "/api/v1/services").await;
        let claude: Value =
            serde_json::from_str(&get(&b, "/api/v1/services/claude").await).unwrap();
        let page = get(&b, "/s/claude").await;
        let shown = [
            listed.contains("\"aws\""),
            claude["depends_on"] == json!(["aws"]),
            page.contains("database upgrade"),
            get(&b, "/").await.contains("AWS"),
        ];
        if shown.iter().all(|s| *s) {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(5),
            "the other node shows [service listed, providers, window on the page, home]: {shown:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "the other node showed the changes after {:?}",
        changed.elapsed()
    );
}

//! Dashboard speed: the real server on loopback, one request at a time, so
//! each figure is the server's time plus a loopback round trip. The target:
//! the service page and its 7-day chart at 1-minute steps in under 50 ms.
//! Each answer twice: rendered (a version nobody asked for yet) and cached
//! (the same version again, Brotli as a browser takes it).
//!
//! Two services: `claude` with the march-2 week (1 to 8 reports a minute,
//! then the three-wave outage) and `busy`, a worst case for the reads with
//! reports in every category in every minute of the week.
//!
//! `cargo bench --bench dashboard`

use chrono::{TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use downwave::app::Application;
use downwave::clock::ManualClock;
use downwave::config::Settings;
use downwave::domain::{Category, CategoryList, ServiceSlug};
use downwave::sim::scenario;
use downwave::store::{self, NewReport, NewService, Report};
use std::sync::Arc;

/// Fills the database before the server starts: services, a week of reports.
fn seed(settings: &Settings, now: i64) {
    let conn = store::open_writer(&settings.database, &settings.open_options()).unwrap();
    let id_of = |slug: &str, name: &str| {
        store::insert_service(
            &conn,
            &NewService {
                slug: ServiceSlug::parse(slug).unwrap(),
                name: name.into(),
                categories: CategoryList::default_list(),
                depends_on: Default::default(),
            },
            now,
        )
        .unwrap()
        .id
    };
    let claude = id_of("claude", "Claude");
    let busy = id_of("busy", "Busy");
    let mut rows = Vec::new();
    // A counted report of its own reporter, at `at` (Unix seconds).
    let mut n = 0u64;
    let mut report = |service_id, at: i64, category| {
        n += 1;
        let mut reporter = [0u8; 16];
        reporter[..8].copy_from_slice(&n.to_le_bytes());
        NewReport {
            report: Report {
                service_id,
                received_ms: at * 1000,
                category: Category::parse(category).unwrap(),
                error_code: None,
                region: None,
                platform: None,
                comment: None,
                reporter,
                source: None,
                network: None,
            },
            counted: true,
        }
    };
    for r in scenario::march2(0).reports() {
        rows.push(report(claude, r.at, r.category));
    }
    let categories = ["login", "website", "app", "api", "other"];
    let mut t = now - 7 * 86_400;
    while t < now {
        for c in categories {
            rows.push(report(busy, t, c));
        }
        t += 60;
    }
    for chunk in rows.chunks(50_000) {
        store::commit_batch(&conn, chunk, &[]).unwrap();
    }
}

/// The answers measured.
const PATHS: [&str; 7] = [
    "/s/claude",
    "/s/claude?range=7d",
    "/s/claude/chart.svg?range=7d",
    "/s/busy?range=7d",
    "/s/busy/chart.svg?range=7d",
    "/",
    "/e/1",
];

fn pages(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::with_database(dir.path().join("bench.db"));
    settings.listen = "127.0.0.1:0".parse().unwrap();
    settings.workers = 2;
    // A cache of 4 MiB keeps the page asked for again (the cached figure)
    // but never a zone's version before the zones come round again, however
    // small the page: every rendered figure is a render.
    settings.page_cache_max_bytes = 4 << 20;
    // The end of the march-2 day: the week before it is in the 7-day range.
    let now = Utc.with_ymd_and_hms(2026, 3, 3, 0, 0, 30).unwrap();
    seed(&settings, now.timestamp() - 30);
    let clock = Arc::new(ManualClock::new(now));
    let (base, handle) = rt.block_on(async {
        let app = Application::build(settings, clock).unwrap();
        let base = format!("http://127.0.0.1:{}", app.port());
        let monitor = app.monitor();
        let handle = app.handle();
        tokio::spawn(app.run());
        // The detector's catch-up over the week (baseline and events).
        monitor.catch_up().await.unwrap();
        (base, handle)
    });
    let client = reqwest::Client::new();
    // Rendered: each request from a viewer in another time zone, a version
    // not kept (1,561 zones in turn, far more than the cache holds).
    // Cached: the same request again, as a crowd sends it.
    let mut group = c.benchmark_group("dashboard");
    group.sample_size(30);
    for path in PATHS {
        let url = format!("{base}{path}");
        let probe = rt.block_on(async { client.get(&url).send().await.unwrap() });
        assert_eq!(probe.status(), 200, "{path}");
        let mut zone = 0i32;
        group.bench_function(format!("rendered {path}"), |b| {
            b.iter(|| {
                zone = (zone + 1) % 1561;
                let cookie = format!("dw_tz={}", zone - 720);
                rt.block_on(async {
                    let r = client
                        .get(&url)
                        .header("cookie", cookie)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200);
                    r.bytes().await.unwrap().len()
                })
            })
        });
        group.bench_function(format!("cached {path}"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let r = client
                        .get(&url)
                        .header("accept-encoding", "br")
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200);
                    r.bytes().await.unwrap().len()
                })
            })
        });
    }
    group.finish();
    rt.block_on(handle.stop(true));
}

criterion_group!(benches, pages);
criterion_main!(benches);

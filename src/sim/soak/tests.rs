use super::load::next_address;
use super::*;
use std::collections::HashSet;

fn options(bind: &str) -> SoakOptions {
    SoakOptions {
        binary: PathBuf::from("downwave"),
        dir: std::env::temp_dir().join(format!("soak-options-{}", std::process::id())),
        bind: bind.parse().unwrap(),
        duration: Duration::from_secs(60),
        kill_every: Duration::from_secs(120),
        reports_per_sec: 50.0,
        drain: Duration::from_secs(60),
        max_failures_per_alert: 2,
    }
}

#[test]
fn only_loopback_is_a_target() {
    for bind in ["127.0.0.1:0", "127.8.9.10:8080", "[::1]:0"] {
        assert!(options(bind).check().is_ok(), "{bind}");
    }
    for bind in [
        "0.0.0.0:0",
        "192.168.1.10:8080",
        "10.0.0.1:80",
        "[::]:0",
        "[2001:db8::1]:80",
    ] {
        let e = options(bind).check().unwrap_err();
        assert!(
            e.to_string().contains("not a loopback address"),
            "{bind}: {e}"
        );
    }
}

fn samples(rss: &[u64]) -> Vec<MemorySample> {
    rss.iter()
        .enumerate()
        .map(|(i, &rss_kib)| MemorySample {
            at: Duration::from_secs(30 + 60 * i as u64),
            life: i / 2,
            age: Duration::from_secs(30 + 60 * (i as u64 % 2)),
            rss_kib,
        })
        .collect()
}

#[test]
fn memory_is_flat_when_its_trend_stays_under_a_tenth_of_its_median() {
    // Warm-up (here the first four minutes) may climb; after it, noise only.
    let warm_up = Duration::from_secs(4 * 60);
    let flat = samples(&[
        10_000, 20_000, 30_000, 30_000, 31_000, 29_500, 30_500, 30_200, 29_800,
    ]);
    let f = flatness(&flat, warm_up).unwrap();
    assert_eq!(f.samples, 5);
    assert!(f.flat, "{f:?}");
    // A steady climb of 1 MiB a minute is growth.
    let climbing: Vec<u64> = (0..20).map(|i| 30_000 + 1024 * i).collect();
    let f = flatness(&samples(&climbing), warm_up).unwrap();
    assert!(!f.flat, "{f:?}");
    assert!((f.slope_kib_per_min - 1024.0).abs() < 1.0);
    assert!(flatness(&samples(&[1, 2, 3, 4, 5]), warm_up).is_none());
}

#[test]
fn report_addresses_span_many_networks_of_the_documentation_ranges() {
    let shared = Shared {
        base: Mutex::new(String::new()),
        token: String::new(),
        stop: AtomicBool::new(false),
        acked: Mutex::new(Vec::new()),
        sent: AtomicU64::new(0),
        counted: AtomicU64::new(0),
        stored: AtomicU64::new(0),
        refused: AtomicU64::new(0),
        unanswered: AtomicU64::new(0),
        pages: AtomicU64::new(0),
        page_errors: AtomicU64::new(0),
        page_unanswered: AtomicU64::new(0),
        latest_event: AtomicU64::new(0),
        next_address: AtomicU64::new(1),
    };
    let v4: ipnet::IpNet = "198.18.0.0/15".parse().unwrap();
    let v6: ipnet::IpNet = "2001:db8::/32".parse().unwrap();
    let mut networks = HashSet::new();
    for _ in 0..10_000 {
        let a = next_address(&shared);
        assert!(v4.contains(&a) || v6.contains(&a), "{a}");
        networks.insert(crate::domain::ClientAddr::new(a).network(crate::domain::Scope::Site));
    }
    assert!(networks.len() > 1000, "{} networks", networks.len());
}

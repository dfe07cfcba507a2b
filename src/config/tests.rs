//! The settings' own tests: defaults, rules and precedence.

use super::*;

#[test]
fn defaults_match_the_documentation() {
    let s = ConfigArgs::default().resolve().unwrap();
    assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(s.database, PathBuf::from("downwave.db"));
    assert_eq!(s.max_body_bytes, 4096);
    assert_eq!(s.dedup_window, Duration::from_secs(900));
    assert_eq!(s.series_max_points, 31 * 24 * 60);
    assert_eq!(s.import_max_age, Duration::from_secs(90 * 86_400));
    assert_eq!(s.webhook_max_in_flight, 64);
    assert_eq!(s.webhook_max_in_flight_per_subscription, 4);
    assert!(s.webhook_proxy.is_none());
    assert!(s.admin_token.is_none());
    assert_eq!(s.forwarded_header, ForwardedHeader::XForwardedFor);
    assert_eq!(s.dedup_max_per_address, 3);
    assert_eq!(s.outage_min_networks, 10);
    assert_eq!(s.outage_max_network_share, 0.5);
    assert_eq!(
        (s.rate_limit_ipv6_48_per_minute, s.rate_limit_ipv6_48_burst),
        (100, 100)
    );
    assert_eq!(s.false_events_per_30_days, 10.0);
}

#[test]
fn the_false_event_budget_must_be_a_positive_number() {
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e6] {
        let args = ConfigArgs {
            false_events_per_30_days: Some(bad),
            ..ConfigArgs::default()
        };
        assert!(args.resolve().is_err(), "{bad}");
    }
    let args = ConfigArgs {
        false_events_per_30_days: Some(2.5),
        ..ConfigArgs::default()
    };
    assert_eq!(args.resolve().unwrap().false_events_per_30_days, 2.5);
}

#[test]
fn flags_win_over_the_file_and_the_file_over_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("downwave.toml");
    std::fs::write(
        &path,
        "listen = \"0.0.0.0:9000\"\nmax_body_bytes = 100\ntrusted_proxies = [\"10.0.0.0/8\"]\n\
         forwarded_header = \"forwarded\"\n",
    )
    .unwrap();
    let args = ConfigArgs {
        config: Some(path),
        max_body_bytes: Some(200),
        ..Default::default()
    };
    let s = args.resolve().unwrap();
    assert_eq!(s.listen.to_string(), "0.0.0.0:9000");
    assert_eq!(s.max_body_bytes, 200);
    assert_eq!(s.trusted_proxies.len(), 1);
    assert_eq!(s.forwarded_header, ForwardedHeader::Forwarded);
}

#[test]
fn an_admin_token_that_could_never_match_is_refused() {
    let with = |t: &str| {
        ConfigArgs {
            admin_token: Some(t.into()),
            ..Default::default()
        }
        .resolve()
    };
    for bad in ["   ", "\t", "two words", "tok\n", "tökén"] {
        assert!(
            matches!(
                with(bad),
                Err(ConfigError::Invalid {
                    name: "admin_token",
                    ..
                })
            ),
            "{bad:?}"
        );
    }
    assert_eq!(with("").unwrap().admin_token, None);
    assert_eq!(
        with("s3cr3t-~+/=").unwrap().admin_token.as_deref(),
        Some("s3cr3t-~+/=")
    );
}

#[test]
fn unknown_keys_and_zero_limits_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "listn = \"x\"\n").unwrap();
    let args = ConfigArgs {
        config: Some(path),
        ..Default::default()
    };
    assert!(matches!(args.resolve(), Err(ConfigError::Parse { .. })));
    let zero = ConfigArgs {
        ingest_queue_capacity: Some(0),
        ..Default::default()
    };
    assert!(matches!(zero.resolve(), Err(ConfigError::Invalid { .. })));
    for share in [0.0, -0.5, 1.5, f64::NAN] {
        let bad = ConfigArgs {
            outage_max_network_share: Some(share),
            ..Default::default()
        };
        assert!(
            matches!(
                bad.resolve(),
                Err(ConfigError::Invalid {
                    name: "outage_max_network_share",
                    ..
                })
            ),
            "{share}"
        );
    }
    let none = ConfigArgs {
        outage_min_networks: Some(0),
        ..Default::default()
    };
    assert!(matches!(none.resolve(), Err(ConfigError::Invalid { .. })));
}

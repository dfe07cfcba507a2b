//! The settings' own tests: defaults, rules, precedence, and that the
//! table `--help` shows agrees with what resolution gives.

use super::*;

#[test]
fn defaults_match_the_documentation() {
    let s = ConfigArgs::default().resolve().unwrap();
    assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(s.database, Location::Sqlite(PathBuf::from("downwave.db")));
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
    assert_eq!(
        s.incident_settings(),
        crate::incident::IncidentSettings::default()
    );
}

#[test]
fn incident_settings_must_be_finite_and_positive() {
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let args = ConfigArgs {
            incident_window_minutes: Some(bad),
            ..ConfigArgs::default()
        };
        assert!(args.resolve().is_err(), "{bad}");
    }
    let args = ConfigArgs {
        incident_spillover_share: Some(1.5),
        ..ConfigArgs::default()
    };
    assert!(args.resolve().is_err());
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

/// A valid value other than the default for every setting, as it is written
/// in a variable or after a flag.
const SAMPLES: [(&str, &str); 59] = [
    ("listen", "127.0.0.1:9"),
    ("database", "elsewhere.db"),
    ("admin_token", "s3cret"),
    ("trusted_proxies", "10.0.0.0/8,192.168.0.0/16"),
    ("forwarded_header", "forwarded"),
    ("workers", "3"),
    ("max_body_bytes", "8192"),
    ("max_comment_chars", "200"),
    ("dedup_window_secs", "600"),
    ("dedup_max_reporters", "1000"),
    ("dedup_max_per_address", "5"),
    ("outage_min_networks", "4"),
    ("outage_max_network_share", "0.25"),
    ("rate_limit_per_minute", "20"),
    ("rate_limit_burst", "30"),
    ("rate_limit_ipv6_48_per_minute", "200"),
    ("rate_limit_ipv6_48_burst", "300"),
    ("rate_limit_prune_secs", "120"),
    ("ingest_queue_capacity", "1024"),
    ("batch_max_reports", "512"),
    ("batch_linger_ms", "7"),
    ("read_connections", "3"),
    ("series_max_points", "1440"),
    ("sqlite_synchronous", "normal"),
    ("busy_timeout_ms", "250"),
    ("import_max_bytes", "1048576"),
    ("detector_grace_secs", "4"),
    ("public_url", "https://status.example.com"),
    ("webhook_timeout_secs", "9"),
    ("webhook_allow_private", "true"),
    ("public_comments", "false"),
    ("alert_max_age_secs", "60"),
    ("alert_hold_minutes", "7"),
    ("report_retention_days", "30"),
    ("detector_minute_retention_days", "400"),
    ("simulated_clock", "2026-03-02T11:00:00Z,1772449200000,60"),
    ("keep_alive_secs", "11"),
    ("header_read_timeout_secs", "6"),
    ("body_read_timeout_secs", "12"),
    ("import_read_timeout_secs", "90"),
    ("max_connections", "100"),
    ("shutdown_timeout_secs", "3"),
    ("live_max_connections", "50"),
    ("live_heartbeat_secs", "7"),
    ("page_cache_max_bytes", "1000000"),
    ("webhook_proxy", "http://proxy.example:3128"),
    ("webhook_max_in_flight", "16"),
    ("webhook_max_in_flight_per_subscription", "2"),
    ("import_max_age_days", "30"),
    ("maintenance_max_hours", "12"),
    ("maintenance_max_windows", "5"),
    ("false_events_per_30_days", "2.5"),
    ("incident_min_outages", "4"),
    ("incident_window_minutes", "10"),
    ("incident_simultaneous_minutes", "1.5"),
    ("incident_spillover_share", "0.2"),
    ("incident_spillover_max_rise", "8"),
    ("incident_rise_floor", "2"),
    ("incident_retain_minutes", "60"),
];

/// Each setting's sample, or a failure that names the setting without one.
fn sample(key: &str) -> &'static str {
    SAMPLES
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("{key}: add a sample value to SAMPLES in src/config/tests.rs"))
}

/// The resolved values, shown as defaults are, by key.
fn shown(args: ConfigArgs) -> std::collections::HashMap<&'static str, String> {
    let merged = args.with_file().unwrap();
    merged.clone().resolve_without_file().unwrap();
    merged.values().unwrap().shown().into_iter().collect()
}

#[test]
fn flags_and_variables_are_spelt_from_the_key() {
    let mut keys = std::collections::HashSet::new();
    for s in SETTINGS {
        assert!(keys.insert(s.key), "{} is declared twice", s.key);
        assert_eq!(
            s.flag,
            format!("--{}", s.key.replace('_', "-")),
            "{}",
            s.key
        );
        assert_eq!(
            s.env,
            format!("DOWNWAVE_{}", s.key.to_uppercase()),
            "{}",
            s.key
        );
        assert!(!s.doc_line().is_empty(), "{} has no documentation", s.key);
    }
    assert_eq!(
        SETTINGS.len(),
        SAMPLES.len(),
        "SAMPLES has one entry per setting"
    );
}

#[test]
fn help_shows_each_default_as_it_resolves() {
    use clap::Args;
    let command = ConfigArgs::augment_args(clap::Command::new("downwave"));
    let resolved = shown(ConfigArgs::default());
    let computed = [
        ("workers", cores().to_string()),
        ("public_url", format!("http://{}", resolved["listen"])),
    ];
    for s in SETTINGS {
        let arg = command
            .get_arguments()
            .find(|a| a.get_long() == Some(s.long()))
            .unwrap_or_else(|| panic!("{}: no {} in --help", s.key, s.flag));
        assert_eq!(
            arg.get_env().and_then(|e| e.to_str()),
            Some(s.env),
            "{}",
            s.key
        );
        let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        let in_help = help
            .rsplit_once("[default: ")
            .and_then(|(_, rest)| rest.strip_suffix(']'))
            .unwrap_or_else(|| panic!("{}: no [default: …] in {help:?}", s.key));
        match s.default {
            DefaultText::Value(_) => assert_eq!(in_help, resolved[s.key], "{}", s.key),
            DefaultText::Computed(words) => {
                assert_eq!(in_help, words, "{}", s.key);
                let (_, expected) = computed
                    .iter()
                    .find(|(k, _)| *k == s.key)
                    .unwrap_or_else(|| panic!("{}: say here what {words:?} resolves to", s.key));
                assert_eq!(&resolved[s.key], expected, "{}", s.key);
            }
        }
    }
    // Every argument but --config is a declared setting.
    let extra: Vec<_> = command
        .get_arguments()
        .filter_map(|a| a.get_long())
        .filter(|long| *long != "config" && !SETTINGS.iter().any(|s| s.long() == *long))
        .collect();
    assert!(extra.is_empty(), "undeclared arguments: {extra:?}");
}

/// Set in the environment of the child that [`every_variable_is_honoured`]
/// starts, which checks what it was given instead of starting another.
const CHILD: &str = "CONFIG_TESTS_VARIABLES_CHILD";

/// The environment is the process's own, so the variables are set for a
/// child running this test alone, not for the tests around it.
#[test]
fn every_variable_is_honoured() {
    if std::env::var_os(CHILD).is_some() {
        return check_the_variables();
    }
    let name = concat!(module_path!(), "::every_variable_is_honoured");
    let name = name.split_once("::").map_or(name, |(_, rest)| rest);
    let mut child = std::process::Command::new(std::env::current_exe().unwrap());
    child
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env_remove("DOWNWAVE_CONFIG");
    for s in SETTINGS {
        child.env(s.env, sample(s.key));
    }
    let out = child.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("1 passed"),
        "the child ran no test: {stdout}"
    );
}

/// In the child: every variable is read, a flag beats it, and it beats the file.
fn check_the_variables() {
    use clap::Parser;
    /// The settings as the command line reads them, flags and variables.
    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        config: ConfigArgs,
    }
    let parse = |args: &[&str]| {
        let argv = std::iter::once("downwave").chain(args.iter().copied());
        shown(Command::try_parse_from(argv).unwrap().config)
    };
    let from_env = parse(&[]);
    for s in SETTINGS {
        assert_ne!(
            sample(s.key),
            s.default_text(),
            "{}: sample is the default",
            s.key
        );
        assert_eq!(from_env[s.key], sample(s.key), "{} was not read", s.env);
    }
    let flagged = parse(&["--listen", "127.0.0.1:10", "--workers", "5"]);
    assert_eq!(
        (flagged["listen"].as_str(), flagged["workers"].as_str()),
        ("127.0.0.1:10", "5")
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("downwave.toml");
    std::fs::write(&path, "listen = \"127.0.0.1:11\"\nworkers = 6\n").unwrap();
    let over_file = parse(&["--config", path.to_str().unwrap()]);
    assert_eq!(over_file["listen"], sample("listen"));
    assert_eq!(over_file["workers"], sample("workers"));
}

#[test]
fn every_key_is_read_from_the_file() {
    let toml_value = |key: &str, text: &str| match key {
        "trusted_proxies" => format!("{:?}", text.split(',').collect::<Vec<_>>()),
        _ if text.parse::<f64>().is_ok() || text == "true" || text == "false" => text.to_owned(),
        _ => format!("{text:?}"),
    };
    let file: String = SETTINGS
        .iter()
        .map(|s| format!("{} = {}\n", s.key, toml_value(s.key, sample(s.key))))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("downwave.toml");
    std::fs::write(&path, &file).unwrap();
    let from_file = shown(ConfigArgs {
        config: Some(path),
        ..ConfigArgs::default()
    });
    for s in SETTINGS {
        assert_eq!(from_file[s.key], sample(s.key), "{} in the file", s.key);
    }
}

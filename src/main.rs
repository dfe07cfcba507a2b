//! The `downwave` command: parses the command line (as `downwave::cli`
//! declares it), sets up logging and calls into the library. Errors end the
//! process with a message, not a panic.
#![forbid(unsafe_code)]

use clap::Parser;
use downwave::app::Application;
use downwave::cli::{
    detector_params, BacktestArgs, Cli, Command, CrowdArgs, LoadTarget, LoadgenArgs,
    MaintenanceCommand, Scenario, ServiceCommand, SimulateArgs, SoakArgs,
};
use downwave::clock::SystemClock;
use downwave::config::Settings;
use downwave::domain::{
    rfc3339, CategoryList, MaintenanceWindow, ProviderList, ServiceName, ServiceSlug, WindowLimits,
    WindowRequest,
};
use downwave::sim::loadgen::{self, LoadOptions, Target};
use downwave::store;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match try_main(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("downwave: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

fn try_main(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve { demo: false }) {
        Command::Serve { demo } => {
            let settings = cli.config.resolve()?;
            if demo {
                downwave::sim::demo::seed_demo(&settings)?;
            }
            serve(settings)
        }
        Command::Backtest(args) => backtest(args),
        Command::Simulate(args) => simulate(args),
        Command::Service { command } => service(cli.config.resolve()?, command),
        Command::Maintenance { command } => maintenance(cli.config.resolve()?, command),
        Command::Loadgen(args) => load(args),
        Command::Soak(args) => soak(args),
        Command::Crowd(args) => crowd(args),
        Command::Migrate { from, to } => migrate(cli.config.resolve()?, from, to),
    }
}

fn crowd(args: CrowdArgs) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use downwave::sim::crowd::{self, CrowdOptions, ViewerOptions};
    let report = crowd::run(&CrowdOptions {
        viewers: ViewerOptions {
            addr: args.addr,
            slug: args.slug,
            viewers: args.viewers,
            open_per_sec: args.open_per_sec,
            spread: Duration::from_millis(args.spread_ms),
            // As many as the descriptor limit leaves room for.
            max_fetches: usize::MAX,
        },
        visitors_per_sec: args.visitors_per_sec,
        reports_per_sec: args.reports_per_sec,
        duration: Duration::from_secs(args.seconds),
        baseline: Duration::from_secs(args.baseline_secs),
        round: Duration::from_secs(args.round_secs),
        rounds: args.rounds,
        page_connections: args.page_connections,
        server_pid: args.server_pid,
    })?;
    print!("{report}");
    if let Some(path) = args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(&path, json + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn soak(args: SoakArgs) -> anyhow::Result<()> {
    use downwave::sim::soak::{self, SoakOptions};
    let binary = match args.binary {
        Some(b) => b,
        None => std::env::current_exe()?,
    };
    let report = soak::run(&SoakOptions {
        binary,
        dir: args.dir,
        bind: args.bind,
        duration: Duration::from_secs(args.seconds),
        kill_every: Duration::from_secs(args.kill_every_secs),
        reports_per_sec: args.reports_per_sec,
        drain: Duration::from_secs(args.drain_secs),
        max_failures_per_alert: args.max_failures_per_alert,
    })?;
    println!("{report}");
    let failures = report.failures();
    anyhow::ensure!(
        failures.is_empty(),
        "the soak failed: {}",
        failures.join("; ")
    );
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    runtime()?.block_on(async move {
        let clock: Arc<dyn downwave::clock::Clock> = match settings.simulated_clock {
            Some(scaled) => Arc::new(scaled),
            None => Arc::new(SystemClock),
        };
        let app = Application::build(settings.clone(), clock)?;
        tracing::info!(
            "downwave listening on http://{}:{} with database {}",
            settings.listen.ip(),
            app.port(),
            settings.database
        );
        app.run().await
    })
}

fn migrate(settings: Settings, from: std::path::PathBuf, to: String) -> anyhow::Result<()> {
    let to: store::Location = to.parse().unwrap_or_else(|never| match never {});
    anyhow::ensure!(
        to.is_postgres(),
        "--to must be a postgres:// URL (the database to move to)"
    );
    anyhow::ensure!(from.is_file(), "--from {} is not a file", from.display());
    let opts = settings.open_options();
    let source = store::open_writer(&from, &opts)?;
    let target = store::open_writer(&to, &opts)?;
    let started = std::time::Instant::now();
    for (table, rows) in store::migrate(&source, &target)? {
        println!("{table}\t{rows}");
    }
    eprintln!(
        "moved {} to {to} in {:.1?}",
        from.display(),
        started.elapsed()
    );
    Ok(())
}

fn maintenance(settings: Settings, command: MaintenanceCommand) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let conn = store::open_writer(&settings.database, &settings.open_options())?;
    let slug = match &command {
        MaintenanceCommand::Add { slug, .. }
        | MaintenanceCommand::List { slug }
        | MaintenanceCommand::End { slug, .. } => slug.clone(),
    };
    let service = service_by_slug(&conn, &slug)?;
    let now = chrono::Utc::now().timestamp();
    let line = |w: &store::Maintenance| {
        format!(
            "{}\t{}\t{}\t{}\t{}",
            w.id,
            rfc3339(w.starts_at),
            rfc3339(w.ends_at),
            w.state(now).as_str(),
            w.reason
        )
    };
    match command {
        MaintenanceCommand::Add {
            starts_at,
            ends_at,
            minutes,
            reason,
            ..
        } => {
            let window = MaintenanceWindow::parse(
                &WindowRequest {
                    starts_at: starts_at.map(|t| t.timestamp()),
                    ends_at: ends_at.map(|t| t.timestamp()),
                    minutes,
                    reason: &reason,
                },
                now,
                WindowLimits {
                    max_hours: settings.maintenance_max_hours,
                    max_reason_chars: settings.max_comment_chars,
                },
            )?;
            let max = settings.maintenance_max_windows;
            let added = store::insert_maintenance(&conn, service.id, &window, max, now)?
                .with_context(|| {
                    format!(
                        "{slug} has {max} maintenance windows not yet over \
                         (maintenance_max_windows); end one first"
                    )
                })?;
            println!("added {}", line(&added));
        }
        MaintenanceCommand::List { .. } => {
            for w in store::listed_maintenance(&conn, service.id, now)? {
                println!("{}", line(&w));
            }
        }
        MaintenanceCommand::End { id, .. } => {
            match store::end_maintenance(&conn, service.id, id, now)? {
                store::EndedMaintenance::Cancelled => println!("cancelled {id}"),
                store::EndedMaintenance::EndedNow(w) => println!("ended {}", line(&w)),
                store::EndedMaintenance::AlreadyOver => {
                    anyhow::bail!("maintenance window {id} is already over")
                }
                store::EndedMaintenance::Unknown => {
                    anyhow::bail!("{slug} has no maintenance window {id}")
                }
            }
        }
    }
    Ok(())
}

/// The service named by `slug`, or an error that says there is none.
fn service_by_slug(conn: &downwave::store::Db, slug: &str) -> anyhow::Result<store::Service> {
    use anyhow::Context as _;
    store::list_services(conn)?
        .into_iter()
        .find(|s| s.slug.as_str() == slug)
        .with_context(|| format!("there is no service '{slug}'"))
}

/// Providers as `aws,cloudflare`, or `none`.
fn list_or_none(providers: &ProviderList) -> String {
    if providers.is_empty() {
        return "none".to_owned();
    }
    let names: Vec<&str> = providers.iter().map(ServiceSlug::as_str).collect();
    names.join(",")
}

fn service(settings: Settings, command: ServiceCommand) -> anyhow::Result<()> {
    let conn = store::open_writer(&settings.database, &settings.open_options())?;
    match command {
        ServiceCommand::Add {
            slug,
            name,
            categories,
            depends_on,
        } => {
            let slug = ServiceSlug::parse(&slug)?;
            let new = store::NewService {
                depends_on: ProviderList::parse(&slug, &depends_on)?,
                slug,
                name: ServiceName::parse(&name)?.into_inner(),
                categories: CategoryList::parse(&categories)?,
            };
            let s = store::insert_service(&conn, &new, chrono::Utc::now().timestamp())?;
            println!("added {} ({})", s.slug, s.name);
        }
        ServiceCommand::Depends { slug, providers } => {
            let service = service_by_slug(&conn, &slug)?;
            let depends_on = ProviderList::parse(&service.slug, &providers)?;
            store::set_dependencies(&conn, service.id, &depends_on)?;
            println!("{} depends on {}", service.slug, list_or_none(&depends_on));
        }
        ServiceCommand::List => {
            for s in store::list_services(&conn)? {
                let cats: Vec<&str> = s.categories.iter().map(|c| c.as_str()).collect();
                println!(
                    "{}\t{}\t{}\t{}",
                    s.slug,
                    s.name,
                    cats.join(","),
                    list_or_none(&s.depends_on)
                );
            }
        }
    }
    Ok(())
}

fn load(args: LoadgenArgs) -> anyhow::Result<()> {
    let base = LoadOptions {
        addr: args.addr.clone(),
        target: Target::Healthz,
        connections: args.connections,
        duration: Duration::from_secs(args.seconds),
        rate: args.rate,
        service: args.service.clone(),
        categories: args.categories.clone(),
        threads: args.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
        }),
    };
    match args.target {
        LoadTarget::Healthz => println!("{}", loadgen::run(&base)?),
        LoadTarget::Reports => {
            let opts = LoadOptions {
                target: Target::Reports,
                ..base
            };
            println!("{}", loadgen::run(&opts)?);
        }
        LoadTarget::Compare => {
            // Alternate short runs of each so that a machine whose speed
            // drifts during the session affects both sides alike.
            let (mut health_n, mut health_t) = (0f64, 0f64);
            let (mut reports_ok, mut reports_t) = (0f64, 0f64);
            for round in 1..=args.rounds {
                let health = loadgen::run(&base)?;
                println!("round {round}: {health}");
                health_n += health.requests as f64;
                health_t += health.elapsed.as_secs_f64();
                let reports = loadgen::run(&LoadOptions {
                    target: Target::Reports,
                    rate: None,
                    ..base.clone()
                })?;
                println!("round {round}: {reports}");
                reports_ok += reports.ok_rate() * reports.elapsed.as_secs_f64();
                reports_t += reports.elapsed.as_secs_f64();
            }
            let health_rate = health_n / health_t.max(1e-9);
            let reports_rate = reports_ok / reports_t.max(1e-9);
            let half = reports_rate / 2.0;
            let at_half = loadgen::run(&LoadOptions {
                target: Target::Reports,
                rate: Some(half),
                ..base.clone()
            })?;
            println!("half load: {at_half}  (open loop at {half:.0} req/s)");
            println!(
                "healthz {health_rate:.0} req/s; acknowledged reports {reports_rate:.0} /s; \
                     ratio {:.2}; p99 at half load {:.2} ms",
                reports_rate / health_rate.max(1e-9),
                at_half.p99.as_secs_f64() * 1000.0
            );
        }
    }
    Ok(())
}

fn backtest(args: BacktestArgs) -> anyhow::Result<()> {
    use downwave::sim::{backtest, crossval, nab};
    let params = detector_params(&args.set)?;
    if args.cross_validate {
        let series = crossval::load(&args.nab, &args.ms)?;
        let grid = args.grid()?;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let report = crossval::cross_validate(&series, &params, &grid, threads)?;
        print!("{}", report.table());
        return Ok(());
    }
    let Some(input) = args.input else {
        anyhow::bail!("say what to backtest: --input FILE_OR_FOLDER");
    };
    let reports = backtest::backtest_path(&input, &args.output, &params, args.scores)?;
    for r in &reports {
        println!(
            "{}: {} rows, step {} s, {} events -> {}",
            r.name,
            r.rows,
            r.step_secs,
            r.events,
            args.output
                .join(format!("{}.events.jsonl", r.name))
                .display()
        );
    }
    if let Some(labels) = args.labels {
        let corpus = nab::Corpus::from_labels(&labels)?;
        let names: Vec<String> = reports.iter().map(|r| r.name.clone()).collect();
        let files = corpus.resolve(&names);
        anyhow::ensure!(
            !files.is_empty(),
            "none of the series is labelled in {}",
            labels.display()
        );
        let total = nab::score_dir(&corpus, &files, &args.output)?;
        print!("{}", nab::table(&total));
    }
    Ok(())
}

fn simulate(args: SimulateArgs) -> anyhow::Result<()> {
    use downwave::sim::{replay, scenario};
    let params = detector_params(&args.set)?;
    if args.scenario == Scenario::Controls {
        let seeds = args.check.unwrap_or(20);
        return check_controls(&params, seeds);
    }
    if args.scenario == Scenario::AwsOutage {
        return simulate_aws_outage(&args, &params);
    }
    if let Some(seeds) = args.check {
        return check_march2(&params, seeds);
    }
    anyhow::ensure!(
        args.csv.is_some() || args.target.is_some(),
        "say where the scenario goes: --csv FILE, --target URL or --check SEEDS"
    );
    let s = scenario::march2(args.seed);
    if let Some(path) = &args.csv {
        std::fs::write(path, s.counts_csv())?;
        println!(
            "wrote {} minutes of {} to {} ({} outage reports injected from {})",
            s.minute_starts.len(),
            s.service,
            path.display(),
            s.truth.injected_reports,
            downwave::domain::Minute::from_unix(s.truth.first_abnormal_minute)
        );
    }
    if let Some(target) = &args.target {
        let base = target.trim_end_matches('/');
        let token = args.token.as_deref();
        runtime()?.block_on(async {
            let created = replay::send(
                "POST",
                &format!("{base}/api/v1/services"),
                token,
                "application/json",
                serde_json::json!({"slug": s.service, "name": "Claude"}).to_string(),
            )
            .await?;
            anyhow::ensure!(
                created.status == 201 || created.status == 409,
                "creating {} failed: {} {}",
                s.service,
                created.status,
                created.body
            );
            let answer = replay::send(
                "POST",
                &format!("{base}/api/v1/admin/import"),
                token,
                "application/x-ndjson",
                replay::import_jsonl(&s),
            )
            .await?;
            anyhow::ensure!(
                answer.status == 200,
                "the import failed: {} {}",
                answer.status,
                answer.body
            );
            println!("imported into {base}: {}", answer.body);
            Ok(())
        })?;
    }
    Ok(())
}

/// `simulate aws-outage`: the check over seeds, the CSV folder, or the
/// import of every service into a server.
fn simulate_aws_outage(
    args: &SimulateArgs,
    params: &downwave::detect::DetectorParams,
) -> anyhow::Result<()> {
    use downwave::sim::{aws_outage, replay};
    if let Some(seeds) = args.check {
        return check_aws_outage(params, seeds);
    }
    anyhow::ensure!(
        args.csv.is_some() || args.target.is_some(),
        "say where the scenario goes: --csv DIR, --target URL or --check SEEDS"
    );
    let a = aws_outage::aws_outage(args.seed);
    if let Some(dir) = &args.csv {
        let n = a.write_csv_dir(dir)?;
        println!(
            "wrote {n} services' minutes and services.json to {} (the provider's outage from {})",
            dir.display(),
            downwave::domain::Minute::from_unix(aws_outage::AWS_OUTAGE)
        );
    }
    let Some(target) = &args.target else {
        return Ok(());
    };
    let base = target.trim_end_matches('/');
    let token = args.token.as_deref();
    runtime()?.block_on(async {
        for s in &a.services {
            let created = replay::send(
                "POST",
                &format!("{base}/api/v1/services"),
                token,
                "application/json",
                serde_json::json!({"slug": s.slug, "name": s.name, "depends_on": s.depends_on})
                    .to_string(),
            )
            .await?;
            anyhow::ensure!(
                created.status == 201 || created.status == 409,
                "creating {} failed: {} {}",
                s.slug,
                created.status,
                created.body
            );
            // Half of the server's default import_max_bytes (64 MiB) a request.
            for body in replay::import_bodies(&s.series, 32 << 20) {
                let answer = replay::send(
                    "POST",
                    &format!("{base}/api/v1/admin/import"),
                    token,
                    "application/x-ndjson",
                    body,
                )
                .await?;
                anyhow::ensure!(
                    answer.status == 200,
                    "the import of {} failed: {} {}",
                    s.slug,
                    answer.status,
                    answer.body
                );
            }
            println!("imported {} into {base}", s.slug);
        }
        Ok(())
    })?;
    Ok(())
}

/// Prints, per seed, what the detector and the incident pass made of
/// aws-outage, against the acceptance criteria (`AwsOutcome::misses`).
fn check_aws_outage(params: &downwave::detect::DetectorParams, seeds: u64) -> anyhow::Result<()> {
    use downwave::incident::IncidentSettings;
    use downwave::sim::incident_acceptance::aws_outcome_with;
    println!(
        "seed  incidents  cause  dependents  upstream  undeclared_to_aws  spillover  \
         bystander_share  solo               opened_after_s  reattributed  settled_min  ok"
    );
    let (mut failures, mut und, mut und_opened) = (0, 0, 0);
    let mut confidence = [(0.0, 0usize); 3];
    for seed in 0..seeds {
        let o = aws_outcome_with(params, &IncidentSettings::default(), seed)?;
        let ok = o.misses().is_empty();
        failures += usize::from(!ok);
        und += o.undeclared_attributed;
        und_opened += o.undeclared_opened;
        for (sum, (mean, n)) in confidence.iter_mut().zip([
            (o.upstream_confidence, o.declared_upstream),
            (o.undeclared_confidence, o.undeclared_attributed),
            (o.spillover_confidence, o.bystanders_spillover),
        ]) {
            sum.0 += mean * n as f64;
            sum.1 += n;
        }
        let solo = match (o.solo_offset_minutes, o.solo_kind) {
            (Some(m), Some(k)) if !o.solo_ever_attributed_to_provider => format!("{m:+} min {k}"),
            (_, _) if o.solo_ever_attributed_to_provider => "to AWS".to_string(),
            _ => "-".to_string(),
        };
        println!(
            "{:>4}  {:>9}  {:>5}  {:>10}  {:>8}  {:>17}  {:>9}  {:>15}  {:<17}  {:>14}  {:>12}  {:>11}  {}",
            seed,
            o.incidents,
            if o.cause_is_provider { "aws" } else { "OTHER" },
            format!("{}/{}", o.dependents_in_incident, o.dependents_opened),
            format!("{}/{}", o.declared_upstream, o.declared_opened),
            format!("{}/{}", o.undeclared_attributed, o.undeclared_opened),
            format!("{}/{}", o.bystanders_spillover, o.bystanders_opened),
            o.bystander_max_share
                .map_or("-".to_string(), |s| format!("{:.1}%", 100.0 * s)),
            solo,
            o.opened_after_secs
                .map_or("-".to_string(), |s| s.to_string()),
            o.reattributions,
            o.settled_after_minutes
                .map_or("-".to_string(), |m| m.to_string()),
            if ok {
                "yes".to_string()
            } else {
                format!("NO: {}", o.misses().join("; "))
            }
        );
    }
    let mean = |(sum, n): (f64, usize)| sum / n.max(1) as f64;
    println!(
        "{} of {seeds} seeds meet every criterion; undeclared dependents attributed to the \
         provider: {und}/{und_opened}; mean confidence: upstream {:.2}, undeclared {:.2}, \
         spillover {:.2}",
        seeds as usize - failures,
        mean(confidence[0]),
        mean(confidence[1]),
        mean(confidence[2])
    );
    anyhow::ensure!(failures == 0, "{failures} seeds failed");
    Ok(())
}

/// Prints, per seed, what the detector made of march-2, against the
/// acceptance criteria (`March2Outcome::misses`): one event, three waves,
/// detected within 3 minutes, excess and total within 5%, resolved within
/// 30 minutes of the last wave, no event in the background week.
/// Events per 30 days on each negative control, against the false-event budget.
fn check_controls(params: &downwave::detect::DetectorParams, seeds: u64) -> anyhow::Result<()> {
    use downwave::sim::controls::{control_events, CONTROLS, JUDGED_DAYS};
    let budget = params.false_events_per_30_days;
    println!("control       seeds  events  per_30_days  worst_seed  budget  ok");
    let mut over = 0;
    for name in CONTROLS {
        let mut counts = Vec::new();
        for seed in 0..seeds {
            let events = control_events(params, name, seed)
                .ok_or_else(|| anyhow::anyhow!("no control named {name}"))?;
            counts.push(events.len());
        }
        let total: usize = counts.iter().sum();
        let rate = total as f64 / seeds.max(1) as f64 * 30.0 / JUDGED_DAYS as f64;
        let ok = rate <= budget;
        over += usize::from(!ok);
        println!(
            "{:<12}  {:>5}  {:>6}  {:>11.2}  {:>10}  {:>6.2}  {}",
            name,
            seeds,
            total,
            rate,
            counts.iter().max().copied().unwrap_or(0),
            budget,
            if ok { "yes" } else { "NO" }
        );
    }
    anyhow::ensure!(over == 0, "{over} controls over the budget");
    Ok(())
}

fn check_march2(params: &downwave::detect::DetectorParams, seeds: u64) -> anyhow::Result<()> {
    use downwave::sim::acceptance::march2_outcome_with;
    println!("seed  events  waves  detect_delay_s  excess_vs_injected  resolved_after_last_wave_min  background_events  ok");
    let mut failures = 0;
    for seed in 0..seeds {
        let o = march2_outcome_with(params, seed);
        let ok = o.misses().is_empty();
        failures += usize::from(!ok);
        println!(
            "{:>4}  {:>6}  {:>5}  {:>14}  {:>17.2}%  {:>28.1}  {:>17}  {}",
            seed,
            o.events,
            o.waves,
            o.detect_delay_secs,
            o.excess_error * 100.0,
            o.resolve_after_last_wave_secs as f64 / 60.0,
            o.background_events,
            if ok { "yes" } else { "NO" }
        );
    }
    println!(
        "{} of {seeds} seeds meet every criterion",
        seeds as usize - failures
    );
    anyhow::ensure!(failures == 0, "{failures} seeds failed");
    Ok(())
}

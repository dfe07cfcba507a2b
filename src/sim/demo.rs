//! `downwave serve --demo`: on an empty database, the two outages downwave
//! is built around, so that a newcomer's first page shows real ones: the
//! Claude outage of 2 March 2026 (`march-2`) and a provider outage across 47
//! services that the incident pass groups into one incident (`aws-outage`).
//!
//! The demo writes reports straight into the store before the server
//! starts; the monitor's catch-up then runs the detectors and the incident
//! pass over them like over any history.

use super::aws_outage::{aws_outage, AwsOutage, AWS_OUTAGE};
use super::scenario::{march2, SimReport, MARCH2_OUTAGE};
use crate::config::Settings;
use crate::domain::{
    Category, CategoryList, ErrorCode, Minute, Platform, ProviderList, Region, ServiceSlug,
};
use crate::store;
use crate::store::Db;
use anyhow::Context as _;

/// The seed of both scenarios: the demo is the same on every start.
const SEED: u64 = 0;

/// How much of the aws-outage's background the demo imports before the
/// provider's outage. A detector opens nothing in its first hour
/// (`warmup_minutes`) and needs no week to tell these spikes from normal:
/// with six hours, seed 0 meets every acceptance criterion of the incident
/// pass as with the scenario's week (a test of `with_history` holds it),
/// with about 400,000 reports up to an hour after the provider's outage
/// began instead of some 8 million: what keeps the demo's start short.
const AWS_HISTORY_MINUTES: i64 = 6 * 60;

/// How long before the demo starts the provider's outage began: long enough
/// that every dependent and `solo` (36 minutes after the provider in seed
/// 0) have opened their outages and the attributions have settled (by the
/// 13th minute), short enough that the incident is still open (the
/// provider's outage lasts about three hours).
const AWS_LEAD_SECS: i64 = 60 * 60;

/// Claude's outage begins at least this far from every outage of the
/// aws-outage: well outside the incident pass's window (15 minutes), so it
/// is never taken for a follower of the provider, and apart on the charts.
const APART_SECS: i64 = 30 * 60;

/// On a database without services, creates `claude` and the aws-outage's
/// services (with their declared providers) and imports both scenarios,
/// moved so that both outages began within the last day and the provider's
/// is still under way. Returns whether it did anything.
pub fn seed_demo(settings: &Settings) -> anyhow::Result<bool> {
    seed_demo_at(settings, chrono::Utc::now().timestamp())
}

/// [`seed_demo`] as if started at `now` (unix seconds): where the outages
/// fall depends on the hour, and tests choose it.
pub fn seed_demo_at(settings: &Settings, now: i64) -> anyhow::Result<bool> {
    let conn = store::open_writer(&settings.database, &settings.open_options())?;
    if !store::list_services(&conn)?.is_empty() {
        return Ok(false);
    }
    let claude = store::insert_service(
        &conn,
        &store::NewService {
            slug: ServiceSlug::parse("claude")?,
            name: "Claude".to_owned(),
            categories: CategoryList::default_list(),
            depends_on: ProviderList::default(),
        },
        now,
    )?;
    // Move March-2 by whole days (keeping its daily rhythm) so that its
    // outage began within the last day: the dashboard shows it in the
    // default 24-hour chart, live if the outage's three hours are not over.
    let claude_began = MARCH2_OUTAGE + (now - MARCH2_OUTAGE).div_euclid(86_400) * 86_400;
    let mut imported = import(
        &conn,
        claude.id,
        march2(SEED).reports(),
        claude_began - MARCH2_OUTAGE,
        now,
    )?;

    let scenario = aws_outage(SEED).with_history(AWS_HISTORY_MINUTES);
    let began = provider_outage_start(now, claude_began, outage_span(&scenario));
    // Moved by whole minutes, not days: the incident must still be open
    // when the server starts, whatever the hour. Its services' daily rhythm
    // moves with it.
    let shift = began - AWS_OUTAGE;
    for s in &scenario.services {
        let slug = ServiceSlug::parse(&s.slug)?;
        let service = store::insert_service(
            &conn,
            &store::NewService {
                depends_on: ProviderList::parse(&slug, &s.depends_on)?,
                slug,
                name: s.name.clone(),
                categories: CategoryList::default_list(),
            },
            now,
        )?;
        // Minutes after now are never generated.
        let reports = s.series.between(i64::MIN, now - shift + 1).reports();
        imported += import(&conn, service.id, reports, shift, now)?;
    }
    store::checkpoint(&conn)?;
    tracing::info!(
        reports = imported,
        "demo: created claude and the {} services of aws-outage, imported the march-2 outage \
         (began {}) and the aws-outage (began {})",
        scenario.services.len(),
        Minute::from_unix(claude_began),
        Minute::from_unix(began),
    );
    Ok(true)
}

/// The first abnormal minutes of the aws-outage's earliest and latest
/// outage, relative to the provider's (seed 0: the provider's, and `solo`'s
/// 36 minutes after it).
fn outage_span(scenario: &AwsOutage) -> (i64, i64) {
    let starts = scenario
        .services
        .iter()
        .filter(|s| s.series.truth.injected_reports > 0)
        .map(|s| s.series.truth.first_abnormal_minute - AWS_OUTAGE);
    let (lo, hi) = starts.fold((0, 0), |(lo, hi), t| (t.min(lo), t.max(hi)));
    (lo, hi)
}

/// When the demo's provider outage begins: [`AWS_LEAD_SECS`] before `now`
/// (on a whole minute), unless Claude's outage began within [`APART_SECS`]
/// of the scenario's outages (`span`, relative to the provider's) placed
/// there; then early enough that Claude's began `APART_SECS` after the last
/// of them.
fn provider_outage_start(now: i64, claude_began: i64, span: (i64, i64)) -> i64 {
    let (lo, hi) = span;
    let began = Minute::from_unix(now).unix() - AWS_LEAD_SECS;
    if (began + lo - APART_SECS..began + hi + APART_SECS).contains(&claude_began) {
        claude_began - hi - APART_SECS
    } else {
        began
    }
}

/// Imports `reports` for the service, moved by `shift` seconds; those that
/// would lie after `now` are left out. Each report gets its own reporter,
/// as each came from another person. Returns how many it imported.
fn import(
    conn: &Db,
    service_id: i64,
    reports: Vec<SimReport>,
    shift: i64,
    now: i64,
) -> anyhow::Result<usize> {
    use rand::RngCore;
    let mut rows = Vec::with_capacity(reports.len());
    for r in reports {
        let at = r.at + shift;
        if at > now {
            continue;
        }
        let mut reporter = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut reporter);
        rows.push(store::NewReport {
            report: store::Report {
                service_id,
                received_ms: at * 1000,
                category: Category::parse(r.category)?,
                error_code: r
                    .error_code
                    .map(|c| ErrorCode::parse(c.into()))
                    .transpose()?,
                region: Some(Region::parse(r.region)?),
                platform: Some(Platform::parse(r.platform)?),
                comment: None,
                reporter,
                source: None,
                network: None,
            },
            counted: true,
        });
    }
    store::commit_batch(conn, &rows, &[])
        .with_context(|| format!("importing the demo's reports of service {service_id}"))?;
    Ok(rows.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_span_of_seed_0_runs_from_the_provider_to_solo() {
        let span = outage_span(&aws_outage(SEED).with_history(AWS_HISTORY_MINUTES));
        assert_eq!(span, (0, 36 * 60));
    }

    /// At every minute of a day, the provider's outage began one to three
    /// hours before the start (so its incident has formed and is still
    /// open), and Claude's began at least `APART_SECS` away from each
    /// outage of the scenario.
    #[test]
    fn the_two_outages_never_collide() {
        let span = (0, 36 * 60);
        let day_start = MARCH2_OUTAGE + 400 * 86_400 - 11 * 3600;
        for minute in 0..1440 {
            let now = day_start + minute * 60 + 17;
            let claude = MARCH2_OUTAGE + (now - MARCH2_OUTAGE).div_euclid(86_400) * 86_400;
            let began = provider_outage_start(now, claude, span);
            assert_eq!(began % 60, 0, "on a whole minute");
            let lead = now - began;
            assert!(
                (AWS_LEAD_SECS..3 * 3600).contains(&lead),
                "{minute}: {lead}"
            );
            let apart = (claude - (began + span.0))
                .abs()
                .min((claude - (began + span.1)).abs());
            let inside = (began + span.0..=began + span.1).contains(&claude);
            assert!(!inside && apart >= APART_SECS, "{minute}: {apart}");
        }
    }
}

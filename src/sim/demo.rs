//! `downwave serve --demo`: on an empty database, a few services and the
//! March-2 outage, so that a newcomer's first page shows a real one.

use crate::config::Settings;
use crate::store;
use anyhow::Context as _;

/// The services `downwave serve --demo` creates on an empty database.
const DEMO_SERVICES: [(&str, &str); 4] = [
    ("claude", "Claude"),
    ("aws", "Amazon Web Services"),
    ("github", "GitHub"),
    ("slack", "Slack"),
];

/// On a database without services, creates a few and imports the `march-2`
/// scenario (seed 0) for `claude`, so a newcomer sees a real outage on the
/// first run. Returns whether it did anything.
pub fn seed_demo(settings: &Settings) -> anyhow::Result<bool> {
    use crate::domain::{Category, CategoryList, ErrorCode, Platform, Region, ServiceSlug};
    use rand::RngCore;
    let mut conn = store::open_writer(&settings.database, &settings.open_options())?;
    if !store::list_services(&conn)?.is_empty() {
        return Ok(false);
    }
    let now = chrono::Utc::now().timestamp();
    let mut claude_id = None;
    for (slug, name) in DEMO_SERVICES {
        let s = store::insert_service(
            &conn,
            &store::NewService {
                slug: ServiceSlug::parse(slug)?,
                name: name.to_owned(),
                categories: CategoryList::default_list(),
                depends_on: crate::domain::ProviderList::default(),
            },
            now,
        )?;
        if slug == "claude" {
            claude_id = Some(s.id);
        }
    }
    let service_id = claude_id.context("the demo creates claude")?;
    let scenario = super::scenario::march2(0);
    // Move the scenario by whole days (keeping its daily rhythm) so that
    // its outage began within the last day: the dashboard shows it in the
    // default 24-hour chart, live if the outage's three hours are not over.
    // Reports that would lie in the future are left out.
    let days = (now - super::scenario::MARCH2_OUTAGE).div_euclid(86_400);
    let shift = days * 86_400;
    let mut rows = Vec::new();
    for r in scenario.reports() {
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
    store::commit_batch(&mut conn, &rows, &[])?;
    tracing::info!(
        reports = rows.len(),
        "demo: created {} services and imported the march-2 outage for claude",
        DEMO_SERVICES.len()
    );
    Ok(true)
}

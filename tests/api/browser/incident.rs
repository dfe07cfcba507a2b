//! An incident across services in a real browser, on the server the live
//! incidents test has played part of aws-outage into (one playback serves
//! both, `tests/api/incidents.rs`): the home page leads with it, a
//! dependent's page names the cause with a link that works, the incident's
//! page draws the curves, and axe-core finds nothing on it.

use super::{within, Browser};
use crate::helpers::TestApp;
use std::time::Duration;

/// What the browser is told to expect.
pub(crate) struct Expected<'a> {
    pub(crate) incident: i64,
    /// The cause's outage, and its service's name.
    pub(crate) cause_event: i64,
    pub(crate) cause_name: &'a str,
    /// The services affected besides the cause.
    pub(crate) affected: usize,
    /// The curves the incident's page draws.
    pub(crate) curves: usize,
    /// An open dependent's slug.
    pub(crate) dependent: &'a str,
}

/// Runs the checks where a browser is available (skipped, saying so, where
/// none is and `DOWNWAVE_BROWSER_TESTS` does not require one).
pub(crate) async fn the_incident_in_a_browser(app: &TestApp, expected: &Expected<'_>) {
    let Some(b) = Browser::start().await else {
        return;
    };
    home_leads_with_the_incident(app, &b, expected).await;
    the_dependent_names_its_cause(app, &b, expected).await;
    let page = format!("/i/{}", expected.incident);
    let found = b.axe_violations(app, &[page.as_str()]).await;
    assert!(found.is_empty(), "accessibility:\n{}", found.join("\n"));
    b.close().await;
}

/// On a phone, the incident is on screen above the services, names the
/// cause and lists whom it affects; its heading leads to its page, which
/// draws a curve per service and lists every outage.
async fn home_leads_with_the_incident(app: &TestApp, b: &Browser, expected: &Expected<'_>) {
    b.viewport(375, 812).await;
    b.client.goto(&app.url("/")).await.unwrap();
    let heading = b.text("#incidents .incident h2").await;
    let others = format!("{} other services affected", expected.affected);
    assert!(heading.starts_with(expected.cause_name), "{heading}");
    assert!(heading.ends_with(&others), "{heading}");
    let cause = b.text("#incidents .incident-cause").await;
    assert!(
        cause.contains(&format!("{} outage", expected.cause_name)),
        "{cause}"
    );
    assert_eq!(
        b.count("#incidents .affected li a").await,
        expected.affected
    );
    let place =
        "const lead = document.querySelector('#incidents .incident').getBoundingClientRect(); \
         const list = document.getElementById('service-list').getBoundingClientRect(); \
         return [lead.top, lead.bottom, list.top, innerHeight];";
    let at = b.client.execute(place, vec![]).await.unwrap();
    let at: Vec<f64> = (0..4).map(|i| at[i].as_f64().unwrap()).collect();
    assert!(at[1] <= at[2], "above the services: {at:?}");
    assert!(
        at[0] >= 0.0 && at[0] < at[3],
        "on screen without scrolling: {at:?}"
    );
    b.screenshot("home-incident").await;

    b.click("#incidents .incident h2 a").await;
    let page = format!("/i/{}", expected.incident);
    within(Duration::from_secs(5), "the incident's page", || async {
        b.url().await.ends_with(&page)
    })
    .await;
    assert_eq!(b.text("h1").await, heading);
    b.viewport(1280, 900).await;
    assert_eq!(b.count("#chart svg .chart-curve").await, expected.curves);
    assert_eq!(
        b.count("#chart svg .chart-curve polyline").await,
        b.count("#chart svg .chart-curve").await,
        "each curve one unbroken line"
    );
    assert_eq!(b.count("#chart .legend li").await, expected.curves);
    assert_eq!(b.count("#outages tbody tr").await, expected.affected + 1);
    let axis = b.text("#chart svg .chart-axes").await;
    assert!(axis.contains("times normal (log scale)"), "{axis}");
    b.screenshot("incident").await;
}

/// A dependent's page names the cause; the link leads to the cause's
/// outage, and that outage's page back to the incident.
async fn the_dependent_names_its_cause(app: &TestApp, b: &Browser, expected: &Expected<'_>) {
    b.client
        .goto(&app.url(&format!("/s/{}", expected.dependent)))
        .await
        .unwrap();
    let notice = b.text(".notice-cause").await;
    assert!(
        notice.contains(&format!("caused by the {} outage", expected.cause_name)),
        "{notice}"
    );
    b.click(".notice-cause a[href^='/e/']").await;
    let cause = format!("/e/{}", expected.cause_event);
    within(Duration::from_secs(5), "the cause's outage", || async {
        b.url().await.ends_with(&cause)
    })
    .await;
    assert!(b.text("h1").await.starts_with(expected.cause_name));
    b.click(".notice-cause a").await;
    let page = format!("/i/{}", expected.incident);
    within(Duration::from_secs(5), "back to the incident", || async {
        b.url().await.ends_with(&page)
    })
    .await;
}

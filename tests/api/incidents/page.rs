//! The incident's page (`/i/{id}`) on the server the live incidents test
//! played: what it says without a script, its headers and `304` as every
//! page's, the links to it from the API and the pages of its outages, and
//! then the same in a browser where one is available.

use super::{outage_of, ByService};
use crate::browser::incident::{the_incident_in_a_browser, Expected};
use crate::dashboard::kept_headers;
use crate::helpers::*;
use downwave::sim::aws_outage::{Role, SimService};

/// The legend of an incident's page: each curve's name and its highest
/// multiple of normal.
fn legend(page: &str) -> Vec<(String, f64)> {
    let list = &page[page.find("<ul class=\"legend\">").unwrap()..];
    let list = &list[..list.find("</ul>").unwrap()];
    list.split("<li>")
        .skip(1)
        .map(|item| {
            let name = item[item.find("</svg>").unwrap() + 6..item.find(" <span").unwrap()].trim();
            let top = item.split("up to ").nth(1).unwrap();
            let top = top[..top.find('×').unwrap()].replace(',', "");
            (name.to_owned(), top.parse().unwrap())
        })
        .collect()
}

pub(super) async fn check_incident_page(
    app: &TestApp,
    incident: i64,
    services: &[SimService],
    events: &ByService,
) {
    let path = format!("/i/{incident}");
    let (_, detail) = app.get_json(&format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(detail["url"], path.as_str());
    let (_, list) = app.get_json("/api/v1/incidents").await;
    assert_eq!(list["incidents"][0]["url"], path.as_str());
    let outages = detail["outages"].as_array().unwrap();
    let aws_event = outage_of(events, "aws")["id"].as_i64().unwrap();

    let r = app.get(&path).await;
    assert_eq!(r.status(), 200);
    // The headers of every page, and a 304 that carries them.
    let event = app.get(&format!("/e/{aws_event}")).await;
    let policy = |r: &reqwest::Response| {
        let mut kept = kept_headers(r);
        kept.retain(|(name, _)| *name != "etag");
        kept
    };
    assert_eq!(policy(&r), policy(&event));
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let again = app
        .client
        .get(app.url(&path))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(kept_headers(&again), kept_headers(&r));

    let page = r.text().await.unwrap();
    assert!(
        page.contains("<h1>AWS outage: 5 other services affected</h1>"),
        "{page}"
    );
    let cause = format!("Likely cause: the <a href=\"/e/{aws_event}\">AWS outage #{aws_event}</a>");
    assert!(page.contains(&cause));
    assert!(page.contains("<span class=\"pill pill-outage\">Ongoing</span>"));
    // Every outage in the table, each service drawn (six, under the cap).
    for o in outages {
        let row = format!(
            "<a href=\"/e/{}\">Outage #{}</a>",
            o["event_id"], o["event_id"]
        );
        assert!(page.contains(&row), "{row}");
        assert!(page.contains(&format!(
            "<a href=\"/s/{}\">",
            o["service"].as_str().unwrap()
        )));
    }
    assert!(!page.contains("/s/solo\""), "solo is not in it");
    assert_eq!(
        page.matches("<g class=\"chart-curve\"").count(),
        outages.len()
    );
    // Relative to each one's normal: AWS, a thousandfold, above every other.
    let drawn = legend(&page);
    assert_eq!(drawn.len(), outages.len());
    assert_eq!(drawn[0].0, "AWS", "the cause first: {drawn:?}");
    assert!(drawn[0].1 >= 100.0, "{drawn:?}");
    assert!(
        drawn[1..].iter().all(|(_, top)| *top < drawn[0].1),
        "{drawn:?}"
    );

    // The pages of its outages lead to it.
    let dependent = services
        .iter()
        .filter(|s| matches!(s.role, Role::Dependent { .. }))
        .find(|s| outage_of(events, &s.slug)["status"] == "open")
        .expect("a dependent's outage still open");
    let e = outage_of(events, &dependent.slug)["id"].as_i64().unwrap();
    let link = format!("<a href=\"{path}\">AWS outage: 5 other services affected</a>");
    let event_page = app.get(&format!("/e/{e}")).await.text().await.unwrap();
    assert!(event_page.contains(&link), "the event page of a member");
    let service_page = app.get(&format!("/s/{}", dependent.slug)).await;
    let service_page = service_page.text().await.unwrap();
    assert!(service_page.contains(&format!("<a href=\"{path}\">Every service it affects</a>")));

    // An unknown incident is a page that says so.
    for unknown in ["/i/999999", "/i/abc"] {
        let r = app.get(unknown).await;
        assert_eq!(r.status(), 404, "{unknown}");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
    }
    let gone = app.get("/i/999999").await.text().await.unwrap();
    assert!(gone.contains("There is no incident 999999."));

    let expected = Expected {
        incident,
        cause_event: aws_event,
        cause_name: "AWS",
        affected: 5,
        curves: outages.len(),
        dependent: &dependent.slug,
    };
    the_incident_in_a_browser(app, &expected).await;
}

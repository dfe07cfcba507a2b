//! What other sites and readers embed: a status badge (`/badge/{slug}.svg`)
//! and an Atom feed of events (`/events.atom`, optionally `?service=`).

use super::pages::status_of;
use super::view;
use super::{cached, PageError, Representation};
use crate::api::AppState;
use crate::detect::Status;
use crate::domain::{rfc3339, WindowState};
use crate::store::{self, EventFilter, EventRecord, Service};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Entries in the feed.
const FEED_ENTRIES: usize = 50;
/// Roughly how wide one character of the badge's 11 px sans-serif is; the
/// text is fitted to the width computed from it with `textLength`.
const BADGE_CHAR_WIDTH: f64 = 6.6;
const BADGE_PADDING: f64 = 10.0;

#[derive(Template)]
#[template(path = "badge.svg")]
struct Badge {
    /// "Claude: Outage", for screen readers and on hover.
    title: String,
    label: String,
    message: &'static str,
    colour: &'static str,
    label_width: f64,
    message_width: f64,
    width: f64,
    label_text_x: f64,
    message_text_x: f64,
    label_text_length: f64,
    message_text_length: f64,
}

impl Badge {
    fn new(label: String, status: Status) -> Self {
        let (message, colour) = match status {
            Status::Outage => ("outage", "#b3261e"),
            Status::Elevated => ("possible problems", "#8a4b00"),
            Status::Ok => ("no problems", "#1e6b34"),
        };
        let text = |s: &str| s.chars().count() as f64 * BADGE_CHAR_WIDTH;
        let label_text_length = text(&label);
        let message_text_length = text(message);
        let label_width = (label_text_length + 2.0 * BADGE_PADDING).round();
        let message_width = (message_text_length + 2.0 * BADGE_PADDING).round();
        Badge {
            title: format!("{label}: {}", status.label()),
            label_text_x: label_width / 2.0,
            message_text_x: label_width + message_width / 2.0,
            width: label_width + message_width,
            label,
            message,
            colour,
            label_width,
            message_width,
            label_text_length,
            message_text_length,
        }
    }
}

/// `GET /badge/{slug}.svg`: "claude | outage", for READMEs and status pages.
pub async fn badge(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let service = state.service(&path).await?;
    let status = status_of(&state, &service);
    let etag = match view::conditional(
        &req,
        Representation::Badge,
        (status, service.id, &service.name),
    ) {
        Ok(tag) => tag,
        Err(not_modified) => return Ok(not_modified.response()),
    };
    cached(
        &req,
        Representation::Badge,
        &etag,
        Some(""),
        || async move { Ok(Badge::new(service.name.clone(), status).render()?) },
    )
    .await
}

/// Other parameters (a feed reader's tracking tags) are ignored.
#[derive(Debug, PartialEq, Deserialize, Serialize)]
pub struct FeedQuery {
    service: Option<String>,
}

struct Entry {
    id: String,
    url: String,
    title: String,
    updated: String,
    published: String,
    summary: String,
}

#[derive(Template)]
#[template(path = "events.atom", escape = "html")]
struct Feed {
    id: String,
    self_url: String,
    home_url: String,
    title: String,
    updated: String,
    entries: Vec<Entry>,
}

/// When an event last changed, as far as a reader cares.
fn updated_at(e: &EventRecord) -> i64 {
    e.resolved_at.unwrap_or(e.ended_at).max(e.detected_at)
}

/// `GET /events.atom[?service=slug]`: the latest events, newest first.
pub async fn atom(
    req: HttpRequest,
    query: web::Query<FeedQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let service = match &query.service {
        Some(slug) => Some(state.service(slug).await?),
        None => None,
    };
    let parts = (
        state.monitor.board.version(),
        service.as_ref().map(|s| s.id),
    );
    let etag = match view::conditional(&req, Representation::Feed, parts) {
        Ok(tag) => tag,
        Err(not_modified) => return Ok(not_modified.response()),
    };
    let variant = service.as_ref().map_or("", |s| s.slug.as_str()).to_owned();
    cached(&req, Representation::Feed, &etag, Some(&variant), || {
        render(state, service)
    })
    .await
}

/// The feed of the latest events (of `service`, or of all), as XML.
async fn render(
    state: web::Data<AppState>,
    service: Option<Arc<Service>>,
) -> Result<String, PageError> {
    let filter = EventFilter {
        service_id: service.as_ref().map(|s| s.id),
        status: None,
        since: None,
        limit: FEED_ENTRIES,
    };
    let (events, windows) = state
        .read(move |conn| {
            Ok((
                store::list_events(conn, &filter)?,
                store::recent_maintenance(conn, filter.service_id, FEED_ENTRIES)?,
            ))
        })
        .await?;
    let now = state.clock.now().timestamp();
    let base = state.settings.public_url.trim_end_matches('/').to_owned();
    let names = |slug: &str| {
        state
            .catalog
            .get(slug)
            .map_or_else(|| slug.to_owned(), |s| s.name.clone())
    };
    let mut entries: Vec<(i64, Entry)> = events
        .iter()
        .map(|e| (updated_at(e), entry(e, &names(&e.service), &base, now)))
        .chain(windows.iter().map(|(w, slug)| {
            let updated = window_updated_at(w, now);
            (updated, window_entry(w, slug, &names(slug), &base, now))
        }))
        .collect();
    // Newest change first; the id breaks ties so the order is stable.
    entries.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.id.cmp(&a.1.id)));
    entries.truncate(FEED_ENTRIES);
    let updated = entries.first().map_or(now, |(t, _)| *t);
    let entries: Vec<Entry> = entries.into_iter().map(|(_, e)| e).collect();
    let (self_url, title) = match &service {
        Some(s) => (
            format!("{base}/events.atom?service={}", s.slug.as_str()),
            format!("{}: outages seen by downwave", s.name),
        ),
        None => (
            format!("{base}/events.atom"),
            "Outages seen by downwave".to_owned(),
        ),
    };
    let feed = Feed {
        id: self_url.clone(),
        home_url: match &service {
            Some(s) => format!("{base}/s/{}", s.slug.as_str()),
            None => format!("{base}/"),
        },
        self_url,
        title,
        updated: rfc3339(updated),
        entries,
    };
    Ok(feed.render()?)
}

/// When a window last changed for a reader: made, begun, or over.
fn window_updated_at(w: &store::Maintenance, now: i64) -> i64 {
    [w.created_at, w.starts_at, w.ends_at]
        .into_iter()
        .filter(|t| *t <= now)
        .max()
        .unwrap_or(w.created_at)
}

/// One maintenance window as a feed entry; `name` is its service's.
fn window_entry(w: &store::Maintenance, slug: &str, name: &str, base: &str, now: i64) -> Entry {
    let when = format!(
        "from {} to {} UTC",
        rfc3339(w.starts_at),
        rfc3339(w.ends_at)
    );
    let title = match w.state(now) {
        WindowState::Scheduled => format!("{name}: maintenance scheduled"),
        WindowState::InProgress => format!("{name}: maintenance in progress"),
        WindowState::Over => format!("{name}: maintenance over"),
    };
    let why = if w.reason.is_empty() {
        String::new()
    } else {
        format!(": {}", w.reason)
    };
    Entry {
        id: format!("{base}/s/{slug}#maintenance-{}", w.id),
        url: format!("{base}/s/{slug}"),
        title,
        updated: rfc3339(window_updated_at(w, now)),
        published: rfc3339(w.created_at),
        summary: format!(
            "Maintenance of {name} {when}{why}. Problems during it are expected; outages are \
             recorded but page only those who asked to hear of them."
        ),
    }
}

/// One event as a feed entry; `name` is its service's.
fn entry(e: &EventRecord, name: &str, base: &str, now: i64) -> Entry {
    let (title, summary) = if e.concentrated {
        (
            format!(
                "{name}: reports from few networks, {}",
                if e.is_open() { "ongoing" } else { "ended" }
            ),
            format!(
                "Reports about {name} rose far above normal from {} UTC, but from {} \
                 network{} only (or mostly from one provider block): not treated as an \
                 outage, and no one was paged.",
                rfc3339(e.started_at),
                e.networks.unwrap_or(0),
                if e.networks == Some(1) { "" } else { "s" }
            ),
        )
    } else if e.is_open() {
        (
            format!("{name}: outage ({}) ongoing", e.severity),
            format!(
                "Reports about {name} rose far above normal from {} UTC: {} reports so far, \
                 peaking at {:.0} a minute, in {} wave{}.",
                rfc3339(e.started_at),
                e.total,
                e.peak,
                e.waves.len(),
                if e.waves.len() == 1 { "" } else { "s" }
            ),
        )
    } else {
        (
            format!("{name}: outage ({}) resolved", e.severity),
            format!(
                "Reports about {name} were far above normal from {} UTC for {}: {} \
                 reports, peaking at {:.0} a minute, in {} wave{}.",
                rfc3339(e.started_at),
                view::duration((e.end(now) - e.started_at) / 60),
                e.total,
                e.peak,
                e.waves.len(),
                if e.waves.len() == 1 { "" } else { "s" }
            ),
        )
    };
    Entry {
        id: format!("{base}/e/{}", e.id),
        url: format!("{base}/e/{}", e.id),
        title,
        updated: rfc3339(updated_at(e)),
        published: rfc3339(e.detected_at),
        summary,
    }
}

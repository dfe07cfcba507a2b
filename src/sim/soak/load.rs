//! The load: reports from many networks, page views and API reads, test
//! messages, and one import per server life.

use super::{ImportRecord, Shared, CATEGORIES, PAGES, SERVICES};
use rand::Rng;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A client address for the next report: IPv4 from 198.18.0.0/15 or IPv6
/// from 2001:db8::/32 (a new /48 each), a new one each time but for one in
/// ten, which repeats a recent one (a reporter reporting again).
pub(super) fn next_address(shared: &Shared) -> IpAddr {
    let mut rng = rand::thread_rng();
    let issued = shared.next_address.fetch_add(1, Ordering::Relaxed);
    let n = if rng.gen_bool(0.1) && issued > 1 {
        rng.gen_range(issued.saturating_sub(200).max(1)..issued)
    } else {
        issued
    };
    if n % 2 == 0 {
        let k = (n / 2) as u32 % (1 << 17);
        IpAddr::V4(Ipv4Addr::from(0xC612_0000u32 | k))
    } else {
        let k = n / 2;
        // A new /48 each (the per-/48 limit is 100 a minute).
        IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0x0db8,
            k as u16,
            (k >> 16) as u16,
            0,
            0,
            0,
            1,
        ))
    }
}

pub(super) async fn report_load(
    client: reqwest::Client,
    shared: Arc<Shared>,
    pause: Duration,
    worker: usize,
) {
    let mut tick = tokio::time::interval(pause);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n = worker;
    while !shared.stop.load(Ordering::Relaxed) {
        tick.tick().await;
        n += 1;
        let service = n % SERVICES.len();
        let error_code = [500, 502, 503, 529][n % 4];
        let region = ["GB", "US", "DE", "JP", "BR"][n % 5];
        let body = json!({
            "service": SERVICES[service],
            "category": CATEGORIES[(n / SERVICES.len()) % CATEGORIES.len()],
            "error_code": error_code,
            "region": region,
        });
        shared.sent.fetch_add(1, Ordering::Relaxed);
        let sent = client
            .post(format!("{}/api/v1/reports", shared.base()))
            .header("x-forwarded-for", next_address(&shared).to_string())
            .json(&body)
            .send()
            .await;
        let r = match sent {
            Ok(r) => r,
            Err(_) => {
                shared.unanswered.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let status = r.status().as_u16();
        let id = match r.json::<Value>().await {
            Ok(v) => v["id"].as_i64(),
            Err(_) => None,
        };
        match (status, id) {
            (202, Some(id)) | (200, Some(id)) => {
                if let Ok(mut acked) = shared.acked.lock() {
                    acked.push((id, service));
                }
                let counter = if status == 202 {
                    &shared.counted
                } else {
                    &shared.stored
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            (202 | 200, None) => {
                // The answer was cut off by a kill before its body arrived.
                shared.unanswered.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                shared.refused.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

pub(super) async fn page_load(client: reqwest::Client, shared: Arc<Shared>) {
    let mut i = 0usize;
    while !shared.stop.load(Ordering::Relaxed) {
        let event = shared.latest_event.load(Ordering::Relaxed);
        let path = PAGES[i % PAGES.len()];
        i += 1;
        if path.contains("{event}") && event == 0 {
            continue;
        }
        let path = path.replace("{event}", &event.to_string());
        match client.get(format!("{}{path}", shared.base())).send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                shared.pages.fetch_add(1, Ordering::Relaxed);
                if status >= 500 {
                    shared.page_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(path, status, "a page answered with a server error");
                }
                if path == "/api/v1/events" {
                    if let Ok(v) = r.json::<Value>().await {
                        if let Some(id) = v["events"][0]["id"].as_u64() {
                            shared.latest_event.store(id, Ordering::Relaxed);
                        }
                    }
                } else {
                    let _ = r.bytes().await;
                }
            }
            Err(_) => {
                shared.page_unanswered.fetch_add(1, Ordering::Relaxed);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A test message every 30 seconds, so alerts flow between outages.
pub(super) async fn pings(client: reqwest::Client, shared: Arc<Shared>, webhook: i64) {
    while !shared.stop.load(Ordering::Relaxed) {
        let _ = client
            .post(format!("{}/api/v1/webhooks/{webhook}/test", shared.base()))
            .bearer_auth(&shared.token)
            .send()
            .await;
        for _ in 0..30 {
            if shared.stop.load(Ordering::Relaxed) {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// A new service with three hours of history: quiet, with a burst of 150
/// reports a minute either in the last closed minutes (an outage opens) or
/// an hour ago (an outage opens and resolves within the replay).
pub(super) async fn import(
    client: reqwest::Client,
    shared: Arc<Shared>,
    imports: Arc<Mutex<Vec<ImportRecord>>>,
    life: usize,
) {
    let base = shared.base();
    let slug = format!("imported-{life}");
    let created = client
        .post(format!("{base}/api/v1/services"))
        .bearer_auth(&shared.token)
        .json(&json!({"slug": slug, "name": slug}))
        .send()
        .await;
    if !created.is_ok_and(|r| r.status().as_u16() == 201) {
        return;
    }
    let now = chrono::Utc::now().timestamp() / 60 * 60;
    let burst = if life % 2 == 0 { 4..=5 } else { 48..=50 };
    let mut body = String::new();
    let mut lines = 0;
    for m in (4..180i64).rev() {
        let n = if burst.contains(&m) {
            150
        } else {
            usize::from(m % 2 == 0)
        };
        for k in 0..n {
            let Some(t) = chrono::DateTime::from_timestamp(now - m * 60 + (k % 60) as i64, 0)
            else {
                continue;
            };
            let _ = writeln!(
                body,
                "{{\"service\":\"{slug}\",\"category\":\"{}\",\"at\":\"{}\"}}",
                CATEGORIES[k % CATEGORIES.len()],
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            lines += 1;
        }
    }
    let answer = client
        .post(format!("{base}/api/v1/admin/import"))
        .bearer_auth(&shared.token)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await;
    let acknowledged = match answer {
        Ok(r) if r.status().as_u16() == 200 => r
            .json::<Value>()
            .await
            .ok()
            .and_then(|v| v["imported"].as_u64())
            .is_some_and(|n| n as usize == lines),
        _ => false,
    };
    if let Ok(mut imports) = imports.lock() {
        imports.push(ImportRecord {
            slug,
            lines,
            acknowledged,
        });
    }
}

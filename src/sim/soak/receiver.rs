//! The webhook receiver inside the soak: a real HTTP server on loopback that
//! fails some deliveries and hangs on others, and judges what arrived.

use super::{SoakReport, SERVER_WEBHOOK_TIMEOUT};
use crate::alert::signing;
use anyhow::Context;
use rand::Rng;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the receiver answered one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Success,
    Failure,
    Hang,
}

#[derive(Debug, Clone)]
struct Arrival {
    id: String,
    at: Instant,
    answer: Answer,
    signed: bool,
}

#[derive(Default)]
struct ReceiverLog {
    arrivals: Vec<Arrival>,
    failures: HashMap<String, u32>,
    secret: String,
}

/// The webhook receiver inside the soak: a real HTTP server on loopback.
pub(super) struct Receiver {
    pub(super) url: String,
    log: Arc<Mutex<ReceiverLog>>,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    pub(super) async fn start(max_failures: u32) -> anyhow::Result<Receiver> {
        use actix_web::{web, App, HttpServer};
        let log: Arc<Mutex<ReceiverLog>> = Arc::default();
        let state = web::Data::new((log.clone(), max_failures));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .context("binding the receiver")?;
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Receiver {
            url: format!("http://127.0.0.1:{port}"),
            log,
            handle,
        })
    }

    pub(super) fn set_secret(&self, secret: String) {
        if let Ok(mut log) = self.log.lock() {
            log.secret = secret;
        }
    }

    pub(super) async fn stop(self) {
        self.handle.stop(false).await;
    }

    /// Fills in the alerts' side of the report: what arrived, what arrived
    /// again after a success (other than in the moment before a kill, when
    /// the server may have died between the answer and recording it, which
    /// is what at-least-once allows), and the signatures.
    pub(super) fn judge(&self, report: &mut SoakReport, queued: &[String], kills: &[Instant]) {
        let Ok(log) = self.log.lock() else { return };
        let mut succeeded: HashMap<&str, Instant> = HashMap::new();
        let mut duplicates = 0;
        for a in &log.arrivals {
            if !a.signed {
                report.bad_signatures += 1;
            }
            match a.answer {
                Answer::Failure => report.attempts_failed += 1,
                Answer::Hang => report.attempts_hung += 1,
                Answer::Success => {}
            }
            if let Some(&first) = succeeded.get(a.id.as_str()) {
                let killed_between = kills
                    .iter()
                    .any(|&k| k >= first && k <= first + Duration::from_secs(1) && k <= a.at);
                if !killed_between {
                    duplicates += 1;
                }
            } else if a.answer == Answer::Success {
                succeeded.insert(a.id.as_str(), a.at);
            }
        }
        report.attempts_received = log.arrivals.len();
        report.duplicates_after_success = duplicates;
        let arrived: HashSet<&str> = log.arrivals.iter().map(|a| a.id.as_str()).collect();
        report.alerts_delivered = queued
            .iter()
            .filter(|id| succeeded.contains_key(id.as_str()))
            .count();
        report.alerts_never_arrived = queued
            .iter()
            .filter(|id| !arrived.contains(id.as_str()))
            .count();
    }
}

async fn receive(
    req: actix_web::HttpRequest,
    body: actix_web::web::Bytes,
    state: actix_web::web::Data<(Arc<Mutex<ReceiverLog>>, u32)>,
) -> actix_web::HttpResponse {
    let (log, max_failures) = (&state.0, state.1);
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let id = header("webhook-id");
    let timestamp = header("webhook-timestamp").parse::<i64>().unwrap_or(0);
    let signature = header("webhook-signature");
    let answer = {
        let Ok(mut log) = log.lock() else {
            return actix_web::HttpResponse::InternalServerError().finish();
        };
        let signed = signing::verify(&log.secret, &signature, &id, timestamp, &body);
        let failed = log.failures.get(&id).copied().unwrap_or(0);
        let mut rng = rand::thread_rng();
        // A third of the attempts fail (one in five of those by hanging),
        // but no alert more than `max_failures` times.
        let answer = if failed < max_failures && rng.gen_bool(1.0 / 3.0) {
            if rng.gen_bool(0.2) {
                Answer::Hang
            } else {
                Answer::Failure
            }
        } else {
            Answer::Success
        };
        if answer != Answer::Success {
            *log.failures.entry(id.clone()).or_default() += 1;
        }
        log.arrivals.push(Arrival {
            id,
            at: Instant::now(),
            answer,
            signed,
        });
        answer
    };
    match answer {
        Answer::Success => actix_web::HttpResponse::NoContent().finish(),
        Answer::Failure => actix_web::HttpResponse::ServiceUnavailable().finish(),
        Answer::Hang => {
            tokio::time::sleep(SERVER_WEBHOOK_TIMEOUT + Duration::from_secs(5)).await;
            actix_web::HttpResponse::ServiceUnavailable().finish()
        }
    }
}

//! A real HTTP receiver for webhook tests: records every request it gets
//! and answers from a script (a status, optionally after a delay).

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub id: String,
    pub timestamp: i64,
    pub signature: String,
    pub raw: Vec<u8>,
    pub body: Value,
}

#[derive(Clone, Copy)]
pub enum Reply {
    Status(u16),
    /// Answer 200, but only after this long.
    Slow(Duration),
}

#[derive(Default)]
struct Shared {
    log: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<Reply>>,
}

pub struct Receiver {
    pub url: String,
    shared: Arc<Shared>,
}

async fn handle(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    shared.log.lock().unwrap().push(Received {
        path: req.path().to_owned(),
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp").parse().unwrap_or(0),
        signature: header("webhook-signature"),
        raw: body.to_vec(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    let reply = shared.script.lock().unwrap().pop_front();
    match reply.unwrap_or(Reply::Status(200)) {
        Reply::Status(s) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(s).unwrap()).finish()
        }
        Reply::Slow(d) => {
            tokio::time::sleep(d).await;
            HttpResponse::Ok().finish()
        }
    }
}

impl Receiver {
    pub async fn start() -> Receiver {
        let shared = Arc::new(Shared::default());
        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(handle))
        })
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        tokio::spawn(server);
        Receiver {
            url: format!("http://127.0.0.1:{port}"),
            shared,
        }
    }

    /// Answers for the next requests, in order; 200 after that.
    pub fn script(&self, replies: &[Reply]) {
        self.shared
            .script
            .lock()
            .unwrap()
            .extend(replies.iter().copied());
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.log.lock().unwrap().clone()
    }

    pub fn received_at(&self, path: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }
}

/// Polls `check` (real time) until it holds or 10 seconds pass.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

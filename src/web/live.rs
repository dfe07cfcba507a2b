//! Live updates at crowd scale: `GET /live` is a Server-Sent Events
//! stream that tells every open page, at once, that the dashboard changed
//! (the detector closed a minute, an event opened, moved or ended). One
//! broadcast per change reaches every viewer; each then fetches its page
//! again, which the render cache answers without rendering. A viewer costs
//! one idle connection and one request a minute, instead of a poll every two
//! seconds.
//!
//! Each message is `event: change` with `{"generation":N,"at_ms":T}`: the
//! board's generation and the server's wall-clock time of the change, so a
//! load generator on the same machine can time how long the news took.
//! Comment lines keep idle connections alive through proxies
//! (`live_heartbeat_secs`). The number
//! of streams is capped (`live_max_connections`); past it the answer is
//! `503 live_full` and the page's script keeps polling instead, as it does
//! where `EventSource` is missing or the stream breaks.

use crate::api::conn_watch::Connection;
use crate::api::AppState;
use crate::monitor::BoardChange;
use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long a browser waits before reconnecting a dropped stream, in ms.
const RETRY_MS: u32 = 5000;

/// The open live streams: their count within a bound, and the signal that
/// ends them all when the server shuts down.
pub struct LiveHub {
    open: AtomicUsize,
    max: usize,
    /// A comment line this often keeps an idle stream open through proxies,
    /// and finds out that a viewer has gone (a write to a closed connection
    /// fails).
    heartbeat: Duration,
    closing: watch::Sender<bool>,
}

/// One open stream's place in the hub, given back when it ends.
struct Place(Arc<LiveHub>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

impl LiveHub {
    pub fn new(max: usize, heartbeat: Duration) -> Self {
        LiveHub {
            open: AtomicUsize::new(0),
            max,
            heartbeat,
            closing: watch::channel(false).0,
        }
    }

    /// Streams open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Ends every stream (and refuses new ones): a graceful shutdown does
    /// not wait for viewers who would never leave.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    fn join(self: &Arc<Self>) -> Option<Place> {
        if *self.closing.borrow() {
            return None;
        }
        let mut open = self.open.load(Ordering::Acquire);
        loop {
            if open >= self.max {
                return None;
            }
            match self.open.compare_exchange_weak(
                open,
                open + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(Place(self.clone())),
                Err(now) => open = now,
            }
        }
    }
}

/// `GET /live`.
pub async fn live(
    req: HttpRequest,
    hub: web::Data<LiveHub>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let hub = hub.into_inner();
    let Some(place) = hub.join() else {
        return HttpResponse::ServiceUnavailable()
            .insert_header((header::RETRY_AFTER, "60"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({"error": {
                "code": "live_full",
                "message": "Too many live viewers right now; the page updates itself by asking instead."
            }}));
    };
    // The connection closes when the stream ends, so it needs no deadline
    // on a next request's head, nor the descriptor that deadline keeps.
    if let Some(conn) = req.conn_data::<Arc<Connection>>() {
        conn.unwatch();
    }
    let stream = Stream {
        changes: state.monitor.board.subscribe(),
        closing: hub.closing.subscribe(),
        first: true,
        heartbeat: hub.heartbeat,
        _place: place,
    };
    HttpResponse::Ok()
        .force_close()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        // nginx: pass each message on at once instead of buffering.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(futures_util::stream::unfold(stream, Stream::next))
}

struct Stream {
    changes: watch::Receiver<BoardChange>,
    closing: watch::Receiver<bool>,
    first: bool,
    heartbeat: Duration,
    _place: Place,
}

impl Stream {
    /// The next bytes to send, or the end of the stream.
    async fn next(mut self) -> Option<(Result<Bytes, std::convert::Infallible>, Self)> {
        if self.first {
            // The generation now, so that a page opened before a change it
            // missed fetches itself again.
            self.first = false;
            let now = *self.changes.borrow_and_update();
            let text = format!("retry: {RETRY_MS}\n{}", message(now));
            return Some((Ok(Bytes::from(text)), self));
        }
        if *self.closing.borrow() {
            return None;
        }
        tokio::select! {
            changed = self.changes.changed() => {
                changed.ok()?;
                let now = *self.changes.borrow_and_update();
                Some((Ok(Bytes::from(message(now))), self))
            }
            _ = self.closing.changed() => None,
            _ = tokio::time::sleep(self.heartbeat) => Some((Ok(Bytes::from_static(b":\n\n")), self)),
        }
    }
}

fn message(change: BoardChange) -> String {
    format!(
        "event: change\ndata: {{\"generation\":{},\"at_ms\":{}}}\n\n",
        change.generation, change.at_ms
    )
}

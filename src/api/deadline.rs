//! A deadline on reading each request body.
//!
//! actix-web bounds the time a client may take to send a request's head but
//! not its body: a client that declares a body and sends it a byte at a time
//! (or never) holds its connection, and a worker's slot, for as long as it
//! likes. Every body is read through [`limit_body`]'s wrapper instead, which
//! ends the body with an error once the deadline has passed; the handler
//! answers `408 body_timeout` and the connection is closed.

use actix_web::dev::{Payload, ServiceRequest};
use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use actix_web::HttpMessage as _;
use futures_util::Stream;
use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// The message of the error that ends a body past its deadline; the API
/// recognises it by its kind, `TimedOut`.
const TIMED_OUT: &str = "the request body was not received in time";

/// Makes the body of `req` end with an error if it has not been received
/// completely within `limit` from now (the moment its head was read).
pub fn limit_body(req: &mut ServiceRequest, limit: Duration) {
    let inner = req.take_payload();
    if matches!(inner, Payload::None) {
        // No body declared: nothing to wait for.
        return;
    }
    let stream: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> =
        Box::pin(DeadlinePayload {
            inner,
            deadline: Instant::now() + limit,
            timer: None,
            expired: false,
        });
    req.set_payload(Payload::from(stream));
}

/// Whether a payload error is the deadline's.
pub fn is_timeout(e: &PayloadError) -> bool {
    matches!(e, PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut)
}

struct DeadlinePayload {
    inner: Payload,
    deadline: Instant,
    /// Made on the first wait only: a body that is already in (a report
    /// usually arrives with its head) costs no timer.
    timer: Option<Pin<Box<Sleep>>>,
    /// The deadline has fired: the body is over.
    expired: bool,
}

impl Stream for DeadlinePayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.expired {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut this.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        let deadline = this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.expired = true;
                Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    TIMED_OUT,
                )))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

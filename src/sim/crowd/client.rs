//! The crowd's HTTP: a live stream opened as `EventSource` opens it, and
//! a page asked for as the page's script asks (a connection of its own,
//! `Accept-Encoding: gzip, br`, `If-None-Match` with the copy it has). A
//! browser's keep-alive connection to the page would be long closed by the
//! next change (a minute later; the server keeps idle connections for
//! seconds), so every fetch opens a new one.

use super::sse::SseParser;
use crate::sim::loadgen::{try_connect, Sender};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Uri};
use std::io;
use std::time::Duration;

/// Where the crowd goes: the server, and the page its viewers watch.
#[derive(Debug, Clone)]
pub struct Site {
    addr: String,
    host: HeaderValue,
    page: Uri,
}

impl Site {
    /// `addr` is `host:port`; the page is `/s/{slug}`.
    pub fn new(addr: &str, slug: &str) -> anyhow::Result<Site> {
        let host = HeaderValue::from_str(addr)
            .map_err(|_| anyhow::anyhow!("'{addr}' cannot be a Host header"))?;
        let page = format!("/s/{slug}")
            .parse()
            .map_err(|_| anyhow::anyhow!("'{slug}' cannot be a service's slug in a path"))?;
        Ok(Site {
            addr: addr.to_owned(),
            host,
            page,
        })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn page(&self) -> &Uri {
        &self.page
    }

    fn get(&self, uri: Uri) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(Bytes::new()));
        *req.uri_mut() = uri;
        req.headers_mut().insert(header::HOST, self.host.clone());
        req
    }

    /// Opens `/live`. A stream comes with its request sender: the
    /// connection lives while both do.
    pub async fn open_live(&self) -> io::Result<Live> {
        let (mut sender, connection) = try_connect(&self.addr).await?;
        // The connection drives itself while the stream is read; it ends
        // when the server closes it or the stream is dropped.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut req = self.get(Uri::from_static("/live"));
        req.headers_mut().insert(
            header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        sender.ready().await.map_err(io::Error::other)?;
        let resp = sender.send_request(req).await.map_err(io::Error::other)?;
        Ok(match resp.status().as_u16() {
            200 => Live::Stream(sender, resp.into_body()),
            503 => Live::Refused,
            other => Live::Answered(other),
        })
    }

    /// Asks for the page, as the script does, on a connection of its own:
    /// with `etag`, a `304` when it has not changed. Returns when the whole
    /// answer has arrived.
    pub async fn fetch_page(&self, etag: Option<&HeaderValue>) -> io::Result<Page> {
        self.fetch(self.page.clone(), etag).await
    }

    /// The page uncompressed, to read what it links to.
    pub async fn read_page(&self) -> io::Result<Page> {
        self.send(self.get(self.page.clone())).await
    }

    /// `GET uri` on a new connection as a browser asks, to the end of its
    /// body.
    pub async fn fetch(&self, uri: Uri, etag: Option<&HeaderValue>) -> io::Result<Page> {
        let mut req = self.get(uri);
        let headers = req.headers_mut();
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, br"),
        );
        if let Some(etag) = etag {
            headers.insert(header::IF_NONE_MATCH, etag.clone());
        }
        self.send(req).await
    }

    async fn send(&self, req: Request<Full<Bytes>>) -> io::Result<Page> {
        let (mut sender, mut connection) = try_connect(&self.addr).await?;
        // This task drives the connection while it waits for the answer.
        tokio::select! {
            biased;
            page = read_page(&mut sender, req) => page,
            done = &mut connection => Err(match done {
                Ok(()) => io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the connection"),
                Err(e) => io::Error::other(e),
            }),
        }
    }

    /// The generation and time of the board's latest change, as a new
    /// stream's first message tells it.
    pub async fn current_change(&self, limit: Duration) -> anyhow::Result<Change> {
        let Live::Stream(_sender, mut body) = self.open_live().await? else {
            anyhow::bail!("/live would not open a stream");
        };
        let mut parser = SseParser::new();
        tokio::time::timeout(limit, async {
            loop {
                while let Some(event) = parser.next_event() {
                    if let Some(change) = Change::parse(&event.event, &event.data) {
                        return Ok(change);
                    }
                }
                match body.frame().await {
                    Some(Ok(frame)) => {
                        if let Some(data) = frame.data_ref() {
                            parser.push(data);
                        }
                    }
                    Some(Err(e)) => return Err(anyhow::anyhow!("reading /live: {e}")),
                    None => anyhow::bail!("/live ended before its first change"),
                }
            }
        })
        .await
        .map_err(|_| anyhow::anyhow!("no change message from /live within {limit:?}"))?
    }
}

/// What `/live` answered.
pub enum Live {
    Stream(Sender, Incoming),
    /// `503`: no room for another stream (`live_full`).
    Refused,
    Answered(u16),
}

/// One page answer.
#[derive(Debug, Clone)]
pub struct Page {
    pub status: u16,
    pub etag: Option<HeaderValue>,
    pub body: Bytes,
}

async fn read_page(sender: &mut Sender, req: Request<Full<Bytes>>) -> io::Result<Page> {
    sender.ready().await.map_err(io::Error::other)?;
    let resp = sender.send_request(req).await.map_err(io::Error::other)?;
    let status = resp.status().as_u16();
    let etag = resp.headers().get(header::ETAG).cloned();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(io::Error::other)?
        .to_bytes();
    Ok(Page { status, etag, body })
}

/// A `change` message's data: `{"generation":N,"at_ms":T}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub struct Change {
    pub generation: u64,
    /// The server's wall clock at the change, Unix milliseconds.
    pub at_ms: i64,
}

impl Change {
    /// The change an event announces, if it is one.
    pub fn parse(event: &str, data: &str) -> Option<Change> {
        (event == "change")
            .then(|| serde_json::from_str(data).ok())
            .flatten()
    }
}

/// The wall clock now, Unix milliseconds (fractional): what a change's
/// `at_ms` is compared with, on the same machine.
pub fn wall_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// The stylesheet and script a page links to, as a browser finds them
/// (with their version query), or the bare paths if the page does not say.
pub fn assets_of(html: &str) -> Vec<String> {
    ["/static/app.css", "/static/app.js"]
        .iter()
        .map(|bare| {
            html.find(&format!("\"{bare}"))
                .map(|at| &html[at + 1..])
                .and_then(|rest| rest.split('"').next())
                .map_or_else(|| (*bare).to_owned(), |found| found.replace("&amp;", "&"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_read_from_its_message_and_nothing_else_is() {
        assert_eq!(
            Change::parse("change", r#"{"generation":12,"at_ms":1764700000123}"#),
            Some(Change {
                generation: 12,
                at_ms: 1_764_700_000_123
            })
        );
        assert_eq!(
            Change::parse("message", r#"{"generation":1,"at_ms":2}"#),
            None
        );
        assert_eq!(Change::parse("change", "{}"), None);
    }

    #[test]
    fn assets_are_found_with_their_version_as_the_page_links_them() {
        let html = r#"<link rel="stylesheet" href="/static/app.css?v=ab12cd">
            <script src="/static/app.js?v=ab12cd" defer></script>"#;
        assert_eq!(
            assets_of(html),
            ["/static/app.css?v=ab12cd", "/static/app.js?v=ab12cd"]
        );
        assert_eq!(
            assets_of("<p>no links</p>"),
            ["/static/app.css", "/static/app.js"]
        );
    }

    #[test]
    fn a_slug_or_address_that_cannot_be_asked_for_is_an_error() {
        assert!(Site::new("127.0.0.1:8080", "claude").is_ok());
        assert!(Site::new("127.0.0.1:8080\n", "claude").is_err());
        assert!(Site::new("127.0.0.1:8080", "a b").is_err());
    }
}

//! Sending a scenario to downwave: the import lines the server's
//! `POST /api/v1/admin/import` takes, and a small HTTP client to post them
//! (used by `downwave simulate --target`).

use super::scenario::Scenario;
use bytes::Bytes;
use chrono::{TimeZone, Utc};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use serde::Serialize;

#[derive(Serialize)]
struct ImportLine<'a> {
    service: &'a str,
    category: &'a str,
    at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<u16>,
    region: &'a str,
    platform: &'a str,
}

/// The scenario's reports as newline-delimited import lines.
pub fn import_jsonl(scenario: &Scenario) -> String {
    let mut out = String::new();
    for r in scenario.reports() {
        let at = Utc
            .timestamp_opt(r.at, 0)
            .single()
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default();
        let line = ImportLine {
            service: &scenario.service,
            category: r.category,
            at,
            error_code: r.error_code,
            region: r.region,
            platform: r.platform,
        };
        if let Ok(json) = serde_json::to_string(&line) {
            out.push_str(&json);
            out.push('\n');
        }
    }
    out
}

/// An HTTP answer: status and body text.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// Sends one request over a fresh HTTP/1.1 connection (plain `http://` only).
pub async fn send(
    method: &str,
    url: &str,
    token: Option<&str>,
    content_type: &str,
    body: String,
) -> anyhow::Result<Answer> {
    let uri: Uri = url.parse()?;
    anyhow::ensure!(
        uri.scheme_str() == Some("http"),
        "only http:// targets are supported: {url}"
    );
    let host = uri
        .host()
        .ok_or_else(|| anyhow::anyhow!("no host in {url}"))?;
    let port = uri.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host, port)).await?;
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = Request::builder()
        .method(method)
        .uri(uri.path_and_query().map_or("/", |p| p.as_str()))
        .header(hyper::header::HOST, format!("{host}:{port}"))
        .header(hyper::header::CONTENT_TYPE, content_type);
    if let Some(t) = token {
        req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::from(body)))?)
        .await?;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await?.to_bytes();
    Ok(Answer {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

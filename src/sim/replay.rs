//! Sending a scenario to downwave: the import lines the server's
//! `POST /api/v1/admin/import` takes, and one request to post them (used by
//! `downwave simulate --target`).

use super::scenario::Scenario;
use chrono::{TimeZone, Utc};
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
    import_bodies(scenario, usize::MAX).concat()
}

/// The scenario's import lines in request bodies of at most `max_bytes`
/// each (whole lines; a body holds at least one), for a server whose
/// `import_max_bytes` one body must fit.
pub fn import_bodies(scenario: &Scenario, max_bytes: usize) -> Vec<String> {
    let mut bodies = Vec::new();
    let mut body = String::new();
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
        let Ok(json) = serde_json::to_string(&line) else {
            continue;
        };
        if !body.is_empty() && body.len() + json.len() + 1 > max_bytes {
            bodies.push(std::mem::take(&mut body));
        }
        body.push_str(&json);
        body.push('\n');
    }
    if !body.is_empty() {
        bodies.push(body);
    }
    bodies
}

/// An HTTP answer: status and body text.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// Sends one request and reads the whole answer.
pub async fn send(
    method: &str,
    url: &str,
    token: Option<&str>,
    content_type: &str,
    body: String,
) -> anyhow::Result<Answer> {
    let mut req = reqwest::Client::new()
        .request(method.parse()?, url)
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await?;
    Ok(Answer {
        status: resp.status().as_u16(),
        body: resp.text().await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_bodies_split_at_whole_lines_under_the_limit() {
        let s = super::super::scenario::march2(1);
        let whole = import_jsonl(&s);
        let bodies = import_bodies(&s, 1 << 20);
        assert!(bodies.len() > 1, "{} bytes in one body", whole.len());
        assert!(bodies
            .iter()
            .all(|b| b.len() <= 1 << 20 && b.ends_with('\n')));
        assert_eq!(bodies.concat(), whole);
    }
}

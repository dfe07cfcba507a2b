//! Our stylesheet, script and icon, compiled into the binary. Pages link
//! them with `?v=<hash of their content>`, so they can be cached for a year
//! and still change with the binary.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// (file name, content type, content)
const FILES: [(&str, &str, &str); 3] = [
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../web/static/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/static/app.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("../../web/static/favicon.svg"),
    ),
];

static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut h = Sha256::new();
    for (name, _, body) in FILES {
        h.update(name.as_bytes());
        h.update(body.as_bytes());
    }
    h.finalize()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
});

/// A short hash of every static file, for cache busting.
pub fn version() -> &'static str {
    &VERSION
}

/// `GET /static/{file}`.
pub async fn serve(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let Some((_, content_type, body)) = FILES.iter().find(|(name, _, _)| *name == path.as_str())
    else {
        return super::not_found(req).await;
    };
    // Only a link with the current version may be cached for long.
    let current = req
        .query_string()
        .strip_prefix("v=")
        .is_some_and(|v| v == version());
    let cache = if current {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    HttpResponse::Ok()
        .content_type(*content_type)
        .insert_header((header::CACHE_CONTROL, cache))
        .body(*body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// WCAG relative luminance of `#rrggbb`.
    fn luminance(hex: &str) -> f64 {
        let channel = |i: usize| {
            let c = f64::from(u8::from_str_radix(&hex[1 + 2 * i..3 + 2 * i], 16).unwrap()) / 255.0;
            if c <= 0.03928 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(0) + 0.7152 * channel(1) + 0.0722 * channel(2)
    }

    fn contrast(a: &str, b: &str) -> f64 {
        let (la, lb) = (luminance(a), luminance(b));
        (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
    }

    /// The stylesheet's colour variables (`--name: #rrggbb;`).
    fn palette() -> std::collections::HashMap<String, String> {
        let css = FILES[0].2;
        css.lines()
            .filter_map(|l| {
                let (name, value) = l.trim().strip_prefix("--")?.split_once(':')?;
                let hex = value.trim().trim_end_matches(';').strip_prefix('#')?;
                let hex = match hex.len() {
                    3 => hex.chars().flat_map(|c| [c, c]).collect(),
                    6 => hex.to_owned(),
                    _ => return None,
                };
                Some((name.to_owned(), format!("#{hex}")))
            })
            .collect()
    }

    #[test]
    fn text_colours_pass_wcag_aa() {
        let p = palette();
        let c = |name: &str| p.get(name).unwrap_or_else(|| panic!("--{name}")).as_str();
        let white = "#ffffff";
        // (foreground, background) for every text colour the pages use.
        let pairs = [
            (c("text"), c("bg")),
            (c("muted"), c("bg")),
            (c("muted"), c("panel")),
            (c("link"), c("bg")),
            (c("link"), c("panel")),
            (white, c("link")),
            (white, c("ok")),
            (white, c("elevated")),
            (white, c("outage")),
            (c("ok"), c("panel")),
            (c("elevated"), c("panel")),
            (c("outage"), c("panel")),
        ];
        for (fg, bg) in pairs {
            let ratio = contrast(fg, bg);
            assert!(ratio >= 4.5, "{fg} on {bg}: {ratio:.2} < 4.5");
        }
    }
}

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

//! The dashboard: server-rendered pages that read without JavaScript, our
//! own small script for live updates and the report button, SVG charts drawn
//! with plotters, a status badge and an Atom feed. Templates and static
//! files live in `web/` and are compiled into the binary.
//!
//! Safety: every page is sent with a Content-Security-Policy that allows
//! only our own script and stylesheet (no inline script or style), and may
//! not be framed; only the chart and the badge may be embedded elsewhere.
//! Templates escape everything by default.

mod assets;
pub mod cache;
pub mod chart;
mod feed;
pub mod live;
mod pages;
pub mod view;

use crate::api::ApiError;
use crate::store::StoreError;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use askama::Template;
use cache::{RenderCache, Rendered};

pub use feed::FeedQuery;
pub use pages::{ChartQuery, HomeQuery, Range, ServiceQuery};

/// The policy for our pages: our own script, stylesheet, images and API.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'";
/// The policy for the embeddable SVGs: nothing active, any page may frame them.
const EMBED_CSP: &str = "default-src 'none'; frame-ancestors *";
/// Everything else (the API, metrics, health) may not be framed either.
pub const DEFAULT_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// Mounts the dashboard's routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(pages::home))
        .route("/s/{slug}", web::get().to(pages::service))
        .route("/s/{slug}/chart.svg", web::get().to(pages::chart_svg))
        .route("/e/{id}", web::get().to(pages::event))
        .route("/i/{id}", web::get().to(pages::incident))
        .route("/badge/{slug}.svg", web::get().to(feed::badge))
        .route("/events.atom", web::get().to(feed::atom))
        .route("/static/{file}", web::get().to(assets::serve))
        .route("/live", web::get().to(live::live));
}

/// A page that could not be shown, as an HTML page with the right status.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("{message}")]
    Status {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("drawing a chart: {0}")]
    Chart(#[from] chart::ChartError),
    #[error("rendering a page: {0}")]
    Template(#[from] askama::Error),
}

impl PageError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        PageError::Status {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        PageError::Status {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: message.into(),
        }
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        PageError::Api(e.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: pages::Layout,
    title: &'a str,
    message: &'a str,
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::Status { status, .. } => *status,
            PageError::Api(e) => e.status_code(),
            PageError::Chart(_) | PageError::Template(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let message = match self {
            PageError::Api(ApiError::Internal(_))
            | PageError::Chart(_)
            | PageError::Template(_) => {
                tracing::error!(error = %crate::error::chain(self), "a page failed");
                "Something went wrong on our side; please try again in a moment.".to_owned()
            }
            PageError::Api(ApiError::Unavailable { message, .. }) => {
                tracing::warn!(error = %message, "a page could not be read");
                "downwave cannot read its database right now; please try again in a moment."
                    .to_owned()
            }
            other => other.to_string(),
        };
        let title = match status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::BAD_REQUEST => "That link is not right",
            s if s.is_server_error() => "Something went wrong",
            _ => "That did not work",
        };
        let page = ErrorPage {
            layout: pages::Layout::plain(),
            title,
            message: &message,
        };
        let body = page.render().unwrap_or_else(|_| message.clone());
        page_response(HttpResponse::build(status), body)
    }
}

/// Any unmatched path: JSON under `/api/`, an HTML page elsewhere.
pub async fn not_found(req: actix_web::HttpRequest) -> HttpResponse {
    if req.path().starts_with("/api/") {
        return crate::api::not_found().await;
    }
    PageError::not_found("There is no page at this address.").error_response()
}

/// The kinds of answer the dashboard gives. Each has one set of headers,
/// sent alike on its `200` and on the `304` that stands for it: a browser
/// updates the headers of the copy it keeps from a `304`, so a `304` with
/// another policy changes the page the visitor already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Representation {
    /// An HTML page: our own script and stylesheet only, never framed.
    Page,
    /// The service chart as SVG: embeddable anywhere, drawn in the viewer's zone.
    Chart,
    /// The status badge as SVG: embeddable anywhere, the same for every viewer.
    Badge,
    /// The Atom feed of outages: times in UTC, the same for every viewer.
    Feed,
}

impl Representation {
    /// Whether the body depends on the viewer's time-zone cookie (so its
    /// `ETag` does too, and shared caches must keep one copy per cookie).
    pub fn follows_viewer(self) -> bool {
        matches!(self, Representation::Page | Representation::Chart)
    }

    fn content_type(self) -> &'static str {
        match self {
            Representation::Page => "text/html; charset=utf-8",
            Representation::Chart | Representation::Badge => "image/svg+xml; charset=utf-8",
            Representation::Feed => "application/atom+xml; charset=utf-8",
        }
    }

    /// Every header but the body's own (`Content-Type`, `Content-Length`):
    /// the security policy, caching and what the answer varies on.
    fn headers<'b>(
        self,
        builder: &'b mut actix_web::HttpResponseBuilder,
        etag: &str,
    ) -> &'b mut actix_web::HttpResponseBuilder {
        builder.insert_header((header::ETAG, etag));
        builder.insert_header((
            header::VARY,
            if self.follows_viewer() {
                "Accept-Encoding, Cookie"
            } else {
                "Accept-Encoding"
            },
        ));
        match self {
            Representation::Page => builder
                .insert_header((header::CONTENT_SECURITY_POLICY, PAGE_CSP))
                .insert_header((header::X_FRAME_OPTIONS, "DENY"))
                .insert_header((header::CACHE_CONTROL, "no-cache")),
            Representation::Chart | Representation::Badge => builder
                .insert_header((header::CONTENT_SECURITY_POLICY, EMBED_CSP))
                .insert_header((header::CACHE_CONTROL, "public, max-age=30"))
                .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")),
            // The default policy (set for every answer) suits a feed.
            Representation::Feed => {
                builder.insert_header((header::CACHE_CONTROL, "public, max-age=30"))
            }
        }
    }

    /// The `200` with `body`.
    fn ok(self, etag: &str, body: String) -> HttpResponse {
        let mut res = HttpResponse::Ok();
        self.headers(&mut res, etag)
            .content_type(self.content_type())
            .body(body)
    }

    /// The `200` with a kept version, in the encoding the client accepts
    /// best (no further compression happens on the way out).
    fn ok_rendered(self, req: &HttpRequest, etag: &str, rendered: &Rendered) -> HttpResponse {
        let (body, encoding) = rendered.for_request(req);
        let mut res = HttpResponse::Ok();
        self.headers(&mut res, etag)
            .content_type(self.content_type());
        if let Some(encoding) = encoding {
            res.insert_header((header::CONTENT_ENCODING, encoding));
        }
        res.body(body)
    }

    /// The bodiless `304` for a client that already has `etag`.
    fn not_modified(self, etag: &str) -> HttpResponse {
        let mut res = HttpResponse::NotModified();
        self.headers(&mut res, etag).finish()
    }
}

/// The answer `etag` names, from the render cache: `render` runs only for
/// the first request of a version (those that come while it runs wait for
/// it), and everyone gets its precompressed bytes.
///
/// The cache key is the path, `variant` (what the handler parsed from the
/// query that changes the body: a range, a filter), the viewer's zone where
/// the body shows times, and the `ETag`. It is built from parsed values, not
/// the raw query, so invented parameters cannot fill the cache with copies.
/// `variant: None` (a free-text filter) renders without keeping.
async fn cached<F, Fut>(
    req: &HttpRequest,
    kind: Representation,
    etag: &str,
    variant: Option<&str>,
    render: F,
) -> Result<HttpResponse, PageError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<String, PageError>>,
{
    let cache = req.app_data::<web::Data<RenderCache>>();
    let (Some(cache), Some(variant)) = (cache, variant) else {
        return Ok(kind.ok(etag, render().await?));
    };
    let zone = if kind.follows_viewer() {
        view::Viewer::from_request(req).offset_secs
    } else {
        0
    };
    let key = format!("{} {variant} {zone} {etag}", req.path());
    let (rendered, fresh) = cache.get_or_render(key, render).await?;
    if let Some(state) = req.app_data::<web::Data<crate::api::AppState>>() {
        let metrics = &state.metrics;
        if fresh {
            metrics.page_renders.inc();
            metrics.page_cache_bytes.set(cache.usage().0 as i64);
        } else {
            metrics.page_cache_hits.inc();
        }
    }
    Ok(kind.ok_rendered(req, etag, &rendered))
}

/// An error page: the page policy, not cached.
fn page_response(mut builder: actix_web::HttpResponseBuilder, body: String) -> HttpResponse {
    builder
        .content_type(Representation::Page.content_type())
        .insert_header((header::CONTENT_SECURITY_POLICY, PAGE_CSP))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .body(body)
}

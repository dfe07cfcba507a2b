//! The service catalog: `GET|POST /api/v1/services`, `GET|PATCH /api/v1/services/{slug}`.

use super::body::read_json;
use super::ApiError;
use super::{Admin, AppState};
use crate::domain::{CategoryList, ProviderList, ServiceName, ServiceSlug};
use crate::monitor::ServiceStatus;
use crate::store::{self, NewService, Service};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateService {
    slug: String,
    name: String,
    #[serde(default)]
    categories: Vec<String>,
    /// Slugs of the providers it depends on.
    #[serde(default)]
    depends_on: Vec<String>,
}

/// What `PATCH /api/v1/services/{slug}` may change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateService {
    /// Replaces the providers it depends on (`[]` clears them).
    depends_on: Vec<String>,
}

/// A service with where it stands now.
#[derive(Serialize)]
struct ServiceView<'a> {
    #[serde(flatten)]
    service: &'a Service,
    /// `ok`, `elevated` (abnormal, no event yet, or an open event from too
    /// few networks to page anyone: "possible problems") or `outage` (an
    /// event is open).
    status: crate::detect::Status,
    /// The detector's view of the last closed minute, once it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_minute: Option<ServiceStatus>,
}

impl<'a> ServiceView<'a> {
    fn new(service: &'a Service, state: &AppState) -> Self {
        let last_minute = state.monitor.board.get(service.id);
        ServiceView {
            service,
            status: last_minute.map_or(crate::detect::Status::Ok, |s| s.shown()),
            last_minute,
        }
    }
}

#[derive(Serialize)]
struct ServiceList<'a> {
    services: Vec<ServiceView<'a>>,
}

pub async fn list(state: web::Data<AppState>) -> HttpResponse {
    let all = state.catalog.all();
    HttpResponse::Ok().json(ServiceList {
        services: all.iter().map(|s| ServiceView::new(s, &state)).collect(),
    })
}

pub async fn get(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let service = state.service(&path).await?;
    Ok(HttpResponse::Ok().json(ServiceView::new(&service, &state)))
}

pub async fn create(
    _admin: Admin,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body: CreateService = read_json(&req, payload, state.settings.max_body_bytes).await?;
    let slug = ServiceSlug::parse(&body.slug)?;
    let new = NewService {
        depends_on: ProviderList::parse(&slug, &body.depends_on)?,
        slug,
        name: ServiceName::parse(&body.name)?.into_inner(),
        categories: CategoryList::parse(&body.categories)?,
    };
    let now = state.clock.now().timestamp();
    let created = state
        .write_for_pages(move |conn| {
            let service = store::insert_service(conn, &new, now)?;
            Ok((service, store::list_services(conn)?))
        })
        .await?;
    let (service, all) = created;
    state.catalog.replace(all);
    Ok(HttpResponse::Created().json(service))
}

/// Changes what a service declares: today, the providers it depends on.
pub async fn update(
    _admin: Admin,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let service = state.service(&path).await?;
    let body: UpdateService = read_json(&req, payload, state.settings.max_body_bytes).await?;
    let depends_on = ProviderList::parse(&service.slug, &body.depends_on)?;
    let id = service.id;
    let all = state
        .write_for_pages(move |conn| {
            store::set_dependencies(conn, id, &depends_on)?;
            store::list_services(conn)
        })
        .await?;
    state.catalog.replace(all);
    state.monitor.board.touch();
    let updated = state.service(&path).await?;
    Ok(HttpResponse::Ok().json(ServiceView::new(&updated, &state)))
}

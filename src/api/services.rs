//! The service catalog: `GET|POST /api/v1/services`, `GET /api/v1/services/{slug}`.

use super::body::read_json;
use super::{Admin, AppState};
use crate::domain::{CategoryList, ServiceName, ServiceSlug};
use crate::error::ApiError;
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
}

#[derive(Serialize)]
struct ServiceList<'a> {
    services: Vec<&'a Service>,
}

pub async fn list(state: web::Data<AppState>) -> HttpResponse {
    let all = state.catalog.all();
    HttpResponse::Ok().json(ServiceList {
        services: all.iter().map(|s| s.as_ref()).collect(),
    })
}

pub async fn get(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let service = state.service(&path).await?;
    Ok(HttpResponse::Ok().json(service.as_ref()))
}

pub async fn create(
    _admin: Admin,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body: CreateService = read_json(&req, payload, state.settings.max_body_bytes).await?;
    let new = NewService {
        slug: ServiceSlug::parse(&body.slug)?,
        name: ServiceName::parse(&body.name)?.into_inner(),
        categories: CategoryList::parse(&body.categories)?,
    };
    let now = state.clock.now().timestamp();
    let settings = state.settings.clone();
    let created = web::block(
        move || -> Result<(Service, Vec<Service>), store::StoreError> {
            // Catalog changes are rare; they take their own short write
            // connection rather than queueing behind reports.
            let conn = store::open_writer(&settings.database, &settings.open_options())?;
            let service = store::insert_service(&conn, &new, now)?;
            Ok((service, store::list_services(&conn)?))
        },
    )
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("blocking pool: {e}")))??;
    let (service, all) = created;
    state.catalog.replace(all);
    Ok(HttpResponse::Created().json(service))
}

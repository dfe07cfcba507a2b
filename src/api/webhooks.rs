//! Alert subscriptions (admin): `POST|GET /api/v1/webhooks`,
//! `GET|PATCH|DELETE /api/v1/webhooks/{id}`, secret rotation, a test
//! message, the delivery log and redelivery.

use super::body::read_json;
use super::ApiError;
use super::{Admin, AppState};
use crate::alert::guard::check_target;
use crate::alert::signing::new_secret;
use crate::detect::Severity;
use crate::domain::{rfc3339, AlertPolicy, ServiceSlug, WebhookFormat};
use crate::store::{self, Delivery, Webhook};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// How long the old secret keeps signing after a rotation.
const ROTATION_OVERLAP_SECS: i64 = 24 * 3600;
/// Most deliveries one log answer lists.
const DELIVERY_LOG_LIMIT: usize = 200;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    url: String,
    format: String,
    #[serde(default)]
    services: Vec<String>,
    #[serde(default)]
    min_severity: Option<String>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    routing_key: Option<String>,
    #[serde(default)]
    during_maintenance: bool,
    #[serde(default)]
    alerts: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchWebhook {
    url: Option<String>,
    format: Option<String>,
    services: Option<Vec<String>>,
    min_severity: Option<String>,
    enabled: Option<bool>,
    routing_key: Option<String>,
    during_maintenance: Option<bool>,
    alerts: Option<String>,
}

/// A subscription as the API shows it: never its secrets.
#[derive(Serialize)]
struct WebhookView {
    id: i64,
    url: String,
    format: WebhookFormat,
    services: Vec<String>,
    min_severity: Severity,
    enabled: bool,
    /// Told of outages that open during a service's maintenance too.
    during_maintenance: bool,
    /// Every outage, the causes only, or incidents.
    alerts: AlertPolicy,
    #[serde(skip_serializing_if = "Option::is_none")]
    disabled_reason: Option<String>,
    /// Whether the previous secret still signs (a rotation is under way).
    rotating_until: Option<String>,
    created_at: String,
    /// Only in the answer that creates the subscription or rotates its secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

impl WebhookView {
    fn of(w: &Webhook, now: i64, show_secret: bool) -> Self {
        WebhookView {
            id: w.id,
            url: w.url.clone(),
            format: w.format,
            services: w.services.clone(),
            min_severity: w.min_severity,
            enabled: w.enabled,
            during_maintenance: w.during_maintenance,
            alerts: w.alerts,
            disabled_reason: w.disabled_reason.clone(),
            rotating_until: w
                .previous_secret_until
                .filter(|until| *until > now)
                .map(rfc3339),
            created_at: rfc3339(w.created_at),
            secret: show_secret.then(|| w.secret.clone()),
        }
    }
}

/// A format as a client wrote it.
fn parse_format(text: &str) -> Result<WebhookFormat, ApiError> {
    text.parse().map_err(|_| {
        let all: Vec<&str> = WebhookFormat::ALL.iter().map(|f| f.as_str()).collect();
        ApiError::unprocessable(
            "invalid_format",
            format!("format must be one of: {}", all.join(", ")),
        )
    })
}

/// An alert policy as a client wrote it.
fn parse_alerts(text: &str) -> Result<AlertPolicy, ApiError> {
    text.parse().map_err(|_| {
        let all: Vec<&str> = AlertPolicy::ALL.iter().map(|p| p.as_str()).collect();
        ApiError::unprocessable(
            "invalid_alerts",
            format!("alerts must be one of: {}", all.join(", ")),
        )
    })
}

/// A minimum severity as a client wrote it.
fn parse_severity(text: &str) -> Result<Severity, ApiError> {
    text.parse().map_err(|_| {
        ApiError::unprocessable(
            "invalid_severity",
            "min_severity must be minor, major or critical",
        )
    })
}

/// Checks the fields every subscription must get right (its format and
/// severity were parsed on the way in).
async fn validate(w: &Webhook, state: &AppState) -> Result<(), ApiError> {
    if w.format == WebhookFormat::PagerDuty && w.routing_key.as_deref().is_none_or(str::is_empty) {
        return Err(ApiError::unprocessable(
            "missing_routing_key",
            "a pagerduty subscription needs the integration's routing_key",
        ));
    }
    for slug in &w.services {
        let slug = ServiceSlug::parse(slug)?;
        state.service(slug.as_str()).await.map_err(|_| {
            ApiError::unprocessable("unknown_service", format!("there is no service '{slug}'"))
        })?;
    }
    check_target(&w.url, state.settings.webhook_allow_private)
        .await
        .map_err(|e| ApiError::unprocessable("invalid_target", e.to_string()))?;
    Ok(())
}

async fn load(state: &AppState, id: i64) -> Result<Webhook, ApiError> {
    state
        .read(move |c| store::get_webhook(c, id))
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_webhook", format!("there is no webhook {id}")))
}

pub async fn create(
    _admin: Admin,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body: CreateWebhook = read_json(&req, payload, state.settings.max_body_bytes).await?;
    let now = state.clock.now().timestamp();
    let w = Webhook {
        id: 0,
        url: body.url,
        format: parse_format(&body.format)?,
        services: body.services,
        min_severity: match body.min_severity.as_deref() {
            Some(text) => parse_severity(text)?,
            None => Severity::Minor,
        },
        enabled: body.enabled.unwrap_or(true),
        secret: new_secret(),
        previous_secret: None,
        previous_secret_until: None,
        routing_key: body.routing_key,
        disabled_reason: None,
        created_at: now,
        during_maintenance: body.during_maintenance,
        alerts: body
            .alerts
            .as_deref()
            .map(parse_alerts)
            .transpose()?
            .unwrap_or_default(),
    };
    validate(&w, &state).await?;
    let created = state.write(move |c| store::insert_webhook(c, &w)).await?;
    Ok(HttpResponse::Created().json(WebhookView::of(&created, now, true)))
}

pub async fn list(_admin: Admin, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now().timestamp();
    let all = state.read(store::list_webhooks).await?;
    let views: Vec<WebhookView> = all.iter().map(|w| WebhookView::of(w, now, false)).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "webhooks": views })))
}

pub async fn get(
    _admin: Admin,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let w = load(&state, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(WebhookView::of(&w, state.clock.now().timestamp(), false)))
}

pub async fn patch(
    _admin: Admin,
    path: web::Path<i64>,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut w = load(&state, path.into_inner()).await?;
    let body: PatchWebhook = read_json(&req, payload, state.settings.max_body_bytes).await?;
    if let Some(url) = body.url {
        w.url = url;
    }
    if let Some(format) = body.format {
        w.format = parse_format(&format)?;
    }
    if let Some(services) = body.services {
        w.services = services;
    }
    if let Some(min) = body.min_severity {
        w.min_severity = parse_severity(&min)?;
    }
    if let Some(key) = body.routing_key {
        w.routing_key = Some(key);
    }
    if let Some(during) = body.during_maintenance {
        w.during_maintenance = during;
    }
    if let Some(alerts) = body.alerts {
        w.alerts = parse_alerts(&alerts)?;
    }
    if let Some(enabled) = body.enabled {
        w.enabled = enabled;
        if enabled {
            w.disabled_reason = None;
        }
    }
    validate(&w, &state).await?;
    let now = state.clock.now().timestamp();
    let view = WebhookView::of(&w, now, false);
    state.write(move |c| store::update_webhook(c, &w)).await?;
    Ok(HttpResponse::Ok().json(view))
}

pub async fn delete(
    _admin: Admin,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    if state.write(move |c| store::delete_webhook(c, id)).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found(
            "unknown_webhook",
            format!("there is no webhook {id}"),
        ))
    }
}

/// A new secret; the old one keeps signing beside it for a day.
pub async fn rotate(
    _admin: Admin,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut w = load(&state, path.into_inner()).await?;
    let now = state.clock.now().timestamp();
    w.previous_secret = Some(std::mem::replace(&mut w.secret, new_secret()));
    w.previous_secret_until = Some(now + ROTATION_OVERLAP_SECS);
    let view = WebhookView::of(&w, now, true);
    state.write(move |c| store::update_webhook(c, &w)).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Queues a `ping` to the subscription.
pub async fn test(
    _admin: Admin,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let w = load(&state, path.into_inner()).await?;
    if !w.enabled {
        return Err(ApiError::Conflict {
            code: "webhook_disabled",
            message: "the webhook is disabled; enable it with PATCH {\"enabled\": true}".into(),
        });
    }
    let now_ms = state.clock.now().timestamp_millis();
    let payload = serde_json::json!({
        "webhook_id": w.id,
        "message": "downwave test message",
        "url": state.settings.public_url,
    })
    .to_string();
    let id = w.id;
    let delivery = state
        .write(move |c| store::enqueue_ping(c, id, &payload, now_ms))
        .await?;
    state.wake.notify_one();
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "delivery_id": delivery })))
}

#[derive(Serialize)]
struct DeliveryView {
    id: i64,
    #[serde(rename = "type")]
    kind: crate::domain::MessageKind,
    event_id: Option<i64>,
    webhook_id_header: String,
    status: String,
    attempts: i64,
    last_status_code: Option<i64>,
    last_error: Option<String>,
    next_attempt_at: Option<String>,
    created_at: String,
    delivered_at: Option<String>,
}

fn ms_rfc3339(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        DeliveryView {
            id: d.id,
            kind: d.kind,
            event_id: d.event_id,
            webhook_id_header: d.message_id,
            next_attempt_at: d
                .next_attempt_ms
                .filter(|_| d.status == "pending")
                .map(ms_rfc3339),
            status: d.status,
            attempts: d.attempts,
            last_status_code: d.last_status,
            last_error: d.last_error,
            created_at: ms_rfc3339(d.created_ms),
            delivered_at: d.delivered_ms.map(ms_rfc3339),
        }
    }
}

pub async fn deliveries(
    _admin: Admin,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = load(&state, path.into_inner()).await?.id;
    let list = state
        .read(move |c| store::list_deliveries(c, id, DELIVERY_LOG_LIMIT))
        .await?;
    let views: Vec<DeliveryView> = list.into_iter().map(DeliveryView::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "deliveries": views })))
}

pub async fn redeliver(
    _admin: Admin,
    path: web::Path<(i64, i64)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (webhook_id, delivery_id) = path.into_inner();
    load(&state, webhook_id).await?;
    let now_ms = state.clock.now().timestamp_millis();
    let found = state
        .write(move |c| store::redeliver(c, webhook_id, delivery_id, now_ms))
        .await?;
    if !found {
        return Err(ApiError::not_found(
            "unknown_delivery",
            format!("webhook {webhook_id} has no delivery {delivery_id}"),
        ));
    }
    state.wake.notify_one();
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "delivery_id": delivery_id })))
}

//! Counts over time: `GET /api/v1/services/{slug}/series` and `/summary`.

use super::ApiError;
use super::AppState;
use crate::domain::Minute;
use crate::store::{self, Bucket, Summary};
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The bucket sizes a series can be read at, in seconds.
const STEPS: [i64; 3] = [60, 300, 3600];

#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesQuery {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    step: Option<i64>,
}

impl SeriesQuery {
    /// The buckets asked for, given the minute running `now`: `[from, to)`
    /// aligned to the step, at most `max_points` of them.
    pub fn window(
        &self,
        now: Minute,
        max_points: usize,
    ) -> Result<(Minute, Minute, i64), ApiError> {
        let step = self.step.unwrap_or(60);
        if !STEPS.contains(&step) {
            return Err(ApiError::unprocessable(
                "invalid_step",
                "step must be 60, 300 or 3600 seconds",
            ));
        }
        // Buckets are aligned to the step; `to` is exclusive and by default
        // includes the minute now running, so a live chart shows it filling.
        let to = match self.to {
            Some(t) => ceil_to(t.timestamp(), step),
            None => ceil_to(now.unix() + 60, step),
        };
        let from = match self.from {
            Some(f) => floor_to(f.timestamp(), step),
            None => floor_to(to - 86_400, step),
        };
        if from >= to {
            return Err(ApiError::unprocessable(
                "invalid_range",
                "from must be before to",
            ));
        }
        let points = ((to - from) / step) as usize;
        if points > max_points {
            return Err(ApiError::unprocessable(
                "span_too_large",
                format!(
                    "that range holds {points} buckets at step {step}; the limit is {max_points} \
                     (use a larger step or a shorter range)"
                ),
            ));
        }
        Ok((Minute::from_unix(from), Minute::from_unix(to), step))
    }
}

#[derive(Serialize)]
struct SeriesResponse<'a> {
    service: &'a str,
    from: Minute,
    to: Minute,
    step: i64,
    points: Vec<Bucket>,
}

pub async fn series(
    path: web::Path<String>,
    query: web::Query<SeriesQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let service = state.service(&path).await?;
    let now = Minute::containing(state.clock.now());
    let (from, to, step) = query.window(now, state.settings.series_max_points)?;
    let id = service.id;
    let points = state
        .read(move |conn| store::series(conn, id, from, to, step))
        .await?;
    Ok(HttpResponse::Ok().json(SeriesResponse {
        service: service.slug.as_str(),
        from,
        to,
        step,
        points,
    }))
}

#[derive(Serialize)]
struct SummaryResponse<'a> {
    service: &'a str,
    at: Minute,
    #[serde(flatten)]
    summary: Summary,
}

pub async fn summary(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let service = state.service(&path).await?;
    let now = Minute::containing(state.clock.now());
    let id = service.id;
    let summary = state
        .read(move |conn| store::summary(conn, id, now))
        .await?;
    Ok(HttpResponse::Ok().json(SummaryResponse {
        service: service.slug.as_str(),
        at: now,
        summary,
    }))
}

fn floor_to(t: i64, step: i64) -> i64 {
    t.div_euclid(step) * step
}

fn ceil_to(t: i64, step: i64) -> i64 {
    -floor_to(-t, step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment() {
        assert_eq!(floor_to(3599, 3600), 0);
        assert_eq!(ceil_to(3599, 3600), 3600);
        assert_eq!(ceil_to(3600, 3600), 3600);
        assert_eq!(floor_to(-1, 60), -60);
    }
}

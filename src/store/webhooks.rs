//! Alert subscriptions and their outbox of deliveries.

use super::{params, word, Context, Db, DbError, Dialect, Param, Row, StoreError};
use crate::detect::Severity;
use crate::domain::{AlertPolicy, MessageKind, WebhookFormat};

/// A subscription as stored (with its secrets: never serialise this whole).
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub id: i64,
    pub url: String,
    pub format: WebhookFormat,
    /// Service slugs; empty means every service.
    pub services: Vec<String>,
    pub min_severity: Severity,
    pub enabled: bool,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<i64>,
    pub routing_key: Option<String>,
    pub disabled_reason: Option<String>,
    pub created_at: i64,
    /// Told of outages that open during a service's maintenance too.
    pub during_maintenance: bool,
    /// Every outage, the causes only, or incidents.
    pub alerts: AlertPolicy,
}

impl Webhook {
    /// Whether an event of `service` with `severity` concerns this subscription.
    pub fn wants(&self, service: &str, severity: Severity) -> bool {
        self.enabled
            && severity >= self.min_severity
            && (self.services.is_empty() || self.services.iter().any(|s| s == service))
    }

    /// The secrets that sign a message sent at `now` (Unix seconds): the
    /// current one, and the previous one while a rotation is in progress.
    pub fn signing_secrets(&self, now: i64) -> Vec<&str> {
        let mut out = vec![self.secret.as_str()];
        if let (Some(prev), Some(until)) = (&self.previous_secret, self.previous_secret_until) {
            if now < until {
                out.push(prev);
            }
        }
        out
    }
}

const WEBHOOK_COLUMNS: &str = "id, url, format, services, min_severity, enabled, secret, \
     previous_secret, previous_secret_until, routing_key, disabled_reason, created_at, \
     during_maintenance, alerts";

fn webhook_from_row(r: &Row<'_>) -> Result<Webhook, DbError> {
    let services: String = r.get(3)?;
    Ok(Webhook {
        id: r.get(0)?,
        url: r.get(1)?,
        format: word(r, 2)?,
        services: serde_json::from_str(&services).unwrap_or_default(),
        min_severity: word(r, 4)?,
        enabled: r.get(5)?,
        secret: r.get(6)?,
        previous_secret: r.get(7)?,
        previous_secret_until: r.get(8)?,
        routing_key: r.get(9)?,
        disabled_reason: r.get(10)?,
        created_at: r.get(11)?,
        during_maintenance: r.get(12)?,
        alerts: word(r, 13)?,
    })
}

/// Calls `f` with `first` as the first parameter (`?1`) and the
/// subscription's stored fields as `?2` to `?13`, the order the insert and
/// the update share.
fn with_fields<T>(first: &dyn Param, w: &Webhook, f: impl FnOnce(&[&dyn Param]) -> T) -> T {
    let services = serde_json::to_string(&w.services).unwrap_or_else(|_| "[]".into());
    let fields: [&dyn Param; 13] = [
        first,
        &w.url,
        &w.format.as_str(),
        &services,
        &w.min_severity.as_str(),
        &w.enabled,
        &w.secret,
        &w.previous_secret,
        &w.previous_secret_until,
        &w.routing_key,
        &w.disabled_reason,
        &w.during_maintenance,
        &w.alerts.as_str(),
    ];
    f(&fields[..])
}

/// Inserts a subscription (its fields already checked); returns it with its id.
pub fn insert_webhook(conn: &Db, w: &Webhook) -> Result<Webhook, StoreError> {
    let id = with_fields(&w.created_at, w, |fields| {
        conn.query_row(
            "INSERT INTO webhooks (created_at, url, format, services, min_severity, enabled, \
             secret, previous_secret, previous_secret_until, routing_key, disabled_reason, \
             during_maintenance, alerts) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) RETURNING id",
            fields,
            |r| r.get::<i64>(0),
        )
    })
    .context("inserting a webhook")?;
    Ok(Webhook { id, ..w.clone() })
}

/// Writes every field of an existing subscription back.
pub fn update_webhook(conn: &Db, w: &Webhook) -> Result<(), StoreError> {
    with_fields(&w.id, w, |fields| {
        conn.execute(
            "UPDATE webhooks SET url = ?2, format = ?3, services = ?4, min_severity = ?5, \
             enabled = ?6, secret = ?7, previous_secret = ?8, previous_secret_until = ?9, \
             routing_key = ?10, disabled_reason = ?11, during_maintenance = ?12, alerts = ?13 \
             WHERE id = ?1",
            fields,
        )
    })
    .context("updating a webhook")?;
    if !w.enabled {
        cancel_pending(conn, w.id)?;
    }
    Ok(())
}

pub fn list_webhooks(conn: &Db) -> Result<Vec<Webhook>, StoreError> {
    conn.query_map(
        &format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY id"),
        params![],
        webhook_from_row,
    )
    .context("listing webhooks")
}

pub fn get_webhook(conn: &Db, id: i64) -> Result<Option<Webhook>, StoreError> {
    conn.query_opt(
        &format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = ?1"),
        params![id],
        webhook_from_row,
    )
    .context("reading a webhook")
}

/// Deletes a subscription and (by `ON DELETE CASCADE`) its delivery log;
/// false if there was none.
pub fn delete_webhook(conn: &Db, id: i64) -> Result<bool, StoreError> {
    let n = conn
        .execute("DELETE FROM webhooks WHERE id = ?1", params![id])
        .context("deleting a webhook")?;
    Ok(n > 0)
}

/// Disables a subscription (the receiver said 410 Gone) and cancels what
/// it still had pending.
pub fn disable_webhook(conn: &Db, id: i64, reason: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE webhooks SET enabled = 0, disabled_reason = ?2 WHERE id = ?1",
        params![id, reason],
    )
    .context("disabling a webhook")?;
    cancel_pending(conn, id)
}

fn cancel_pending(conn: &Db, webhook_id: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE deliveries SET status = 'cancelled', next_attempt_ms = NULL \
         WHERE webhook_id = ?1 AND status = 'pending'",
        params![webhook_id],
    )
    .context("cancelling deliveries")?;
    Ok(())
}

/// One message to one subscription, and how its delivery is going.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Delivery {
    pub id: i64,
    pub webhook_id: i64,
    pub event_id: Option<i64>,
    /// The incident an `incident.*` message is about.
    pub incident_id: Option<i64>,
    pub kind: MessageKind,
    pub message_id: String,
    #[serde(skip)]
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_ms: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_ms: i64,
    pub delivered_ms: Option<i64>,
}

const DELIVERY_COLUMNS: &str = "d.id, d.webhook_id, d.event_id, d.kind, d.message_id, d.payload, \
     d.status, d.attempts, d.next_attempt_ms, d.last_status, d.last_error, d.created_ms, \
     d.delivered_ms, d.incident_id";

fn delivery_from_row(r: &Row<'_>) -> Result<Delivery, DbError> {
    Ok(Delivery {
        id: r.get(0)?,
        webhook_id: r.get(1)?,
        event_id: r.get(2)?,
        kind: word(r, 3)?,
        message_id: r.get(4)?,
        payload: r.get(5)?,
        status: r.get(6)?,
        attempts: r.get(7)?,
        next_attempt_ms: r.get(8)?,
        last_status: r.get(9)?,
        last_error: r.get(10)?,
        created_ms: r.get(11)?,
        delivered_ms: r.get(12)?,
        incident_id: r.get(13)?,
    })
}

/// A new message id: `msg_` and 32 random hex digits.
pub fn new_message_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("msg_{hex}")
}

/// What an event change is announced as.
pub struct Announcement<'a> {
    pub event_id: i64,
    pub service: &'a str,
    pub severity: Severity,
    /// Opened, a new wave or resolved (never a ping).
    pub kind: MessageKind,
    /// Which wave (for `outage.wave`), so each wave is announced once.
    pub wave: usize,
    /// The event as of the change (JSON).
    pub payload: &'a str,
    /// The service was in maintenance at the change: an opening or a wave
    /// goes only to subscriptions that hear of outages during maintenance
    /// (a resolution goes wherever the opening went).
    pub in_maintenance: bool,
}

/// The key that makes a message to one subscription unique: the same
/// change replayed queues nothing new. `subject` is an event's id, or `i`
/// and an incident's id; `step` tells waves and revisions apart.
fn dedup_key(webhook_id: i64, subject: &str, kind: MessageKind, step: i64) -> String {
    format!("{webhook_id}:{subject}:{kind}:{step}")
}

/// The key of an event's opening to one subscription (whichever path
/// queued it: [`enqueue_announcement`] or [`enqueue_outage_opening`]).
fn opened_key(webhook_id: i64, event_id: i64) -> String {
    dedup_key(webhook_id, &event_id.to_string(), MessageKind::Opened, 0)
}

/// One message to queue for one subscription.
struct Queued<'a> {
    webhook_id: i64,
    event_id: Option<i64>,
    incident_id: Option<i64>,
    kind: MessageKind,
    key: &'a str,
    payload: &'a str,
}

/// Queues one message unless its key was queued before; returns 1 if it
/// was queued.
fn queue(conn: &Db, m: &Queued<'_>, now_ms: i64) -> Result<usize, StoreError> {
    conn.execute(
        "INSERT INTO deliveries (webhook_id, event_id, incident_id, kind, message_id, \
         dedup_key, payload, status, attempts, next_attempt_ms, created_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', 0, ?8, ?8) ON CONFLICT DO NOTHING",
        params![
            m.webhook_id,
            m.event_id,
            m.incident_id,
            m.kind.as_str(),
            new_message_id(),
            m.key,
            m.payload,
            now_ms
        ],
    )
    .context("queueing a delivery")
}

/// Whether a message with this key was ever queued.
fn queued_before(conn: &Db, key: &str) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM deliveries WHERE dedup_key = ?1)",
        params![key],
        |r| r.get::<bool>(0),
    )
    .context("checking a queued message")
}

/// Queues the announcement for the subscriptions it concerns, idempotently
/// (the same change replayed queues nothing new); returns how many queued.
///
/// `outage.opened` goes to every enabled subscription told of every outage
/// ([`AlertPolicy::Outages`]) whose filters the event now passes and that
/// has not had it yet: an event that grows into a subscription's minimum
/// severity is announced then. The other policies hear of an opening
/// through [`enqueue_outage_opening`], once the incident pass has judged
/// the outage. `outage.wave` and `outage.resolved` go to every subscription
/// that was told of the opening, whatever its policy, so no one receives a
/// resolution for an outage they never saw open, and no one told of an
/// opening misses its resolution.
pub fn enqueue_announcement(
    conn: &Db,
    a: &Announcement<'_>,
    now_ms: i64,
) -> Result<usize, StoreError> {
    let mut queued = 0;
    for w in list_webhooks(conn)? {
        let opened = opened_key(w.id, a.event_id);
        let muted = a.in_maintenance && !w.during_maintenance && a.kind != MessageKind::Resolved;
        let (key, send) = if a.kind == MessageKind::Opened {
            let send = w.alerts == AlertPolicy::Outages && w.wants(a.service, a.severity);
            (opened, send && !muted)
        } else if muted {
            continue;
        } else {
            (
                dedup_key(w.id, &a.event_id.to_string(), a.kind, a.wave as i64),
                w.enabled && queued_before(conn, &opened)?,
            )
        };
        if !send {
            continue;
        }
        queued += queue(
            conn,
            &Queued {
                webhook_id: w.id,
                event_id: Some(a.event_id),
                incident_id: None,
                kind: a.kind,
                key: &key,
                payload: a.payload,
            },
            now_ms,
        )?;
    }
    Ok(queued)
}

/// Queues an outage's opening for one subscription (one whose policy
/// waits for the incident pass); nothing if it was queued before. The key
/// is the one [`enqueue_announcement`] uses, so its waves and resolution
/// follow.
pub fn enqueue_outage_opening(
    conn: &Db,
    webhook_id: i64,
    event_id: i64,
    payload: &str,
    now_ms: i64,
) -> Result<usize, StoreError> {
    queue(
        conn,
        &Queued {
            webhook_id,
            event_id: Some(event_id),
            incident_id: None,
            kind: MessageKind::Opened,
            key: &opened_key(webhook_id, event_id),
            payload,
        },
        now_ms,
    )
}

/// Whether a subscription was told of an event's opening.
pub fn told_of_opening(conn: &Db, webhook_id: i64, event_id: i64) -> Result<bool, StoreError> {
    queued_before(conn, &opened_key(webhook_id, event_id))
}

/// Queues an `incident.*` message for one subscription: `revision` tells
/// the updates and resolutions of one incident apart (one that reopens and
/// ends again is resolved again); the opening is sent once.
pub fn enqueue_incident_message(
    conn: &Db,
    webhook_id: i64,
    incident_id: i64,
    kind: MessageKind,
    revision: i64,
    payload: &str,
    now_ms: i64,
) -> Result<usize, StoreError> {
    let step = if kind == MessageKind::IncidentOpened {
        0
    } else {
        revision
    };
    queue(
        conn,
        &Queued {
            webhook_id,
            event_id: None,
            incident_id: Some(incident_id),
            kind,
            key: &dedup_key(webhook_id, &format!("i{incident_id}"), kind, step),
            payload,
        },
        now_ms,
    )
}

/// The revision (its payload's `revision`) of the newest `incident.*`
/// message queued for a subscription about an incident; `None` if it was
/// never told of it.
pub fn incident_told(
    conn: &Db,
    webhook_id: i64,
    incident_id: i64,
) -> Result<Option<i64>, StoreError> {
    // The payload is JSON text: SQLite reads it with `json_extract`,
    // PostgreSQL casts it to `jsonb` (`->>` gives the number as text).
    let sql = match conn.dialect() {
        Dialect::Sqlite => {
            "SELECT max(json_extract(payload, '$.revision')) FROM deliveries \
             WHERE webhook_id = ?1 AND incident_id = ?2 HAVING count(*) > 0"
        }
        Dialect::Postgres => {
            "SELECT max(CAST(CAST(payload AS jsonb) ->> 'revision' AS BIGINT)) FROM deliveries \
             WHERE webhook_id = ?1 AND incident_id = ?2 HAVING count(*) > 0"
        }
    };
    conn.query_opt(sql, params![webhook_id, incident_id], |r| {
        Ok(r.get::<Option<i64>>(0)?.unwrap_or(0))
    })
    .context("checking what a subscription was told of an incident")
}

/// The incidents a subscription was told of whose newest message to it is
/// not a resolution: told they began (or began again), not yet that they
/// ended.
pub fn incidents_told_open(conn: &Db, webhook_id: i64) -> Result<Vec<i64>, StoreError> {
    conn.query_map(
        "SELECT d.incident_id FROM deliveries d WHERE d.webhook_id = ?1 \
         AND d.incident_id IS NOT NULL AND d.kind != 'incident.resolved' \
         AND d.id = (SELECT max(e.id) FROM deliveries e \
             WHERE e.webhook_id = ?1 AND e.incident_id = d.incident_id) \
         ORDER BY d.incident_id",
        params![webhook_id],
        |r| r.get::<i64>(0),
    )
    .context("listing the incidents told")
}

/// Queues a `ping` for one subscription; returns the delivery.
pub fn enqueue_ping(
    conn: &Db,
    webhook_id: i64,
    payload: &str,
    now_ms: i64,
) -> Result<i64, StoreError> {
    conn.query_row(
        "INSERT INTO deliveries (webhook_id, event_id, kind, message_id, payload, status, \
         attempts, next_attempt_ms, created_ms) \
         VALUES (?1, NULL, 'ping', ?2, ?3, 'pending', 0, ?4, ?4) RETURNING id",
        params![webhook_id, new_message_id(), payload, now_ms],
        |r| r.get::<i64>(0),
    )
    .context("queueing a ping")
}

/// Pending deliveries due by `now_ms`, oldest first, each with its
/// subscription, leaving out the deliveries in `busy` (being attempted now)
/// and every delivery of the subscriptions in `full` (as many attempts under
/// way as they may have). A message waits while an earlier message of the
/// same event to the same subscription is still pending, so they arrive in
/// order; pings belong to no event and wait for nothing (`=` is never true
/// of NULL, where `IS` would make every ping wait for every earlier one).
/// Messages about one incident wait for each other the same way.
pub fn due_deliveries(
    conn: &Db,
    now_ms: i64,
    limit: usize,
    busy: &[i64],
    full: &[i64],
    lease_until_ms: i64,
) -> Result<Vec<(Delivery, Webhook)>, StoreError> {
    // `busy` and `full` cross as JSON arrays of ids, each read back as a
    // set of rows: SQLite's `json_each`, PostgreSQL's
    // `jsonb_array_elements_text` (whose text is cast back to a number).
    let (busy_ids, full_ids) = match conn.dialect() {
        Dialect::Sqlite => (
            "SELECT value FROM json_each(?3)",
            "SELECT value FROM json_each(?4)",
        ),
        Dialect::Postgres => (
            "SELECT CAST(value AS BIGINT) FROM jsonb_array_elements_text(CAST(?3 AS jsonb))",
            "SELECT CAST(value AS BIGINT) FROM jsonb_array_elements_text(CAST(?4 AS jsonb))",
        ),
    };
    let due = "d.status = 'pending' AND d.next_attempt_ms <= ?1 \
         AND d.id NOT IN ({busy}) AND d.webhook_id NOT IN ({full}) \
         AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.webhook_id = d.webhook_id \
             AND e.event_id = d.event_id AND e.status = 'pending' AND e.id < d.id) \
         AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.webhook_id = d.webhook_id \
             AND e.incident_id = d.incident_id AND e.status = 'pending' AND e.id < d.id)"
        .replace("{busy}", busy_ids)
        .replace("{full}", full_ids);
    let sql = match conn.dialect() {
        Dialect::Sqlite => format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries d WHERE {due} \
             ORDER BY d.next_attempt_ms, d.id LIMIT ?2"
        ),
        // Several nodes send from one outbox: each claims its messages for
        // a lease, skipping rows another node is claiming right now, and
        // passes over those leased to a node until the lease runs out (the
        // node died mid-attempt: another sends the message, same id).
        Dialect::Postgres => format!(
            "UPDATE deliveries SET lease_until_ms = ?5 WHERE id IN (\
             SELECT d.id FROM deliveries d WHERE {due} \
             AND (d.lease_until_ms IS NULL OR d.lease_until_ms <= ?1) \
             ORDER BY d.next_attempt_ms, d.id LIMIT ?2 FOR UPDATE SKIP LOCKED) \
             RETURNING {}",
            DELIVERY_COLUMNS.replace("d.", "")
        ),
    };
    let as_json = |ids: &[i64]| serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
    let (busy, full) = (as_json(busy), as_json(full));
    let bound = params![now_ms, limit as i64, busy, full, lease_until_ms];
    let bound = match conn.dialect() {
        Dialect::Sqlite => &bound[..4],
        Dialect::Postgres => bound,
    };
    let mut deliveries = conn
        .query_map(&sql, bound, delivery_from_row)
        .context("finding due deliveries")?;
    deliveries.sort_by_key(|d| (d.next_attempt_ms, d.id));
    if deliveries.is_empty() {
        return Ok(Vec::new());
    }
    // Subscriptions are few: one read for all, not one per delivery.
    let webhooks: std::collections::HashMap<i64, Webhook> = list_webhooks(conn)?
        .into_iter()
        .map(|w| (w.id, w))
        .collect();
    Ok(deliveries
        .into_iter()
        .filter_map(|d| {
            let w = webhooks.get(&d.webhook_id)?.clone();
            Some((d, w))
        })
        .collect())
}

/// Gives back messages a node claimed but did not start (PostgreSQL's
/// leases; nothing to do on SQLite).
pub fn release_deliveries(conn: &Db, ids: &[i64]) -> Result<(), StoreError> {
    if conn.dialect() == Dialect::Sqlite {
        return Ok(());
    }
    for id in ids {
        conn.execute(
            "UPDATE deliveries SET lease_until_ms = NULL WHERE id = ?1",
            params![id],
        )
        .context("giving back a claimed delivery")?;
    }
    Ok(())
}

/// The result of one delivery attempt.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub status: &'static str,
    pub next_attempt_ms: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_ms: Option<i64>,
}

pub fn record_attempt(conn: &Db, id: i64, a: &AttemptRecord) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE deliveries SET status = ?2, attempts = attempts + 1, next_attempt_ms = ?3, \
         last_status = ?4, last_error = ?5, delivered_ms = ?6 WHERE id = ?1",
        params![
            id,
            a.status,
            a.next_attempt_ms,
            a.last_status,
            a.last_error,
            a.delivered_ms
        ],
    )
    .context("recording a delivery attempt")?;
    if conn.dialect() == Dialect::Postgres {
        // The attempt is over: a retry is due at its own time, not the
        // lease's.
        conn.execute(
            "UPDATE deliveries SET lease_until_ms = NULL WHERE id = ?1",
            params![id],
        )
        .context("ending a delivery's lease")?;
    }
    Ok(())
}

/// A subscription's deliveries, newest first.
pub fn list_deliveries(
    conn: &Db,
    webhook_id: i64,
    limit: usize,
) -> Result<Vec<Delivery>, StoreError> {
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries d WHERE d.webhook_id = ?1 \
         ORDER BY d.id DESC LIMIT ?2"
    );
    conn.query_map(&sql, params![webhook_id, limit as i64], delivery_from_row)
        .context("listing deliveries")
}

/// One alert sent (or being sent) for an event, as the event's page shows
/// it: the subscription's format, never its URL (which may hold a secret).
#[derive(Debug, Clone)]
pub struct EventAlert {
    pub webhook_id: i64,
    pub format: WebhookFormat,
    pub kind: MessageKind,
    /// `pending`, `delivered`, `failed` or `cancelled`.
    pub status: String,
    pub attempts: i64,
    pub created_ms: i64,
    pub delivered_ms: Option<i64>,
}

/// The alerts queued for an event, oldest first, at most `limit`.
pub fn event_alerts(conn: &Db, event_id: i64, limit: usize) -> Result<Vec<EventAlert>, StoreError> {
    conn.query_map(
        "SELECT d.webhook_id, w.format, d.kind, d.status, d.attempts, d.created_ms, \
         d.delivered_ms FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id \
         WHERE d.event_id = ?1 ORDER BY d.id LIMIT ?2",
        params![event_id, limit as i64],
        |r| {
            Ok(EventAlert {
                webhook_id: r.get(0)?,
                format: word(r, 1)?,
                kind: word(r, 2)?,
                status: r.get(3)?,
                attempts: r.get(4)?,
                created_ms: r.get(5)?,
                delivered_ms: r.get(6)?,
            })
        },
    )
    .context("listing an event's alerts")
}

/// Sends a delivery again (same message id); false if it is not this
/// subscription's.
pub fn redeliver(
    conn: &Db,
    webhook_id: i64,
    delivery_id: i64,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let n = conn
        .execute(
            "UPDATE deliveries SET status = 'pending', next_attempt_ms = ?3 \
             WHERE id = ?1 AND webhook_id = ?2",
            params![delivery_id, webhook_id, now_ms],
        )
        .context("redelivering")?;
    Ok(n > 0)
}

/// When the oldest pending delivery was queued, if any (milliseconds).
pub fn oldest_pending_ms(conn: &Db) -> Result<Option<i64>, StoreError> {
    conn.query_row(
        "SELECT MIN(created_ms) FROM deliveries WHERE status = 'pending'",
        params![],
        |r| r.get::<Option<i64>>(0),
    )
    .context("finding the oldest pending delivery")
}

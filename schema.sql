-- downwave schema, version 9 (`SCHEMA_VERSION` in src/store/mod.rs).
--
-- Applied on first start to an empty database (the binary embeds this file);
-- the version lives in `PRAGMA user_version`. A database whose version is
-- newer than the binary knows is refused, never written.
--
-- Times are Unix seconds (UTC) unless a column says milliseconds. A "minute"
-- column holds the start of a UTC minute, always a multiple of 60.

-- Small key/value facts about this installation. Holds `reporter_secret`, the
-- random key of the keyed hash that turns client addresses into reporter ids,
-- made on first start and never shown.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;

-- The catalog: what people can report problems with.
CREATE TABLE services (
    id         INTEGER PRIMARY KEY,
    slug       TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    -- JSON array of category names, in display order.
    categories TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    -- JSON array of the slugs of the providers it declares it depends on.
    depends_on TEXT NOT NULL DEFAULT '[]'
) STRICT;

-- Every report accepted, counted or not. Raw client addresses never reach this
-- table: `reporter` is a 16-byte keyed hash of address and client token, and
-- `source` the keyed hash of the address alone (an IPv6 client's /64), so the
-- reports of one address can be told apart from those of many; `network` and
-- `provider` are 8-byte keyed hashes (under a key derived from the same
-- secret) of the client's site (IPv4 /24, IPv6 /48) and provider block (IPv4
-- /16, IPv6 /32), from which the writer rebuilds its count of networks after
-- a restart. All three are NULL for imported history, which has no address.
-- `counted` = 0 marks a report kept for the record but left out of every
-- count: a repeat by the same reporter inside the de-duplication window, or one
-- more from an address that already counted its share in that window.
CREATE TABLE reports (
    id          INTEGER PRIMARY KEY,
    service_id  INTEGER NOT NULL REFERENCES services(id),
    received_ms INTEGER NOT NULL,
    minute      INTEGER NOT NULL,
    category    TEXT NOT NULL,
    error_code  INTEGER,
    region      TEXT,
    platform    TEXT,
    comment     TEXT,
    reporter    BLOB NOT NULL,
    counted     INTEGER NOT NULL,
    source      BLOB,
    network     BLOB,
    provider    BLOB
) STRICT;

-- Recent reports of one service (summaries, de-duplication warm-up after a
-- restart, exports) without scanning the whole table.
CREATE INDEX reports_by_service_time ON reports(service_id, received_ms);
-- The latest comments of one service (its dashboard page) without reading
-- the reports that have none.
CREATE INDEX reports_with_comments ON reports(service_id, received_ms)
    WHERE comment IS NOT NULL;

-- Counted reports per service, minute and category. Updated in the same
-- transaction as the `reports` rows, one upsert per key per batch, so a count
-- always equals the counted rows beneath it. The detector and the series API
-- read only this table.
CREATE TABLE report_minutes (
    service_id INTEGER NOT NULL,
    minute     INTEGER NOT NULL,
    category   TEXT NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (service_id, minute, category)
) STRICT, WITHOUT ROWID;

-- Counted reports per service and minute broken down by one other facet of the
-- report: `facet` is 'error_code', 'region' or 'platform' and `value` its
-- text. Kept like `report_minutes`, so summaries ("top error codes in the last
-- day") sum at most 1,440 minutes instead of scanning raw reports.
CREATE TABLE report_minute_facets (
    service_id INTEGER NOT NULL,
    minute     INTEGER NOT NULL,
    facet      TEXT NOT NULL,
    value      TEXT NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (service_id, facet, minute, value)
) STRICT, WITHOUT ROWID;

-- Where each service's counted reports came from, per minute, as counts
-- only (no network is kept here): what tells a crowd from a handful of
-- machines. Kept by the writer in the batch's transaction, like
-- `report_minutes`, for counted reports that came with an address (imported
-- history has none). `reports`: those reports; `networks`: distinct sites (IPv4
-- /24, IPv6 /48) among them; `new_networks`: of those, the sites not counted
-- new within the de-duplication window before, so that summed over any
-- stretch of at most that window they never count one site twice;
-- `top_provider`: the most counted reports one provider block (IPv4 /16, IPv6
-- /32) sent in the window ending with this minute. The monitor reads them over
-- an event's minutes to decide whether it is `concentrated`.
CREATE TABLE report_minute_networks (
    service_id   INTEGER NOT NULL,
    minute       INTEGER NOT NULL,
    reports      INTEGER NOT NULL,
    networks     INTEGER NOT NULL,
    new_networks INTEGER NOT NULL,
    top_provider INTEGER NOT NULL,
    PRIMARY KEY (service_id, minute)
) STRICT, WITHOUT ROWID;

-- Outage events found by the detector. `seq` is the detector's own number for
-- the event within its service: replaying the same minutes after a restart
-- yields the same `seq`, so an event is updated, never opened twice. A rewind
-- (an import older than the detector's position) sets the service's events
-- aside as `seq = -id`; its replay claims each again by time, and drops the
-- ones it does not find.
-- `status` is 'open' until the detector resolves it. `waves` is a JSON array
-- of {started_at, peak_at, peak, ended_at, reports}. Times are Unix seconds;
-- `peak` is reports per minute.
-- `networks` is how many distinct sites (IPv4 /24, IPv6 /48) the event's
-- reports came from (at least), `top_network_share` the largest share of its
-- excess one provider block (IPv4 /16, IPv6 /32) may have sent (at most), both
-- NULL for events from before they were recorded. `concentrated` = 1 marks an
-- event whose excess came from too few networks, or too much from one block:
-- shown, never announced. Once 0 it stays 0 (an announced outage is not
-- taken back by the networks of later minutes).
CREATE TABLE events (
    id           INTEGER PRIMARY KEY,
    service_id   INTEGER NOT NULL REFERENCES services(id),
    seq          INTEGER NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
    started_at   INTEGER NOT NULL,
    detected_at  INTEGER NOT NULL,
    opened_by    TEXT NOT NULL,
    peak_at      INTEGER NOT NULL,
    peak         REAL NOT NULL,
    ended_at     INTEGER NOT NULL,
    resolved_at  INTEGER,
    total        INTEGER NOT NULL,
    excess       REAL NOT NULL,
    expected     REAL NOT NULL,
    severity     TEXT NOT NULL,
    waves        TEXT NOT NULL,
    networks     INTEGER,
    top_network_share REAL,
    concentrated INTEGER NOT NULL DEFAULT 0,
    -- The baseline (reports per minute) at the peak: the normal the incident
    -- pass measures the event's rise against; NULL for events from before it
    -- was recorded (the pass reads the detector's minute then).
    peak_baseline REAL,
    UNIQUE (service_id, seq)
) STRICT;

-- Listing events by service and time, newest first, and finding open ones.
CREATE INDEX events_by_service_start ON events(service_id, started_at);
CREATE INDEX events_by_start ON events(started_at);

-- Incidents across services (docs/incidents.md): outages that one failure
-- caused, grouped under a likely cause. The monitor writes them each minute,
-- in the transaction of the event changes the pass read. `id` is the pass's
-- own incident id (kept across restarts by the assignment saved in `meta`
-- under `incident_assignment`). `status`: open while any outage of it is,
-- resolved once all are, withdrawn when the grouping no longer held (its
-- outages went independent or to another incident); rows are never deleted.
-- `cause_event_id` is the epicentre's event, `began_at` its first abnormal
-- minute, `opened_at` the pass that formed the incident, `outages` how many
-- outages it held at its last pass.
CREATE TABLE incidents (
    id             INTEGER PRIMARY KEY,
    status         TEXT NOT NULL CHECK (status IN ('open', 'resolved', 'withdrawn')),
    cause_event_id INTEGER NOT NULL,
    began_at       INTEGER NOT NULL,
    opened_at      INTEGER NOT NULL,
    resolved_at    INTEGER,
    outages        INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;
-- Open incidents first, then the most recent (the incidents API).
CREATE INDEX incidents_by_status ON incidents(status, opened_at);

-- Each event's current attribution: its incident (NULL for an independent
-- outage), how it relates to its cause (`kind`), the cause's event (itself
-- for an epicentre or an independent outage), how sure the pass is (0 to 1)
-- and the evidence in words. Updated every pass while the event is in it;
-- an event that aged out of the pass keeps its last attribution.
CREATE TABLE event_attributions (
    event_id       INTEGER PRIMARY KEY,
    incident_id    INTEGER,
    kind           TEXT NOT NULL
        CHECK (kind IN ('upstream', 'epicentre', 'spillover', 'independent')),
    cause_event_id INTEGER NOT NULL,
    confidence     REAL NOT NULL,
    evidence       TEXT NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;
-- The outages of one incident.
CREATE INDEX event_attributions_by_incident ON event_attributions(incident_id);

-- Every change the incident pass made, append-only: `change` is
-- incident_opened, outage_joined, outage_left, cause_changed,
-- incident_resolved, incident_reopened, incident_withdrawn or attributed (an
-- outage's first attribution and every change of its kind or cause);
-- `incident_id` and `event_id` what it concerns, `detail` the rest as JSON
-- (outages named by event id). `at` is the end of the minute the pass judged.
CREATE TABLE attribution_changes (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    change      TEXT NOT NULL,
    incident_id INTEGER,
    event_id    INTEGER,
    detail      TEXT NOT NULL
) STRICT;
-- The history of one incident.
CREATE INDEX attribution_changes_by_incident ON attribution_changes(incident_id, id);

-- What the detector made of each closed minute: the baseline, the upper edge
-- of the normal band and the score (-log10 of the tail probability). The
-- series API serves them beside the counts; the dashboard draws the band.
CREATE TABLE detector_minutes (
    service_id INTEGER NOT NULL,
    minute     INTEGER NOT NULL,
    baseline   REAL NOT NULL,
    upper      REAL NOT NULL,
    score      REAL NOT NULL,
    status     TEXT NOT NULL,
    PRIMARY KEY (service_id, minute)
) STRICT, WITHOUT ROWID;

-- The detector's memory per service (JSON), saved every few minutes and at
-- shutdown. On start the detector restores it and replays the minutes after
-- `last_minute` from `report_minutes`, so it ends where it would have had it
-- never stopped. Deleting a row makes the detector relearn that service from
-- its first minute.
CREATE TABLE detector_state (
    service_id  INTEGER PRIMARY KEY,
    last_minute INTEGER NOT NULL,
    state       TEXT NOT NULL
) STRICT;

-- Alert subscriptions: where on-call wants to hear about events. `services`
-- is a JSON array of slugs ([] = every service); `min_severity` filters by
-- event severity. `secret` signs every message (Standard Webhooks,
-- "whsec_" + base64); after a rotation the old one keeps signing beside the
-- new one until `previous_secret_until` (Unix seconds). `routing_key` is the
-- PagerDuty integration key. A subscription that answers 410 is disabled
-- with a reason.
-- Maintenance windows: while one is open for a service (starts_at <= t <
-- ends_at, Unix seconds), its outages are recorded and shown as expected and
-- page only the subscriptions that asked to hear of them (webhooks
-- `during_maintenance`). A window is ended early by setting ends_at.
CREATE TABLE maintenance (
    id         INTEGER PRIMARY KEY,
    service_id INTEGER NOT NULL REFERENCES services(id),
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    reason     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    CHECK (ends_at > starts_at)
) STRICT;
CREATE INDEX maintenance_by_service ON maintenance(service_id, ends_at);

CREATE TABLE webhooks (
    id                    INTEGER PRIMARY KEY,
    url                   TEXT NOT NULL,
    format                TEXT NOT NULL
        CHECK (format IN ('generic', 'slack', 'discord', 'pagerduty', 'alertmanager')),
    services              TEXT NOT NULL,
    min_severity          TEXT NOT NULL CHECK (min_severity IN ('minor', 'major', 'critical')),
    enabled               INTEGER NOT NULL,
    secret                TEXT NOT NULL,
    previous_secret       TEXT,
    previous_secret_until INTEGER,
    routing_key           TEXT,
    disabled_reason       TEXT,
    -- `during_maintenance`: 1 if told of outages during a service's
    -- maintenance too. `alerts`: what it is told of when one failure breaks
    -- many services: every outage, the causes only, or incidents
    -- (`AlertPolicy`).
    created_at            INTEGER NOT NULL,
    during_maintenance    INTEGER NOT NULL DEFAULT 0,
    alerts                TEXT NOT NULL DEFAULT 'outages'
        CHECK (alerts IN ('outages', 'causes', 'incidents'))
) STRICT;

-- The outbox: one row per message per subscription, written in the same
-- transaction as the event change it announces, so no change is lost and
-- none is announced that did not happen. `message_id` is the webhook-id,
-- the same on every attempt so receivers can de-duplicate. `dedup_key`
-- (subscription, event, kind, wave) keeps a replayed change from queueing
-- its message twice. `payload` is the event as it was at the change; each
-- format is rendered from it at send time. `status`: pending, delivered,
-- failed (gave up or refused), cancelled (subscription disabled or deleted).
-- Times in milliseconds.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    webhook_id      INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_id        INTEGER,
    kind            TEXT NOT NULL,
    message_id      TEXT NOT NULL UNIQUE,
    dedup_key       TEXT UNIQUE,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'cancelled')),
    attempts        INTEGER NOT NULL,
    next_attempt_ms INTEGER,
    last_status     INTEGER,
    last_error      TEXT,
    created_ms      INTEGER NOT NULL,
    -- `incident_id`: the incident an `incident.*` message is about (its
    -- `event_id` is NULL).
    delivered_ms    INTEGER,
    incident_id     INTEGER
) STRICT;

-- The dispatcher's question: which pending messages are due?
CREATE INDEX deliveries_due ON deliveries(status, next_attempt_ms);
-- The delivery log of one subscription, newest first.
CREATE INDEX deliveries_by_webhook ON deliveries(webhook_id, id);
-- The alerts sent for one event (its dashboard page), in order.
CREATE INDEX deliveries_by_event ON deliveries(event_id, id);
-- The messages about one incident, in order.
CREATE INDEX deliveries_by_incident ON deliveries(incident_id, id);

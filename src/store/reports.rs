//! Writing reports: one transaction per batch, holding the rows and the
//! per-minute counts they add to.

use super::{params, Context, Db, Dialect, Param, StoreError};
use crate::domain::{Category, ErrorCode, Minute, NetworkKeys, Platform, Region};
use std::collections::HashMap;

/// A facet value as counted in a batch, borrowed where it can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum FacetValue<'a> {
    Code(u16),
    Text(&'a str),
}

impl std::fmt::Display for FacetValue<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FacetValue::Code(c) => write!(f, "{c}"),
            FacetValue::Text(t) => f.write_str(t),
        }
    }
}

/// A checked report as it is stored, before its counting is decided.
#[derive(Debug, Clone)]
pub struct Report {
    pub service_id: i64,
    pub received_ms: i64,
    pub category: Category,
    pub error_code: Option<ErrorCode>,
    pub region: Option<Region>,
    pub platform: Option<Platform>,
    pub comment: Option<String>,
    /// Keyed hash of the client address and token; never the address itself.
    pub reporter: [u8; 16],
    /// Keyed hash of the client address alone; `None` for imported history.
    pub source: Option<[u8; 16]>,
    /// Keyed hashes of the client's site and provider networks; `None` for
    /// imported history.
    pub network: Option<NetworkKeys>,
}

impl Report {
    pub fn minute(&self) -> Minute {
        Minute::from_unix(self.received_ms.div_euclid(1000))
    }
}

/// A report ready to be written, its counting already decided.
#[derive(Debug, Clone)]
pub struct NewReport {
    pub report: Report,
    /// False for a repeat inside the de-duplication window.
    pub counted: bool,
}

/// What a batch adds to the network figures of one service and minute
/// (`report_minute_networks`): counts to add, and the provider top to keep
/// if it is larger than the stored one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetworkCounts {
    pub service_id: i64,
    /// Start of the minute, Unix seconds.
    pub minute: i64,
    /// Counted reports that came with an address.
    pub reports: u32,
    /// Sites (IPv4 /24, IPv6 /48) seen for the first time in the minute.
    pub networks: u32,
    /// Sites not counted new within the window before.
    pub new_networks: u32,
    /// Most counted reports from one provider block (IPv4 /16, IPv6 /32)
    /// in the window ending with the minute.
    pub top_provider: u32,
}

/// Inserts the batch and adds its counted reports to `report_minutes` and
/// `report_minute_facets`, and `networks` to `report_minute_networks`, all
/// in one transaction: either every row and count lands or none does.
/// Returns the new row ids, in batch order.
pub fn commit_batch(
    conn: &Db,
    batch: &[NewReport],
    networks: &[NetworkCounts],
) -> Result<Vec<i64>, StoreError> {
    let tx = conn.transaction().context("starting a report batch")?;
    let ids = write_batch(&tx, batch, networks)?;
    tx.commit().context("committing a report batch")?;
    Ok(ids)
}

/// As [`commit_batch`], for a node that shares its database with others:
/// in the same transaction, each report the node would count first claims
/// its reporter for `window_ms` (see [`super::claims`]); a report whose
/// claim is refused is stored as not counted (`counted` set false in
/// `batch`). The network figures are made by `networks` from the batch as
/// it will be stored. On SQLite, one node has the database to itself: its
/// own de-duplicator is exact, and nothing is claimed.
pub fn commit_claimed_batch(
    conn: &Db,
    batch: &mut [NewReport],
    window_ms: i64,
    networks: impl FnOnce(&[NewReport]) -> Vec<NetworkCounts>,
) -> Result<Vec<i64>, StoreError> {
    let tx = conn.transaction().context("starting a report batch")?;
    if conn.dialect() == Dialect::Postgres {
        let counted: Vec<usize> = (0..batch.len()).filter(|&i| batch[i].counted).collect();
        let claims: Vec<super::claims::Claim> = counted
            .iter()
            .map(|&i| {
                let r = &batch[i].report;
                (r.service_id, r.reporter, r.received_ms)
            })
            .collect();
        let granted = super::claims::claim_reporters(&tx, &claims, window_ms)?;
        for (&i, granted) in counted.iter().zip(granted) {
            batch[i].counted = granted;
        }
    }
    let networks = networks(batch);
    let ids = write_batch(&tx, batch, &networks)?;
    tx.commit().context("committing a report batch")?;
    Ok(ids)
}

/// The rows, then what they add to the per-minute counts.
fn write_batch(
    tx: &Db,
    batch: &[NewReport],
    networks: &[NetworkCounts],
) -> Result<Vec<i64>, StoreError> {
    let ids = insert_reports(tx, batch)?;
    let tally = Tally::of(batch);
    add_minutes(tx, &tally)?;
    add_networks(tx, networks)?;
    Ok(ids)
}

/// The columns of a report row, in the order [`Fields::params`] gives them.
const COLUMNS: &str = "service_id, received_ms, minute, category, error_code, region, \
     platform, comment, reporter, counted, source, network, provider";
const COLUMN_COUNT: usize = 13;

/// One report as its row's values.
struct Fields<'a> {
    service_id: i64,
    received_ms: i64,
    minute: i64,
    category: &'a str,
    error_code: Option<u16>,
    region: Option<&'a str>,
    platform: Option<&'a str>,
    comment: Option<&'a str>,
    reporter: &'a [u8],
    counted: bool,
    source: Option<&'a [u8]>,
    site: Option<&'a [u8]>,
    provider: Option<&'a [u8]>,
}

impl<'a> Fields<'a> {
    fn of(NewReport { report: r, counted }: &'a NewReport) -> Self {
        Fields {
            service_id: r.service_id,
            received_ms: r.received_ms,
            minute: r.minute().unix(),
            category: r.category.as_str(),
            error_code: r.error_code.map(|c| c.get()),
            region: r.region.as_ref().map(|g| g.as_str()),
            platform: r.platform.as_ref().map(|p| p.as_str()),
            comment: r.comment.as_deref(),
            reporter: &r.reporter[..],
            counted: *counted,
            source: r.source.as_ref().map(|s| &s[..]),
            site: r.network.as_ref().map(|n| &n.site[..]),
            provider: r.network.as_ref().map(|n| &n.provider[..]),
        }
    }

    fn params(&self) -> [&dyn Param; COLUMN_COUNT] {
        [
            &self.service_id,
            &self.received_ms,
            &self.minute,
            &self.category,
            &self.error_code,
            &self.region,
            &self.platform,
            &self.comment,
            &self.reporter,
            &self.counted,
            &self.source,
            &self.site,
            &self.provider,
        ]
    }
}

/// Inserts every report of the batch; their row ids, in batch order.
fn insert_reports(conn: &Db, batch: &[NewReport]) -> Result<Vec<i64>, StoreError> {
    match conn.dialect() {
        Dialect::Sqlite => insert_one_by_one(conn, batch),
        Dialect::Postgres => insert_in_chunks(conn, batch),
    }
}

/// SQLite: a prepared insert per row costs no round trip.
fn insert_one_by_one(conn: &Db, batch: &[NewReport]) -> Result<Vec<i64>, StoreError> {
    let sql = format!(
        "INSERT INTO reports ({COLUMNS}) VALUES {} RETURNING id",
        super::db::values_list(1, COLUMN_COUNT, 0)
    );
    let mut ids = Vec::with_capacity(batch.len());
    for report in batch {
        let id = conn
            .query_row(&sql, &Fields::of(report).params(), |row| row.get(0))
            .context("inserting a report")?;
        ids.push(id);
    }
    Ok(ids)
}

/// PostgreSQL: the batch's ids taken from the sequence at once, then the
/// rows in a few multi-row inserts (each statement is a round trip).
fn insert_in_chunks(conn: &Db, batch: &[NewReport]) -> Result<Vec<i64>, StoreError> {
    let mut ids: Vec<i64> = conn
        .query_map(
            "SELECT nextval(pg_get_serial_sequence('reports', 'id')) \
             FROM generate_series(1, CAST(?1 AS INTEGER))",
            params![batch.len()],
            |r| r.get(0),
        )
        .context("taking ids for a report batch")?;
    ids.sort_unstable();
    let fields: Vec<Fields<'_>> = batch.iter().map(Fields::of).collect();
    let mut params: Vec<&dyn Param> = Vec::with_capacity(batch.len() * (COLUMN_COUNT + 1));
    for (id, f) in ids.iter().zip(&fields) {
        params.push(id);
        params.extend(f.params());
    }
    conn.execute_values(
        &format!("INSERT INTO reports (id, {COLUMNS})"),
        "",
        COLUMN_COUNT + 1,
        &params,
    )
    .context("inserting reports")?;
    Ok(ids)
}

/// A batch's counted reports per service, minute and category, and per
/// facet value.
#[derive(Default)]
struct Tally<'a> {
    minutes: HashMap<(i64, i64, &'a str), i64>,
    facets: HashMap<(i64, i64, &'static str, FacetValue<'a>), i64>,
}

impl<'a> Tally<'a> {
    fn of(batch: &'a [NewReport]) -> Self {
        let mut tally = Tally::default();
        for NewReport { report: r, counted } in batch {
            if !counted {
                continue;
            }
            let key = (r.service_id, r.minute().unix());
            *tally
                .minutes
                .entry((key.0, key.1, r.category.as_str()))
                .or_default() += 1;
            let facets = [
                r.error_code
                    .map(|c| ("error_code", FacetValue::Code(c.get()))),
                r.region
                    .as_ref()
                    .map(|g| ("region", FacetValue::Text(g.as_str()))),
                r.platform
                    .as_ref()
                    .map(|p| ("platform", FacetValue::Text(p.as_str()))),
            ];
            for (facet, value) in facets.into_iter().flatten() {
                *tally
                    .facets
                    .entry((key.0, key.1, facet, value))
                    .or_default() += 1;
            }
        }
        tally
    }
}

/// Adds a batch's tally to `report_minutes` and `report_minute_facets`.
fn add_minutes(conn: &Db, tally: &Tally<'_>) -> Result<(), StoreError> {
    // Every batch takes the rows' locks in one order (their keys'), so two
    // nodes' batches adding to the same minutes never wait on each other
    // in a cycle.
    let mut sorted: Vec<_> = tally.minutes.iter().collect();
    sorted.sort_unstable_by_key(|(k, _)| **k);
    let mut minutes: Vec<&dyn Param> = Vec::with_capacity(tally.minutes.len() * 4);
    for ((service, minute, category), n) in sorted {
        minutes.extend([service as &dyn Param, minute, category, n]);
    }
    conn.execute_values(
        "INSERT INTO report_minutes (service_id, minute, category, count)",
        "ON CONFLICT (service_id, minute, category) \
         DO UPDATE SET count = report_minutes.count + excluded.count",
        4,
        &minutes,
    )
    .context("adding to report_minutes")?;
    let mut sorted: Vec<_> = tally.facets.iter().collect();
    sorted.sort_unstable_by_key(|((service, minute, facet, value), _)| {
        (*service, *facet, *minute, *value)
    });
    let values: Vec<String> = sorted.iter().map(|(k, _)| k.3.to_string()).collect();
    let mut facets: Vec<&dyn Param> = Vec::with_capacity(tally.facets.len() * 5);
    for (((service, minute, facet, _), n), value) in sorted.into_iter().zip(&values) {
        facets.extend([service as &dyn Param, minute, facet, value, n]);
    }
    conn.execute_values(
        "INSERT INTO report_minute_facets (service_id, minute, facet, value, count)",
        "ON CONFLICT (service_id, facet, minute, value) \
         DO UPDATE SET count = report_minute_facets.count + excluded.count",
        5,
        &facets,
    )
    .context("adding to report_minute_facets")?;
    Ok(())
}

/// Adds each minute's network tally to `report_minute_networks`.
fn add_networks(conn: &Db, networks: &[NetworkCounts]) -> Result<(), StoreError> {
    if networks.is_empty() {
        return Ok(());
    }
    let mut sorted: Vec<&NetworkCounts> = networks.iter().collect();
    sorted.sort_unstable_by_key(|n| (n.service_id, n.minute));
    let mut params: Vec<&dyn Param> = Vec::with_capacity(networks.len() * 6);
    for n in sorted {
        params.extend([
            &n.service_id as &dyn Param,
            &n.minute,
            &n.reports,
            &n.networks,
            &n.new_networks,
            &n.top_provider,
        ]);
    }
    conn.execute_values(
        "INSERT INTO report_minute_networks AS t \
         (service_id, minute, reports, networks, new_networks, top_provider)",
        "ON CONFLICT (service_id, minute) \
         DO UPDATE SET reports = t.reports + excluded.reports, \
         networks = t.networks + excluded.networks, \
         new_networks = t.new_networks + excluded.new_networks, \
         top_provider = CASE WHEN t.top_provider > excluded.top_provider \
             THEN t.top_provider ELSE excluded.top_provider END",
        6,
        &params,
    )
    .context("adding to report_minute_networks")?;
    Ok(())
}

/// Deletes at most `limit` raw reports received before `before_ms`, service
/// by service through `reports_by_service_time`; returns how many went. On
/// PostgreSQL only the default partition's: a day's partition is dropped
/// whole ([`drop_report_partitions`](super::drop_report_partitions)).
/// The per-minute counts, facets, networks and events made of them stay:
/// only the reports themselves (reporter hashes, comments) age out. Small
/// batches, each its own statement, so ingest waits at most one batch.
pub fn prune_reports(conn: &Db, before_ms: i64, limit: usize) -> Result<usize, StoreError> {
    let sql = match conn.dialect() {
        // CROSS JOIN keeps services outside: a range of the index per
        // service, where a plain join scans the whole index.
        Dialect::Sqlite => {
            "DELETE FROM reports WHERE id IN (SELECT r.id FROM services s \
             CROSS JOIN reports r ON r.service_id = s.id AND r.received_ms < ?1 LIMIT ?2)"
        }
        // PostgreSQL drops whole days (see partitions.rs); what is left to
        // delete row by row is in the default partition.
        Dialect::Postgres => {
            "DELETE FROM reports_default WHERE id IN (SELECT r.id FROM services s \
             JOIN reports_default r ON r.service_id = s.id AND r.received_ms < ?1 LIMIT ?2)"
        }
    };
    conn.execute(sql, params![before_ms, limit])
        .context("pruning reports")
}

/// The last counted report time of every reporter of one service since
/// `since_ms`: what the de-duplicator needs to carry on after a restart.
pub fn recent_counted_reporters(
    conn: &Db,
    service_id: i64,
    since_ms: i64,
) -> Result<Vec<([u8; 16], i64)>, StoreError> {
    let rows = conn
        .query_map(
            "SELECT reporter, MAX(received_ms) FROM reports \
             WHERE service_id = ?1 AND received_ms >= ?2 AND counted = 1 \
             GROUP BY reporter",
            params![service_id, since_ms],
            |r| Ok((r.get::<Vec<u8>>(0)?, r.get::<i64>(1)?)),
        )
        .context("reading recent reporters")?;
    let mut out = Vec::new();
    for (reporter, at) in rows {
        if let Ok(key) = <[u8; 16]>::try_from(reporter.as_slice()) {
            out.push((key, at));
        }
    }
    Ok(out)
}

/// The time of every counted report of one service since `since_ms` that
/// has a source, with its source: what the per-address cap needs to carry
/// on after a restart.
pub fn recent_counted_sources(
    conn: &Db,
    service_id: i64,
    since_ms: i64,
) -> Result<Vec<([u8; 16], i64)>, StoreError> {
    let rows = conn
        .query_map(
            "SELECT source, received_ms FROM reports \
             WHERE service_id = ?1 AND received_ms >= ?2 AND counted = 1 \
             AND source IS NOT NULL",
            params![service_id, since_ms],
            |r| Ok((r.get::<Vec<u8>>(0)?, r.get::<i64>(1)?)),
        )
        .context("reading recent sources")?;
    let mut out = Vec::new();
    for (source, at) in rows {
        if let Ok(key) = <[u8; 16]>::try_from(source.as_slice()) {
            out.push((key, at));
        }
    }
    Ok(out)
}

/// The network keys and times of the counted reports of one service since
/// `since_ms`, oldest first: what the network tally is rebuilt from after a
/// restart.
pub fn recent_counted_networks(
    conn: &Db,
    service_id: i64,
    since_ms: i64,
) -> Result<Vec<(NetworkKeys, i64)>, StoreError> {
    let rows = conn
        .query_map(
            "SELECT network, provider, received_ms FROM reports \
             WHERE service_id = ?1 AND received_ms >= ?2 AND counted = 1 \
             AND network IS NOT NULL AND provider IS NOT NULL ORDER BY received_ms",
            params![service_id, since_ms],
            |r| Ok((r.get::<Vec<u8>>(0)?, r.get::<Vec<u8>>(1)?, r.get::<i64>(2)?)),
        )
        .context("reading recent networks")?;
    let mut out = Vec::new();
    for (site, provider, at) in rows {
        if let (Ok(site), Ok(provider)) = (
            <[u8; 8]>::try_from(site.as_slice()),
            <[u8; 8]>::try_from(provider.as_slice()),
        ) {
            out.push((NetworkKeys { site, provider }, at));
        }
    }
    Ok(out)
}

//! Counting a reporter once per service and window across nodes.
//!
//! Each node's de-duplicator knows the reports that reached it. With several
//! nodes on one PostgreSQL database, a report the node would count also
//! claims its (service, reporter) in `reporter_claims`, in the transaction
//! that stores it: the claim is granted when the reporter has no claim, or
//! its claim is at least a window away from this report; otherwise another
//! node counted the reporter within the window and the report is stored as
//! a duplicate. Two nodes claiming the same reporter at once meet on the
//! row's lock, and the second sees the first's claim once it commits. Each
//! batch claims in one order (service, reporter), so two batches never wait
//! on each other in a cycle.

use super::db::MAX_ROWS;
use super::{params, Context, Db, Param, StoreError};
use std::collections::HashSet;

/// One claim: (service id, reporter, report time in milliseconds).
pub type Claim = (i64, [u8; 16], i64);

/// Claims each (service, reporter) at its time for `window_ms`; whether
/// each claim, in the order given, was granted. A batch must not hold two
/// claims of one (service, reporter): the node's own de-duplicator counts
/// a reporter once per batch.
pub fn claim_reporters(
    conn: &Db,
    claims: &[Claim],
    window_ms: i64,
) -> Result<Vec<bool>, StoreError> {
    let mut order: Vec<usize> = (0..claims.len()).collect();
    order.sort_unstable_by_key(|&i| (claims[i].0, claims[i].1));
    let mut granted = vec![false; claims.len()];
    let mut done = 0;
    while done < order.len() {
        let n = super::db::chunk_len(order.len() - done, MAX_ROWS);
        let chunk = &order[done..done + n];
        let window = 3 * n + 1;
        let sql = format!(
            "INSERT INTO reporter_claims AS c (service_id, reporter, counted_ms) VALUES {} \
             ON CONFLICT (service_id, reporter) DO UPDATE SET counted_ms = excluded.counted_ms \
             WHERE c.counted_ms <= excluded.counted_ms - ?{window} \
                OR c.counted_ms >= excluded.counted_ms + ?{window} \
             RETURNING service_id, reporter",
            super::db::values_list(n, 3, 0)
        );
        let mut bound: Vec<&dyn Param> = Vec::with_capacity(3 * n + 1);
        for &i in chunk {
            let (service, reporter, at) = &claims[i];
            bound.extend([service as &dyn Param, reporter, at]);
        }
        bound.push(&window_ms);
        let won: HashSet<(i64, [u8; 16])> = conn
            .query_map(&sql, &bound, |r| Ok((r.get(0)?, r.get(1)?)))
            .context("claiming reporters")?
            .into_iter()
            .collect();
        for &i in chunk {
            let (service, reporter, _) = claims[i];
            granted[i] = won.contains(&(service, reporter));
        }
        done += n;
    }
    Ok(granted)
}

/// Deletes claims older than `before_ms` (they can decide nothing more);
/// how many went.
pub fn prune_claims(conn: &Db, before_ms: i64) -> Result<usize, StoreError> {
    conn.execute(
        "DELETE FROM reporter_claims WHERE counted_ms < ?1",
        params![before_ms],
    )
    .context("pruning reporter claims")
}

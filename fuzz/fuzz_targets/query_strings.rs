//! The query strings of the API and the pages, parsed as actix's `Query`
//! extractor parses them (`web::Query::from_query`) into the types the
//! handlers take, then what the handlers do next with them. A query that
//! parses, written back, parses to the same value; a series window is
//! aligned, ordered and within its limit; a page range parses only from the
//! three names.
#![no_main]

use actix_web::web::Query;
use downwave::api::{EventQuery, SeriesQuery};
use downwave::domain::Minute;
use downwave::web::{ChartQuery, FeedQuery, HomeQuery, Range, ServiceQuery};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;

/// The default `series_max_points`.
const SERIES_MAX_POINTS: usize = 44_640;

fn round_trip<T>(query: &str) -> Option<T>
where
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let parsed = Query::<T>::from_query(query).ok()?.into_inner();
    let written = serde_urlencoded::to_string(&parsed)
        .unwrap_or_else(|e| panic!("{parsed:?} could not be written back: {e}"));
    let again = Query::<T>::from_query(&written)
        .unwrap_or_else(|e| panic!("{written:?} (from {query:?}) did not parse: {e}"))
        .into_inner();
    assert_eq!(parsed, again, "{query:?} written back as {written:?}");
    Some(parsed)
}

fn check_range(range: Option<String>) {
    let parsed = Range::parse(range.as_deref());
    let named = matches!(range.as_deref(), None | Some("6h" | "24h" | "7d"));
    assert_eq!(parsed.is_ok(), named, "{range:?}");
    if let Ok(r) = parsed {
        assert!(Range::parse(Some(r.key())).is_ok_and(|again| again == r));
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    round_trip::<EventQuery>(query);
    round_trip::<FeedQuery>(query);
    round_trip::<HomeQuery>(query);
    if let Some(series) = round_trip::<SeriesQuery>(query) {
        let now = Minute::from_unix(1_796_212_800);
        if let Ok((from, to, step)) = series.window(now, SERIES_MAX_POINTS) {
            assert!([60, 300, 3600].contains(&step));
            assert!(from < to, "{query:?}");
            assert_eq!(from.unix().rem_euclid(step), 0);
            assert_eq!(to.unix().rem_euclid(step), 0);
            assert!(((to.unix() - from.unix()) / step) as usize <= SERIES_MAX_POINTS);
        }
    }
    if let Some(q) = round_trip::<ServiceQuery>(query) {
        check_range(q.range);
    }
    if let Some(q) = round_trip::<ChartQuery>(query) {
        check_range(q.range);
    }
});

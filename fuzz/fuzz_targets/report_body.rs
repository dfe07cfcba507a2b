//! `POST /api/v1/reports`: the body as the handler reads it (serde into
//! `ReportRequest`, then the domain newtypes against the service). Any
//! refusal is a 400 or 422 with a documented code; an accepted report holds
//! only what the checks allow, and sending it back as JSON is accepted again
//! as the same report.
#![no_main]

use downwave::api::{parse_json, ReportRequest};
use downwave_fuzz::{
    assert_client_error, assert_report_is_checked, report_json, service, MAX_COMMENT_CHARS,
    REPORT_BODY_CODES,
};
use libfuzzer_sys::fuzz_target;

const RECEIVED_MS: i64 = 1_796_212_800_000;

fuzz_target!(|data: &[u8]| {
    let service = service();
    let report = match parse_json::<ReportRequest>(data)
        .and_then(|r| r.check_for(&service, MAX_COMMENT_CHARS))
    {
        Ok(checked) => checked.into_pending(RECEIVED_MS, [0; 16]),
        Err(e) => return assert_client_error(&e, &[REPORT_BODY_CODES]),
    };
    assert_report_is_checked(&report);
    let again =
        serde_json::to_vec(&report_json(&report, service.slug.as_str())).expect("a map serialises");
    let again = parse_json::<ReportRequest>(&again)
        .and_then(|r| r.check_for(&service, MAX_COMMENT_CHARS))
        .unwrap_or_else(|e| panic!("the report sent back was refused: {e:?} ({report:?})"))
        .into_pending(RECEIVED_MS, [0; 16]);
    assert_eq!(format!("{report:?}"), format!("{again:?}"));
});

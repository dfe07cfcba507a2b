//! `POST /api/v1/admin/import`: one line as the import reads it (`at` and a
//! report's fields), then the report checks. Blank lines are skipped; any
//! refusal is a 422 whose message names the line and whose code is
//! documented; an accepted line is within the time bounds, and writing it
//! back gives the same report at the same time.
#![no_main]

use chrono::SecondsFormat;
use downwave::api::{ImportLimits, ImportLine};
use downwave_fuzz::{
    assert_client_error, assert_report_is_checked, now, report_json, service, IMPORT_LINE_CODES,
    IMPORT_MAX_AGE_DAYS, MAX_BODY_BYTES, MAX_COMMENT_CHARS, REPORT_BODY_CODES,
};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

const LINE_NO: usize = 7;

fn limits() -> ImportLimits {
    ImportLimits {
        max_line_bytes: MAX_BODY_BYTES,
        max_age: Duration::from_secs(IMPORT_MAX_AGE_DAYS * 86_400),
    }
}

/// The line's report with its time, or `None` for a blank line; panics on a
/// refusal that is not a documented 422 naming the line.
fn read(raw: &[u8]) -> Result<Option<(i64, downwave::ingest::PendingReport)>, ()> {
    let service = service();
    let refused = |e: downwave::api::ApiError| {
        assert_client_error(&e, &[REPORT_BODY_CODES, IMPORT_LINE_CODES]);
        assert!(
            matches!(e, downwave::api::ApiError::Unprocessable { .. }),
            "an import line is refused with 422: {e:?}"
        );
        assert!(
            e.to_string().starts_with(&format!("line {LINE_NO}: ")),
            "the message names the line: {e}"
        );
    };
    let line = match ImportLine::parse(raw, LINE_NO, now(), &limits()) {
        Ok(Some(line)) => line,
        Ok(None) => {
            assert!(
                raw.iter().all(u8::is_ascii_whitespace),
                "only a blank line is skipped"
            );
            return Ok(None);
        }
        Err(e) => {
            refused(e);
            return Err(());
        }
    };
    assert!(
        line.at <= now() + chrono::Duration::minutes(1),
        "{:?}",
        line.at
    );
    assert!(
        now().signed_duration_since(line.at) <= chrono::Duration::days(IMPORT_MAX_AGE_DAYS as i64),
        "{:?}",
        line.at
    );
    match line.report.check_for(&service, MAX_COMMENT_CHARS) {
        Ok(checked) => {
            let at_ms = line.at.timestamp_millis();
            Ok(Some((at_ms, checked.into_pending(at_ms, [0; 16]))))
        }
        Err(e) => {
            assert_client_error(&e, &[REPORT_BODY_CODES]);
            Err(())
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(Some((at_ms, report))) = read(data) else {
        return;
    };
    assert_report_is_checked(&report);
    let mut fields = report_json(&report, service().slug.as_str());
    let at = chrono::DateTime::from_timestamp_millis(at_ms).expect("a time the line had");
    fields.insert(
        "at".into(),
        at.to_rfc3339_opts(SecondsFormat::AutoSi, true).into(),
    );
    let line = serde_json::to_vec(&fields).expect("a map serialises");
    match read(&line) {
        Ok(Some((again_ms, again))) => {
            assert_eq!(at_ms, again_ms);
            assert_eq!(format!("{report:?}"), format!("{again:?}"));
        }
        other => panic!(
            "the line written back was not read back: {other:?} from {}",
            String::from_utf8_lossy(&line)
        ),
    }
});

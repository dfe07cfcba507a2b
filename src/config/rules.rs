//! The rules a setting's value must pass. Each returns, when the value
//! breaks it, the rule in the words that end the error message ("the
//! setting NAME must be RULE"); a declaration names its rules in order.

/// Counts, sizes and durations that zero would stop or disable by accident.
pub fn positive<T: Default + PartialOrd>(value: &T) -> Result<(), &'static str> {
    if *value > T::default() {
        Ok(())
    } else {
        Err("greater than zero")
    }
}

/// A share of a whole: above 0 and at most 1 (not a number fails).
pub fn share(value: &f64) -> Result<(), &'static str> {
    if *value > 0.0 && *value <= 1.0 {
        Ok(())
    } else {
        Err("above 0 and at most 1")
    }
}

/// A finite number above 0 (minutes, multipliers): not a number and
/// infinity fail.
pub fn finite_positive(value: &f64) -> Result<(), &'static str> {
    if value.is_finite() && *value > 0.0 {
        Ok(())
    } else {
        Err("a finite number above 0")
    }
}

/// A number of days up to a century: past it the arithmetic on times would
/// overflow.
pub fn within_a_century(days: &u64) -> Result<(), &'static str> {
    if *days <= 36_500 {
        Ok(())
    } else {
        Err("at most 36500")
    }
}

/// A number of hours within a year.
pub fn within_a_year_of_hours(hours: &u64) -> Result<(), &'static str> {
    if *hours <= 8_760 {
        Ok(())
    } else {
        Err("at most 8760")
    }
}

/// A number of minutes of at most a day.
pub fn within_a_day_of_minutes(minutes: &u64) -> Result<(), &'static str> {
    if *minutes <= 1_440 {
        Ok(())
    } else {
        Err("at most 1440")
    }
}

/// The detector's false-event budget: a finite number above 0 and at most
/// 1000.
pub fn false_event_budget(budget: &f64) -> Result<(), &'static str> {
    if budget.is_finite() && *budget > 0.0 && *budget <= 1000.0 {
        Ok(())
    } else {
        Err("a number above 0 and at most 1000")
    }
}

/// The admin token, if one is set (empty means none). It travels as
/// `Authorization: Bearer TOKEN`, so a token with spaces, control or
/// non-ASCII characters could never be matched: refused at startup rather
/// than leaving the admin endpoints locked with no word why.
pub fn bearer_token(token: &str) -> Result<(), &'static str> {
    if token.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err("visible ASCII characters without spaces (it is sent as \
             'Authorization: Bearer TOKEN')")
    }
}

/// The webhook proxy, if one is set (empty means none): an `http://` or
/// `https://` URL.
pub fn proxy_url(proxy: &str) -> Result<(), &'static str> {
    if proxy.is_empty() || proxy.starts_with("http://") || proxy.starts_with("https://") {
        Ok(())
    } else {
        Err("an http:// or https:// URL")
    }
}

/// Empty (the wall clock) or `START,ANCHOR,SPEED` (see `ScaledClock`).
pub fn clock_spec(spec: &str) -> Result<(), &'static str> {
    if spec.is_empty() {
        return Ok(());
    }
    spec.parse::<crate::clock::ScaledClock>().map(|_| ())
}

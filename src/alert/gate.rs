//! The network gate: did an outage the detector opened come from a crowd, or
//! from a handful of networks? A faked outage pages someone at night, and
//! reports cost nothing to send; what costs an attacker is networks.
//!
//! The detector stays blind to where reports come from (it is pure and
//! tuned on counts); the monitor asks this gate about every event it writes.
//! An event is `concentrated` when its excess came from fewer than
//! `outage_min_networks` sites (IPv4 /24, IPv6 /48), or when one provider
//! block (IPv4 /16, IPv6 /32) may have sent more than
//! `outage_max_network_share` of it. A concentrated event is stored and
//! shown, and announced to no one; if later minutes bring the crowd, it
//! stops being concentrated and is announced then.
//!
//! The figures come from `report_minute_networks` (see
//! `ingest::networks`), which keeps counts, never networks, so an event's
//! figures are bounds: at least this many sites, at most this share.
//!
//! Pure: fed the minutes' figures and the event, no I/O, no clock.

use crate::detect::Event;
use crate::store::{EventNetworks, NetworkMinute};

/// What an event must show to page anyone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GatePolicy {
    /// Fewest distinct sites the event's reports must come from.
    pub min_networks: u32,
    /// Largest share (0 to 1) of the excess one provider block may send.
    pub max_share: f64,
    /// The window the writer counts in (the de-duplication window), in
    /// seconds, a whole number of minutes: a site is new at most once in it,
    /// and a minute's provider top covers the window ending with it.
    pub window_secs: i64,
}

impl GatePolicy {
    /// The first minute whose figures [`judge`] may read for an event
    /// starting at `started_at`.
    pub fn first_minute(&self, started_at: i64) -> i64 {
        started_at - self.window_secs
    }
}

/// What the networks behind `event` say, from the figures of the minutes
/// from [`GatePolicy::first_minute`] to the event's last (in order).
///
/// - Sites: the most new sites within any window of the event's minutes. A
///   site is new at most once per window, so this never counts one twice;
///   it leaves out sites that also reported in the window before the event,
///   and, in an event longer than the window, adds up no two windows.
/// - Provider share: the event's minutes are covered by windows ending at
///   its last minute, a window before it, and so on; one block sent no more
///   than the sum of the windows' tops, taken over the event's excess.
/// - Imported history has no address, so none of it is in the figures: an
///   event whose imported reports alone make up its excess is the
///   operator's own data and never concentrated.
pub fn judge(policy: &GatePolicy, minutes: &[NetworkMinute], event: &Event) -> EventNetworks {
    let window = policy.window_secs.max(60);
    let first = event.started_at;
    let last = (event.ended_at - 60).max(first);
    let within: Vec<&NetworkMinute> = minutes
        .iter()
        .filter(|m| (first..=last).contains(&m.minute))
        .collect();
    let addressed: u64 = within.iter().map(|m| m.reports).sum();

    let mut sites = 0u64;
    let mut sum = 0u64;
    let mut tail = 0;
    for m in &within {
        sum += m.new_networks;
        // Never past `m` itself, which is inside its own window.
        while within[tail].minute <= m.minute - window {
            sum -= within[tail].new_networks;
            tail += 1;
        }
        sites = sites.max(sum);
    }

    let mut top = 0u64;
    let mut end = last;
    while end >= first {
        // The latest minute with figures in the window ending at `end`: no
        // report came after it within the window, so its window holds all
        // of that window's reports from the event.
        top += minutes
            .iter()
            .rev()
            .find(|m| m.minute <= end && m.minute > end - window)
            .map_or(0, |m| m.top_provider);
        end -= window;
    }

    let excess = event.excess;
    let share = if excess > 0.0 {
        (top as f64 / excess).min(1.0)
    } else if top > 0 {
        1.0
    } else {
        0.0
    };
    let imported = event.total.saturating_sub(addressed);
    let judged = (imported as f64) < excess;
    EventNetworks {
        networks: sites as i64,
        top_network_share: share,
        concentrated: judged
            && (sites < u64::from(policy.min_networks) || share > policy.max_share),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::{OpenReason, Severity};

    const POLICY: GatePolicy = GatePolicy {
        min_networks: 10,
        max_share: 0.5,
        window_secs: 900,
    };

    /// An event over minutes `[from, to)` (minute indexes) with this excess
    /// and total.
    fn event(from: i64, to: i64, total: u64, excess: f64) -> Event {
        Event {
            id: 1,
            started_at: from * 60,
            detected_at: from * 60 + 60,
            opened_by: OpenReason::Extreme,
            peak_at: from * 60,
            peak: 10.0,
            peak_baseline: 1.0,
            ended_at: to * 60,
            resolved_at: None,
            total,
            excess,
            expected: total as f64 - excess,
            severity: Severity::Minor,
            waves: Vec::new(),
        }
    }

    fn minute(i: i64, reports: u64, new_networks: u64, top_provider: u64) -> NetworkMinute {
        NetworkMinute {
            minute: i * 60,
            reports,
            new_networks,
            top_provider,
        }
    }

    #[test]
    fn a_crowd_passes_and_one_block_or_few_sites_do_not() {
        // 10 minutes of 200 reports: 30 new sites a minute, one block at
        // most 40 reports in any window.
        let crowd: Vec<_> = (100..110).map(|i| minute(i, 200, 30, 40)).collect();
        let e = event(100, 110, 2000, 1990.0);
        let j = judge(&POLICY, &crowd, &e);
        assert_eq!(j.networks, 300);
        assert!(!j.concentrated, "{j:?}");
        // The same reports from one /16: the top is all of them.
        let one_block: Vec<_> = (100..110)
            .map(|i| minute(i, 200, 15, 200 * (i - 99) as u64))
            .collect();
        let j = judge(&POLICY, &one_block, &e);
        assert_eq!(j.top_network_share, 1.0);
        assert!(j.concentrated);
        // Three sites in three blocks: no block has half, but three sites.
        let few: Vec<_> = (100..110)
            .map(|i| minute(i, 200, u64::from(i == 100) * 3, 70 * (i - 99) as u64 / 10))
            .collect();
        let j = judge(&POLICY, &few, &e);
        assert_eq!(j.networks, 3);
        assert!(j.top_network_share <= 0.5 && j.concentrated, "{j:?}");
    }

    #[test]
    fn sites_are_counted_within_one_window_at_a_time() {
        // 20 minutes, 1 new site each: no window of 15 minutes holds more
        // than 15 of them, whatever the event's length.
        let minutes: Vec<_> = (0..20).map(|i| minute(i, 1, 1, 1)).collect();
        let j = judge(&POLICY, &minutes, &event(0, 20, 20, 18.0));
        assert_eq!(j.networks, 15);
        // Minutes before the event are not its sites.
        let j = judge(&POLICY, &minutes, &event(10, 20, 10, 9.0));
        assert_eq!(j.networks, 10);
    }

    #[test]
    fn the_share_adds_one_top_per_window_over_a_long_event() {
        // 30 minutes; the top of each window is read at its last minute.
        let mut minutes: Vec<_> = (0..30).map(|i| minute(i, 10, 2, 0)).collect();
        minutes[14].top_provider = 7; // window ending at minute 14
        minutes[29].top_provider = 5; // window ending at minute 29
        let j = judge(&POLICY, &minutes, &event(0, 30, 300, 240.0));
        assert_eq!(j.top_network_share, 12.0 / 240.0);
        // A window whose last minutes had no report: the latest minute with
        // figures stands for it.
        minutes.truncate(26);
        let j = judge(&POLICY, &minutes, &event(0, 30, 260, 240.0));
        assert_eq!(
            j.top_network_share,
            7.0 / 240.0,
            "minutes 25 then 14: 0 + 7"
        );
    }

    #[test]
    fn imported_history_that_makes_up_the_excess_is_not_judged() {
        // No figures at all: every report was imported.
        let e = event(0, 10, 500, 450.0);
        let j = judge(&POLICY, &[], &e);
        assert_eq!((j.networks, j.top_network_share), (0, 0.0));
        assert!(!j.concentrated);
        // A few live reports beside it change nothing.
        let j = judge(&POLICY, &[minute(3, 5, 1, 5)], &e);
        assert!(!j.concentrated);
        // Live reports that are most of the excess are judged.
        let j = judge(&POLICY, &[minute(3, 400, 1, 400)], &e);
        assert!(j.concentrated);
    }

    #[test]
    fn a_share_of_one_is_never_over_the_largest_setting() {
        let all = GatePolicy {
            max_share: 1.0,
            min_networks: 1,
            ..POLICY
        };
        let j = judge(&all, &[minute(0, 50, 1, 50)], &event(0, 1, 50, 20.0));
        assert_eq!(j.top_network_share, 1.0);
        assert!(!j.concentrated);
    }
}

//! Incidents: when one failure breaks many services, the outages it causes are
//! grouped into one incident with a likely cause, and each outage carries an
//! attribution (upstream, epicentre, spillover or independent) with a
//! confidence and its evidence in words.
//!
//! Pure, like the detector it sits above: no clock, no I/O. It reads the
//! outage events open or recently resolved across services and the providers
//! each service declared ([`Facts`]), and returns groupings and attributions.
//! It is separate from `detect` because the detector sees one series and this
//! pass sees them all; the monitor calls it once a minute, stores what it
//! returns and announces the changes.
//!
//! - [`facts`]: what a pass reads: services, their declared providers, outages;
//! - [`attribute`]: one pass from scratch: upstream links, epicentres and their
//!   followers, the kinds, confidences and evidence;
//! - [`assignment`]: the pass each minute against the previous assignment:
//!   incident ids that persist, and the list of what changed.
//!
//! The model, its settings and how confidence is computed are in
//! `docs/incidents.md`.

pub mod assignment;
pub mod attribute;
pub mod facts;

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;

pub use assignment::{
    reassess, Assignment, Change, Incident, IncidentId, IncidentStatus, Placement,
};
pub use attribute::{attribute, Attribution, AttributionKind, Group, Grouping};
pub use facts::{Facts, OutageFact, OutageId, ServiceFacts, ServiceId};

use serde::{Deserialize, Serialize};

/// The settings of the incident pass. [`IncidentSettings::default`] gives the
/// documented defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentSettings {
    /// How many outages, the epicentre included, make an incident when only
    /// timing links them. Two outages beginning together happen by chance
    /// among thousands of services; three rarely do. A declared dependency
    /// needs no quorum: a provider and one dependent that declared it make an
    /// incident.
    pub min_outages: usize,
    /// How many minutes after the epicentre's first abnormal minute another
    /// outage may begin and still follow it. Dependents of a failed provider
    /// spike within minutes; an outage that begins later is its own.
    pub window_minutes: f64,
    /// Outages that began this close (minutes) began together: the detector
    /// places a first abnormal minute to within a minute or two, so an order
    /// inside this margin is not evidence of cause.
    pub simultaneous_minutes: f64,
    /// A follower whose excess at its peak stays below this share of the
    /// epicentre's excess at its peak is a candidate for spillover (people
    /// reporting a service because they cannot reach the one that failed:
    /// 3-8% of the real outage's peak).
    pub spillover_share: f64,
    /// ...and only if it rose less than this many times its own normal: a
    /// service whose reports rise tenfold is down itself, whatever the numbers.
    pub spillover_max_rise: f64,
    /// Floor of the normal (reports per minute) a rise is measured against, so
    /// that a nearly silent service does not rise a thousandfold on a dozen
    /// reports and claim to be the epicentre.
    pub rise_floor: f64,
    /// How long (minutes) a resolved outage stays in the pass: long enough to
    /// keep the cause of an incident whose dependents recover later. A member
    /// of an open incident stays regardless.
    pub retain_minutes: f64,
}

impl Default for IncidentSettings {
    fn default() -> Self {
        Self {
            min_outages: 3,
            window_minutes: 15.0,
            simultaneous_minutes: 2.0,
            spillover_share: 0.10,
            spillover_max_rise: 10.0,
            rise_floor: 1.0,
            retain_minutes: 120.0,
        }
    }
}

impl IncidentSettings {
    pub(crate) fn window_secs(&self) -> i64 {
        (self.window_minutes * 60.0).round() as i64
    }

    pub(crate) fn simultaneous_secs(&self) -> i64 {
        (self.simultaneous_minutes * 60.0).round() as i64
    }

    pub(crate) fn retain_secs(&self) -> i64 {
        (self.retain_minutes * 60.0).round() as i64
    }
}

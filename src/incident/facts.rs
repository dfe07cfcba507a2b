//! What the incident pass is told: each service's name and declared providers,
//! and each outage event that is open or recently resolved, reduced to the few
//! numbers attribution reads (when it began, its peak and its normal at the
//! peak, whether it is still open).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A service, by its catalog id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ServiceId(pub i64);

/// One outage event: its service and the detector's per-series sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OutageId {
    pub service: ServiceId,
    pub event: u64,
}

/// What attribution reads of one outage event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutageFact {
    pub id: OutageId,
    /// Start of the first abnormal minute (unix seconds): the event's `started_at`.
    pub began_at: i64,
    /// Highest reports per minute so far.
    pub peak: f64,
    /// The baseline (normal reports per minute) at the peak.
    pub peak_baseline: f64,
    /// End of the quiet period that closed the event; `None` while it is open.
    pub resolved_at: Option<i64>,
}

impl OutageFact {
    pub fn is_open(&self) -> bool {
        self.resolved_at.is_none()
    }

    /// Was the outage open at `t`? An outage is open from its first abnormal
    /// minute until it resolves.
    pub fn open_at(&self, t: i64) -> bool {
        self.began_at <= t && self.resolved_at.is_none_or(|r| t < r)
    }

    /// Reports per minute above normal at the peak.
    pub fn excess(&self) -> f64 {
        (self.peak - self.peak_baseline).max(0.0)
    }

    /// How many times its normal the outage rose to: the peak over the
    /// baseline at the peak, the baseline floored at `floor` reports per
    /// minute so that a service that is nearly silent does not rise a
    /// thousandfold on a dozen reports.
    pub fn rise(&self, floor: f64) -> f64 {
        let normal = self.peak_baseline.max(floor).max(f64::MIN_POSITIVE);
        let rise = self.peak / normal;
        if rise.is_finite() {
            rise.max(0.0)
        } else {
            0.0
        }
    }
}

/// What the catalog says of one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceFacts {
    /// The name people read ("AWS"), used in the evidence.
    pub name: String,
    /// The providers the service declared it depends on (`depends_on`).
    pub depends_on: Vec<ServiceId>,
}

/// Everything one pass reads: the services and the outages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Facts {
    pub services: BTreeMap<ServiceId, ServiceFacts>,
    /// Outages open or resolved recently; the order does not matter.
    pub outages: Vec<OutageFact>,
}

impl Facts {
    /// The name of a service, or its id when the catalog does not know it.
    pub fn name(&self, service: ServiceId) -> String {
        self.services
            .get(&service)
            .map_or_else(|| format!("service {}", service.0), |s| s.name.clone())
    }

    /// Did `service` declare `provider` as one it depends on?
    pub fn declares(&self, service: ServiceId, provider: ServiceId) -> bool {
        self.services
            .get(&service)
            .is_some_and(|s| s.depends_on.contains(&provider))
    }

    /// The providers `service` declared.
    pub fn providers(&self, service: ServiceId) -> &[ServiceId] {
        self.services
            .get(&service)
            .map_or(&[], |s| s.depends_on.as_slice())
    }
}

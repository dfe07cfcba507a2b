//! What the process asks of the operating system: room for its descriptors.

use serde::Serialize;

/// This process's limit on open descriptors, before and after
/// [`raise_descriptor_limit`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DescriptorLimit {
    pub soft_before: u64,
    pub soft: u64,
    pub hard: u64,
    /// What the caller expects to need.
    pub needed: u64,
}

impl DescriptorLimit {
    /// The soft limit was raised.
    pub fn raised(&self) -> bool {
        self.soft > self.soft_before
    }

    /// The soft limit, raised or not, is below what is needed.
    pub fn short(&self) -> bool {
        self.soft < self.needed
    }
}

/// Raises this process's soft limit on open descriptors to its hard limit
/// when the soft one is below `needed`. Every open connection is a
/// descriptor (a watched one two, see `api::conn_watch`), many shells and
/// service managers start programs with a soft limit of 1024 under a hard
/// one far higher, and past the soft limit `accept` fails with `EMFILE`
/// and reads cannot open the database. The hard limit is not raised: only
/// root may, and the operator decides it (`ulimit -Hn`, systemd's
/// `LimitNOFILE`). Go's runtime does the same at every start.
pub fn raise_descriptor_limit(needed: u64) -> DescriptorLimit {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let limit = getrlimit(Resource::Nofile);
    let unlimited = u64::MAX;
    let soft_before = limit.current.unwrap_or(unlimited);
    let hard = limit.maximum.unwrap_or(unlimited);
    let mut soft = soft_before;
    if soft < needed {
        let mut raised = limit;
        raised.current = limit.maximum;
        if setrlimit(Resource::Nofile, raised).is_ok() {
            soft = hard;
        }
    }
    DescriptorLimit {
        soft_before,
        soft,
        hard,
        needed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_already_high_enough_is_left_alone() {
        let now = raise_descriptor_limit(0);
        assert_eq!(now.soft, now.soft_before);
        assert!(!now.raised() && !now.short());
        assert!(now.soft <= now.hard);
        let raised = raise_descriptor_limit(now.hard);
        assert_eq!(raised.soft, raised.hard);
    }
}

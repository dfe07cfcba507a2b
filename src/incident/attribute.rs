//! One pass from scratch over the outages it is given: which outages follow
//! which, grouped under one cause, and each outage's attribution.
//!
//! 1. **Upstream links.** An outage of a service that declared a provider
//!    follows the provider's outage that was open when it began and began
//!    before it (or together with it, within `simultaneous_minutes`); with
//!    several, the one that began first. Links that would close a loop (two
//!    services that declare each other) are cut at the outage that rose most.
//! 2. **Epicentres.** Among the outages left without a link (the roots), an
//!    epicentre is one that nothing beginning in the `window_minutes` before
//!    it, or together with it, out-rose relative to its normal.
//! 3. **Followers.** Every other root that began together with an epicentre
//!    or within `window_minutes` after it, and rose less, follows the
//!    epicentre that rose most among those; a follower that stays below
//!    `spillover_share` of the epicentre's excess and `spillover_max_rise`
//!    of its own normal is spillover.
//! 4. **Groups.** An epicentre with everything that follows it, directly or
//!    through upstream links, is a group when it holds `min_outages` outages
//!    or any declared link; the rest, and every outage that no rule links,
//!    is independent.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::facts::{Facts, OutageFact, OutageId};
use super::IncidentSettings;
use crate::detect::vocabulary::vocabulary;

/// How an outage relates to its cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributionKind {
    /// Its service declared the cause's service as a provider, and the
    /// provider's outage was open and began first.
    Upstream,
    /// The incident's epicentre (its cause is itself), or an outage that
    /// followed the epicentre within minutes without a declaration.
    Epicentre,
    /// A small rise after the epicentre's, on a service that does not depend
    /// on it: people reporting what they cannot reach.
    Spillover,
    /// Its own: nothing began with it, it began well apart, or it rose more
    /// than what it might have followed (its cause is itself).
    Independent,
}

vocabulary!(AttributionKind, "attribution kind", {
    Upstream => "upstream",
    Epicentre => "epicentre",
    Spillover => "spillover",
    Independent => "independent",
});

/// Why an outage happened, as far as the pass can tell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    pub kind: AttributionKind,
    /// The outage that explains this one: the provider's (upstream), the
    /// epicentre's (a follower, spillover), or its own (the epicentre itself,
    /// an independent outage).
    pub cause: OutageId,
    /// How sure the pass is, in [0, 1] (docs/incidents.md gives the formula).
    pub confidence: f64,
    /// The evidence in words: "began 4 minutes after AWS; declared dependency".
    pub evidence: String,
}

/// A cause and the outages it explains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// The epicentre's outage.
    pub cause: OutageId,
    /// Every outage of the group, the cause included, in the order they began.
    pub members: Vec<OutageId>,
}

/// What one pass found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Grouping {
    /// The groups, in the order their causes began.
    pub groups: Vec<Group>,
    /// Every outage the pass read, with its attribution.
    pub attributions: BTreeMap<OutageId, Attribution>,
}

/// The most a declared dependency with the right timing says.
const DECLARED: f64 = 0.95;
/// The most timing and size alone say: less than a declaration.
const TIMING_ONLY: f64 = 0.9;

/// Groups and attributes every outage of `facts`.
pub fn attribute(facts: &Facts, settings: &IncidentSettings) -> Grouping {
    Pass::new(facts, settings).run()
}

/// The state of one pass: the outages in the order they began, and what the
/// steps found about each (by index into `outs`).
struct Pass<'a> {
    facts: &'a Facts,
    s: &'a IncidentSettings,
    outs: Vec<&'a OutageFact>,
    rise: Vec<f64>,
    /// The declared provider's outage each outage follows (step 1).
    parent: Vec<Option<usize>>,
    /// The epicentre each root follows (step 3).
    follows: Vec<Option<usize>>,
}

impl<'a> Pass<'a> {
    fn new(facts: &'a Facts, s: &'a IncidentSettings) -> Self {
        let mut outs: Vec<&OutageFact> = facts.outages.iter().collect();
        // One fact per outage (the first given), then in the order they began.
        outs.sort_by_key(|o| o.id);
        outs.dedup_by_key(|o| o.id);
        outs.sort_by_key(|o| (o.began_at, o.id));
        let rise = outs.iter().map(|o| o.rise(s.rise_floor)).collect();
        let n = outs.len();
        Self {
            facts,
            s,
            outs,
            rise,
            parent: vec![None; n],
            follows: vec![None; n],
        }
    }

    fn run(mut self) -> Grouping {
        self.link_upstream();
        self.break_cycles();
        self.link_followers();
        let mut by_top: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for i in 0..self.outs.len() {
            by_top.entry(self.top(i)).or_default().push(i);
        }
        let mut formed: Vec<(usize, Vec<usize>)> = Vec::new();
        let mut loose = Vec::new();
        for (top, members) in by_top {
            let declared = members.iter().any(|&i| self.parent[i].is_some());
            if declared || members.len() >= self.s.min_outages.max(2) {
                formed.push((top, members));
            } else {
                loose.extend(members);
            }
        }
        let mut grouping = Grouping::default();
        for i in loose {
            let a = self.independent(i, &formed);
            grouping.attributions.insert(self.outs[i].id, a);
        }
        for (top, members) in &formed {
            for &i in members {
                let a = self.in_group(i, *top, members.len() - 1);
                grouping.attributions.insert(self.outs[i].id, a);
            }
            grouping.groups.push(Group {
                cause: self.outs[*top].id,
                members: members.iter().map(|&i| self.outs[i].id).collect(),
            });
        }
        grouping
    }

    /// `Less` when outage `a` ranks above `b`: it rose more relative to its
    /// normal; then it began first; then the smaller id.
    fn rank(&self, a: usize, b: usize) -> Ordering {
        self.rise[b]
            .total_cmp(&self.rise[a])
            .then(self.outs[a].began_at.cmp(&self.outs[b].began_at))
            .then(self.outs[a].id.cmp(&self.outs[b].id))
    }

    fn ranks_above(&self, a: usize, b: usize) -> bool {
        self.rank(a, b) == Ordering::Less
    }

    /// Step 1: each outage's declared provider outage, if one qualifies.
    fn link_upstream(&mut self) {
        let sim = self.s.simultaneous_secs();
        for i in 0..self.outs.len() {
            let o = self.outs[i];
            let providers = self.facts.providers(o.id.service);
            if providers.is_empty() {
                continue;
            }
            self.parent[i] = (0..self.outs.len())
                .filter(|&j| {
                    let p = self.outs[j];
                    p.id.service != o.id.service
                        && providers.contains(&p.id.service)
                        && p.began_at <= o.began_at + sim
                        && p.resolved_at.is_none_or(|r| r > o.began_at)
                })
                .min_by(|&a, &b| {
                    self.outs[a]
                        .began_at
                        .cmp(&self.outs[b].began_at)
                        .then(self.rank(a, b))
                });
        }
    }

    /// Cuts every loop of upstream links at the outage that ranks highest.
    fn break_cycles(&mut self) {
        let n = self.outs.len();
        // 0: not seen, 1: on the walk being followed, 2: done.
        let mut state = vec![0u8; n];
        for start in 0..n {
            let mut path = Vec::new();
            let mut v = start;
            loop {
                if state[v] == 2 {
                    break;
                }
                if state[v] == 1 {
                    let from = path.iter().position(|&x| x == v).unwrap_or(0);
                    let cycle: &[usize] = &path[from..];
                    if let Some(&head) = cycle.iter().min_by(|&&a, &&b| self.rank(a, b)) {
                        self.parent[head] = None;
                    }
                    break;
                }
                state[v] = 1;
                path.push(v);
                match self.parent[v] {
                    Some(p) => v = p,
                    None => break,
                }
            }
            for x in path {
                state[x] = 2;
            }
        }
    }

    /// Steps 2 and 3: the epicentres among the roots, and whom each other
    /// root follows.
    fn link_followers(&mut self) {
        let (w, sim) = (self.s.window_secs(), self.s.simultaneous_secs());
        let roots: Vec<usize> = (0..self.outs.len())
            .filter(|&i| self.parent[i].is_none())
            .collect();
        let began = |i: usize| self.outs[i].began_at;
        let epicentres: Vec<usize> = roots
            .iter()
            .copied()
            .filter(|&e| {
                !roots.iter().any(|&f| {
                    f != e
                        && began(f) >= began(e) - w
                        && began(f) <= began(e) + sim
                        && self.ranks_above(f, e)
                })
            })
            .collect();
        for &o in &roots {
            if epicentres.contains(&o) {
                continue;
            }
            self.follows[o] = epicentres
                .iter()
                .copied()
                .filter(|&e| {
                    began(o) >= began(e) - sim && began(o) <= began(e) + w && self.ranks_above(e, o)
                })
                .min_by(|&a, &b| self.rank(a, b));
        }
    }

    /// The root an outage's upstream links lead to.
    fn root(&self, mut i: usize) -> usize {
        // Links are acyclic after `break_cycles`; the bound is a guard.
        for _ in 0..self.outs.len() {
            match self.parent[i] {
                Some(p) => i = p,
                None => break,
            }
        }
        i
    }

    /// The epicentre an outage's group would have: its root's, or its root.
    fn top(&self, i: usize) -> usize {
        let r = self.root(i);
        self.follows[r].unwrap_or(r)
    }

    fn name(&self, i: usize) -> String {
        self.facts.name(self.outs[i].id.service)
    }

    /// Minutes from `cause`'s first abnormal minute to `i`'s.
    fn lag_minutes(&self, i: usize, cause: usize) -> i64 {
        (self.outs[i].began_at - self.outs[cause].began_at).div_euclid(60)
    }

    /// "began 4 minutes after AWS", "began in the same minute as AWS".
    fn began_phrase(&self, i: usize, cause: usize) -> String {
        let lag = self.lag_minutes(i, cause);
        let name = self.name(cause);
        let minutes = |m: i64| {
            if m == 1 {
                "1 minute".to_string()
            } else {
                format!("{m} minutes")
            }
        };
        match lag.cmp(&0) {
            Ordering::Equal => format!("began in the same minute as {name}"),
            Ordering::Greater => format!("began {} after {name}", minutes(lag)),
            Ordering::Less => format!("began {} before {name}", minutes(-lag)),
        }
    }

    /// How much the order in time supports `cause` causing `i`: 1 when `i`
    /// began 1 to `window_minutes` after it; 0.6 in the same minute and 0.4
    /// just before (the order is within the detector's margin); after the
    /// window (a declared provider only) it falls to 0.5 over three windows.
    fn timing(&self, i: usize, cause: usize) -> f64 {
        let lag = self.lag_minutes(i, cause) as f64;
        let w = self.s.window_minutes.max(1.0);
        if lag < 0.0 {
            0.4
        } else if lag < 1.0 {
            0.6
        } else if lag <= w {
            1.0
        } else {
            (1.0 - 0.5 * (lag - w) / (3.0 * w)).max(0.5)
        }
    }

    /// The attribution of outage `i` in the group of epicentre `top` with
    /// `followers` outages besides it.
    fn in_group(&self, i: usize, top: usize, followers: usize) -> Attribution {
        let crowd = followers as f64 / (followers as f64 + 1.0);
        if i == top {
            return self.epicentre(i, crowd, followers);
        }
        if let Some(p) = self.parent[i] {
            return Attribution {
                kind: AttributionKind::Upstream,
                cause: self.outs[p].id,
                confidence: clamp01(DECLARED * self.timing(i, p)),
                evidence: format!("{}; declared dependency", self.began_phrase(i, p)),
            };
        }
        let (o, e) = (self.outs[i], self.outs[top]);
        let share = if e.excess() > 0.0 {
            o.excess() / e.excess()
        } else {
            f64::INFINITY
        };
        let (s_max, r_max) = (self.s.spillover_share, self.s.spillover_max_rise);
        if share < s_max && self.rise[i] < r_max {
            let margin = (1.0 - share / s_max).min(1.0 - self.rise[i] / r_max);
            return Attribution {
                kind: AttributionKind::Spillover,
                cause: e.id,
                confidence: clamp01(TIMING_ONLY * self.timing(i, top) * crowd * (0.5 + 0.5 * margin)),
                evidence: format!(
                    "{}; rose to {:.0}% of its peak ({:.1}x its own normal); no declared dependency",
                    self.began_phrase(i, top),
                    100.0 * share,
                    self.rise[i]
                ),
            };
        }
        let dominance = 1.0 - self.rise[i] / self.rise[top].max(f64::MIN_POSITIVE);
        Attribution {
            kind: AttributionKind::Epicentre,
            cause: e.id,
            confidence: clamp01(
                TIMING_ONLY * self.timing(i, top) * crowd * (0.5 + 0.5 * dominance),
            ),
            evidence: format!(
                "{}; rose {:.0}x its normal against {:.0}x for {}; no declared dependency; \
                 one of {followers} outages that followed it",
                self.began_phrase(i, top),
                self.rise[i],
                self.rise[top],
                self.name(top)
            ),
        }
    }

    /// The attribution of an incident's epicentre.
    fn epicentre(&self, i: usize, crowd: f64, followers: usize) -> Attribution {
        let members: Vec<usize> = (0..self.outs.len())
            .filter(|&j| j != i && self.top(j) == i)
            .collect();
        let runner_up = members.iter().map(|&j| self.rise[j]).fold(0.0, f64::max);
        let dominance = 1.0 - runner_up / self.rise[i].max(f64::MIN_POSITIVE);
        let declared = members
            .iter()
            .filter(|&&j| self.parent[j] == Some(i))
            .count();
        let mut confidence = crowd * (0.5 + 0.5 * dominance);
        let mut evidence = format!(
            "{followers} outages followed it; rose {:.0}x its normal, the most",
            self.rise[i]
        );
        if declared > 0 {
            confidence = confidence.max(DECLARED);
            evidence.push_str(&format!(
                "; {declared} of them declared {} as a provider",
                self.name(i)
            ));
        }
        Attribution {
            kind: AttributionKind::Epicentre,
            cause: self.outs[i].id,
            confidence: clamp01(confidence),
            evidence,
        }
    }

    /// The attribution of an outage that belongs to no group, judged
    /// against the groups `formed` so far.
    fn independent(&self, i: usize, formed: &[(usize, Vec<usize>)]) -> Attribution {
        let o = self.outs[i];
        let overlaps = |j: usize| {
            let p = self.outs[j];
            j != i
                && p.began_at < o.resolved_at.unwrap_or(i64::MAX)
                && o.began_at < p.resolved_at.unwrap_or(i64::MAX)
        };
        let apart = |j: usize| (self.outs[j].began_at - o.began_at).abs();
        // What it is measured against: the nearest overlapping epicentre of a
        // group, else the nearest overlapping outage.
        let near = formed
            .iter()
            .map(|(top, _)| *top)
            .filter(|&j| overlaps(j))
            .min_by_key(|&j| apart(j))
            .or_else(|| {
                (0..self.outs.len())
                    .filter(|&j| overlaps(j))
                    .min_by_key(|&j| apart(j))
            });
        let (confidence, evidence) = match near {
            None => (1.0, "no other outage overlapped it".to_string()),
            Some(j) if apart(j) > self.s.window_secs() => (
                0.8,
                format!(
                    "{}'s outage, more than {} minutes apart",
                    self.began_phrase(i, j),
                    self.s.window_minutes
                ),
            ),
            Some(j) if self.ranks_above(i, j) => (
                0.6,
                format!(
                    "{}; rose {:.0}x its normal against {:.0}x: large on its own",
                    self.began_phrase(i, j),
                    self.rise[i],
                    self.rise[j]
                ),
            ),
            Some(j) => (
                0.6,
                format!(
                    "{}; too few outages began together to make an incident",
                    self.began_phrase(i, j)
                ),
            ),
        };
        Attribution {
            kind: AttributionKind::Independent,
            cause: o.id,
            confidence,
            evidence,
        }
    }
}

fn clamp01(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(0.0, 1.0)
    }
}

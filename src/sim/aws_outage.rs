//! The `aws-outage` scenario: one provider fails and many services fall with
//! it, the way AWS's us-east-1 did on 20 October 2025 from 06:49 UTC.
//!
//! - `aws`, the provider: about one report a minute at that hour, then a
//!   spike to 1,200-2,000 a minute within four minutes, decaying over about
//!   three hours;
//! - 40 dependents (`dep-01` … `dep-40`; the odd ones declare
//!   `depends_on: ["aws"]`, the even ones do not), of sizes spread over a
//!   factor of 16, each spiking 1-8 minutes after the provider to 15-30 times
//!   its own normal, so in proportion to its size;
//! - 5 bystanders (`bystander-1` … `bystander-5`), large services that do not
//!   depend on AWS, whose reports rise by 3-8% of the provider's curve, 1-3
//!   minutes behind it (people reporting what they cannot reach);
//! - `solo`, a service with an outage of its own (20-40 times its normal)
//!   that starts 20-40 minutes before or after the provider's.
//!
//! Every service has a week of background with a daily rhythm before the
//! outage day, so its detector has learned its normal. Each service's series
//! is a [`Scenario`], so it has counts, a CSV and reports like march-2.

use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::scenario::{background_rate, poisson, GroundTruth, Scenario};

/// 2025-10-13 00:00 UTC, a Monday: seven days before the outage.
pub const AWS_START: i64 = 1_760_313_600;
/// 2025-10-20 06:49 UTC: the provider's first outage minute.
pub const AWS_OUTAGE: i64 = AWS_START + 7 * 86_400 + 409 * 60;
/// Simulated span: the background week, the outage day to 06:49 and five hours.
pub const AWS_MINUTES: usize = 7 * 1440 + 409 + 5 * 60;
/// How many dependents, bystanders.
pub const DEPENDENTS: usize = 40;
pub const BYSTANDERS: usize = 5;

/// What a service is in the scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "role")]
pub enum Role {
    /// The provider whose failure causes the rest.
    Provider,
    /// Fails because the provider failed; `declared` when it names the
    /// provider in `depends_on`.
    Dependent { declared: bool },
    /// Does not depend on the provider; a small rise after it.
    Bystander,
    /// An outage of its own in the same hour.
    Independent,
}

/// One service of the scenario and its series.
#[derive(Debug, Clone)]
pub struct SimService {
    /// Catalog id in the scenario (1 is the provider).
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub role: Role,
    /// Slugs of the providers it declares.
    pub depends_on: Vec<String>,
    pub series: Scenario,
}

/// A generated `aws-outage`.
#[derive(Debug, Clone)]
pub struct AwsOutage {
    pub seed: u64,
    /// Provider first, then the dependents, the bystanders and `solo`.
    pub services: Vec<SimService>,
}

/// The shape of a spike over its minutes: from 35% at its first minute up to
/// its peak at minute `ramp`, then down to nothing over `decay` minutes.
fn spike_shape(minute: usize, ramp: usize, decay: usize) -> f64 {
    if minute < ramp {
        0.35 + 0.65 * minute as f64 / ramp as f64
    } else {
        let x = (minute - ramp) as f64 / decay as f64;
        (1.0 - x).max(0.0).powf(1.5)
    }
}

/// A spike's rate (reports per minute) at each minute of the scenario.
struct Spike {
    first: usize,
    peak: f64,
    ramp: usize,
    decay: usize,
}

impl Spike {
    fn rate(&self, i: usize) -> f64 {
        i.checked_sub(self.first)
            .map_or(0.0, |m| self.peak * spike_shape(m, self.ramp, self.decay))
    }
}

/// The seeded `aws-outage` scenario.
pub fn aws_outage(seed: u64) -> AwsOutage {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x6177_735f_6f75_7461);
    let first = ((AWS_OUTAGE - AWS_START) / 60) as usize;
    // The normal rate of a unit-sized service at the outage's minute.
    let normal_now = background_rate(AWS_OUTAGE, 1.0);
    let provider = Spike {
        first,
        peak: rng.gen_range(1200.0..2000.0),
        ramp: 4,
        decay: rng.gen_range(150..=210),
    };
    let mut services = vec![service(
        1,
        "aws",
        "AWS",
        Role::Provider,
        0.6,
        |i| provider.rate(i),
        seed,
    )];
    for k in 1..=DEPENDENTS {
        let declared = k % 2 == 1;
        let size: f64 = rng.gen_range(0.5f64.ln()..8f64.ln()).exp();
        let spike = Spike {
            first: first + rng.gen_range(1..=8),
            peak: size * normal_now * rng.gen_range(15.0..30.0),
            ramp: rng.gen_range(2..=4),
            decay: rng.gen_range(60..=150),
        };
        let mut s = service(
            1 + k as i64,
            &format!("dep-{k:02}"),
            &format!("Dependent {k:02}"),
            Role::Dependent { declared },
            size,
            |i| spike.rate(i),
            seed,
        );
        if declared {
            s.depends_on.push("aws".into());
        }
        services.push(s);
    }
    for k in 1..=BYSTANDERS {
        let size = rng.gen_range(20.0..35.0);
        let share = rng.gen_range(0.03..0.08);
        let lag: usize = rng.gen_range(1..=3);
        services.push(service(
            (1 + DEPENDENTS + k) as i64,
            &format!("bystander-{k}"),
            &format!("Bystander {k}"),
            Role::Bystander,
            size,
            |i| share * i.checked_sub(lag).map_or(0.0, |j| provider.rate(j)),
            seed,
        ));
    }
    let size = rng.gen_range(1.0..3.0);
    let offset: usize = rng.gen_range(20..=40);
    let solo = Spike {
        first: if rng.gen_bool(0.5) {
            first - offset
        } else {
            first + offset
        },
        peak: size * normal_now * rng.gen_range(20.0..40.0),
        ramp: 3,
        decay: rng.gen_range(40..=80),
    };
    services.push(service(
        (2 + DEPENDENTS + BYSTANDERS) as i64,
        "solo",
        "Solo",
        Role::Independent,
        size,
        |i| solo.rate(i),
        seed,
    ));
    AwsOutage { seed, services }
}

/// One service's series: background of `size` times a unit service's rhythm,
/// with each day's own mood, and Poisson draws of the `outage` rate.
fn service(
    id: i64,
    slug: &str,
    name: &str,
    role: Role,
    size: f64,
    outage: impl Fn(usize) -> f64,
    seed: u64,
) -> SimService {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(1_000_003) ^ ((id as u64) << 40));
    let days = AWS_MINUTES.div_ceil(1440);
    let moods: Vec<f64> = (0..days).map(|_| rng.gen_range(0.9..1.1)).collect();
    let minute_starts: Vec<i64> = (0..AWS_MINUTES as i64)
        .map(|i| AWS_START + 60 * i)
        .collect();
    let background: Vec<u64> = minute_starts
        .iter()
        .enumerate()
        .map(|(i, &t)| poisson(&mut rng, size * background_rate(t, moods[i / 1440])))
        .collect();
    let injected: Vec<u64> = (0..AWS_MINUTES)
        .map(|i| poisson(&mut rng, outage(i)))
        .collect();
    let first = injected.iter().position(|&n| n > 0);
    let last = injected.iter().rposition(|&n| n > 0);
    let start_of = |i: Option<usize>| i.and_then(|i| minute_starts.get(i).copied());
    let truth = GroundTruth {
        first_abnormal_minute: start_of(first).unwrap_or(AWS_OUTAGE),
        waves: match (start_of(first), start_of(last)) {
            (Some(a), Some(b)) => vec![(a, b + 60)],
            _ => Vec::new(),
        },
        injected_reports: injected.iter().sum(),
    };
    SimService {
        id,
        slug: slug.to_string(),
        name: name.to_string(),
        role,
        depends_on: Vec::new(),
        series: Scenario {
            service: slug.to_string(),
            seed,
            minute_starts,
            background,
            outage: injected,
            truth,
        },
    }
}

/// The catalog line of a service, as `services.json` lists it.
#[derive(Debug, Serialize)]
pub struct CatalogLine<'a> {
    pub slug: &'a str,
    pub name: &'a str,
    pub depends_on: &'a [String],
    #[serde(flatten)]
    pub role: Role,
    /// Start of its first outage minute (unix seconds), if it has one.
    pub first_abnormal_minute: Option<i64>,
    pub injected_reports: u64,
}

impl AwsOutage {
    /// Writes each service's per-minute counts to `<slug>.csv` in `dir` (a
    /// folder `downwave backtest --input` reads) and the catalog to
    /// `services.json`; returns how many CSV files it wrote.
    pub fn write_csv_dir(&self, dir: &Path) -> std::io::Result<usize> {
        std::fs::create_dir_all(dir)?;
        for s in &self.services {
            std::fs::write(dir.join(format!("{}.csv", s.slug)), s.series.counts_csv())?;
        }
        let catalog =
            serde_json::to_string_pretty(&self.catalog()).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("services.json"), catalog + "\n")?;
        Ok(self.services.len())
    }

    /// The scenario from `minutes` before the provider's first outage minute
    /// on: the same services, outages and ground truth with less background
    /// before them. A detector needs an hour of history before it opens
    /// anything (`warmup_minutes`), not a week; a shorter history is what
    /// makes the scenario cheap enough to import on every demo start.
    pub fn with_history(&self, minutes: i64) -> AwsOutage {
        let from = AWS_OUTAGE - 60 * minutes;
        AwsOutage {
            seed: self.seed,
            services: self
                .services
                .iter()
                .map(|s| SimService {
                    id: s.id,
                    slug: s.slug.clone(),
                    name: s.name.clone(),
                    role: s.role,
                    depends_on: s.depends_on.clone(),
                    series: s.series.between(from, i64::MAX),
                })
                .collect(),
        }
    }

    /// The provider.
    pub fn provider(&self) -> &SimService {
        &self.services[0]
    }

    /// The catalog: each service's slug, name, declared providers and role.
    pub fn catalog(&self) -> Vec<CatalogLine<'_>> {
        self.services
            .iter()
            .map(|s| CatalogLine {
                slug: &s.slug,
                name: &s.name,
                depends_on: &s.depends_on,
                role: s.role,
                first_abnormal_minute: (s.series.truth.injected_reports > 0)
                    .then_some(s.series.truth.first_abnormal_minute),
                injected_reports: s.series.truth.injected_reports,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_outage_has_the_promised_shape() {
        let a = aws_outage(0);
        assert_eq!(a.services.len(), 1 + DEPENDENTS + BYSTANDERS + 1);
        let p = a.provider();
        assert_eq!(p.series.truth.first_abnormal_minute, AWS_OUTAGE);
        let peak = |s: &SimService| s.series.outage.iter().copied().max().unwrap_or(0) as f64;
        let normal = |s: &SimService| {
            let i = ((AWS_OUTAGE - AWS_START) / 60) as usize;
            s.series.background[i - 60..i].iter().sum::<u64>() as f64 / 60.0
        };
        assert!((1100.0..2200.0).contains(&peak(p)), "{}", peak(p));
        let mut declared = 0;
        for s in &a.services {
            let lag = (s.series.truth.first_abnormal_minute - AWS_OUTAGE) / 60;
            match s.role {
                Role::Dependent { declared: d } => {
                    declared += usize::from(d);
                    assert_eq!(d, s.depends_on == ["aws"]);
                    assert!((1..=8).contains(&lag), "{} lag {lag}", s.slug);
                    let rise = peak(s) / normal(s).max(0.5);
                    assert!(rise > 8.0, "{} rose {rise}", s.slug);
                }
                Role::Bystander => {
                    assert!(s.depends_on.is_empty());
                    assert!((1..=3).contains(&lag), "{} lag {lag}", s.slug);
                    let share = peak(s) / peak(p);
                    assert!((0.02..0.1).contains(&share), "{} share {share}", s.slug);
                }
                Role::Independent => {
                    assert!((20..=40).contains(&lag.abs()), "solo lag {lag}");
                }
                Role::Provider => {}
            }
        }
        assert_eq!(declared, DEPENDENTS / 2);
        // Seeded: the same seed, the same counts; another seed, others.
        assert_eq!(
            aws_outage(0).services[7].series.counts(),
            a.services[7].series.counts()
        );
        assert_ne!(
            aws_outage(1).services[7].series.counts(),
            a.services[7].series.counts()
        );
    }
}

//! The outage detector. Pure: no clock, no I/O, no allocation per bucket. Fed one
//! closed bucket at a time per series, it keeps a baseline that knows the time of
//! day (and the weekday once it has weeks of data), scores each bucket with the
//! negative-binomial upper tail, and runs the event state machine with its waves.
//!
//! - [`params`]: every knob, in minutes, with the one set of defaults;
//! - [`baseline`]: level × daily profile × weekly factor, and the dispersion;
//! - [`rise`]: the relative-rise path (window sum vs the median window sum);
//! - [`score`]: tail probabilities, z-score, the dashboard band;
//! - [`sample`]: Poisson draws for simulations and tests;
//! - [`event`]: events, waves, severity;
//! - [`threshold`]: each opening path's per-series threshold, from the series' own
//!   normal episodes and the false-event budget;
//! - [`series`]: the per-series state machine the server calls.
//!
//! Persistence: [`SeriesState`] is serde-serialisable; restore with
//! [`SeriesDetector::from_state`], or rebuild with [`SeriesDetector::replay`].
//!
//! A [`Tuning`] (the parameters turned into per-step constants) is built once per
//! parameter set and bucket step and passed to every detector call, so 100,000
//! detectors share one copy that stays in cache.

pub mod baseline;
pub mod event;
pub mod params;
pub mod rise;
pub mod sample;
pub mod score;
pub mod series;
pub mod threshold;
pub mod vocabulary;
mod window;

#[cfg(test)]
mod properties;

pub use event::{Event, EventChange, EventStatus, OpenReason, Severity, Wave};
pub use params::{DetectorParams, Tuning, TuningError};
pub use series::{Observation, RestoreError, SeriesDetector, SeriesState, Status};

//! Everything that drives downwave from outside: the seeded scenario generators
//! (the March-2 outage; a provider outage across 47 services, `aws_outage`,
//! and the incident pass judged on it, `incident_acceptance`), the backtest over CSV files, the NAB scorer used to
//! grade backtests on labelled data, the leave-one-series-out cross-validation
//! over both development sets, the HTTP load generator, the soak (the real
//! binary under load, killed and restarted, its promises checked), and the
//! crowd (an outage's live viewers, visitors and reports on one server).

pub mod acceptance;
pub mod aws_outage;
pub mod backtest;
pub mod bench;
pub mod controls;
pub mod crossval;
pub mod crowd;
pub mod demo;
pub mod incident_acceptance;
pub mod loadgen;
pub mod nab;
pub mod replay;
pub mod scenario;
pub mod soak;

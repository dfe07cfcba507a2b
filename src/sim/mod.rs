//! Tools that drive downwave from outside: the HTTP load generator (and, with
//! the detector, scenarios and backtests).

pub mod loadgen;

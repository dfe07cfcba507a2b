//! Integration tests: the real server on port 0, a fresh database per test,
//! on SQLite or, with `DOWNWAVE_TEST_BACKEND=postgres`, on PostgreSQL
//! (`backend`).

mod announcements;
mod backend;
mod browser;
mod clients;
mod cluster;
mod connections;
mod crowd;
mod dashboard;
mod demo;
mod docs;
mod durability;
mod events;
mod health;
mod helpers;
mod incidents;
mod layout;
mod live;
mod maintenance;
mod migrate;
mod networks;
mod partitions;
mod process;
mod receiver;
mod reports;
mod series;
mod services;
mod tls;
mod webhooks;

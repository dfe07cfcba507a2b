//! A small pool of read-only connections.
//!
//! Reads run on actix's blocking threads (`web::block`); each takes a
//! connection from here and gives it back. At most `max_idle` connections are
//! kept; a burst beyond that opens extra ones that close when returned.

use super::{open_reader, Db, Location, OpenOptions, StoreError};
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct ReadPool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    at: Location,
    opts: OpenOptions,
    /// Connections not in use right now.
    idle: Mutex<Vec<Db>>,
    max_idle: usize,
}

impl ReadPool {
    pub fn new(at: Location, opts: OpenOptions, max_idle: usize) -> Self {
        ReadPool {
            inner: Arc::new(PoolInner {
                at,
                opts,
                idle: Mutex::new(Vec::new()),
                max_idle,
            }),
        }
    }

    /// Runs `f` with a read connection. Blocking: call it from a blocking thread.
    pub fn with<T>(&self, f: impl FnOnce(&Db) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let taken = self.inner.idle.lock().ok().and_then(|mut v| v.pop());
        let conn = match taken {
            Some(c) => c,
            None => open_reader(&self.inner.at, &self.inner.opts)?,
        };
        let out = f(&conn);
        if let Ok(mut idle) = self.inner.idle.lock() {
            if idle.len() < self.inner.max_idle {
                idle.push(conn);
            }
        }
        out
    }
}

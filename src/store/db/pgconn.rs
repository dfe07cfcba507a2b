//! PostgreSQL connections, driven by one I/O runtime of the process.
//!
//! The store is synchronous: a query blocks its caller until the answer is
//! in, whatever thread the caller is (the writer's, a blocking thread of the
//! API, a test's runtime). Each connection's protocol runs as a task on the
//! `postgres-io` runtime, and a call hands it its statement and waits on a
//! channel for the rows: blocking a thread, never blocking a runtime from
//! inside another.

use super::pgtls::Target;
use super::value::PgOwned;
use super::{to_dollars, DbError, Param};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row, Statement};

/// The runtime every PostgreSQL connection of the process runs on, made on
/// first use and kept for the life of the process.
fn io() -> &'static tokio::runtime::Handle {
    static IO: OnceLock<tokio::runtime::Handle> = OnceLock::new();
    IO.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("postgres-io")
            .enable_all()
            .build()
            .expect("the PostgreSQL I/O runtime starts (is the process out of threads?)");
        Box::leak(Box::new(runtime)).handle().clone()
    })
}

/// Runs `work` on the I/O runtime and waits for its result.
fn wait<T: Send + 'static>(work: impl Future<Output = T> + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    io().spawn(async move {
        let _ = tx.send(work.await);
    });
    rx.recv()
        .expect("the PostgreSQL I/O runtime finishes every task it is given")
}

/// One connection, its prepared statements, and what it was opened with,
/// to open it again if the server closed it.
pub(super) struct PgConn {
    target: Target,
    client: Arc<Client>,
    statements: HashMap<String, Statement>,
}

impl PgConn {
    pub(super) fn connect(url: &str) -> Result<PgConn, DbError> {
        let target = super::pgtls::target(url)?;
        Ok(PgConn {
            client: Arc::new(open(&target)?),
            target,
            statements: HashMap::new(),
        })
    }

    /// The client, opened again (without its statements) if the server
    /// closed it: a restarted or failed-over server costs one failed call,
    /// not the connection for good.
    fn client(&mut self) -> Result<Arc<Client>, DbError> {
        if self.client.is_closed() {
            self.client = Arc::new(open(&self.target)?);
            self.statements.clear();
        }
        Ok(self.client.clone())
    }

    fn statement(&mut self, sql: &str) -> Result<Statement, DbError> {
        let client = self.client()?;
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let text = to_dollars(sql);
        let s = wait(async move { client.prepare(&text).await })?;
        self.statements.insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    pub(super) fn query(&mut self, sql: &str, params: &[&dyn Param]) -> Result<Vec<Row>, DbError> {
        let statement = self.statement(sql)?;
        let client = self.client()?;
        let owned = owned(params);
        Ok(wait(async move {
            client.query(&statement, &refs(&owned)).await
        })?)
    }

    pub(super) fn execute(&mut self, sql: &str, params: &[&dyn Param]) -> Result<u64, DbError> {
        let statement = self.statement(sql)?;
        let client = self.client()?;
        let owned = owned(params);
        Ok(wait(async move {
            client.execute(&statement, &refs(&owned)).await
        })?)
    }

    pub(super) fn batch_execute(&mut self, sql: &str) -> Result<(), DbError> {
        let client = self.client()?;
        let sql = sql.to_owned();
        Ok(wait(async move { client.batch_execute(&sql).await })?)
    }
}

fn open(target: &Target) -> Result<Client, DbError> {
    let (config, tls) = (target.config.clone(), target.tls.clone());
    Ok(wait(async move {
        let client = match tls {
            Some(tls) => {
                let (client, connection) = config.connect(tls).await?;
                tokio::spawn(drive(connection));
                client
            }
            None => {
                let (client, connection) = config.connect(NoTls).await?;
                tokio::spawn(drive(connection));
                client
            }
        };
        Ok::<_, tokio_postgres::Error>(client)
    })?)
}

/// Runs a connection's protocol until it ends.
async fn drive(connection: impl Future<Output = Result<(), tokio_postgres::Error>>) {
    if let Err(error) = connection.await {
        tracing::warn!(%error, "a PostgreSQL connection ended");
    }
}

fn owned(params: &[&dyn Param]) -> Vec<PgOwned> {
    params.iter().map(|p| PgOwned(p.value().into())).collect()
}

fn refs(owned: &[PgOwned]) -> Vec<&(dyn ToSql + Sync)> {
    owned.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

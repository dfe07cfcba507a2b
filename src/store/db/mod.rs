//! One connection to either database: SQLite (rusqlite, embedded, the
//! default) or PostgreSQL (the `postgres` client). Every query of the store
//! is written once, in the SQL both understand, and runs through [`Db`]:
//! parameters are `?N` (turned into `$N` for PostgreSQL), values cross as
//! [`Value`]s, and a row is read by column index with [`Row::get`], which
//! converts between the two databases' types (an SQLite integer or a
//! PostgreSQL `bigint`, `integer` or `boolean` read as `i64` or `bool`).
//!
//! Statements are prepared once per connection and kept (SQLite's statement
//! cache; a map of prepared statements for PostgreSQL), so a hot query pays
//! for its parsing once.

mod pgconn;
mod pgtls;
mod value;

use pgconn::PgConn;
use std::cell::RefCell;
use tokio_postgres::types::Type;
use value::SqliteParam;
pub use value::{FromValue, OwnedValue, Param, Value};

/// Which database a connection speaks to, where the SQL must differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// The parameters of one statement: `params![a, b, c]`.
#[macro_export]
macro_rules! params {
    () => { &[] as &[&dyn $crate::store::Param] };
    ($($p:expr),+ $(,)?) => { &[$(&$p as &dyn $crate::store::Param),+] as &[&dyn $crate::store::Param] };
}
pub use crate::params;

/// What a query could not do.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    #[error("the query returned no rows")]
    NoRows,
    /// The database URL asks for something that cannot be done.
    #[error("{0}")]
    Config(String),
    #[error("column {column} holds {found}, not {wanted}")]
    Type {
        column: usize,
        found: &'static str,
        wanted: &'static str,
    },
    #[error("column {column}: {source}")]
    Decode {
        column: usize,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl DbError {
    /// A unique or primary-key constraint refused the row.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            DbError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::ConstraintViolation
            }
            DbError::Postgres(e) => {
                e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
            }
            _ => false,
        }
    }

    /// A passing condition (locked, busy, full disk, connection lost)
    /// rather than a bug: the caller answers 503 and tries again later.
    pub fn is_transient(&self) -> bool {
        use tokio_postgres::error::SqlState;
        match self {
            DbError::Sqlite(e) => matches!(
                e.sqlite_error_code(),
                Some(
                    rusqlite::ErrorCode::DatabaseBusy
                        | rusqlite::ErrorCode::DatabaseLocked
                        | rusqlite::ErrorCode::DiskFull
                        | rusqlite::ErrorCode::SystemIoFailure
                        | rusqlite::ErrorCode::CannotOpen
                        | rusqlite::ErrorCode::ReadOnly
                )
            ),
            DbError::Postgres(e) => match e.code() {
                // No code: the connection itself failed or closed.
                None => true,
                Some(code) => {
                    let class = &code.code()[..2];
                    // Connection exceptions, insufficient resources, operator
                    // intervention (a restart), serialization and deadlocks.
                    matches!(class, "08" | "53" | "57" | "40")
                        || *code == SqlState::LOCK_NOT_AVAILABLE
                        || *code == SqlState::READ_ONLY_SQL_TRANSACTION
                }
            },
            _ => false,
        }
    }
}

/// One row of a result.
pub struct Row<'r> {
    inner: RowInner<'r>,
}

enum RowInner<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Postgres(&'r tokio_postgres::Row),
}

impl Row<'_> {
    /// Column `i` as a `T`.
    pub fn get<T: FromValue>(&self, i: usize) -> Result<T, DbError> {
        let v = self.value(i)?;
        T::from_value(v).map_err(|wanted| DbError::Type {
            column: i,
            found: v.kind(),
            wanted,
        })
    }

    /// Column `i` as text parsed into `T` (a word of a closed set, a
    /// number kept as text); a word this version does not know is a row it
    /// cannot read.
    pub fn parse<T>(&self, i: usize) -> Result<T, DbError>
    where
        T: std::str::FromStr,
        T::Err: std::error::Error + Send + Sync + 'static,
    {
        let text: String = self.get(i)?;
        text.parse().map_err(|e: T::Err| DbError::Decode {
            column: i,
            source: Box::new(e),
        })
    }

    /// Column `i` as it is, owned (for copying rows between databases).
    pub fn owned(&self, i: usize) -> Result<OwnedValue, DbError> {
        self.value(i).map(OwnedValue::from)
    }

    fn value(&self, i: usize) -> Result<Value<'_>, DbError> {
        match &self.inner {
            RowInner::Sqlite(r) => {
                use rusqlite::types::ValueRef;
                Ok(match r.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) => Value::Int(n),
                    ValueRef::Real(x) => Value::Real(x),
                    ValueRef::Text(t) => {
                        Value::Text(std::str::from_utf8(t).map_err(|e| DbError::Decode {
                            column: i,
                            source: Box::new(e),
                        })?)
                    }
                    ValueRef::Blob(b) => Value::Blob(b),
                })
            }
            RowInner::Postgres(r) => pg_value(r, i),
        }
    }
}

fn pg_value(r: &tokio_postgres::Row, i: usize) -> Result<Value<'_>, DbError> {
    let ty = r
        .columns()
        .get(i)
        .ok_or(DbError::Type {
            column: i,
            found: "nothing (no such column)",
            wanted: "a column",
        })?
        .type_()
        .clone();
    let v = match ty {
        Type::INT8 => r.try_get::<_, Option<i64>>(i)?.map(Value::Int),
        Type::INT4 => r
            .try_get::<_, Option<i32>>(i)?
            .map(|n| Value::Int(n.into())),
        Type::INT2 => r
            .try_get::<_, Option<i16>>(i)?
            .map(|n| Value::Int(n.into())),
        Type::FLOAT8 => r.try_get::<_, Option<f64>>(i)?.map(Value::Real),
        Type::FLOAT4 => r
            .try_get::<_, Option<f32>>(i)?
            .map(|x| Value::Real(x.into())),
        Type::BOOL => r.try_get::<_, Option<bool>>(i)?.map(Value::Bool),
        Type::BYTEA => r.try_get::<_, Option<&[u8]>>(i)?.map(Value::Blob),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
            r.try_get::<_, Option<&str>>(i)?.map(Value::Text)
        }
        _ => {
            return Err(DbError::Type {
                column: i,
                found: "a PostgreSQL type the store does not read (cast it in the query)",
                wanted: "bigint, double precision, boolean, bytea or text",
            })
        }
    };
    Ok(v.unwrap_or(Value::Null))
}

/// `?N` and `?` placeholders as PostgreSQL's `$N`, outside quoted text.
fn to_dollars(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut next = 0;
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                out.push(c);
            }
            None if c == '?' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                if digits.is_empty() {
                    next += 1;
                    digits = next.to_string();
                }
                out.push('$');
                out.push_str(&digits);
            }
            None => out.push(c),
        }
    }
    out
}

enum Inner {
    Sqlite(rusqlite::Connection),
    Postgres(Box<RefCell<PgConn>>),
}

/// One connection to the database, SQLite or PostgreSQL.
pub struct Db {
    inner: Inner,
    /// SQLite: a transaction takes the write lock as it begins.
    immediate: bool,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Db({:?})", self.dialect())
    }
}

impl Db {
    pub(super) fn sqlite(conn: rusqlite::Connection, immediate: bool) -> Db {
        conn.set_prepared_statement_cache_capacity(128);
        Db {
            inner: Inner::Sqlite(conn),
            immediate,
        }
    }

    /// Connects to the PostgreSQL database at `url`.
    pub(super) fn postgres(url: &str) -> Result<Db, DbError> {
        Ok(Db {
            inner: Inner::Postgres(Box::new(RefCell::new(PgConn::connect(url)?))),
            immediate: false,
        })
    }

    pub fn dialect(&self) -> Dialect {
        match self.inner {
            Inner::Sqlite(_) => Dialect::Sqlite,
            Inner::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The SQLite connection underneath, for what only SQLite has
    /// (PRAGMAs, checkpoints).
    pub(super) fn as_sqlite(&self) -> Option<&rusqlite::Connection> {
        match &self.inner {
            Inner::Sqlite(c) => Some(c),
            Inner::Postgres(_) => None,
        }
    }

    /// Runs one statement; how many rows it changed.
    pub fn execute(&self, sql: &str, params: &[&dyn Param]) -> Result<usize, DbError> {
        match &self.inner {
            Inner::Sqlite(c) => {
                let mut s = c.prepare_cached(sql)?;
                Ok(s.execute(sqlite_params(params))?)
            }
            Inner::Postgres(c) => {
                let n = c.borrow_mut().execute(sql, params)?;
                Ok(usize::try_from(n).unwrap_or(usize::MAX))
            }
        }
    }

    /// Every row of a query, each read by `f`.
    pub fn query_map<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        mut f: impl FnMut(&Row<'_>) -> Result<T, DbError>,
    ) -> Result<Vec<T>, DbError> {
        let mut out = Vec::new();
        self.for_each(sql, params, |r| {
            out.push(f(r)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// Calls `f` on every row of a query, in order, without collecting them.
    pub fn for_each(
        &self,
        sql: &str,
        params: &[&dyn Param],
        mut f: impl FnMut(&Row<'_>) -> Result<(), DbError>,
    ) -> Result<(), DbError> {
        match &self.inner {
            Inner::Sqlite(c) => {
                let mut s = c.prepare_cached(sql)?;
                let mut rows = s.query(sqlite_params(params))?;
                while let Some(r) = rows.next()? {
                    f(&Row {
                        inner: RowInner::Sqlite(r),
                    })?;
                }
                Ok(())
            }
            Inner::Postgres(c) => {
                let rows = c.borrow_mut().query(sql, params)?;
                for r in &rows {
                    f(&Row {
                        inner: RowInner::Postgres(r),
                    })?;
                }
                Ok(())
            }
        }
    }

    /// The first row of a query, read by `f`; `None` when there is none.
    pub fn query_opt<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        f: impl FnOnce(&Row<'_>) -> Result<T, DbError>,
    ) -> Result<Option<T>, DbError> {
        match &self.inner {
            Inner::Sqlite(c) => {
                let mut s = c.prepare_cached(sql)?;
                let mut rows = s.query(sqlite_params(params))?;
                match rows.next()? {
                    Some(r) => Ok(Some(f(&Row {
                        inner: RowInner::Sqlite(r),
                    })?)),
                    None => Ok(None),
                }
            }
            Inner::Postgres(c) => {
                let rows = c.borrow_mut().query(sql, params)?;
                match rows.first() {
                    Some(r) => Ok(Some(f(&Row {
                        inner: RowInner::Postgres(r),
                    })?)),
                    None => Ok(None),
                }
            }
        }
    }

    /// The first row of a query, read by `f`; [`DbError::NoRows`] when
    /// there is none.
    pub fn query_row<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        f: impl FnOnce(&Row<'_>) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        self.query_opt(sql, params, f)?.ok_or(DbError::NoRows)
    }

    /// Runs `head VALUES (…), (…), … tail`, one row of `width` parameters
    /// per `width` values of `params`, in statements of a power of two rows
    /// up to [`MAX_ROWS`] (so a connection prepares at most nine shapes of
    /// it): a few round trips for a batch instead of one per row. `tail`
    /// (an `ON CONFLICT` clause) takes no parameters. How many rows changed.
    pub fn execute_values(
        &self,
        head: &str,
        tail: &str,
        width: usize,
        params: &[&dyn Param],
    ) -> Result<usize, DbError> {
        let rows = params.len() / width.max(1);
        let (mut done, mut changed) = (0, 0);
        while done < rows {
            let n = chunk_len(rows - done, MAX_ROWS);
            let sql = format!("{head} VALUES {} {tail}", values_list(n, width, 0));
            changed += self.execute(&sql, &params[done * width..(done + n) * width])?;
            done += n;
        }
        Ok(changed)
    }

    /// Runs several statements without parameters (schema, tests).
    pub fn execute_batch(&self, sql: &str) -> Result<(), DbError> {
        match &self.inner {
            Inner::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Inner::Postgres(c) => c.borrow_mut().batch_execute(sql),
        }
    }

    /// Begins a transaction; it rolls back when dropped without
    /// [`Tx::commit`]. SQLite write connections take the write lock as it
    /// begins (a deferred transaction that reads first fails at its first
    /// write when another connection committed in between).
    pub fn transaction(&self) -> Result<Tx<'_>, DbError> {
        self.execute_batch(if self.immediate {
            "BEGIN IMMEDIATE"
        } else {
            "BEGIN"
        })?;
        Ok(Tx {
            db: self,
            open: true,
        })
    }
}

/// Most rows one multi-row statement carries.
pub const MAX_ROWS: usize = 256;

/// The rows of the next multi-row statement: the largest power of two not
/// above what is left, at most `max` (a power of two).
pub fn chunk_len(left: usize, max: usize) -> usize {
    let fit = left.min(max);
    1 << (usize::BITS - 1 - fit.leading_zeros())
}

/// `(?{after+1}, …, ?{after+width}), …` for `rows` rows.
pub fn values_list(rows: usize, width: usize, after: usize) -> String {
    let mut out = String::with_capacity(rows * width * 5);
    for row in 0..rows {
        if row > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for col in 0..width {
            if col > 0 {
                out.push_str(", ");
            }
            out.push('?');
            out.push_str(&(after + row * width + col + 1).to_string());
        }
        out.push(')');
    }
    out
}

fn sqlite_params<'a>(
    params: &'a [&'a dyn Param],
) -> rusqlite::ParamsFromIter<impl Iterator<Item = SqliteParam<'a>>> {
    rusqlite::params_from_iter(params.iter().map(|p| SqliteParam(p.value())))
}

/// A transaction on a [`Db`]; reads and writes go through it like the
/// connection itself.
pub struct Tx<'a> {
    db: &'a Db,
    open: bool,
}

impl Tx<'_> {
    pub fn commit(mut self) -> Result<(), DbError> {
        self.open = false;
        self.db.execute_batch("COMMIT")
    }
}

impl std::ops::Deref for Tx<'_> {
    type Target = Db;
    fn deref(&self) -> &Db {
        self.db
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.open {
            // Nothing to do if it fails: the connection's next use tells.
            let _ = self.db.execute_batch("ROLLBACK");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_powers_of_two_up_to_the_most_rows() {
        let lens: Vec<usize> = [1, 2, 3, 255, 256, 300, 1000]
            .into_iter()
            .map(|n| chunk_len(n, 256))
            .collect();
        assert_eq!(lens, [1, 2, 2, 128, 256, 256, 256]);
        let mut left = 1000;
        let mut sizes = std::collections::BTreeSet::new();
        while left > 0 {
            let n = chunk_len(left, 256);
            sizes.insert(n);
            left -= n;
        }
        assert!(sizes.len() <= 9, "{sizes:?}");
        assert_eq!(values_list(2, 2, 1), "(?2, ?3), (?4, ?5)");
    }

    #[test]
    fn many_rows_go_in_a_few_statements() {
        let db = Db::sqlite(rusqlite::Connection::open_in_memory().unwrap(), false);
        db.execute_batch("CREATE TABLE t (a INTEGER PRIMARY KEY, b INTEGER)")
            .unwrap();
        let values: Vec<i64> = (0..1000).flat_map(|i| [i % 300, 1]).collect();
        let mut rows = 0;
        // Each statement's rows are distinct keys; across statements they add.
        for chunk in values.chunks(600) {
            let params: Vec<&dyn Param> = chunk.iter().map(|v| v as &dyn Param).collect();
            rows += db
                .execute_values(
                    "INSERT INTO t (a, b)",
                    "ON CONFLICT (a) DO UPDATE SET b = t.b + excluded.b",
                    2,
                    &params,
                )
                .unwrap();
        }
        assert_eq!(rows, 1000);
        let sum: i64 = db
            .query_row("SELECT SUM(b) FROM t", params![], |r| r.get(0))
            .unwrap();
        assert_eq!(sum, 1000);
    }

    #[test]
    fn placeholders_become_dollars_outside_quotes() {
        assert_eq!(
            to_dollars("SELECT a FROM t WHERE b = ?1 AND c = ?12 AND d = '?1'"),
            "SELECT a FROM t WHERE b = $1 AND c = $12 AND d = '?1'"
        );
        assert_eq!(to_dollars("VALUES (?, ?, \"?\")"), "VALUES ($1, $2, \"?\")");
    }

    #[test]
    fn values_convert_both_ways_through_sqlite() {
        let db = Db::sqlite(rusqlite::Connection::open_in_memory().unwrap(), false);
        db.execute_batch("CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, f INTEGER)")
            .unwrap();
        let blob = [1u8, 2, 3];
        db.execute(
            "INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5)",
            params![7u32, 2.5, "x", blob, true],
        )
        .unwrap();
        let (i, r, s, b, f): (u32, f64, String, [u8; 3], bool) = db
            .query_row("SELECT i, r, s, b, f FROM t", params![], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap();
        assert_eq!((i, r, s.as_str(), b, f), (7, 2.5, "x", blob, true));
        let wrong = db.query_row("SELECT s FROM t", params![], |r| r.get::<i64>(0));
        assert!(
            matches!(wrong, Err(DbError::Type { column: 0, .. })),
            "{wrong:?}"
        );
        let none = db.query_opt("SELECT i FROM t WHERE i = 8", params![], |r| {
            r.get::<i64>(0)
        });
        assert_eq!(none.unwrap(), None);
    }

    #[test]
    fn a_dropped_transaction_rolls_back() {
        let db = Db::sqlite(rusqlite::Connection::open_in_memory().unwrap(), true);
        db.execute_batch("CREATE TABLE t (i INTEGER)").unwrap();
        {
            let tx = db.transaction().unwrap();
            tx.execute("INSERT INTO t VALUES (1)", params![]).unwrap();
        }
        let tx = db.transaction().unwrap();
        tx.execute("INSERT INTO t VALUES (2)", params![]).unwrap();
        tx.commit().unwrap();
        let all = db
            .query_map("SELECT i FROM t", params![], |r| r.get::<i64>(0))
            .unwrap();
        assert_eq!(all, vec![2]);
    }
}

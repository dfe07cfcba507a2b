//! Values crossing between Rust and either database: [`Param`] for what a
//! query is given, [`FromValue`] for what a row gives back, and how each is
//! bound for SQLite and for PostgreSQL.

use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};

/// A value crossing into or out of a query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Null,
    Int(i64),
    Real(f64),
    Bool(bool),
    Text(&'a str),
    Blob(&'a [u8]),
}

impl Value<'_> {
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Int(_) => "an integer",
            Value::Real(_) => "a real",
            Value::Bool(_) => "a boolean",
            Value::Text(_) => "text",
            Value::Blob(_) => "a blob",
        }
    }
}

/// Anything that can be a query parameter.
pub trait Param {
    fn value(&self) -> Value<'_>;
}

macro_rules! int_param {
    ($($t:ty),*) => {$(
        impl Param for $t {
            fn value(&self) -> Value<'_> {
                // Wider than i64 only past 2^63: saturate rather than wrap.
                Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
    )*};
}
int_param!(i64, i32, i16, i8, u64, u32, u16, u8, usize);

impl Param for f64 {
    fn value(&self) -> Value<'_> {
        Value::Real(*self)
    }
}
impl Param for bool {
    fn value(&self) -> Value<'_> {
        Value::Bool(*self)
    }
}
impl Param for str {
    fn value(&self) -> Value<'_> {
        Value::Text(self)
    }
}
impl Param for String {
    fn value(&self) -> Value<'_> {
        Value::Text(self)
    }
}
impl Param for [u8] {
    fn value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}
impl Param for Vec<u8> {
    fn value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}
impl<const N: usize> Param for [u8; N] {
    fn value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}
impl<T: Param + ?Sized> Param for &T {
    fn value(&self) -> Value<'_> {
        (**self).value()
    }
}
impl<T: Param> Param for Option<T> {
    fn value(&self) -> Value<'_> {
        self.as_ref().map_or(Value::Null, Param::value)
    }
}

/// A value that can be read from a column.
pub trait FromValue: Sized {
    /// The value, or what was wanted (for the error).
    fn from_value(v: Value<'_>) -> Result<Self, &'static str>;
}

macro_rules! int_from {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(v: Value<'_>) -> Result<Self, &'static str> {
                const WANTED: &str = concat!("an integer that fits ", stringify!($t));
                match v {
                    Value::Int(n) => <$t>::try_from(n).map_err(|_| WANTED),
                    Value::Bool(b) => Ok(<$t>::from(b)),
                    _ => Err(WANTED),
                }
            }
        }
    )*};
}
int_from!(i64, i32, u64, u32, u16, u8, usize);

impl FromValue for f64 {
    fn from_value(v: Value<'_>) -> Result<Self, &'static str> {
        match v {
            Value::Real(x) => Ok(x),
            Value::Int(n) => Ok(n as f64),
            _ => Err("a number"),
        }
    }
}
impl FromValue for bool {
    fn from_value(v: Value<'_>) -> Result<Self, &'static str> {
        match v {
            Value::Bool(b) => Ok(b),
            Value::Int(n) => Ok(n != 0),
            _ => Err("a boolean"),
        }
    }
}
impl FromValue for String {
    fn from_value(v: Value<'_>) -> Result<Self, &'static str> {
        match v {
            Value::Text(s) => Ok(s.to_owned()),
            _ => Err("text"),
        }
    }
}
impl FromValue for Vec<u8> {
    fn from_value(v: Value<'_>) -> Result<Self, &'static str> {
        match v {
            Value::Blob(b) => Ok(b.to_vec()),
            _ => Err("a blob"),
        }
    }
}
impl<const N: usize> FromValue for [u8; N] {
    fn from_value(v: Value<'_>) -> Result<Self, &'static str> {
        match v {
            Value::Blob(b) => b.try_into().map_err(|_| "a blob of the expected length"),
            _ => Err("a blob"),
        }
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: Value<'_>) -> Result<Self, &'static str> {
        match v {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// A parameter bound for SQLite.
pub(super) struct SqliteParam<'a>(pub(super) Value<'a>);

impl rusqlite::ToSql for SqliteParam<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self.0 {
            Value::Null => ValueRef::Null,
            Value::Int(n) => ValueRef::Integer(n),
            Value::Real(x) => ValueRef::Real(x),
            Value::Bool(b) => ValueRef::Integer(b.into()),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// A parameter bound for PostgreSQL: written as whatever type the server
/// inferred for it (an integer into a `bigint`, `integer` or `boolean`).
#[derive(Debug)]
pub(super) struct PgParam<'a>(pub(super) Value<'a>);

impl ToSql for PgParam<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match (self.0, ty) {
            (Value::Null, _) => Ok(IsNull::Yes),
            (Value::Int(n), &Type::INT8) => n.to_sql(ty, out),
            (Value::Int(n), &Type::INT4) => i32::try_from(n)?.to_sql(ty, out),
            (Value::Int(n), &Type::INT2) => i16::try_from(n)?.to_sql(ty, out),
            (Value::Int(n), &Type::FLOAT8) => (n as f64).to_sql(ty, out),
            (Value::Int(n), &Type::BOOL) => (n != 0).to_sql(ty, out),
            (Value::Int(n), &Type::TEXT) => n.to_string().to_sql(ty, out),
            (Value::Bool(b), &Type::BOOL) => b.to_sql(ty, out),
            (Value::Bool(b), &Type::INT8) => i64::from(b).to_sql(ty, out),
            (Value::Bool(b), &Type::INT4) => i32::from(b).to_sql(ty, out),
            (Value::Real(x), &Type::FLOAT8) => x.to_sql(ty, out),
            (Value::Real(x), &Type::FLOAT4) => (x as f32).to_sql(ty, out),
            (Value::Text(s), &Type::TEXT | &Type::VARCHAR | &Type::BPCHAR | &Type::NAME) => {
                s.to_sql(ty, out)
            }
            (Value::Text(s), &Type::JSONB) => {
                // JSONB's binary form: a version byte, then the text.
                out.extend_from_slice(&[1]);
                out.extend_from_slice(s.as_bytes());
                Ok(IsNull::No)
            }
            (Value::Blob(b), &Type::BYTEA) => b.to_sql(ty, out),
            (v, ty) => Err(format!("cannot bind {} to a parameter of type {ty}", v.kind()).into()),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A value owned, to be sent with its statement to the I/O runtime.
#[derive(Debug, Clone)]
pub enum OwnedValue {
    Null,
    Int(i64),
    Real(f64),
    Bool(bool),
    Text(String),
    Blob(Vec<u8>),
}

impl From<Value<'_>> for OwnedValue {
    fn from(v: Value<'_>) -> Self {
        match v {
            Value::Null => OwnedValue::Null,
            Value::Int(n) => OwnedValue::Int(n),
            Value::Real(x) => OwnedValue::Real(x),
            Value::Bool(b) => OwnedValue::Bool(b),
            Value::Text(s) => OwnedValue::Text(s.to_owned()),
            Value::Blob(b) => OwnedValue::Blob(b.to_vec()),
        }
    }
}

impl Param for OwnedValue {
    fn value(&self) -> Value<'_> {
        self.as_value()
    }
}

impl OwnedValue {
    fn as_value(&self) -> Value<'_> {
        match self {
            OwnedValue::Null => Value::Null,
            OwnedValue::Int(n) => Value::Int(*n),
            OwnedValue::Real(x) => Value::Real(*x),
            OwnedValue::Bool(b) => Value::Bool(*b),
            OwnedValue::Text(s) => Value::Text(s),
            OwnedValue::Blob(b) => Value::Blob(b),
        }
    }
}

/// An owned parameter bound for PostgreSQL, as [`PgParam`] binds it.
#[derive(Debug)]
pub(super) struct PgOwned(pub(super) OwnedValue);

impl ToSql for PgOwned {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        PgParam(self.0.as_value()).to_sql(ty, out)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

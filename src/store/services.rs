//! The service catalog.

use super::{Context, StoreError};
use crate::domain::{CategoryList, ServiceSlug};
use rusqlite::{params, Connection};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// A service people can report problems with.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Service {
    #[serde(skip)]
    pub id: i64,
    pub slug: ServiceSlug,
    pub name: String,
    pub categories: CategoryList,
    #[serde(skip)]
    pub created_at: i64,
}

/// What an operator gives to add a service.
#[derive(Debug, Clone)]
pub struct NewService {
    pub slug: ServiceSlug,
    pub name: String,
    pub categories: CategoryList,
}

pub fn insert_service(
    conn: &Connection,
    new: &NewService,
    now: i64,
) -> Result<Service, StoreError> {
    let cats: Vec<&str> = new.categories.iter().map(|c| c.as_str()).collect();
    let cats_json = serde_json::to_string(&cats).unwrap_or_else(|_| "[]".into());
    let res = conn.execute(
        "INSERT INTO services (slug, name, categories, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![new.slug.as_str(), new.name, cats_json, now],
    );
    match res {
        Ok(_) => Ok(Service {
            id: conn.last_insert_rowid(),
            slug: new.slug.clone(),
            name: new.name.clone(),
            categories: new.categories.clone(),
            created_at: now,
        }),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Err(StoreError::DuplicateSlug(new.slug.to_string()))
        }
        Err(e) => Err(e).context("inserting a service"),
    }
}

pub fn list_services(conn: &Connection) -> Result<Vec<Service>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT id, slug, name, categories, created_at FROM services ORDER BY slug")
        .context("listing services")?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })
        .context("listing services")?;
    let mut out = Vec::new();
    for row in rows {
        let (id, slug, name, cats, created_at) = row.context("reading a service")?;
        let slug = ServiceSlug::parse(&slug)
            .map_err(|e| StoreError::Corrupt(format!("service {id}: {e}")))?;
        let cats: Vec<String> = serde_json::from_str(&cats)
            .map_err(|e| StoreError::Corrupt(format!("service {id} categories: {e}")))?;
        let categories = CategoryList::parse(&cats)
            .map_err(|e| StoreError::Corrupt(format!("service {id}: {e}")))?;
        out.push(Service {
            id,
            slug,
            name,
            categories,
            created_at,
        });
    }
    Ok(out)
}

/// The catalog held in memory, so the report path validates a service and
/// its category without a database read. Refreshed after every change made
/// through the API, and on a miss at most once per `RELOAD_EVERY` (a service
/// added by `downwave service add` while the server runs is seen within a
/// second, and a flood of unknown slugs cannot turn into a flood of reads).
pub struct Catalog {
    services: RwLock<Arc<HashMap<String, Arc<Service>>>>,
    /// When the last reload on a miss happened.
    last_reload: Mutex<Instant>,
}

const RELOAD_EVERY: Duration = Duration::from_secs(1);

impl Catalog {
    pub fn new(services: Vec<Service>) -> Self {
        let cat = Catalog {
            services: Default::default(),
            last_reload: Mutex::new(Instant::now()),
        };
        cat.replace(services);
        cat
    }

    pub fn replace(&self, services: Vec<Service>) {
        let map = services
            .into_iter()
            .map(|s| (s.slug.as_str().to_owned(), Arc::new(s)))
            .collect();
        if let Ok(mut guard) = self.services.write() {
            *guard = Arc::new(map);
        }
    }

    pub fn get(&self, slug: &str) -> Option<Arc<Service>> {
        self.services.read().ok()?.get(slug).cloned()
    }

    /// Every service, sorted by slug.
    pub fn all(&self) -> Vec<Arc<Service>> {
        let mut v: Vec<_> = self
            .services
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        v.sort_by(|a, b| a.slug.cmp(&b.slug));
        v
    }

    /// Whether a reload on a miss is allowed now; claims the slot if so.
    pub fn claim_reload(&self) -> bool {
        match self.last_reload.lock() {
            Ok(mut last) if last.elapsed() >= RELOAD_EVERY => {
                *last = Instant::now();
                true
            }
            _ => false,
        }
    }
}

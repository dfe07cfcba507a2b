//! The service catalog.

use super::{params, Context, Db, StoreError};
use crate::domain::{CategoryList, ProviderList, ServiceSlug};
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
    /// The providers it declares it depends on (slugs of other services).
    pub depends_on: ProviderList,
    #[serde(skip)]
    pub created_at: i64,
}

/// What an operator gives to add a service.
#[derive(Debug, Clone)]
pub struct NewService {
    pub slug: ServiceSlug,
    pub name: String,
    pub categories: CategoryList,
    pub depends_on: ProviderList,
}

/// Adds a service (and marks the pages changed, see
/// [`super::mark_pages_changed`]).
pub fn insert_service(conn: &Db, new: &NewService, now: i64) -> Result<Service, StoreError> {
    let cats: Vec<&str> = new.categories.iter().map(|c| c.as_str()).collect();
    let cats_json = serde_json::to_string(&cats).unwrap_or_else(|_| "[]".into());
    let res = conn.query_row(
        "INSERT INTO services (slug, name, categories, created_at, depends_on) \
         VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
        params![
            new.slug.as_str(),
            new.name,
            cats_json,
            now,
            providers_json(&new.depends_on)
        ],
        |r| r.get::<i64>(0),
    );
    match res {
        Ok(id) => {
            super::mark_pages_changed(conn)?;
            Ok(Service {
                id,
                slug: new.slug.clone(),
                name: new.name.clone(),
                categories: new.categories.clone(),
                depends_on: new.depends_on.clone(),
                created_at: now,
            })
        }
        Err(e) if e.is_unique_violation() => Err(StoreError::DuplicateSlug(new.slug.to_string())),
        Err(e) => Err(e).context("inserting a service"),
    }
}

fn providers_json(providers: &ProviderList) -> String {
    serde_json::to_string(providers).unwrap_or_else(|_| "[]".into())
}

/// Replaces the providers a service declares it depends on (and marks the
/// pages changed); `false` when no service has that id.
pub fn set_dependencies(
    conn: &Db,
    service_id: i64,
    depends_on: &ProviderList,
) -> Result<bool, StoreError> {
    let changed = conn
        .execute(
            "UPDATE services SET depends_on = ?2 WHERE id = ?1",
            params![service_id, providers_json(depends_on)],
        )
        .context("setting a service's providers")?;
    if changed == 1 {
        super::mark_pages_changed(conn)?;
    }
    Ok(changed == 1)
}

pub fn list_services(conn: &Db) -> Result<Vec<Service>, StoreError> {
    let rows = conn
        .query_map(
            "SELECT id, slug, name, categories, created_at, depends_on FROM services \
             ORDER BY slug",
            params![],
            |r| {
                Ok((
                    r.get::<i64>(0)?,
                    r.get::<String>(1)?,
                    r.get::<String>(2)?,
                    r.get::<String>(3)?,
                    r.get::<i64>(4)?,
                    r.get::<String>(5)?,
                ))
            },
        )
        .context("listing services")?;
    let mut out = Vec::new();
    for (id, slug, name, cats, created_at, providers) in rows {
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("service {id} {what}: {e}"))
        };
        let slug = ServiceSlug::parse(&slug).map_err(|e| corrupt("slug", &e))?;
        let cats: Vec<String> =
            serde_json::from_str(&cats).map_err(|e| corrupt("categories", &e))?;
        let categories = CategoryList::parse(&cats).map_err(|e| corrupt("categories", &e))?;
        let providers: Vec<String> =
            serde_json::from_str(&providers).map_err(|e| corrupt("depends_on", &e))?;
        let depends_on =
            ProviderList::parse(&slug, &providers).map_err(|e| corrupt("depends_on", &e))?;
        out.push(Service {
            id,
            slug,
            name,
            categories,
            depends_on,
            created_at,
        });
    }
    // By the slug's bytes, as SQLite orders text: PostgreSQL's `ORDER BY`
    // follows the database's collation, which may place `-` and digits
    // elsewhere.
    out.sort_by(|a, b| a.slug.cmp(&b.slug));
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

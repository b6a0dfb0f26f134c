//! The cities the platform serves (V28): platform data that super admins
//! keep; everyone reads the active ones.

use tokio_postgres::Row;

use crate::{
    db::{OnConstraint, TenantTx},
    domain::ids::CityId,
    error::{Conflict, Error, Result},
};

/// The conflicts cities can meet.
impl Conflict {
    pub const CITY_SLUG_TAKEN: Self = Self::new("city_slug_taken", "A city with this slug already exists.");
}

/// A city.
#[derive(Debug, Clone)]
pub struct City {
    pub id: CityId,
    pub slug: String,
    pub name: String,
    pub region: Option<String>,
    pub active: bool,
}

impl TryFrom<&Row> for City {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            slug: row.try_get("slug")?,
            name: row.try_get("name")?,
            region: row.try_get("region")?,
            active: row.try_get("active")?,
        })
    }
}

/// A city's fields, validated.
pub struct CityFields<'a> {
    pub name: &'a str,
    pub region: Option<&'a str>,
    pub active: bool,
}

/// Every city the caller can see (the active ones; super admins all), by name.
pub const LIST: &str = "select id, slug, name, region, active from cities order by name, id limit 1000";

pub async fn list(tx: &mut TenantTx) -> Result<Vec<City>> {
    tx.query(LIST, &[]).await?.iter().map(City::try_from).collect()
}

pub const INSERT: &str = "insert into cities (slug, name, region, active) values ($1, $2, $3, $4)
    returning id, slug, name, region, active";

/// Adds one (super admins: nobody else holds the grant).
pub async fn insert(tx: &mut TenantTx, slug: &str, c: &CityFields<'_>) -> Result<City> {
    let row = tx
        .query_one(INSERT, &[&slug, &c.name, &c.region, &c.active])
        .await
        .on_constraint("cities_slug_key", Conflict::CITY_SLUG_TAKEN)?;
    City::try_from(&row)
}

pub const UPDATE: &str = "update cities set name = $2, region = $3, active = $4 where id = $1
    returning id, slug, name, region, active";

/// Renames one, or takes it off (or back onto) the website. The slug stays:
/// links to it keep working.
pub async fn update(tx: &mut TenantTx, id: CityId, c: &CityFields<'_>) -> Result<City> {
    City::try_from(&tx.query_one(UPDATE, &[&id, &c.name, &c.region, &c.active]).await?)
}

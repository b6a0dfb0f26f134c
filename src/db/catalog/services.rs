//! A facility's services (V28): kept by its admins, shown on the website
//! while published.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use crate::{
    db::{
        OnConstraint, TenantTx,
        filters::{Bound, Variants},
    },
    domain::{
        ids::{CityId, FacilityId, ServiceId},
        page::{Keyed, PageRequest},
    },
    error::{Conflict, Error, Result},
};

/// An amount of money: integer minor units (paise, cents) and its currency.
#[derive(Debug, Clone)]
pub struct Money {
    pub amount_minor: i64,
    pub currency: String,
}

impl Money {
    /// From a row's `(amount, currency)` pair: both or neither is set.
    pub fn from_parts(amount: Option<i64>, currency: Option<String>) -> Option<Self> {
        Some(Self { amount_minor: amount?, currency: currency? })
    }
}

/// A service, as its facility keeps it.
#[derive(Debug, Clone)]
pub struct Service {
    pub id: ServiceId,
    pub facility_id: FacilityId,
    pub slug: String,
    pub name: String,
    pub summary: String,
    pub description: Option<String>,
    pub city_id: CityId,
    pub price_from: Option<Money>,
    pub published: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Keyed for Service {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.created_at, self.id.0)
    }
}

impl TryFrom<&Row> for Service {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            facility_id: row.try_get("facility_id")?,
            slug: row.try_get("slug")?,
            name: row.try_get("name")?,
            summary: row.try_get("summary")?,
            description: row.try_get("description")?,
            city_id: row.try_get("city_id")?,
            price_from: Money::from_parts(row.try_get("price_from_minor")?, row.try_get("currency")?),
            published: row.try_get("published")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// A service's fields, validated.
pub struct ServiceFields<'a> {
    pub slug: &'a str,
    pub name: &'a str,
    pub summary: &'a str,
    pub description: Option<&'a str>,
    pub city_id: CityId,
    pub price_minor: Option<i64>,
    pub currency: Option<&'a str>,
    pub published: bool,
}

macro_rules! columns {
    () => {
        "id, facility_id, slug, name, summary, description, city_id, price_from_minor, currency, \
         published, created_at, updated_at"
    };
}

pub const GET: &str = concat!("select ", columns!(), " from services where id = $1");

pub async fn get(tx: &mut TenantTx, id: ServiceId) -> Result<Service> {
    Service::try_from(&tx.query_one(GET, &[&id]).await?)
}

/// Newest first. `$1` the fetch limit; then the cursor, when given (see
/// [`filters`](crate::db::filters)).
pub static LIST: Variants = Variants::new(
    concat!(
        "select ",
        columns!(),
        " from services
         where true {where}
         order by created_at desc, id desc limit $1"
    ),
    &["(created_at, id) < ($::timestamptz, $::uuid)"],
);

/// The facility's services, published or not (super admins: every facility's).
pub async fn list(tx: &mut TenantTx, page: &PageRequest) -> Result<Vec<Service>> {
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&limit]).after(page);
    let rows = tx.query(LIST.get(bound.present), &bound.params).await?;
    rows.iter().map(Service::try_from).collect()
}

pub const INSERT: &str = concat!(
    "insert into services (facility_id, slug, name, summary, description, city_id, price_from_minor,
                           currency, published)
     values (carego.current_facility_id(), $1, $2, $3, $4, $5, $6, $7, $8)
     returning ",
    columns!()
);

/// Adds one to the caller's facility (facility admins).
pub async fn insert(tx: &mut TenantTx, s: &ServiceFields<'_>) -> Result<Service> {
    let row = tx
        .query_one(
            INSERT,
            &[
                &s.slug,
                &s.name,
                &s.summary,
                &s.description,
                &s.city_id,
                &s.price_minor,
                &s.currency,
                &s.published,
            ],
        )
        .await
        .on_constraint("services_facility_slug_key", Conflict::SLUG_TAKEN)
        .on_constraint("services_city_fkey", Error::invalid("cityId", "is not a city of the catalog"))?;
    Service::try_from(&row)
}

pub const UPDATE: &str = concat!(
    "update services set slug = $2, name = $3, summary = $4, description = $5, city_id = $6,
            price_from_minor = $7, currency = $8, published = $9
     where id = $1
     returning ",
    columns!()
);

/// Replaces its fields; publishing and unpublishing are this too.
pub async fn update(tx: &mut TenantTx, id: ServiceId, s: &ServiceFields<'_>) -> Result<Service> {
    let row = tx
        .query_one(
            UPDATE,
            &[
                &id,
                &s.slug,
                &s.name,
                &s.summary,
                &s.description,
                &s.city_id,
                &s.price_minor,
                &s.currency,
                &s.published,
            ],
        )
        .await
        .on_constraint("services_facility_slug_key", Conflict::SLUG_TAKEN)
        .on_constraint("services_city_fkey", Error::invalid("cityId", "is not a city of the catalog"))?;
    Service::try_from(&row)
}

/// Who offers something on the website.
#[derive(Debug, Clone)]
pub struct Provider {
    pub id: FacilityId,
    pub slug: String,
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
}

impl Provider {
    pub fn from_row(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("facility_id")?,
            slug: row.try_get("facility_slug")?,
            name: row.try_get("facility_name")?,
            phone: row.try_get("facility_phone")?,
            email: row.try_get("facility_email")?,
        })
    }
}

/// A published service, as the website shows it.
#[derive(Debug, Clone)]
pub struct PublicService {
    pub id: ServiceId,
    pub slug: String,
    pub name: String,
    pub summary: String,
    pub description: Option<String>,
    pub city_id: CityId,
    pub city_name: String,
    pub price_from: Option<Money>,
    pub provider: Provider,
}

impl TryFrom<&Row> for PublicService {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            slug: row.try_get("public_slug")?,
            name: row.try_get("name")?,
            summary: row.try_get("summary")?,
            description: row.try_get("description")?,
            city_id: row.try_get("city_id")?,
            city_name: row.try_get("city_name")?,
            price_from: Money::from_parts(row.try_get("price_from_minor")?, row.try_get("currency")?),
            provider: Provider::from_row(row)?,
        })
    }
}

/// The most a public list holds: the website shows a city's catalog, and a
/// city with more than this needs a search, not a longer page.
pub const PUBLIC_LIST_CAP: i64 = 500;

macro_rules! public_select {
    ($description:literal, $where:literal) => {
        concat!(
            "select s.id, f.slug || '.' || s.slug as public_slug, s.name, s.summary, ",
            $description,
            " as description, s.city_id, c.name as city_name, s.price_from_minor, s.currency,
                    f.id as facility_id, f.slug as facility_slug, f.name as facility_name,
                    f.phone as facility_phone, f.email as facility_email
               from services s
               join facilities f on f.id = s.facility_id
               join cities c on c.id = s.city_id ",
            $where
        )
    };
}

/// Run as `carego_public`: RLS leaves published services of active
/// facilities in active cities, and nothing else. `$1` the cap; then the
/// city, when given (see [`filters`](crate::db::filters)).
pub static PUBLIC_LIST: Variants = Variants::new(
    public_select!("null::text", "where true {where} order by s.name, s.id limit $1"),
    &["s.city_id = $::uuid"],
);

/// [`PUBLIC_LIST`]'s city filter.
pub const IN_CITY: u32 = 1;

pub async fn public_list(tx: &mut TenantTx, city: Option<CityId>) -> Result<Vec<PublicService>> {
    let bound = Bound::new(vec![&PUBLIC_LIST_CAP]).opt(&city);
    let rows = tx.query(PUBLIC_LIST.get(bound.present), &bound.params).await?;
    rows.iter().map(PublicService::try_from).collect()
}

pub const PUBLIC_GET: &str = public_select!("s.description", "where f.slug = $1 and s.slug = $2");

/// One published service by its website handle, `{facility}.{service}`.
pub async fn public_get(tx: &mut TenantTx, public_slug: &str) -> Result<PublicService> {
    let (facility, service) = public_slug.split_once('.').ok_or(Error::NotFound)?;
    PublicService::try_from(&tx.query_one(PUBLIC_GET, &[&facility, &service]).await?)
}

pub const PUBLIC_FACILITY: &str =
    "select s.facility_id from services s join facilities f on f.id = s.facility_id where s.id = $1";

/// The facility that published a service, if the public can see it.
pub async fn public_facility(tx: &mut TenantTx, id: ServiceId) -> Result<Option<FacilityId>> {
    Ok(tx.query_opt(PUBLIC_FACILITY, &[&id]).await?.map(|r| r.try_get("facility_id")).transpose()?)
}

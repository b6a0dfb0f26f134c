//! Facilities' SQL. Every statement runs inside a [`TenantTx`]: RLS limits a
//! facility's members to their own facility and lets only super admins write.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use crate::db::{
    OnConstraint, TenantTx,
    filters::{Bound, Variants},
};
use crate::{
    domain::page::{Keyed, PageRequest},
    domain::{ids::FacilityId, text_enum},
    error::{Conflict, Error, Result},
};

/// The conflicts facilities can meet.
impl Conflict {
    pub const FACILITY_SLUG_TAKEN: Self =
        Self::new("facility_slug_taken", "A facility with this slug already exists.");
}

text_enum! {
    /// What kind of care a facility provides.
    pub enum FacilityKind {
        RehabCentre = "rehab_centre",
        HomeCare = "home_care",
        Clinic = "clinic",
        TrainingCentre = "training_centre",
    }
}

text_enum! {
    /// Whether a facility's members may use the platform.
    pub enum FacilityStatus {
        Active = "active",
        Suspended = "suspended",
    }
}

/// A facility (tenant).
#[derive(Debug, Clone)]
pub struct Facility {
    pub id: FacilityId,
    pub slug: String,
    pub name: String,
    pub kind: FacilityKind,
    pub status: FacilityStatus,
    pub timezone: String,
    pub city: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub crisis_escalation_minutes: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The columns every query returns, in `Facility::try_from` order.
macro_rules! columns {
    () => {
        "id, slug, name, kind, status, timezone, city, phone, email, crisis_escalation_minutes, created_at, updated_at"
    };
}

impl TryFrom<&Row> for Facility {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            slug: row.try_get("slug")?,
            name: row.try_get("name")?,
            kind: row.try_get("kind")?,
            status: row.try_get("status")?,
            timezone: row.try_get("timezone")?,
            city: row.try_get("city")?,
            phone: row.try_get("phone")?,
            email: row.try_get("email")?,
            crisis_escalation_minutes: row.try_get("crisis_escalation_minutes")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

fn map(rows: Vec<Row>) -> Result<Vec<Facility>> {
    rows.iter().map(Facility::try_from).collect()
}

/// Validated fields of a new facility.
pub struct NewFacility<'a> {
    pub slug: &'a str,
    pub name: &'a str,
    pub kind: FacilityKind,
    pub timezone: &'a str,
    pub city: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub email: Option<&'a str>,
}

pub const INSERT: &str = concat!(
    "insert into facilities (slug, name, kind, timezone, city, phone, email)
     values ($1, $2, $3, $4, $5, $6, $7)
     returning ",
    columns!(),
    ""
);

pub async fn insert(tx: &mut TenantTx, f: &NewFacility<'_>) -> Result<Facility> {
    let row = tx
        .query_one(INSERT, &[&f.slug, &f.name, &f.kind, &f.timezone, &f.city, &f.phone, &f.email])
        .await
        .on_constraint("facilities_slug_key", Conflict::FACILITY_SLUG_TAKEN)?;
    Facility::try_from(&row)
}

pub const GET: &str = concat!(
    "select ",
    columns!(),
    "
     from facilities where id = $1"
);

pub async fn get(tx: &mut TenantTx, id: FacilityId) -> Result<Facility> {
    find(tx, id).await?.ok_or(Error::NotFound)
}

pub async fn find(tx: &mut TenantTx, id: FacilityId) -> Result<Option<Facility>> {
    tx.query_opt(GET, &[&id]).await?.as_ref().map(Facility::try_from).transpose()
}

pub const GET_BY_SLUG: &str = concat!(
    "select ",
    columns!(),
    "
     from facilities where slug = $1"
);

pub async fn find_by_slug(tx: &mut TenantTx, slug: &str) -> Result<Option<Facility>> {
    tx.query_opt(GET_BY_SLUG, &[&slug]).await?.as_ref().map(Facility::try_from).transpose()
}

/// Lists are oldest first.
impl Keyed for Facility {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.created_at, self.id.0)
    }
}

/// Oldest first. `$1` the fetch limit; then, each only when given (see
/// [`filters`](crate::db::filters)): status, the cursor.
pub static LIST: Variants = Variants::new(
    concat!(
        "select ",
        columns!(),
        "
         from facilities
         where true {where}
         order by created_at, id
         limit $1"
    ),
    &["status = $::text", "(created_at, id) > ($::timestamptz, $::uuid)"],
);

pub async fn list(
    tx: &mut TenantTx,
    status: Option<FacilityStatus>,
    page: &PageRequest,
) -> Result<Vec<Facility>> {
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&limit]).opt(&status).after(page);
    map(tx.query(LIST.get(bound.present), &bound.params).await?)
}

/// A partial update; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Default)]
pub struct FacilityPatch<'a> {
    pub name: Option<&'a str>,
    pub kind: Option<FacilityKind>,
    pub timezone: Option<&'a str>,
    pub city: Option<Option<&'a str>>,
    pub phone: Option<Option<&'a str>>,
    pub email: Option<Option<&'a str>>,
    pub crisis_escalation_minutes: Option<i32>,
}

pub const UPDATE: &str = concat!(
    "update facilities set
       name = coalesce($2::text, name),
       kind = coalesce($3::text, kind),
       timezone = coalesce($4::text, timezone),
       city = case when $5::bool then $6::text else city end,
       phone = case when $7::bool then $8::text else phone end,
       email = case when $9::bool then $10::text else email end,
       crisis_escalation_minutes = coalesce($11::int4, crisis_escalation_minutes)
     where id = $1
     returning ",
    columns!(),
    ""
);

pub async fn update(tx: &mut TenantTx, id: FacilityId, p: &FacilityPatch<'_>) -> Result<Facility> {
    let row = tx
        .query_one(
            UPDATE,
            &[
                &id,
                &p.name,
                &p.kind,
                &p.timezone,
                &p.city.is_some(),
                &p.city.flatten(),
                &p.phone.is_some(),
                &p.phone.flatten(),
                &p.email.is_some(),
                &p.email.flatten(),
                &p.crisis_escalation_minutes,
            ],
        )
        .await
        .on_constraint("facilities_slug_key", Conflict::FACILITY_SLUG_TAKEN)?;
    Facility::try_from(&row)
}

pub const SET_STATUS: &str = concat!(
    "update facilities set status = $2 where id = $1
     returning ",
    columns!(),
    ""
);

pub async fn set_status(tx: &mut TenantTx, id: FacilityId, status: FacilityStatus) -> Result<Facility> {
    Facility::try_from(&tx.query_one(SET_STATUS, &[&id, &status]).await?)
}

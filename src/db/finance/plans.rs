//! A facility's price list (V33), kept by its admins.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use crate::{
    db::{
        OnConstraint, TenantTx,
        filters::{Bound, Variants},
    },
    domain::{
        ids::{CourseId, PlanId, ServiceId},
        page::{Keyed, PageRequest},
        text_enum,
    },
    error::{Error, Result},
};

text_enum! {
    /// How often a plan's price is charged.
    pub enum PlanPeriod {
        OneTime = "one_time",
        PerVisit = "per_visit",
        Weekly = "weekly",
        Monthly = "monthly",
    }
}

/// A price on the facility's list.
#[derive(Debug, Clone)]
pub struct Plan {
    pub id: PlanId,
    pub name: String,
    pub service_id: Option<ServiceId>,
    pub course_id: Option<CourseId>,
    pub price_minor: i64,
    pub currency: String,
    pub period: PlanPeriod,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Keyed for Plan {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.created_at, self.id.0)
    }
}

impl TryFrom<&Row> for Plan {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            service_id: row.try_get("service_id")?,
            course_id: row.try_get("course_id")?,
            price_minor: row.try_get("price_minor")?,
            currency: row.try_get("currency")?,
            period: row.try_get("period")?,
            active: row.try_get("active")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// A plan's fields, validated.
pub struct PlanFields<'a> {
    pub name: &'a str,
    pub service_id: Option<ServiceId>,
    pub course_id: Option<CourseId>,
    pub price_minor: i64,
    pub currency: &'a str,
    pub period: PlanPeriod,
    pub active: bool,
}

macro_rules! columns {
    () => {
        "id, name, service_id, course_id, price_minor, currency, period, active, created_at, updated_at"
    };
}

/// Newest first. `$1` the fetch limit; then the cursor, when given (see
/// [`filters`](crate::db::filters)).
pub static LIST: Variants = Variants::new(
    concat!(
        "select ",
        columns!(),
        " from plans
         where true {where}
         order by created_at desc, id desc limit $1"
    ),
    &["(created_at, id) < ($::timestamptz, $::uuid)"],
);

pub async fn list(tx: &mut TenantTx, page: &PageRequest) -> Result<Vec<Plan>> {
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&limit]).after(page);
    let rows = tx.query(LIST.get(bound.present), &bound.params).await?;
    rows.iter().map(Plan::try_from).collect()
}

fn target_errors(r: std::result::Result<Row, crate::db::DbError>) -> Result<Row> {
    Ok(r.on_constraint(
        "plans_service_fkey",
        Error::invalid("serviceId", "is not a service of this facility"),
    )
    .on_constraint("plans_course_fkey", Error::invalid("courseId", "is not a course of this facility"))?)
}

pub const INSERT: &str = concat!(
    "insert into plans (facility_id, name, service_id, course_id, price_minor, currency, period, active)
     values (carego.current_facility_id(), $1, $2, $3, $4, $5, $6, $7) returning ",
    columns!()
);

/// Adds one to the caller's facility (facility admins).
pub async fn insert(tx: &mut TenantTx, p: &PlanFields<'_>) -> Result<Plan> {
    let params: crate::db::Params<'_> =
        &[&p.name, &p.service_id, &p.course_id, &p.price_minor, &p.currency, &p.period, &p.active];
    Plan::try_from(&target_errors(tx.query_one(INSERT, params).await)?)
}

pub const UPDATE: &str = concat!(
    "update plans set name = $2, service_id = $3, course_id = $4, price_minor = $5, currency = $6,
            period = $7, active = $8
      where id = $1 returning ",
    columns!()
);

/// Replaces its fields. Issued invoices keep what they were issued with.
pub async fn update(tx: &mut TenantTx, id: PlanId, p: &PlanFields<'_>) -> Result<Plan> {
    let params: crate::db::Params<'_> =
        &[&id, &p.name, &p.service_id, &p.course_id, &p.price_minor, &p.currency, &p.period, &p.active];
    Plan::try_from(&target_errors(tx.query_one(UPDATE, params).await)?)
}

//! A facility's training courses (V28): kept by its admins, shown on the
//! website while published; a training centre is listed in the cities
//! where it has a published course.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use super::services::{Money, PUBLIC_LIST_CAP, Provider};
use crate::{
    db::{
        OnConstraint, TenantTx,
        filters::{Bound, Variants},
    },
    domain::{
        ids::{CityId, CourseId, FacilityId},
        page::{Keyed, PageRequest},
    },
    error::{Conflict, Error, Result},
};

/// A course, as its facility keeps it.
#[derive(Debug, Clone)]
pub struct Course {
    pub id: CourseId,
    pub facility_id: FacilityId,
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub description: Option<String>,
    pub city_id: CityId,
    pub duration_hours: i32,
    pub fee: Option<Money>,
    pub published: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Keyed for Course {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.created_at, self.id.0)
    }
}

impl TryFrom<&Row> for Course {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            facility_id: row.try_get("facility_id")?,
            slug: row.try_get("slug")?,
            title: row.try_get("title")?,
            summary: row.try_get("summary")?,
            description: row.try_get("description")?,
            city_id: row.try_get("city_id")?,
            duration_hours: row.try_get("duration_hours")?,
            fee: Money::from_parts(row.try_get("fee_minor")?, row.try_get("currency")?),
            published: row.try_get("published")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// A course's fields, validated.
pub struct CourseFields<'a> {
    pub slug: &'a str,
    pub title: &'a str,
    pub summary: &'a str,
    pub description: Option<&'a str>,
    pub city_id: CityId,
    pub duration_hours: i32,
    pub fee_minor: Option<i64>,
    pub currency: Option<&'a str>,
    pub published: bool,
}

macro_rules! columns {
    () => {
        "id, facility_id, slug, title, summary, description, city_id, duration_hours, fee_minor, \
         currency, published, created_at, updated_at"
    };
}

pub const GET: &str = concat!("select ", columns!(), " from courses where id = $1");

pub async fn get(tx: &mut TenantTx, id: CourseId) -> Result<Course> {
    Course::try_from(&tx.query_one(GET, &[&id]).await?)
}

/// Newest first. `$1` the fetch limit; then the cursor, when given (see
/// [`filters`](crate::db::filters)).
pub static LIST: Variants = Variants::new(
    concat!(
        "select ",
        columns!(),
        " from courses
         where true {where}
         order by created_at desc, id desc limit $1"
    ),
    &["(created_at, id) < ($::timestamptz, $::uuid)"],
);

/// The facility's courses, published or not (super admins: every facility's).
pub async fn list(tx: &mut TenantTx, page: &PageRequest) -> Result<Vec<Course>> {
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&limit]).after(page);
    let rows = tx.query(LIST.get(bound.present), &bound.params).await?;
    rows.iter().map(Course::try_from).collect()
}

pub const INSERT: &str = concat!(
    "insert into courses (facility_id, slug, title, summary, description, city_id, duration_hours,
                          fee_minor, currency, published)
     values (carego.current_facility_id(), $1, $2, $3, $4, $5, $6, $7, $8, $9)
     returning ",
    columns!()
);

/// Adds one to the caller's facility (facility admins).
pub async fn insert(tx: &mut TenantTx, c: &CourseFields<'_>) -> Result<Course> {
    let row = tx
        .query_one(
            INSERT,
            &[
                &c.slug,
                &c.title,
                &c.summary,
                &c.description,
                &c.city_id,
                &c.duration_hours,
                &c.fee_minor,
                &c.currency,
                &c.published,
            ],
        )
        .await
        .on_constraint("courses_facility_slug_key", Conflict::SLUG_TAKEN)
        .on_constraint("courses_city_fkey", Error::invalid("cityId", "is not a city of the catalog"))?;
    Course::try_from(&row)
}

pub const UPDATE: &str = concat!(
    "update courses set slug = $2, title = $3, summary = $4, description = $5, city_id = $6,
            duration_hours = $7, fee_minor = $8, currency = $9, published = $10
     where id = $1
     returning ",
    columns!()
);

/// Replaces its fields; publishing and unpublishing are this too.
pub async fn update(tx: &mut TenantTx, id: CourseId, c: &CourseFields<'_>) -> Result<Course> {
    let row = tx
        .query_one(
            UPDATE,
            &[
                &id,
                &c.slug,
                &c.title,
                &c.summary,
                &c.description,
                &c.city_id,
                &c.duration_hours,
                &c.fee_minor,
                &c.currency,
                &c.published,
            ],
        )
        .await
        .on_constraint("courses_facility_slug_key", Conflict::SLUG_TAKEN)
        .on_constraint("courses_city_fkey", Error::invalid("cityId", "is not a city of the catalog"))?;
    Course::try_from(&row)
}

/// A published course, as the website shows it.
#[derive(Debug, Clone)]
pub struct PublicCourse {
    pub id: CourseId,
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub description: Option<String>,
    pub city_id: CityId,
    pub city_name: String,
    pub duration_hours: i32,
    pub fee: Option<Money>,
    pub provider: Provider,
}

impl TryFrom<&Row> for PublicCourse {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            slug: row.try_get("public_slug")?,
            title: row.try_get("title")?,
            summary: row.try_get("summary")?,
            description: row.try_get("description")?,
            city_id: row.try_get("city_id")?,
            city_name: row.try_get("city_name")?,
            duration_hours: row.try_get("duration_hours")?,
            fee: Money::from_parts(row.try_get("fee_minor")?, row.try_get("currency")?),
            provider: Provider::from_row(row)?,
        })
    }
}

/// Run as `carego_public`: RLS leaves published courses of active
/// facilities in active cities. `$1` the cap; then the city, when given
/// (see [`filters`](crate::db::filters)).
pub static PUBLIC_LIST: Variants = Variants::new(
    "select c.id, f.slug || '.' || c.slug as public_slug, c.title, c.summary, c.description, c.city_id,
            y.name as city_name, c.duration_hours, c.fee_minor, c.currency,
            f.id as facility_id, f.slug as facility_slug, f.name as facility_name,
            f.phone as facility_phone, f.email as facility_email
       from courses c
       join facilities f on f.id = c.facility_id
       join cities y on y.id = c.city_id
      where true {where}
      order by c.title, c.id limit $1",
    &["c.city_id = $::uuid"],
);

pub async fn public_list(tx: &mut TenantTx, city: Option<CityId>) -> Result<Vec<PublicCourse>> {
    let bound = Bound::new(vec![&PUBLIC_LIST_CAP]).opt(&city);
    let rows = tx.query(PUBLIC_LIST.get(bound.present), &bound.params).await?;
    rows.iter().map(PublicCourse::try_from).collect()
}

pub const PUBLIC_FACILITY: &str =
    "select c.facility_id from courses c join facilities f on f.id = c.facility_id where c.id = $1";

/// The facility that published a course, if the public can see it.
pub async fn public_facility(tx: &mut TenantTx, id: CourseId) -> Result<Option<FacilityId>> {
    Ok(tx.query_opt(PUBLIC_FACILITY, &[&id]).await?.map(|r| r.try_get("facility_id")).transpose()?)
}

/// A training centre on the website.
#[derive(Debug, Clone)]
pub struct TrainingCentre {
    pub id: FacilityId,
    pub slug: String,
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub city_ids: Vec<CityId>,
    pub courses: i64,
}

/// Facilities of kind `training_centre` with a published course (in the
/// city, if one is named), by name. `$1` the cap; then the city, when given
/// (see [`filters`](crate::db::filters)).
pub static PUBLIC_TRAINING_CENTRES: Variants = Variants::new(
    "select f.id, f.slug, f.name, f.phone, f.email,
            array_agg(distinct c.city_id) as city_ids, count(*) as courses
       from facilities f
       join courses c on c.facility_id = f.id
       join cities y on y.id = c.city_id
      where f.kind = 'training_centre' {where}
      group by f.id, f.slug, f.name, f.phone, f.email
      order by f.name, f.id limit $1",
    &["c.city_id = $::uuid"],
);

pub async fn public_training_centres(tx: &mut TenantTx, city: Option<CityId>) -> Result<Vec<TrainingCentre>> {
    let bound = Bound::new(vec![&PUBLIC_LIST_CAP]).opt(&city);
    let rows = tx.query(PUBLIC_TRAINING_CENTRES.get(bound.present), &bound.params).await?;
    rows.iter()
        .map(|r| {
            Ok(TrainingCentre {
                id: r.try_get("id")?,
                slug: r.try_get("slug")?,
                name: r.try_get("name")?,
                phone: r.try_get("phone")?,
                email: r.try_get("email")?,
                city_ids: r.try_get("city_ids")?,
                courses: r.try_get("courses")?,
            })
        })
        .collect()
}

//! A facility's training courses: its admins keep them and publish them to
//! the website. (Batches, enrollments and certificates will hang off them.)

use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use serde_json::{Value, json};

use super::public::CatalogList;
use crate::api::catalog::services::Money;
use crate::api::catalog::services::Provider;
use crate::api::contract::{Contract, Contracts};
use crate::api::examples::{AT, CITY, COURSE, Example, TRAINING_CENTRE, page};
use crate::domain::ids::FacilityId;
use crate::error::Conflict;
use crate::{
    api::wire,
    api::{
        ApiTags, Created,
        body::JsonBody,
        idempotency::{self, Creates, IdempotencyKey},
        page::Page,
    },
    auth::BearerAuth,
    db::{
        Db,
        catalog::courses::{self, CourseFields},
    },
    domain::{
        ids::{CityId, CourseId},
        page::{Cursor, Limit, PageRequest},
        text::{Opt, Text},
    },
    error::Result,
};
use chrono::{DateTime, Utc};

/// A course's fields, all of them (creating and replacing take the same).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct CourseRequest {
    /// URL-safe handle, unique within the facility: lower-case letters, digits and dashes
    /// (2–63). The website's handle is `{facility slug}.{this}`.
    #[oai(validator(pattern = r"^[a-z0-9][a-z0-9-]{1,62}$"))]
    pub slug: Text,
    /// Its title (1–200 characters).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: Text,
    /// One or two sentences for a listing (1–500 characters).
    #[oai(validator(min_length = 1, max_length = 500))]
    pub summary: Text,
    /// The full description (1–10000 characters).
    #[oai(validator(min_length = 1, max_length = 10000))]
    pub description: Opt<Text>,
    /// Where it is taught (a city of the catalog).
    pub city_id: CityId,
    /// Hours of teaching (1–10000).
    #[oai(validator(minimum(value = "1"), maximum(value = "10000")))]
    pub duration_hours: i32,
    /// Its fee.
    pub fee: Opt<Money>,
    /// Whether the website shows it.
    pub published: bool,
}

impl CourseRequest {
    fn fields(&self) -> CourseFields<'_> {
        CourseFields {
            slug: &self.slug,
            title: self.title.trim(),
            summary: self.summary.trim(),
            description: self.description.as_deref(),
            city_id: self.city_id,
            duration_hours: self.duration_hours,
            fee_minor: self.fee.as_ref().map(|m| m.amount_minor),
            currency: self.fee.as_ref().map(|m| m.currency.as_str()),
            published: self.published,
        }
    }
}

pub struct CoursesApi {
    pub db: Db,
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts {
    file: file!(),
    operations: &[
        Contract::of("createCourse").conflicts(&[Conflict::SLUG_TAKEN]),
        Contract::of("updateCourse").conflicts(&[Conflict::SLUG_TAKEN]),
    ],
    examples,
};

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<CatalogList<PublicCourse>>(json!({"items": [public_course_example()]})),
        Example::of::<CatalogList<TrainingCentre>>(
            json!({"items": [{"id": TRAINING_CENTRE, "slug": "sunrise-academy", "name": "Sunrise Academy",
                              "phone": "+911234567891", "cityIds": [CITY], "courses": 3}]}),
        ),
        Example::of::<Course>(course_example()),
        Example::of::<Page<Course>>(page(course_example())),
        Example::of::<CourseRequest>(json!({
            "slug": "caregiver-basics", "title": "Caregiver basics",
            "summary": "Six weeks from first aid to dementia care.", "cityId": CITY, "durationHours": 120,
            "fee": {"amountMinor": 1500000, "currency": "INR"}, "published": true
        })),
    ]
}

fn public_course_example() -> Value {
    json!({"id": COURSE, "slug": "sunrise-academy.caregiver-basics", "title": "Caregiver basics",
           "summary": "Six weeks from first aid to dementia care.", "cityId": CITY, "cityName": "Jaipur",
           "durationHours": 120, "fee": {"amountMinor": 1500000, "currency": "INR"},
           "provider": {"id": TRAINING_CENTRE, "slug": "sunrise-academy", "name": "Sunrise Academy"}})
}

fn course_example() -> Value {
    json!({"id": COURSE, "facilityId": TRAINING_CENTRE, "slug": "caregiver-basics", "title": "Caregiver basics",
           "summary": "Six weeks from first aid to dementia care.", "cityId": CITY, "durationHours": 120,
           "fee": {"amountMinor": 1500000, "currency": "INR"}, "published": true, "createdAt": AT, "updatedAt": AT})
}

#[OpenApi(prefix_path = "/api/v1/courses", tag = "ApiTags::Catalog")]
impl CoursesApi {
    /// The facility's courses.
    ///
    /// Newest first, published or not. Staff and facility admins (super admins: every
    /// facility's).
    #[oai(path = "/", method = "get", operation_id = "listCourses")]
    async fn list(
        &self,
        auth: BearerAuth,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<Course>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self.db.run(&auth.0, async |tx| courses::list(tx, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// Add a course.
    ///
    /// Facility admins, to their facility. It reaches the website once `published`.
    #[oai(path = "/", method = "post", operation_id = "createCourse")]
    async fn create(
        &self,
        auth: BearerAuth,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<CourseRequest>,
    ) -> Result<Created<Course>> {
        let fields = body.0.fields();
        let work = async |tx: &mut _| courses::insert(tx, &fields).await;
        idempotency::create(&self.db, &auth.0, key.0, Creates::CreateCourse, &body.0, work).await
    }

    /// A course.
    ///
    /// One of the facility's, published or not (staff and facility admins).
    #[oai(path = "/:id", method = "get", operation_id = "getCourse")]
    async fn get(&self, auth: BearerAuth, id: Path<CourseId>) -> Result<Json<Course>> {
        self.db.run(&auth.0, async |tx| courses::get(tx, id.0).await).await.map(wire)
    }

    /// Replace a course.
    ///
    /// Facility admins. Every field is replaced; `published` puts it on the website or takes it
    /// off. Every server's cached catalog follows within milliseconds (the change's NOTIFY).
    #[oai(path = "/:id", method = "put", operation_id = "updateCourse")]
    async fn update(
        &self,
        auth: BearerAuth,
        id: Path<CourseId>,
        body: JsonBody<CourseRequest>,
    ) -> Result<Json<Course>> {
        let fields = body.0.fields();
        self.db.run(&auth.0, async |tx| courses::update(tx, id.0, &fields).await).await.map(wire)
    }
}

/// A course, as its facility keeps it.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Course {
    /// Its id.
    pub id: CourseId,
    /// Its facility.
    pub facility_id: FacilityId,
    /// URL-safe handle, unique within the facility.
    pub slug: String,
    /// Its title.
    pub title: String,
    /// One or two sentences for a listing.
    pub summary: String,
    /// The full description.
    pub description: Option<String>,
    /// Where it is taught.
    pub city_id: CityId,
    /// How long it takes, in hours of teaching.
    pub duration_hours: i32,
    /// Its fee.
    pub fee: Option<Money>,
    /// Whether the website shows it.
    pub published: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<crate::db::catalog::courses::Course> for Course {
    fn from(row: crate::db::catalog::courses::Course) -> Self {
        Self {
            id: row.id,
            facility_id: row.facility_id,
            slug: row.slug,
            title: row.title,
            summary: row.summary,
            description: row.description,
            city_id: row.city_id,
            duration_hours: row.duration_hours,
            fee: row.fee.map(Into::into),
            published: row.published,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// A published course, as the website shows it.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct PublicCourse {
    /// Its id: what a lead names.
    pub id: CourseId,
    /// Its handle on the website: `{facility slug}.{course slug}`.
    pub slug: String,
    /// Its title.
    pub title: String,
    /// One or two sentences.
    pub summary: String,
    /// The full description.
    pub description: Option<String>,
    /// Where it is taught.
    pub city_id: CityId,
    /// The city's name.
    pub city_name: String,
    /// Hours of teaching.
    pub duration_hours: i32,
    /// Its fee.
    pub fee: Option<Money>,
    /// The training centre that teaches it.
    pub provider: Provider,
}

impl From<crate::db::catalog::courses::PublicCourse> for PublicCourse {
    fn from(row: crate::db::catalog::courses::PublicCourse) -> Self {
        Self {
            id: row.id,
            slug: row.slug,
            title: row.title,
            summary: row.summary,
            description: row.description,
            city_id: row.city_id,
            city_name: row.city_name,
            duration_hours: row.duration_hours,
            fee: row.fee.map(Into::into),
            provider: row.provider.into(),
        }
    }
}

/// A training centre on the website.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct TrainingCentre {
    /// The facility's id.
    pub id: FacilityId,
    /// Its handle.
    pub slug: String,
    /// Its name.
    pub name: String,
    /// Its contact phone.
    pub phone: Option<String>,
    /// Its contact email.
    pub email: Option<String>,
    /// The cities where it teaches a published course.
    pub city_ids: Vec<CityId>,
    /// How many published courses it has (in the city asked about, if one was).
    pub courses: i64,
}

impl From<crate::db::catalog::courses::TrainingCentre> for TrainingCentre {
    fn from(row: crate::db::catalog::courses::TrainingCentre) -> Self {
        Self {
            id: row.id,
            slug: row.slug,
            name: row.name,
            phone: row.phone,
            email: row.email,
            city_ids: row.city_ids,
            courses: row.courses,
        }
    }
}

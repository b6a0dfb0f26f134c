//! A facility's price list, kept by its admins.

use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use serde_json::{Value, json};

use crate::api::contract::Contracts;
use crate::api::examples::{AT, Example, PLAN_ID, SERVICE, page};
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
        finance::plans::{self, PlanFields, PlanPeriod},
    },
    domain::{
        ids::{CourseId, PlanId, ServiceId},
        page::{Cursor, Limit, PageRequest},
        text::{Opt, Text},
    },
    error::{Error, Result},
};
use chrono::{DateTime, Utc};

/// A plan's fields, all of them (creating and replacing take the same).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanRequest {
    /// Its name (1–200 characters).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: Text,
    /// The service it prices (or a course, or neither).
    pub service_id: Opt<ServiceId>,
    /// The course it prices.
    pub course_id: Opt<CourseId>,
    /// The price in minor units.
    #[oai(validator(minimum(value = "0"), maximum(value = "100000000000")))]
    pub price_minor: i64,
    /// ISO 4217, e.g. `INR`.
    #[oai(validator(pattern = "^[A-Z]{3}$"))]
    pub currency: Text,
    /// How often it is charged.
    pub period: PlanPeriod,
    /// Offered now (default true).
    pub active: Opt<bool>,
}

impl PlanRequest {
    fn fields(&self) -> Result<PlanFields<'_>> {
        if self.service_id.is_some() && self.course_id.is_some() {
            return Err(Error::invalid("courseId", "a plan prices a service or a course, not both"));
        }
        Ok(PlanFields {
            name: self.name.trim(),
            service_id: self.service_id.0,
            course_id: self.course_id.0,
            price_minor: self.price_minor,
            currency: &self.currency,
            period: self.period,
            active: self.active.unwrap_or(true),
        })
    }
}

pub struct PlansApi {
    pub db: Db,
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts { file: file!(), operations: &[], examples };

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<Plan>(plan_example()),
        Example::of::<Page<Plan>>(page(plan_example())),
        Example::of::<PlanRequest>(
            json!({"name": "Home nursing, 12-hour shift", "serviceId": SERVICE, "priceMinor": 180000,
                   "currency": "INR", "period": "per_visit"}),
        ),
    ]
}

fn plan_example() -> Value {
    json!({"id": PLAN_ID, "name": "Home nursing, 12-hour shift", "serviceId": SERVICE, "priceMinor": 180000,
           "currency": "INR", "period": "per_visit", "active": true, "createdAt": AT, "updatedAt": AT})
}

#[OpenApi(prefix_path = "/api/v1/plans", tag = "ApiTags::Finance")]
impl PlansApi {
    /// Plans.
    ///
    /// The facility's price list, newest first. Facility admins.
    #[oai(path = "/", method = "get", operation_id = "listPlans")]
    async fn list(
        &self,
        auth: BearerAuth,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<Plan>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self.db.run(&auth.0, async |tx| plans::list(tx, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// Add a plan.
    ///
    /// Facility admins: a price for a service, a course, or anything else the facility bills.
    #[oai(path = "/", method = "post", operation_id = "createPlan")]
    async fn create(
        &self,
        auth: BearerAuth,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<PlanRequest>,
    ) -> Result<Created<Plan>> {
        let fields = body.0.fields()?;
        let work = async |tx: &mut _| plans::insert(tx, &fields).await;
        idempotency::create(&self.db, &auth.0, key.0, Creates::CreatePlan, &body.0, work).await
    }

    /// Replace a plan.
    ///
    /// Facility admins. Invoices already issued keep the prices they were issued with.
    #[oai(path = "/:id", method = "put", operation_id = "updatePlan")]
    async fn update(
        &self,
        auth: BearerAuth,
        id: Path<PlanId>,
        body: JsonBody<PlanRequest>,
    ) -> Result<Json<Plan>> {
        let fields = body.0.fields()?;
        self.db.run(&auth.0, async |tx| plans::update(tx, id.0, &fields).await).await.map(wire)
    }
}

/// A price on the facility's list.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Plan {
    /// Its id.
    pub id: PlanId,
    /// Its name, e.g. `Home nursing, 12-hour shift`.
    pub name: String,
    /// The service it prices.
    pub service_id: Option<ServiceId>,
    /// The course it prices.
    pub course_id: Option<CourseId>,
    /// The price, in minor units.
    pub price_minor: i64,
    /// ISO 4217.
    pub currency: String,
    /// How often it is charged.
    pub period: PlanPeriod,
    /// Whether it is offered now.
    pub active: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<crate::db::finance::plans::Plan> for Plan {
    fn from(row: crate::db::finance::plans::Plan) -> Self {
        Self {
            id: row.id,
            name: row.name,
            service_id: row.service_id,
            course_id: row.course_id,
            price_minor: row.price_minor,
            currency: row.currency,
            period: row.period,
            active: row.active,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

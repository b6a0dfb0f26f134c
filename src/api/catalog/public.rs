//! The public website: the catalog (cached, see [`cache`](super::cache))
//! and the lead form. No credentials; every read runs as `carego_public`,
//! whose policies show published rows only.

use std::sync::Arc;

use poem::Request;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use serde_json::json;

use super::cache::{Cached, CatalogCache};
use crate::api::catalog::cities::City;
use crate::api::catalog::courses::PublicCourse;
use crate::api::catalog::courses::TrainingCentre;
use crate::api::catalog::services::PublicService;
use crate::api::contract::{Contract, Contracts};
use crate::api::examples::{CITY, Example, LEAD, SERVICE};
use crate::{
    api::{ApiTags, body::JsonBody, wire_all},
    auth::{rate_limit::RateLimiter, registration::KeyHasher},
    db::{
        Db,
        catalog::{
            cities, courses,
            leads::{self, LeadType, Submission},
            services,
        },
    },
    domain::{
        contact::{Email, Phone},
        ids::{CityId, CourseId, LeadId, ServiceId},
        text::{Opt, Text},
    },
    error::{Error, Result, Validator},
    identity::RequestMeta,
};

/// A list from the catalog: all of it, by name (at most 500 items).
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct CatalogList<T: poem_openapi::types::ParseFromJSON + poem_openapi::types::ToJSON + Send + Sync> {
    /// The items.
    pub items: Vec<T>,
}

/// The lead form.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct LeadRequest {
    /// Care (`service`) or training (`training`).
    pub lead_type: LeadType,
    /// Who is asking (1–200 characters).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: Text,
    /// Phone number: 10–15 digits, optionally starting with `+`.
    #[oai(validator(max_length = 32))]
    pub phone: Text,
    /// Email address.
    #[oai(validator(max_length = 254))]
    pub email: Opt<Text>,
    /// The city they are in.
    pub city_id: Opt<CityId>,
    /// The published service they ask about (service leads).
    pub service_id: Opt<ServiceId>,
    /// The published course they ask about (training leads).
    pub course_id: Opt<CourseId>,
    /// What they want to tell us (1–2000 characters).
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub message: Opt<Text>,
    /// Leave out or empty. The website hides this field from people; a form that fills it
    /// in is a robot's, and is answered as if accepted but not kept.
    #[oai(validator(max_length = 500))]
    pub website: Opt<Text>,
}

/// What the website gets back for a lead.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct LeadReceipt {
    /// The lead's reference. The same form sent again the same day gets the same one.
    pub reference: LeadId,
}

/// 202: the lead is received.
#[derive(ApiResponse)]
pub enum LeadReceived {
    /// Received: the facility (or the platform) will be in touch.
    #[oai(status = 202)]
    Accepted(Json<LeadReceipt>),
}

/// A validated lead, before routing.
struct ValidLead {
    lead_type: LeadType,
    name: String,
    phone: Phone,
    email: Option<Email>,
    city_id: Option<CityId>,
    service_id: Option<ServiceId>,
    course_id: Option<CourseId>,
    message: Option<String>,
    robot: bool,
}

impl LeadRequest {
    fn validate(&self) -> Result<ValidLead> {
        let mut v = Validator::default();
        let phone = v.ok(Phone::parse(&self.phone), "phone");
        let email = self.email.as_deref().map(Email::parse).and_then(|r| v.ok(r, "email"));
        v.check(!self.name.trim().is_empty(), "name", "must not be blank");
        v.check(
            self.service_id.is_none() || self.lead_type == LeadType::Service,
            "serviceId",
            "only a service lead names a service",
        );
        v.check(
            self.course_id.is_none() || self.lead_type == LeadType::Training,
            "courseId",
            "only a training lead names a course",
        );
        v.finish()?;
        Ok(ValidLead {
            lead_type: self.lead_type,
            name: self.name.trim().to_owned(),
            phone: phone.expect("validated"),
            email,
            city_id: self.city_id.0,
            service_id: self.service_id.0,
            course_id: self.course_id.0,
            message: self.message.as_deref().map(str::to_owned),
            robot: self.website.as_deref().is_some_and(|w| !w.trim().is_empty()),
        })
    }
}

impl ValidLead {
    /// Its reference: the same person asking the same thing on the same
    /// (UTC) day is one lead, however often the form is sent.
    fn reference(&self, hasher: &KeyHasher) -> LeadId {
        let target = self
            .service_id
            .map(|s| s.0)
            .or(self.course_id.map(|c| c.0))
            .or(self.city_id.map(|c| c.0))
            .map(|id| id.to_string())
            .unwrap_or_default();
        let day = chrono::Utc::now().date_naive().to_string();
        LeadId(hasher.derive_id("lead", &[self.lead_type.as_str(), self.phone.as_str(), &target, &day]))
    }
}

pub struct PublicApi {
    pub db: Db,
    pub cache: Arc<CatalogCache>,
    pub lead_limiter: Arc<RateLimiter>,
    pub key_hasher: Arc<KeyHasher>,
}

impl PublicApi {
    async fn cached<T>(
        &self,
        req: &Request,
        key: String,
        if_none_match: Option<String>,
        load: impl AsyncFnOnce(&mut crate::db::TenantTx) -> Result<T>,
    ) -> Result<Cached<T>>
    where
        T: poem_openapi::types::ToJSON + Send + Sync,
    {
        let meta = RequestMeta::from_request(req);
        self.cache
            .answer(key, if_none_match.as_deref(), async || {
                self.db.run_public(&meta.request_id, meta.ip.as_deref(), load).await
            })
            .await
    }
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts {
    file: file!(),
    operations: &[Contract::of("submitLead").names_a_record_outside_its_path().rate_limited()],
    examples,
};

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<LeadRequest>(
            json!({"leadType": "service", "name": "Asha Verma", "phone": "+91 98123 45678",
                   "email": "asha@example.com", "cityId": CITY, "serviceId": SERVICE,
                   "message": "Nursing for my father after his surgery, mornings."}),
        ),
        Example::of::<LeadReceipt>(json!({"reference": LEAD})),
    ]
}

#[OpenApi(prefix_path = "/api/v1/public", tag = "ApiTags::Public")]
impl PublicApi {
    /// Cities.
    ///
    /// The cities the platform serves, by name. Cached: `ETag`, `If-None-Match` (304) and
    /// `Cache-Control: public, max-age=60`.
    #[oai(path = "/cities", method = "get", operation_id = "listPublicCities")]
    async fn cities(
        &self,
        req: &Request,
        /// The `ETag` of the answer you hold: 304 while it is still current.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> Result<Cached<CatalogList<City>>> {
        self.cached(req, "cities".into(), if_none_match.0, async |tx| {
            Ok(CatalogList { items: wire_all(cities::list(tx).await?) })
        })
        .await
    }

    /// Services.
    ///
    /// Published services of active facilities, by name; in one city with `cityId`. Cached
    /// like the cities.
    #[oai(path = "/services", method = "get", operation_id = "listPublicServices")]
    async fn services(
        &self,
        req: &Request,
        /// Only this city's.
        #[oai(name = "cityId")]
        city_id: Query<Option<CityId>>,
        /// The `ETag` of the answer you hold: 304 while it is still current.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> Result<Cached<CatalogList<PublicService>>> {
        let key = format!("services?{}", city_id.0.map(|c| c.0.to_string()).unwrap_or_default());
        self.cached(req, key, if_none_match.0, async |tx| {
            Ok(CatalogList { items: wire_all(services::public_list(tx, city_id.0).await?) })
        })
        .await
    }

    /// A service.
    ///
    /// One published service by its handle, `{facility slug}.{service slug}`, with its full
    /// description. 404 for a draft or an unknown handle alike. Cached like the cities.
    #[oai(path = "/services/:slug", method = "get", operation_id = "getPublicService")]
    async fn service(
        &self,
        req: &Request,
        /// `{facility slug}.{service slug}`, as `slug` in the list.
        slug: Path<String>,
        /// The `ETag` of the answer you hold: 304 while it is still current.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> Result<Cached<PublicService>> {
        // Longer than any two slugs and a dot: no such service, and no cache entry for it.
        if slug.0.len() > 127 {
            return Err(Error::NotFound);
        }
        let key = format!("service/{}", slug.0);
        self.cached(req, key, if_none_match.0, async |tx| {
            services::public_get(tx, &slug.0).await.map(Into::into)
        })
        .await
    }

    /// Courses.
    ///
    /// Published courses of active training centres, by title; in one city with `cityId`.
    /// Cached like the cities.
    #[oai(path = "/courses", method = "get", operation_id = "listPublicCourses")]
    async fn courses(
        &self,
        req: &Request,
        /// Only this city's.
        #[oai(name = "cityId")]
        city_id: Query<Option<CityId>>,
        /// The `ETag` of the answer you hold: 304 while it is still current.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> Result<Cached<CatalogList<PublicCourse>>> {
        let key = format!("courses?{}", city_id.0.map(|c| c.0.to_string()).unwrap_or_default());
        self.cached(req, key, if_none_match.0, async |tx| {
            Ok(CatalogList { items: wire_all(courses::public_list(tx, city_id.0).await?) })
        })
        .await
    }

    /// Training centres.
    ///
    /// Active training centres with a published course (in `cityId`, if given), by name.
    /// Cached like the cities.
    #[oai(path = "/training-centers", method = "get", operation_id = "listPublicTrainingCenters")]
    async fn training_centres(
        &self,
        req: &Request,
        /// Only this city's.
        #[oai(name = "cityId")]
        city_id: Query<Option<CityId>>,
        /// The `ETag` of the answer you hold: 304 while it is still current.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> Result<Cached<CatalogList<TrainingCentre>>> {
        let key = format!("centres?{}", city_id.0.map(|c| c.0.to_string()).unwrap_or_default());
        self.cached(req, key, if_none_match.0, async |tx| {
            Ok(CatalogList { items: wire_all(courses::public_training_centres(tx, city_id.0).await?) })
        })
        .await
    }

    /// Send the lead form.
    ///
    /// A lead about a published service or course goes to the facility that published it;
    /// one that names neither goes to the platform's own team. Sending the same form again
    /// the same day files nothing new and answers with the same `reference` (the form is
    /// its own idempotency key). A service or course that is not published is 404. Rate
    /// limited per IP (429 with `Retry-After`).
    #[oai(path = "/leads", method = "post", operation_id = "submitLead")]
    async fn submit_lead(&self, req: &Request, body: JsonBody<LeadRequest>) -> Result<LeadReceived> {
        let meta = RequestMeta::from_request(req);
        self.lead_limiter.check(meta.ip.as_deref().unwrap_or("unknown")).await?;
        let lead = body.0.validate()?;
        let reference = lead.reference(&self.key_hasher);
        if lead.robot {
            tracing::info!("lead form with the hidden field filled in; not kept");
        } else {
            self.db
                .run_public(&meta.request_id, meta.ip.as_deref(), async |tx| file(tx, &lead, reference).await)
                .await?;
        }
        Ok(LeadReceived::Accepted(Json(LeadReceipt { reference })))
    }
}

/// Routes the lead to whoever published what it names, and files it.
async fn file(tx: &mut crate::db::TenantTx, lead: &ValidLead, id: LeadId) -> Result<()> {
    let facility_id = match (lead.service_id, lead.course_id) {
        (Some(s), _) => Some(services::public_facility(tx, s).await?.ok_or(Error::NotFound)?),
        (_, Some(c)) => Some(courses::public_facility(tx, c).await?.ok_or(Error::NotFound)?),
        (None, None) => None,
    };
    leads::submit(
        tx,
        &Submission {
            id,
            facility_id,
            lead_type: lead.lead_type,
            name: &lead.name,
            phone: lead.phone.as_str(),
            email: lead.email.as_ref().map(Email::as_str),
            city_id: lead.city_id,
            service_id: lead.service_id,
            course_id: lead.course_id,
            message: lead.message.as_deref(),
        },
    )
    .await
}

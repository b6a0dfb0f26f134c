//! A facility's services: its admins keep them and publish them to the website.

use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use serde_json::{Value, json};

use super::public::CatalogList;
use crate::api::contract::{Contract, Contracts};
use crate::api::examples::{AT, CITY, Example, FACILITY, SERVICE, page};
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
        catalog::services::{self, ServiceFields},
    },
    domain::{
        ids::{CityId, ServiceId},
        page::{Cursor, Limit, PageRequest},
        text::{Opt, Text},
    },
    error::Result,
};
use chrono::{DateTime, Utc};

/// A service's fields, all of them (creating and replacing take the same).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceRequest {
    /// URL-safe handle, unique within the facility: lower-case letters, digits and dashes
    /// (2–63). The website's handle is `{facility slug}.{this}`.
    #[oai(validator(pattern = r"^[a-z0-9][a-z0-9-]{1,62}$"))]
    pub slug: Text,
    /// Its name (1–200 characters).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: Text,
    /// One or two sentences for a listing (1–500 characters).
    #[oai(validator(min_length = 1, max_length = 500))]
    pub summary: Text,
    /// The full description (1–10000 characters).
    #[oai(validator(min_length = 1, max_length = 10000))]
    pub description: Opt<Text>,
    /// Where it is offered (a city of the catalog).
    pub city_id: CityId,
    /// The lowest price.
    pub price_from: Opt<Money>,
    /// Whether the website shows it.
    pub published: bool,
}

impl ServiceRequest {
    fn fields(&self) -> ServiceFields<'_> {
        ServiceFields {
            slug: &self.slug,
            name: self.name.trim(),
            summary: self.summary.trim(),
            description: self.description.as_deref(),
            city_id: self.city_id,
            price_minor: self.price_from.as_ref().map(|m| m.amount_minor),
            currency: self.price_from.as_ref().map(|m| m.currency.as_str()),
            published: self.published,
        }
    }
}

pub struct ServicesApi {
    pub db: Db,
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts {
    file: file!(),
    operations: &[
        Contract::of("createService").conflicts(&[Conflict::SLUG_TAKEN]),
        Contract::of("updateService").conflicts(&[Conflict::SLUG_TAKEN]),
    ],
    examples,
};

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<CatalogList<PublicService>>(json!({"items": [public_service_example()]})),
        Example::of::<PublicService>(public_service_example()),
        Example::of::<Service>(service_example()),
        Example::of::<Page<Service>>(page(service_example())),
        Example::of::<ServiceRequest>(json!({
            "slug": "home-nursing", "name": "Home nursing",
            "summary": "A trained nurse at home, by the visit or around the clock.", "cityId": CITY,
            "priceFrom": {"amountMinor": 79900, "currency": "INR"}, "published": true
        })),
    ]
}

fn public_service_example() -> Value {
    json!({"id": SERVICE, "slug": "sunrise-care.home-nursing", "name": "Home nursing",
           "summary": "A trained nurse at home, by the visit or around the clock.",
           "description": "Wound care, injections, medication rounds and vitals, by nurses with three years' experience.",
           "cityId": CITY, "cityName": "Jaipur", "priceFrom": {"amountMinor": 79900, "currency": "INR"},
           "provider": {"id": FACILITY, "slug": "sunrise-care", "name": "Sunrise Home Care",
                        "phone": "+911234567890", "email": "hello@sunrise.example"}})
}

fn service_example() -> Value {
    json!({"id": SERVICE, "facilityId": FACILITY, "slug": "home-nursing", "name": "Home nursing",
           "summary": "A trained nurse at home, by the visit or around the clock.", "cityId": CITY,
           "priceFrom": {"amountMinor": 79900, "currency": "INR"}, "published": true,
           "createdAt": AT, "updatedAt": AT})
}

#[OpenApi(prefix_path = "/api/v1/services", tag = "ApiTags::Catalog")]
impl ServicesApi {
    /// The facility's services.
    ///
    /// Newest first, published or not. Staff and facility admins (super admins: every
    /// facility's).
    #[oai(path = "/", method = "get", operation_id = "listServices")]
    async fn list(
        &self,
        auth: BearerAuth,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<Service>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self.db.run(&auth.0, async |tx| services::list(tx, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// Add a service.
    ///
    /// Facility admins, to their facility. It reaches the website once `published`.
    #[oai(path = "/", method = "post", operation_id = "createService")]
    async fn create(
        &self,
        auth: BearerAuth,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<ServiceRequest>,
    ) -> Result<Created<Service>> {
        let fields = body.0.fields();
        let work = async |tx: &mut _| services::insert(tx, &fields).await;
        idempotency::create(&self.db, &auth.0, key.0, Creates::CreateService, &body.0, work).await
    }

    /// A service.
    ///
    /// One of the facility's, published or not (staff and facility admins).
    #[oai(path = "/:id", method = "get", operation_id = "getService")]
    async fn get(&self, auth: BearerAuth, id: Path<ServiceId>) -> Result<Json<Service>> {
        self.db.run(&auth.0, async |tx| services::get(tx, id.0).await).await.map(wire)
    }

    /// Replace a service.
    ///
    /// Facility admins. Every field is replaced; `published` puts it on the website or takes it
    /// off. Every server's cached catalog follows within milliseconds (the change's NOTIFY).
    #[oai(path = "/:id", method = "put", operation_id = "updateService")]
    async fn update(
        &self,
        auth: BearerAuth,
        id: Path<ServiceId>,
        body: JsonBody<ServiceRequest>,
    ) -> Result<Json<Service>> {
        let fields = body.0.fields();
        self.db.run(&auth.0, async |tx| services::update(tx, id.0, &fields).await).await.map(wire)
    }
}

/// An amount of money: integer minor units (paise, cents) and its currency.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct Money {
    /// In the currency's minor unit (₹499.00 is `49900`), not negative.
    #[oai(validator(minimum(value = "0"), maximum(value = "100000000000")))]
    pub amount_minor: i64,
    /// ISO 4217 code, e.g. `INR`.
    #[oai(validator(pattern = "^[A-Z]{3}$"))]
    pub currency: String,
}

impl From<crate::db::catalog::services::Money> for Money {
    fn from(row: crate::db::catalog::services::Money) -> Self {
        Self { amount_minor: row.amount_minor, currency: row.currency }
    }
}

/// A service, as its facility keeps it.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Service {
    /// Its id.
    pub id: ServiceId,
    /// Its facility.
    pub facility_id: FacilityId,
    /// URL-safe handle, unique within the facility.
    pub slug: String,
    /// Its name.
    pub name: String,
    /// One or two sentences for a listing.
    pub summary: String,
    /// The full description.
    pub description: Option<String>,
    /// Where it is offered.
    pub city_id: CityId,
    /// The lowest price.
    pub price_from: Option<Money>,
    /// Whether the website shows it.
    pub published: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<crate::db::catalog::services::Service> for Service {
    fn from(row: crate::db::catalog::services::Service) -> Self {
        Self {
            id: row.id,
            facility_id: row.facility_id,
            slug: row.slug,
            name: row.name,
            summary: row.summary,
            description: row.description,
            city_id: row.city_id,
            price_from: row.price_from.map(Into::into),
            published: row.published,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// Who offers something on the website.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Provider {
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
}

impl From<crate::db::catalog::services::Provider> for Provider {
    fn from(row: crate::db::catalog::services::Provider) -> Self {
        Self { id: row.id, slug: row.slug, name: row.name, phone: row.phone, email: row.email }
    }
}

/// A published service, as the website shows it.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct PublicService {
    /// Its id: what a lead names.
    pub id: ServiceId,
    /// Its handle on the website: `{facility slug}.{service slug}`.
    pub slug: String,
    /// Its name.
    pub name: String,
    /// One or two sentences.
    pub summary: String,
    /// The full description (on the detail only).
    pub description: Option<String>,
    /// Where it is offered.
    pub city_id: CityId,
    /// The city's name.
    pub city_name: String,
    /// The lowest price.
    pub price_from: Option<Money>,
    /// Who offers it.
    pub provider: Provider,
}

impl From<crate::db::catalog::services::PublicService> for PublicService {
    fn from(row: crate::db::catalog::services::PublicService) -> Self {
        Self {
            id: row.id,
            slug: row.slug,
            name: row.name,
            summary: row.summary,
            description: row.description,
            city_id: row.city_id,
            city_name: row.city_name,
            price_from: row.price_from.map(Into::into),
            provider: row.provider.into(),
        }
    }
}

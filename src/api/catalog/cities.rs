//! The catalog's cities, kept by super admins.

use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path},
    payload::Json,
};
use serde_json::{Value, json};

use super::public::CatalogList;
use crate::api::contract::{Contract, Contracts};
use crate::api::examples::{CITY, Example};
use crate::error::Conflict;
use crate::{
    api::{
        ApiTags, Created,
        body::JsonBody,
        idempotency::{self, Creates, IdempotencyKey},
    },
    api::{wire, wire_all},
    auth::BearerAuth,
    db::{
        Db,
        catalog::cities::{self, CityFields},
    },
    domain::{
        ids::CityId,
        text::{Opt, Text},
    },
    error::Result,
};

/// A new city.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct NewCityRequest {
    /// URL-safe handle: lower-case letters, digits and dashes (2–63), e.g. `jaipur`. It never
    /// changes.
    #[oai(validator(pattern = r"^[a-z0-9][a-z0-9-]{1,62}$"))]
    pub slug: Text,
    /// Its name (1–100 characters).
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: Text,
    /// State, province or region (1–100 characters).
    #[oai(validator(min_length = 1, max_length = 100))]
    pub region: Opt<Text>,
    /// Whether the website lists it (default true).
    pub active: Opt<bool>,
}

/// A city's editable fields, all of them.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct CityUpdateRequest {
    /// Its name (1–100 characters).
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: Text,
    /// State, province or region; absent clears it.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub region: Opt<Text>,
    /// Whether the website lists it.
    pub active: bool,
}

pub struct CitiesApi {
    pub db: Db,
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts {
    file: file!(),
    operations: &[Contract::of("createCity").conflicts(&[Conflict::CITY_SLUG_TAKEN])],
    examples,
};

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<CatalogList<City>>(json!({"items": [city_example()]})),
        Example::of::<City>(city_example()),
        Example::of::<NewCityRequest>(json!({"slug": "jaipur", "name": "Jaipur", "region": "Rajasthan"})),
        Example::of::<CityUpdateRequest>(json!({"name": "Jaipur", "region": "Rajasthan", "active": true})),
    ]
}

fn city_example() -> Value {
    json!({"id": CITY, "slug": "jaipur", "name": "Jaipur", "region": "Rajasthan", "active": true})
}

#[OpenApi(prefix_path = "/api/v1/cities", tag = "ApiTags::Catalog")]
impl CitiesApi {
    /// Cities.
    ///
    /// The active cities, by name (super admins: all of them, inactive too).
    #[oai(path = "/", method = "get", operation_id = "listCities")]
    async fn list(&self, auth: BearerAuth) -> Result<Json<CatalogList<City>>> {
        let items = self.db.run(&auth.0, async |tx| cities::list(tx).await).await?;
        Ok(Json(CatalogList { items: wire_all(items) }))
    }

    /// Add a city.
    ///
    /// Super admins. Services and courses are offered in cities.
    #[oai(path = "/", method = "post", operation_id = "createCity")]
    async fn create(
        &self,
        auth: BearerAuth,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<NewCityRequest>,
    ) -> Result<Created<City>> {
        let b = &body.0;
        let fields =
            CityFields { name: b.name.trim(), region: b.region.as_deref(), active: b.active.unwrap_or(true) };
        let work = async |tx: &mut _| cities::insert(tx, &b.slug, &fields).await;
        idempotency::create(&self.db, &auth.0, key.0, Creates::CreateCity, b, work).await
    }

    /// Change a city.
    ///
    /// Super admins: rename it, or take it off the website (`active: false`) and back.
    #[oai(path = "/:id", method = "put", operation_id = "updateCity")]
    async fn update(
        &self,
        auth: BearerAuth,
        id: Path<CityId>,
        body: JsonBody<CityUpdateRequest>,
    ) -> Result<Json<City>> {
        let b = &body.0;
        let fields = CityFields { name: b.name.trim(), region: b.region.as_deref(), active: b.active };
        self.db.run(&auth.0, async |tx| cities::update(tx, id.0, &fields).await).await.map(wire)
    }
}

/// A city.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct City {
    /// Its id.
    pub id: CityId,
    /// URL-safe unique handle, e.g. `jaipur`.
    pub slug: String,
    /// Its name.
    pub name: String,
    /// State, province or region.
    pub region: Option<String>,
    /// Whether the website lists it.
    pub active: bool,
}

impl From<crate::db::catalog::cities::City> for City {
    fn from(row: crate::db::catalog::cities::City) -> Self {
        Self { id: row.id, slug: row.slug, name: row.name, region: row.region, active: row.active }
    }
}

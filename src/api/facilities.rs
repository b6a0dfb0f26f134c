//! Facilities: super admins create, edit, suspend and reactivate them; a
//! facility's own members can read their facility. Creating one creates its
//! first facility admin in the same transaction.

use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
    types::MaybeUndefined,
};

use super::{ApiTags, Created, idempotency::create_idempotently, pagination::PageRequest};
use crate::{
    api::users::{NewUserRequest, parse_contact},
    auth::{BearerAuth, Role},
    db::{
        Db,
        facilities::{self, Facility, FacilityKind, FacilityPatch, FacilityStatus, NewFacility},
        users::{self, User},
    },
    domain::{
        ids::FacilityId,
        text::{Opt, Text},
    },
    error::{BodyResult, Result, Validator},
};

pub struct FacilitiesApi {
    pub db: Db,
}

/// A new facility and its first facility admin.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateFacilityRequest {
    /// Lower-case letters, digits and dashes; 2–63 characters; unique.
    #[oai(validator(pattern = r"^[a-z0-9][a-z0-9-]{1,62}$"))]
    pub slug: Text,
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: Text,
    pub kind: FacilityKind,
    /// IANA time zone; default `UTC`.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub timezone: Opt<Text>,
    #[oai(validator(min_length = 1, max_length = 100))]
    pub city: Opt<Text>,
    #[oai(validator(max_length = 32))]
    pub phone: Opt<Text>,
    #[oai(validator(max_length = 254))]
    pub email: Opt<Text>,
    /// The facility's first admin (role is always `facility_admin`).
    pub admin: NewAdmin,
}

/// The first admin of a new facility. Without a password the account is
/// `pending` until one is set.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct NewAdmin {
    #[oai(validator(max_length = 254))]
    pub email: Opt<Text>,
    #[oai(validator(max_length = 32))]
    pub phone: Opt<Text>,
    #[oai(validator(min_length = 10, max_length = 128))]
    pub password: Opt<Text>,
    #[oai(validator(min_length = 1, max_length = 100))]
    pub first_name: Text,
    #[oai(validator(min_length = 1, max_length = 100))]
    pub last_name: Text,
}

/// The created facility and its admin.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct FacilityCreated {
    pub facility: Facility,
    pub admin: User,
}

/// A partial update. Absent fields stay; `null` clears an optional field.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateFacilityRequest {
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: Opt<Text>,
    pub kind: Opt<FacilityKind>,
    #[oai(validator(min_length = 1, max_length = 64))]
    pub timezone: Opt<Text>,
    #[oai(validator(min_length = 1, max_length = 100))]
    pub city: MaybeUndefined<Text>,
    #[oai(validator(max_length = 32))]
    pub phone: MaybeUndefined<Text>,
    #[oai(validator(max_length = 254))]
    pub email: MaybeUndefined<Text>,
}

/// Why a facility's status changes (recorded in the audit log).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct StatusChangeReason {
    #[oai(validator(min_length = 1, max_length = 500))]
    pub reason: Opt<Text>,
}

/// A page of facilities.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct FacilityPage {
    pub items: Vec<Facility>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[OpenApi(prefix_path = "/api/v1/facilities", tag = "ApiTags::Facilities")]
impl FacilitiesApi {
    /// List facilities (super admins: all; others: their own).
    #[oai(path = "/", method = "get", operation_id = "listFacilities")]
    async fn list(
        &self,
        auth: BearerAuth,
        status: Query<Option<FacilityStatus>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u32>>,
        #[oai(validator(max_length = 200))] cursor: Query<Option<String>>,
    ) -> Result<Json<FacilityPage>> {
        let page = PageRequest::parse(limit.0, cursor.0.as_deref())?;
        let mut tx = self.db.begin(&auth.0).await?;
        let rows = facilities::list(&mut tx, status.0, &page).await?;
        tx.commit().await?;
        let (items, next_cursor) = page.finish(rows, |f| (f.created_at, f.id.0));
        Ok(Json(FacilityPage { items, next_cursor }))
    }

    /// Create a facility and its first facility admin (super admin).
    #[oai(path = "/", method = "post", operation_id = "createFacility")]
    async fn create(
        &self,
        auth: BearerAuth,
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 200))] key: Header<
            Option<String>,
        >,
        body: Json<CreateFacilityRequest>,
    ) -> BodyResult<Created<FacilityCreated>> {
        let request = poem_openapi::types::ToJSON::to_json(&body.0).unwrap_or_default();
        let b = body.0;
        let mut v = Validator::default();
        let contact = parse_contact(&mut v, "", b.email.as_deref(), b.phone.as_deref());
        let admin_req = NewUserRequest {
            facility_id: Opt(None),
            email: b.admin.email,
            phone: b.admin.phone,
            password: b.admin.password,
            role: Role::FacilityAdmin,
            first_name: b.admin.first_name,
            last_name: b.admin.last_name,
            job_title: Opt(None),
        };
        let mut admin = admin_req.validate(&mut v, "admin.");
        v.finish()?;
        let admin_hash = admin.hash_password().await?;

        let new = NewFacility {
            slug: &b.slug,
            name: &b.name,
            kind: b.kind,
            timezone: b.timezone.as_deref().unwrap_or("UTC"),
            city: b.city.as_deref(),
            phone: contact.phone.as_ref().map(|p| p.as_str()),
            email: contact.email.as_ref().map(|e| e.as_str()),
        };
        let mut tx = self.db.begin(&auth.0).await?;
        create_idempotently!(tx, key.0.as_deref(), "createFacility", &request, {
            let facility = facilities::insert(&mut tx, &new).await?;
            let admin = users::insert(&mut tx, &admin.to_new_user(Some(facility.id), admin_hash)).await?;
            FacilityCreated { facility, admin }
        })
    }

    /// Get a facility (404 if it is not visible to you).
    #[oai(path = "/:id", method = "get", operation_id = "getFacility")]
    async fn get(&self, auth: BearerAuth, id: Path<FacilityId>) -> Result<Json<Facility>> {
        let mut tx = self.db.begin(&auth.0).await?;
        let facility = facilities::get(&mut tx, id.0).await?;
        tx.commit().await?;
        Ok(Json(facility))
    }

    /// Update a facility's details (super admin).
    #[oai(path = "/:id", method = "patch", operation_id = "updateFacility")]
    async fn update(
        &self,
        auth: BearerAuth,
        id: Path<FacilityId>,
        body: Json<UpdateFacilityRequest>,
    ) -> BodyResult<Json<Facility>> {
        let b = body.0;
        let mut v = Validator::default();
        let phone = b.phone.value().map(|t| &**t);
        let email = b.email.value().map(|t| &**t);
        let contact = parse_contact(&mut v, "", email, phone);
        v.finish()?;
        let patch = FacilityPatch {
            name: b.name.as_deref(),
            kind: b.kind.0,
            timezone: b.timezone.as_deref(),
            city: b.city.as_opt_deref(),
            phone: b.phone.as_opt_ref().map(|_| contact.phone.as_ref().map(|p| p.as_str())),
            email: b.email.as_opt_ref().map(|_| contact.email.as_ref().map(|e| e.as_str())),
        };
        let mut tx = self.db.begin(&auth.0).await?;
        let facility = facilities::update(&mut tx, id.0, &patch).await?;
        tx.commit().await?;
        Ok(Json(facility))
    }

    /// Suspend a facility: its users are refused (403) from their next request.
    #[oai(path = "/:id/suspend", method = "post", operation_id = "suspendFacility")]
    async fn suspend(
        &self,
        auth: BearerAuth,
        id: Path<FacilityId>,
        body: Json<StatusChangeReason>,
    ) -> BodyResult<Json<Facility>> {
        self.set_status(auth, id.0, FacilityStatus::Suspended, body.0.reason.0.map(String::from))
            .await
            .map_err(Into::into)
    }

    /// Reactivate a suspended facility.
    #[oai(path = "/:id/reactivate", method = "post", operation_id = "reactivateFacility")]
    async fn reactivate(
        &self,
        auth: BearerAuth,
        id: Path<FacilityId>,
        body: Json<StatusChangeReason>,
    ) -> BodyResult<Json<Facility>> {
        self.set_status(auth, id.0, FacilityStatus::Active, body.0.reason.0.map(String::from))
            .await
            .map_err(Into::into)
    }
}

impl FacilitiesApi {
    async fn set_status(
        &self,
        auth: BearerAuth,
        id: FacilityId,
        status: FacilityStatus,
        reason: Option<String>,
    ) -> Result<Json<Facility>> {
        let principal = auth.0.with_reason(reason);
        let mut tx = self.db.begin(&principal).await?;
        let facility = facilities::set_status(&mut tx, id, status).await?;
        tx.commit().await?;
        Ok(Json(facility))
    }
}

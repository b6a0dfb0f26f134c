//! Facilities: super admins create, edit, suspend and reactivate them; a
//! facility's own members can read their facility. Creating one creates its
//! first facility admin in the same transaction.

use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use serde_json::{Value, json};

use crate::api::accounts::users::User;
use crate::api::accounts::users::user_example;
use crate::api::contract::{Contract, Contracts};
use crate::api::examples::{AT, Example, FACILITY, page};
use crate::error::Conflict;
use crate::{
    api::wire,
    api::{
        ApiTags, Created,
        accounts::users::{Contact, NewUserRequest, ValidNewUser, parse_contact},
        body::JsonBody,
        idempotency::{self, Creates, IdempotencyKey},
        page::Page,
    },
    auth::BearerAuth,
    db::{
        Db,
        accounts::{
            facilities::{self, FacilityKind, FacilityPatch, FacilityStatus, NewFacility},
            users::{self},
        },
    },
    domain::{
        ids::FacilityId,
        page::{Cursor, Limit, PageRequest},
        text::{Nullable, Opt, Text},
    },
    error::{Result, Validator},
    identity::Role,
};
use chrono::{DateTime, Utc};

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
    /// Display name (1–200 characters).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: Text,
    /// What the facility does.
    pub kind: FacilityKind,
    /// IANA time zone; default `UTC`.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub timezone: Opt<Text>,
    /// City (1–100 characters).
    #[oai(validator(min_length = 1, max_length = 100))]
    pub city: Opt<Text>,
    /// The facility's contact phone number (10–15 digits, optional `+`).
    #[oai(validator(max_length = 32))]
    pub phone: Opt<Text>,
    /// The facility's contact email.
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
    /// Email address (stored lower-case); unique across the platform.
    #[oai(validator(max_length = 254))]
    pub email: Opt<Text>,
    /// Phone number: 10–15 digits, optionally starting with `+` (spaces, dashes, dots and parentheses are dropped); unique across the platform.
    #[oai(validator(max_length = 32))]
    pub phone: Opt<Text>,
    /// At least 10 characters; without one the account is `pending`.
    #[oai(validator(min_length = 10, max_length = 128))]
    pub password: Opt<Text>,
    /// Given name (1–100 characters).
    #[oai(validator(min_length = 1, max_length = 100))]
    pub first_name: Text,
    /// Family name (1–100 characters).
    #[oai(validator(min_length = 1, max_length = 100))]
    pub last_name: Text,
}

/// The created facility and its admin.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct FacilityCreated {
    /// The new facility.
    pub facility: Facility,
    /// The facility's first admin.
    pub admin: User,
}

/// A partial update. Absent fields stay; `null` clears an optional field.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateFacilityRequest {
    /// Display name (1–200 characters).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: Opt<Text>,
    /// What the facility does.
    pub kind: Opt<FacilityKind>,
    /// IANA time zone, e.g. `Asia/Kolkata`.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub timezone: Opt<Text>,
    /// City; `null` clears it.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub city: Nullable<Text>,
    /// The facility's contact phone number; `null` clears it.
    #[oai(validator(max_length = 32))]
    pub phone: Nullable<Text>,
    /// The facility's contact email; `null` clears it.
    #[oai(validator(max_length = 254))]
    pub email: Nullable<Text>,
    /// Minutes a crisis alert may wait unacknowledged before it is escalated to the facility
    /// admins (1–240).
    #[oai(validator(minimum(value = "1"), maximum(value = "240")))]
    pub crisis_escalation_minutes: Opt<i32>,
}

/// Why a facility's status changes (recorded in the audit log).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct StatusChangeReason {
    /// Why (1–500 characters); recorded in the audit log.
    #[oai(validator(min_length = 1, max_length = 500))]
    pub reason: Opt<Text>,
}

impl CreateFacilityRequest {
    /// The facility's contact details and its first admin, checked.
    fn validate(&self) -> Result<(Contact, ValidNewUser)> {
        let mut v = Validator::default();
        let contact = parse_contact(&mut v, "", self.email.as_deref(), self.phone.as_deref());
        let admin = NewUserRequest {
            facility_id: Opt(None),
            email: self.admin.email.clone(),
            phone: self.admin.phone.clone(),
            password: self.admin.password.clone(),
            role: Role::FacilityAdmin,
            first_name: self.admin.first_name.clone(),
            last_name: self.admin.last_name.clone(),
            job_title: Opt(None),
        }
        .validate(&mut v, "admin.");
        v.finish()?;
        Ok((contact, admin))
    }

    fn to_new<'a>(&'a self, contact: &'a Contact) -> NewFacility<'a> {
        NewFacility {
            slug: &self.slug,
            name: &self.name,
            kind: self.kind,
            timezone: self.timezone.as_deref().unwrap_or("UTC"),
            city: self.city.as_deref(),
            phone: contact.phone.as_ref().map(|p| p.as_str()),
            email: contact.email.as_ref().map(|e| e.as_str()),
        }
    }
}

/// The checked patch and the contact details it borrows.
struct ValidPatch<'a> {
    body: &'a UpdateFacilityRequest,
    contact: Contact,
}

impl UpdateFacilityRequest {
    fn validate(&self) -> Result<ValidPatch<'_>> {
        let mut v = Validator::default();
        let contact =
            parse_contact(&mut v, "", self.email.value().map(|t| &**t), self.phone.value().map(|t| &**t));
        v.finish()?;
        Ok(ValidPatch { body: self, contact })
    }
}

impl ValidPatch<'_> {
    fn patch(&self) -> FacilityPatch<'_> {
        let b = self.body;
        FacilityPatch {
            name: b.name.as_deref(),
            kind: b.kind.0,
            timezone: b.timezone.as_deref(),
            city: b.city.as_opt_deref(),
            phone: b.phone.as_opt_ref().map(|_| self.contact.phone.as_ref().map(|p| p.as_str())),
            email: b.email.as_opt_ref().map(|_| self.contact.email.as_ref().map(|e| e.as_str())),
            crisis_escalation_minutes: b.crisis_escalation_minutes.0,
        }
    }
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts {
    file: file!(),
    operations: &[Contract::of("createFacility").conflicts(&[
        Conflict::FACILITY_SLUG_TAKEN,
        Conflict::EMAIL_TAKEN,
        Conflict::PHONE_TAKEN,
    ])],
    examples,
};

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<CreateFacilityRequest>(
            json!({"slug": "harbor-home-care", "name": "Harbor Home Care", "kind": "home_care",
                   "timezone": "Europe/Lisbon", "city": "Lisbon", "email": "office@harbor.example",
                   "admin": {"email": "admin@harbor.example", "firstName": "Ines", "lastName": "Costa"}}),
        ),
        Example::of::<UpdateFacilityRequest>(
            json!({"name": "Harbor Home Care Lisbon", "city": "Lisbon", "phone": null}),
        ),
        Example::of::<StatusChangeReason>(json!({"reason": "contract paused"})),
        Example::of::<Facility>(facility_example()),
        Example::of::<FacilityCreated>(json!({"facility": facility_example(), "admin": user_example()})),
        Example::of::<Page<Facility>>(page(facility_example())),
    ]
}

fn facility_example() -> Value {
    json!({"id": FACILITY, "slug": "sunrise-rehab", "name": "Sunrise Recovery Centre", "kind": "rehab_centre",
           "status": "active", "timezone": "Asia/Kolkata", "city": "Pune", "crisisEscalationMinutes": 10,
           "createdAt": AT, "updatedAt": AT})
}

#[OpenApi(prefix_path = "/api/v1/facilities", tag = "ApiTags::Facilities")]
impl FacilitiesApi {
    /// List facilities.
    ///
    /// Super admins see every facility; everyone else sees only their own. Oldest first, a page at
    /// a time.
    #[oai(path = "/", method = "get", operation_id = "listFacilities")]
    async fn list(
        &self,
        auth: BearerAuth,
        /// Only facilities with this status.
        status: Query<Option<FacilityStatus>>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<Facility>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self.db.run(&auth.0, async |tx| facilities::list(tx, status.0, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// Create a facility and its first admin.
    ///
    /// Super admins only. The facility and its first facility admin are created in one transaction;
    /// without a password the admin's account is `pending`. Retry-safe with an `Idempotency-Key`.
    #[oai(path = "/", method = "post", operation_id = "createFacility")]
    async fn create(
        &self,
        auth: BearerAuth,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<CreateFacilityRequest>,
    ) -> Result<Created<FacilityCreated>> {
        let (contact, mut admin) = body.0.validate()?;
        let admin_hash = admin.hash_password().await?;
        let work = async |tx: &mut _| {
            let facility = facilities::insert(tx, &body.0.to_new(&contact)).await?;
            let admin = users::insert(tx, &admin.to_new_user(Some(facility.id), admin_hash)).await?;
            Ok(FacilityCreated { facility: facility.into(), admin: admin.into() })
        };
        idempotency::create(&self.db, &auth.0, key.0, Creates::CreateFacility, &body.0, work).await
    }

    /// Get a facility.
    ///
    /// A facility the caller belongs to (or any, for super admins); 404 for any other.
    #[oai(path = "/:id", method = "get", operation_id = "getFacility")]
    async fn get(&self, auth: BearerAuth, id: Path<FacilityId>) -> Result<Json<Facility>> {
        self.db.run(&auth.0, async |tx| facilities::get(tx, id.0).await).await.map(wire)
    }

    /// Update a facility's details.
    ///
    /// Super admins only. Absent fields stay as they are; `null` clears an optional one. The slug
    /// never changes.
    #[oai(path = "/:id", method = "patch", operation_id = "updateFacility")]
    async fn update(
        &self,
        auth: BearerAuth,
        id: Path<FacilityId>,
        body: JsonBody<UpdateFacilityRequest>,
    ) -> Result<Json<Facility>> {
        let valid = body.0.validate()?;
        self.db.run(&auth.0, async |tx| facilities::update(tx, id.0, &valid.patch()).await).await.map(wire)
    }

    /// Suspend a facility.
    ///
    /// Super admins only. Every user of the facility is refused (403 `facility_suspended`) from
    /// their next request; nothing is deleted. The reason is audited.
    #[oai(path = "/:id/suspend", method = "post", operation_id = "suspendFacility")]
    async fn suspend(
        &self,
        auth: BearerAuth,
        id: Path<FacilityId>,
        body: JsonBody<StatusChangeReason>,
    ) -> Result<Json<Facility>> {
        self.set_status(&auth, id.0, FacilityStatus::Suspended, body.0).await
    }

    /// Reactivate a suspended facility.
    ///
    /// Super admins only. The facility's users can log in and work again. The reason is audited.
    #[oai(path = "/:id/reactivate", method = "post", operation_id = "reactivateFacility")]
    async fn reactivate(
        &self,
        auth: BearerAuth,
        id: Path<FacilityId>,
        body: JsonBody<StatusChangeReason>,
    ) -> Result<Json<Facility>> {
        self.set_status(&auth, id.0, FacilityStatus::Active, body.0).await
    }
}

impl FacilitiesApi {
    async fn set_status(
        &self,
        auth: &BearerAuth,
        id: FacilityId,
        status: FacilityStatus,
        why: StatusChangeReason,
    ) -> Result<Json<Facility>> {
        let principal = auth.0.clone().with_reason(why.reason.0.map(String::from));
        self.db.run(&principal, async |tx| facilities::set_status(tx, id, status).await).await.map(wire)
    }
}

/// A facility (tenant).
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Facility {
    /// The facility's id.
    pub id: FacilityId,
    /// URL-safe unique handle, e.g. `sunrise-rehab`.
    pub slug: String,
    /// Display name (1–200 characters).
    pub name: String,
    /// What the facility does.
    pub kind: FacilityKind,
    /// `active`, or `suspended` (its users are refused).
    pub status: FacilityStatus,
    /// IANA time zone, e.g. `Asia/Kolkata`.
    pub timezone: String,
    /// City (1–100 characters).
    pub city: Option<String>,
    /// Contact phone number.
    pub phone: Option<String>,
    /// Contact email.
    pub email: Option<String>,
    /// Minutes a crisis alert may wait unacknowledged before it is escalated to the facility
    /// admins.
    pub crisis_escalation_minutes: i32,
    /// When it was created (server time).
    pub created_at: DateTime<Utc>,
    /// When it last changed (server time).
    pub updated_at: DateTime<Utc>,
}

impl From<crate::db::accounts::facilities::Facility> for Facility {
    fn from(row: crate::db::accounts::facilities::Facility) -> Self {
        Self {
            id: row.id,
            slug: row.slug,
            name: row.name,
            kind: row.kind,
            status: row.status,
            timezone: row.timezone,
            city: row.city,
            phone: row.phone,
            email: row.email,
            crisis_escalation_minutes: row.crisis_escalation_minutes,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

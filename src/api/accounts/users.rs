//! Users: facility admins manage the staff and admins of their own facility;
//! super admins manage anyone and can filter by facility. What a caller may
//! touch is decided by RLS (`sql/migrations/V4__users.sql`): another
//! facility's user is a 404, creating a super admin as a facility admin a 403.

use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use serde_json::{Value, json};

use crate::api::contract::{Contract, Contracts};
use crate::api::examples::{AT, Example, FACILITY, LATER, NURSE, page};
use crate::error::Conflict;
use crate::{
    api::wire,
    api::{
        ApiTags, Created,
        body::JsonBody,
        idempotency::{self, Creates, IdempotencyKey},
        page::Page,
    },
    auth::{BearerAuth, password},
    db::{
        Db,
        accounts::{
            staff_profiles::{self, StaffProfileFields},
            users::{self, NewUser, UserFilter, UserPatch, UserStatus},
        },
    },
    domain::{
        contact::{Email, Phone},
        ids::{FacilityId, UserId},
        page::{Cursor, Limit, PageRequest},
        text::{Nullable, Opt, Text},
    },
    error::{Result, Validator},
    identity::Role,
};
use chrono::{DateTime, Utc};

pub struct UsersApi {
    pub db: Db,
}

/// A new staff member, facility admin or (super admins only) super admin.
/// Without a password the account is `pending`.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct NewUserRequest {
    /// Super admins name the facility; facility admins may omit it (their own).
    pub facility_id: Opt<FacilityId>,
    /// Email address (stored lower-case); unique across the platform.
    #[oai(validator(max_length = 254))]
    pub email: Opt<Text>,
    /// Phone number: 10–15 digits, optionally starting with `+` (spaces, dashes, dots and parentheses are dropped); unique across the platform.
    #[oai(validator(max_length = 32))]
    pub phone: Opt<Text>,
    /// At least 10 characters; without one the account is `pending`.
    #[oai(validator(min_length = 10, max_length = 128))]
    pub password: Opt<Text>,
    /// `staff`, `facility_admin`, or (super admins only) `super_admin`.
    pub role: Role,
    /// Given name (1–100 characters).
    #[oai(validator(min_length = 1, max_length = 100))]
    pub first_name: Text,
    /// Family name (1–100 characters).
    #[oai(validator(min_length = 1, max_length = 100))]
    pub last_name: Text,
    /// counsellor, nurse, caregiver, therapist, teacher...
    #[oai(validator(min_length = 1, max_length = 100))]
    pub job_title: Opt<Text>,
}

/// A partial update. Absent fields stay; `null` clears an optional field.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// Email address; `null` clears it (a phone number must remain).
    #[oai(validator(max_length = 254))]
    pub email: Nullable<Text>,
    /// Phone number; `null` clears it (an email must remain).
    #[oai(validator(max_length = 32))]
    pub phone: Nullable<Text>,
    /// Given name (1–100 characters).
    #[oai(validator(min_length = 1, max_length = 100))]
    pub first_name: Opt<Text>,
    /// Family name (1–100 characters).
    #[oai(validator(min_length = 1, max_length = 100))]
    pub last_name: Opt<Text>,
    /// Job title; `null` clears it.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub job_title: Nullable<Text>,
    /// The new role (not `patient`).
    pub role: Opt<Role>,
    /// On call: receives every crisis alert of the facility (staff and facility admins; set by
    /// facility admins).
    pub on_call: Opt<bool>,
}

/// A staff member's profile, all of it.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct StaffProfileRequest {
    /// Skills (at most 50, each 1–100 characters).
    #[oai(validator(max_items = 50))]
    pub skills: Vec<Text>,
    /// Certifications held (at most 50, each 1–100 characters).
    #[oai(validator(max_items = 50))]
    pub certifications: Vec<Text>,
    /// Languages spoken (at most 20, each 1–100 characters).
    #[oai(validator(max_items = 20))]
    pub languages: Vec<Text>,
    /// When they can work, in words (1–1000 characters).
    #[oai(validator(min_length = 1, max_length = 1000))]
    pub availability: Opt<Text>,
}

/// Trimmed items, or the field's error when one is empty or too long.
fn items(v: &mut Validator, field: &str, list: &[Text]) -> Vec<String> {
    let out: Vec<String> = list.iter().map(|t| t.trim().to_owned()).collect();
    v.check(
        out.iter().all(|t| (1..=100).contains(&t.chars().count())),
        field,
        "each item is 1–100 characters",
    );
    out
}

/// A status change. Anything but `active` revokes the user's sessions at once.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct StatusChangeRequest {
    /// The new status (not `pending`).
    pub status: UserStatus,
    /// Why (kept on the user and in the audit log).
    #[oai(validator(min_length = 1, max_length = 500))]
    pub reason: Opt<Text>,
}

/// Normalised contact details.
#[derive(Debug, Default)]
pub struct Contact {
    pub email: Option<Email>,
    pub phone: Option<Phone>,
}

/// Parses optional email and phone, recording errors under `{prefix}email`.
pub fn parse_contact(v: &mut Validator, prefix: &str, email: Option<&str>, phone: Option<&str>) -> Contact {
    let email = email.map(Email::parse).and_then(|r| v.ok(r, &format!("{prefix}email")));
    let phone = phone.map(Phone::parse).and_then(|r| v.ok(r, &format!("{prefix}phone")));
    Contact { email, phone }
}

/// A new user that passed validation; the password is not hashed yet.
pub struct ValidNewUser {
    pub facility_id: Option<FacilityId>,
    contact: Contact,
    password: Option<String>,
    role: Role,
    first_name: String,
    last_name: String,
    job_title: Option<String>,
}

impl NewUserRequest {
    /// Checks the fields; errors are named `{prefix}field`.
    pub fn validate(&self, v: &mut Validator, prefix: &str) -> ValidNewUser {
        let contact = parse_contact(v, prefix, self.email.as_deref(), self.phone.as_deref());
        v.check(
            self.email.is_some() || self.phone.is_some(),
            &format!("{prefix}email"),
            "give an email or a phone number (or both)",
        );
        if let Some(Err(msg)) = self.password.as_deref().map(password::validate) {
            v.check(false, &format!("{prefix}password"), msg);
        }
        v.check(
            self.role != Role::Patient,
            &format!("{prefix}role"),
            "patients are created through the patients API",
        );
        v.check(
            !matches!(self.role, Role::Client | Role::Student | Role::Teacher),
            &format!("{prefix}role"),
            "clients, students and teachers are created with their profile (POST /clients, \
             /students, /teachers; or by converting a lead)",
        );
        v.check(
            self.role != Role::Integrator,
            &format!("{prefix}role"),
            "integrations are created with their API key (POST /api-keys)",
        );
        ValidNewUser {
            facility_id: self.facility_id.0,
            contact,
            password: self.password.as_deref().map(str::to_owned),
            role: self.role,
            first_name: self.first_name.0.clone(),
            last_name: self.last_name.0.clone(),
            job_title: self.job_title.as_deref().map(str::to_owned),
        }
    }
}

impl UpdateUserRequest {
    fn validate(&self) -> Result<UserPatch<'_>> {
        let mut v = Validator::default();
        let contact =
            parse_contact(&mut v, "", self.email.value().map(|t| &**t), self.phone.value().map(|t| &**t));
        v.check(self.role.0 != Some(Role::Patient), "role", "cannot make a user a patient");
        v.check(
            !matches!(self.role.0, Some(Role::Client | Role::Student | Role::Teacher)),
            "role",
            "cannot make a user a client, student or teacher; they are created with their profile",
        );
        v.check(
            self.role.0 != Some(Role::Integrator),
            "role",
            "cannot make a user an integration; integrations are created with their API key",
        );
        v.finish()?;
        Ok(UserPatch {
            email: self.email.as_opt_ref().map(|_| contact.email),
            phone: self.phone.as_opt_ref().map(|_| contact.phone),
            first_name: self.first_name.as_deref(),
            last_name: self.last_name.as_deref(),
            job_title: self.job_title.as_opt_deref(),
            role: self.role.0,
            on_call: self.on_call.0,
        })
    }
}

impl ValidNewUser {
    /// argon2id of the password, if one was given (off the async threads).
    pub async fn hash_password(&mut self) -> Result<Option<String>> {
        match self.password.take() {
            Some(p) => Ok(Some(password::hash(p).await?)),
            None => Ok(None),
        }
    }

    pub fn to_new_user(&self, facility_id: Option<FacilityId>, password_hash: Option<String>) -> NewUser<'_> {
        NewUser {
            facility_id,
            email: self.contact.email.as_ref(),
            phone: self.contact.phone.as_ref(),
            password_hash,
            role: self.role,
            first_name: &self.first_name,
            last_name: &self.last_name,
            job_title: self.job_title.as_deref(),
        }
    }
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts {
    file: file!(),
    operations: &[
        Contract::of("createUser")
            .conflicts(&[Conflict::EMAIL_TAKEN, Conflict::PHONE_TAKEN])
            .names_a_record_outside_its_path(),
        Contract::of("updateUser").conflicts(&[Conflict::EMAIL_TAKEN, Conflict::PHONE_TAKEN]),
    ],
    examples,
};

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<NewUserRequest>(
            json!({"facilityId": FACILITY, "email": "nina.rao@sunrise.example", "password": "a long passphrase",
                   "role": "staff", "firstName": "Nina", "lastName": "Rao", "jobTitle": "nurse"}),
        ),
        Example::of::<UpdateUserRequest>(json!({"jobTitle": "senior nurse", "phone": "+91 98765 43210"})),
        Example::of::<StatusChangeRequest>(json!({"status": "suspended", "reason": "on leave until review"})),
        Example::of::<User>(user_example()),
        Example::of::<Page<User>>(page(user_example())),
        Example::of::<StaffProfileRequest>(
            json!({"skills": ["Wound care", "Dementia care"], "certifications": ["BLS 2026"],
                   "languages": ["hi", "en"], "availability": "Weekdays 8:00–20:00; alternate weekends"}),
        ),
        Example::of::<StaffProfile>(
            json!({"userId": NURSE, "skills": ["Wound care", "Dementia care"], "certifications": ["BLS 2026"],
                   "languages": ["hi", "en"], "availability": "Weekdays 8:00–20:00; alternate weekends",
                   "updatedAt": LATER}),
        ),
    ]
}

/// The example user, whom the login and new-facility examples show too.
pub(crate) fn user_example() -> Value {
    json!({"id": NURSE, "facilityId": FACILITY, "email": "nina.rao@sunrise.example", "role": "staff",
           "status": "active", "firstName": "Nina", "lastName": "Rao", "jobTitle": "nurse",
           "onCall": false, "passwordChangedAt": AT, "createdAt": AT, "updatedAt": AT})
}

#[OpenApi(prefix_path = "/api/v1/users", tag = "ApiTags::Users")]
impl UsersApi {
    /// List users.
    ///
    /// Facility admins see their facility's users, super admins everyone's (optionally one
    /// facility's), staff only themselves. Oldest first, a page at a time.
    #[oai(path = "/", method = "get", operation_id = "listUsers")]
    async fn list(
        &self,
        auth: BearerAuth,
        /// Super admins: only this facility's users.
        #[oai(name = "facilityId")]
        facility_id: Query<Option<FacilityId>>,
        /// Only users with this role.
        role: Query<Option<Role>>,
        /// Only users with this account status.
        status: Query<Option<UserStatus>>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<User>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let filter = UserFilter { facility_id: facility_id.0, role: role.0, status: status.0 };
        let rows = self.db.run(&auth.0, async |tx| users::list(tx, &filter, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// Create a user.
    ///
    /// A facility admin creates staff and admins of their own facility; a super admin creates users
    /// of any facility, or other super admins. Without a password the account is `pending`.
    /// Patients are created through the patients API. Retry-safe with an `Idempotency-Key`.
    #[oai(path = "/", method = "post", operation_id = "createUser")]
    async fn create(
        &self,
        auth: BearerAuth,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<NewUserRequest>,
    ) -> Result<Created<User>> {
        let mut v = Validator::default();
        let mut new = body.0.validate(&mut v, "");
        v.finish()?;
        // A facility admin's users join the admin's facility unless one is named;
        // a super admin belongs to none (a facility named for one is refused).
        let facility = new.facility_id.or(auth.0.facility_id.filter(|_| new.role != Role::SuperAdmin));
        let hash = new.hash_password().await?;
        let work = async |tx: &mut _| users::insert(tx, &new.to_new_user(facility, hash)).await;
        idempotency::create(&self.db, &auth.0, key.0, Creates::CreateUser, &body.0, work).await
    }

    /// Get a user.
    ///
    /// A user the caller may see (their facility's, for facility admins; themselves, for staff);
    /// 404 for any other.
    #[oai(path = "/:id", method = "get", operation_id = "getUser")]
    async fn get(&self, auth: BearerAuth, id: Path<UserId>) -> Result<Json<User>> {
        self.db.run(&auth.0, async |tx| users::get(tx, id.0).await).await.map(wire)
    }

    /// Update a user.
    ///
    /// Contact details, names, job title, role, or whether they are on call (facility admins).
    /// Absent fields stay; `null` clears an optional one. A user cannot be made a patient.
    #[oai(path = "/:id", method = "patch", operation_id = "updateUser")]
    async fn update(
        &self,
        auth: BearerAuth,
        id: Path<UserId>,
        body: JsonBody<UpdateUserRequest>,
    ) -> Result<Json<User>> {
        let patch = body.0.validate()?;
        self.db.run(&auth.0, async |tx| users::update(tx, id.0, &patch).await).await.map(wire)
    }

    /// Change a user's status.
    ///
    /// `suspended` or `terminated` revokes every session of the account at once; `active` lets it
    /// log in again. An account cannot go back to `pending`. The reason is kept on the user and
    /// audited.
    #[oai(path = "/:id/status", method = "post", operation_id = "setUserStatus")]
    async fn set_status(
        &self,
        auth: BearerAuth,
        id: Path<UserId>,
        body: JsonBody<StatusChangeRequest>,
    ) -> Result<Json<User>> {
        let StatusChangeRequest { status, reason } = body.0;
        let mut v = Validator::default();
        v.check(status != UserStatus::Pending, "status", "an account cannot be set back to pending");
        v.finish()?;
        let reason = reason.0.map(String::from);
        let principal = auth.0.with_reason(reason.clone());
        let work = async |tx: &mut _| users::set_status(tx, id.0, status, reason.as_deref()).await;
        self.db.run(&principal, work).await.map(wire)
    }

    /// A staff member's profile.
    ///
    /// Skills, certifications, languages and availability of a staff member or facility admin
    /// (empty lists until written). Facility admins; a staff member, their own.
    #[oai(path = "/:id/staff-profile", method = "get", operation_id = "getStaffProfile")]
    async fn staff_profile(&self, auth: BearerAuth, id: Path<UserId>) -> Result<Json<StaffProfile>> {
        self.db.run(&auth.0, async |tx| staff_profiles::get(tx, id.0).await).await.map(wire)
    }

    /// Write a staff member's profile.
    ///
    /// Facility admins: every field is replaced.
    #[oai(path = "/:id/staff-profile", method = "put", operation_id = "setStaffProfile")]
    async fn set_staff_profile(
        &self,
        auth: BearerAuth,
        id: Path<UserId>,
        body: JsonBody<StaffProfileRequest>,
    ) -> Result<Json<StaffProfile>> {
        let b = &body.0;
        let mut v = Validator::default();
        let (skills, certifications, languages) = (
            items(&mut v, "skills", &b.skills),
            items(&mut v, "certifications", &b.certifications),
            items(&mut v, "languages", &b.languages),
        );
        v.finish()?;
        let fields = StaffProfileFields {
            skills: &skills,
            certifications: &certifications,
            languages: &languages,
            availability: b.availability.as_deref(),
        };
        self.db.run(&auth.0, async |tx| staff_profiles::set(tx, id.0, &fields).await).await.map(wire)
    }
}

/// What a staff member brings.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct StaffProfile {
    /// The staff member.
    pub user_id: UserId,
    /// Skills, e.g. `wound care`, `dementia care`.
    pub skills: Vec<String>,
    /// Certifications held.
    pub certifications: Vec<String>,
    /// Languages spoken (BCP 47 tags or names).
    pub languages: Vec<String>,
    /// When they can work, in words.
    pub availability: Option<String>,
    /// When it last changed; absent for a profile never written.
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<crate::db::accounts::staff_profiles::StaffProfile> for StaffProfile {
    fn from(row: crate::db::accounts::staff_profiles::StaffProfile) -> Self {
        Self {
            user_id: row.user_id,
            skills: row.skills,
            certifications: row.certifications,
            languages: row.languages,
            availability: row.availability,
            updated_at: row.updated_at,
        }
    }
}

/// A user account.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct User {
    /// The user's id.
    pub id: UserId,
    /// The user's facility; absent for super admins.
    pub facility_id: Option<FacilityId>,
    /// Email address (lower-case).
    pub email: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// The account's role.
    pub role: Role,
    /// Whether the account may log in.
    pub status: UserStatus,
    /// Why the status was last changed.
    pub status_reason: Option<String>,
    /// Given name (1–100 characters).
    pub first_name: String,
    /// Family name (1–100 characters).
    pub last_name: String,
    /// For staff: counsellor, nurse, caregiver, therapist, teacher...
    pub job_title: Option<String>,
    /// Staff and facility admins on call receive every crisis alert of the facility.
    pub on_call: bool,
    /// When the password was last set.
    pub password_changed_at: Option<DateTime<Utc>>,
    /// When it was created (server time).
    pub created_at: DateTime<Utc>,
    /// When it last changed (server time).
    pub updated_at: DateTime<Utc>,
}

impl From<crate::db::accounts::users::User> for User {
    fn from(row: crate::db::accounts::users::User) -> Self {
        Self {
            id: row.id,
            facility_id: row.facility_id,
            email: row.email,
            phone: row.phone,
            role: row.role,
            status: row.status,
            status_reason: row.status_reason,
            first_name: row.first_name,
            last_name: row.last_name,
            job_title: row.job_title,
            on_call: row.on_call,
            password_changed_at: row.password_changed_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

//! Users: facility admins manage the staff and admins of their own facility;
//! super admins manage anyone and can filter by facility. What a caller may
//! touch is decided by RLS (`sql/migrations/V4__users.sql`): another
//! facility's user is a 404, creating a super admin as a facility admin a 403.

use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
    types::MaybeUndefined,
};

use super::{ApiTags, Created, idempotency::create_idempotently, pagination::PageRequest};
use crate::{
    auth::{BearerAuth, Role, password},
    db::{
        Db,
        users::{self, NewUser, User, UserFilter, UserPatch, UserStatus},
    },
    domain::{
        contact::{Email, Phone},
        ids::{FacilityId, UserId},
        text::{Opt, Text},
    },
    error::{BodyResult, Error, Result, Validator},
};

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
    #[oai(validator(max_length = 254))]
    pub email: Opt<Text>,
    #[oai(validator(max_length = 32))]
    pub phone: Opt<Text>,
    #[oai(validator(min_length = 10, max_length = 128))]
    pub password: Opt<Text>,
    pub role: Role,
    #[oai(validator(min_length = 1, max_length = 100))]
    pub first_name: Text,
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
    #[oai(validator(max_length = 254))]
    pub email: MaybeUndefined<Text>,
    #[oai(validator(max_length = 32))]
    pub phone: MaybeUndefined<Text>,
    #[oai(validator(min_length = 1, max_length = 100))]
    pub first_name: Opt<Text>,
    #[oai(validator(min_length = 1, max_length = 100))]
    pub last_name: Opt<Text>,
    #[oai(validator(min_length = 1, max_length = 100))]
    pub job_title: MaybeUndefined<Text>,
    pub role: Opt<Role>,
}

/// A status change. Anything but `active` revokes the user's sessions at once.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct StatusChangeRequest {
    pub status: UserStatus,
    /// Why (kept on the user and in the audit log).
    #[oai(validator(min_length = 1, max_length = 500))]
    pub reason: Opt<Text>,
}

/// A page of users.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct UserPage {
    pub items: Vec<User>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Normalised contact details.
#[derive(Default)]
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
    pub fn validate(self, v: &mut Validator, prefix: &str) -> ValidNewUser {
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
        ValidNewUser {
            facility_id: self.facility_id.0,
            contact,
            password: self.password.0.map(String::from),
            role: self.role,
            first_name: self.first_name.into(),
            last_name: self.last_name.into(),
            job_title: self.job_title.0.map(String::from),
        }
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

#[OpenApi(prefix_path = "/api/v1/users", tag = "ApiTags::Users")]
impl UsersApi {
    /// List users you can see (facility admins: their facility; super admins: all,
    /// optionally one facility; staff: themselves).
    #[oai(path = "/", method = "get", operation_id = "listUsers")]
    async fn list(
        &self,
        auth: BearerAuth,
        #[oai(name = "facilityId")] facility_id: Query<Option<FacilityId>>,
        role: Query<Option<Role>>,
        status: Query<Option<UserStatus>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u32>>,
        #[oai(validator(max_length = 200))] cursor: Query<Option<String>>,
    ) -> Result<Json<UserPage>> {
        let page = PageRequest::parse(limit.0, cursor.0.as_deref())?;
        let filter = UserFilter { facility_id: facility_id.0, role: role.0, status: status.0 };
        let mut tx = self.db.begin(&auth.0).await?;
        let rows = users::list(&mut tx, &filter, &page).await?;
        tx.commit().await?;
        let (items, next_cursor) = page.finish(rows, |u| (u.created_at, u.id.0));
        Ok(Json(UserPage { items, next_cursor }))
    }

    /// Create a user in your facility (facility admin) or any (super admin).
    #[oai(path = "/", method = "post", operation_id = "createUser")]
    async fn create(
        &self,
        auth: BearerAuth,
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 200))] key: Header<
            Option<String>,
        >,
        body: Json<NewUserRequest>,
    ) -> BodyResult<Created<User>> {
        let request = poem_openapi::types::ToJSON::to_json(&body.0).unwrap_or_default();
        let mut v = Validator::default();
        let mut new = body.0.validate(&mut v, "");
        v.finish()?;
        // A facility admin's users join the admin's facility unless one is named;
        // a super admin belongs to none (a facility named for one is refused).
        let own = auth.0.facility_id.filter(|_| new.role != Role::SuperAdmin);
        let facility = new.facility_id.or(own);
        let hash = new.hash_password().await?;
        let mut tx = self.db.begin(&auth.0).await?;
        create_idempotently!(tx, key.0.as_deref(), "createUser", &request, {
            users::insert(&mut tx, &new.to_new_user(facility, hash)).await?
        })
    }

    /// Get a user (404 if not visible to you).
    #[oai(path = "/:id", method = "get", operation_id = "getUser")]
    async fn get(&self, auth: BearerAuth, id: Path<UserId>) -> Result<Json<User>> {
        let mut tx = self.db.begin(&auth.0).await?;
        let user = users::get(&mut tx, id.0).await?;
        tx.commit().await?;
        Ok(Json(user))
    }

    /// Update a user's details or role.
    #[oai(path = "/:id", method = "patch", operation_id = "updateUser")]
    async fn update(
        &self,
        auth: BearerAuth,
        id: Path<UserId>,
        body: Json<UpdateUserRequest>,
    ) -> BodyResult<Json<User>> {
        let b = body.0;
        let mut v = Validator::default();
        let contact = parse_contact(&mut v, "", b.email.value().map(|t| &**t), b.phone.value().map(|t| &**t));
        v.check(b.role.0 != Some(Role::Patient), "role", "cannot make a user a patient");
        v.finish()?;
        let patch = UserPatch {
            email: b.email.as_opt_ref().map(|_| contact.email.as_ref()),
            phone: b.phone.as_opt_ref().map(|_| contact.phone.as_ref()),
            first_name: b.first_name.as_deref(),
            last_name: b.last_name.as_deref(),
            job_title: b.job_title.as_opt_deref(),
            role: b.role.0,
        };
        let mut tx = self.db.begin(&auth.0).await?;
        let user = users::update(&mut tx, id.0, &patch).await?;
        tx.commit().await?;
        Ok(Json(user))
    }

    /// Change a user's status; suspending or terminating revokes their sessions.
    #[oai(path = "/:id/status", method = "post", operation_id = "setUserStatus")]
    async fn set_status(
        &self,
        auth: BearerAuth,
        id: Path<UserId>,
        body: Json<StatusChangeRequest>,
    ) -> BodyResult<Json<User>> {
        let status = body.0.status;
        let reason = body.0.reason.0.map(String::from);
        if status == UserStatus::Pending {
            return Err(Error::invalid("status", "an account cannot be set back to pending").into());
        }
        let principal = auth.0.with_reason(reason.clone());
        let mut tx = self.db.begin(&principal).await?;
        let user = users::set_status(&mut tx, id.0, status, reason.as_deref()).await?;
        tx.commit().await?;
        Ok(Json(user))
    }
}

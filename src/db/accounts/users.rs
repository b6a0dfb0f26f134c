//! Users' SQL. RLS decides reach: staff and patients see only themselves,
//! facility admins their facility's staff and admins, super admins everyone;
//! no request role can read a password hash.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use crate::db::{
    OnConstraint, TenantTx,
    filters::{Bound, Variants},
};
use crate::{
    domain::page::{Keyed, PageRequest},
    domain::{
        contact::{Email, Phone},
        ids::{FacilityId, UserId},
        text_enum,
    },
    error::{Conflict, Error, Result},
    identity::Role,
};

/// The conflicts accounts can meet.
impl Conflict {
    pub const EMAIL_TAKEN: Self = Self::new("email_taken", "Another account already uses this email.");
    pub const PHONE_TAKEN: Self = Self::new("phone_taken", "Another account already uses this phone number.");
}

text_enum! {
    /// An account's standing. Anything but `active` cannot log in; changing
    /// to it revokes every session of the account at once.
    pub enum UserStatus {
        Active = "active",
        Suspended = "suspended",
        Terminated = "terminated",
        /// Invited, no password yet.
        Pending = "pending",
    }
}

/// A user account.
#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub facility_id: Option<FacilityId>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub role: Role,
    pub status: UserStatus,
    pub status_reason: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub job_title: Option<String>,
    pub on_call: bool,
    pub password_changed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The columns every query returns, in `User::try_from` order.
macro_rules! columns {
    () => {
        "id, facility_id, email, phone, role, status, status_reason, first_name, last_name, \
         job_title, on_call, password_changed_at, created_at, updated_at"
    };
}

impl TryFrom<&Row> for User {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            facility_id: row.try_get("facility_id")?,
            email: row.try_get("email")?,
            phone: row.try_get("phone")?,
            role: row.try_get("role")?,
            status: row.try_get("status")?,
            status_reason: row.try_get("status_reason")?,
            first_name: row.try_get("first_name")?,
            last_name: row.try_get("last_name")?,
            job_title: row.try_get("job_title")?,
            on_call: row.try_get("on_call")?,
            password_changed_at: row.try_get("password_changed_at")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// Validated fields of a new account. No password: status `pending`.
pub struct NewUser<'a> {
    pub facility_id: Option<FacilityId>,
    pub email: Option<&'a Email>,
    pub phone: Option<&'a Phone>,
    pub password_hash: Option<String>,
    pub role: Role,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub job_title: Option<&'a str>,
}

pub const INSERT: &str = concat!(
    "insert into users (facility_id, email, phone, password_hash, password_changed_at, role,
                        status, first_name, last_name, job_title)
     values ($1, $2, $3, $4::text, case when $4::text is null then null else now() end, $5,
             case when $4::text is null then 'pending' else 'active' end, $6, $7, $8)
     returning ",
    columns!()
);

pub async fn insert(tx: &mut TenantTx, u: &NewUser<'_>) -> Result<User> {
    let row = tx
        .query_one(
            INSERT,
            &[
                &u.facility_id,
                &u.email.map(Email::as_str),
                &u.phone.map(Phone::as_str),
                &u.password_hash,
                &u.role,
                &u.first_name,
                &u.last_name,
                &u.job_title,
            ],
        )
        .await
        .on_constraint("users_email_key", Conflict::EMAIL_TAKEN)
        // A super admin naming a facility that does not exist.
        .on_constraint("users_facility_fkey", Error::NotFound)
        .on_constraint("users_phone_key", Conflict::PHONE_TAKEN)?;
    User::try_from(&row)
}

/// The account, and its read audited by the same statement.
pub const GET: &str = concat!(
    "select ",
    columns!(),
    ", carego.audit_reads('users', array[id]) as audited from users where id = $1"
);

pub async fn get(tx: &mut TenantTx, id: UserId) -> Result<User> {
    User::try_from(&tx.query_one(GET, &[&id]).await?)
}

pub const GET_SELF: &str = concat!("select ", columns!(), " from users where id = carego.current_user_id()");

/// The caller's own account.
pub async fn me(tx: &mut TenantTx) -> Result<User> {
    User::try_from(&tx.query_one(GET_SELF, &[]).await?)
}

pub const FIND_BY_EMAIL: &str = concat!("select ", columns!(), " from users where email = $1");

pub async fn find_by_email(tx: &mut TenantTx, email: &Email) -> Result<Option<User>> {
    tx.query_opt(FIND_BY_EMAIL, &[&email.as_str()]).await?.as_ref().map(User::try_from).transpose()
}

/// Optional list filters.
#[derive(Default)]
pub struct UserFilter {
    pub facility_id: Option<FacilityId>,
    pub role: Option<Role>,
    pub status: Option<UserStatus>,
}

/// Lists are oldest first.
impl Keyed for User {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.created_at, self.id.0)
    }
}

/// Oldest first. `$1` the fetch limit; then, each only when given (see
/// [`filters`](crate::db::filters)): facility, role, status, the cursor.
pub static LIST: Variants = Variants::new(
    concat!(
        "select ",
        columns!(),
        " from users
         where true {where}
         order by created_at, id
         limit $1"
    ),
    &[
        "facility_id = $::uuid",
        "role = $::text",
        "status = $::text",
        "(created_at, id) > ($::timestamptz, $::uuid)",
    ],
);

pub async fn list(tx: &mut TenantTx, f: &UserFilter, page: &PageRequest) -> Result<Vec<User>> {
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&limit]).opt(&f.facility_id).opt(&f.role).opt(&f.status).after(page);
    let rows = tx.query(LIST.get(bound.present), &bound.params).await?;
    let users = rows.iter().map(User::try_from).collect::<Result<Vec<_>>>()?;
    crate::db::audit::reads(tx, "users", users.iter().map(|u| u.id.0)).await?;
    Ok(users)
}

/// A partial update; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Default)]
pub struct UserPatch<'a> {
    pub email: Option<Option<Email>>,
    pub phone: Option<Option<Phone>>,
    pub first_name: Option<&'a str>,
    pub last_name: Option<&'a str>,
    pub job_title: Option<Option<&'a str>>,
    pub role: Option<Role>,
    /// Facility admins only (its own column grant): staff and admins.
    pub on_call: Option<bool>,
}

pub const SET_ON_CALL: &str =
    "update users set on_call = $2 where id = $1 and role in ('staff', 'facility_admin')";

pub const UPDATE: &str = concat!(
    "update users set
       email = case when $2::bool then $3::text else email end,
       phone = case when $4::bool then $5::text else phone end,
       first_name = coalesce($6::text, first_name),
       last_name = coalesce($7::text, last_name),
       job_title = case when $8::bool then $9::text else job_title end,
       role = coalesce($10::text, role)
     where id = $1
     returning ",
    columns!()
);

pub async fn update(tx: &mut TenantTx, id: UserId, p: &UserPatch<'_>) -> Result<User> {
    let row = tx
        .query_one(
            UPDATE,
            &[
                &id,
                &p.email.is_some(),
                &p.email.as_ref().and_then(|e| e.as_ref().map(Email::as_str)),
                &p.phone.is_some(),
                &p.phone.as_ref().and_then(|e| e.as_ref().map(Phone::as_str)),
                &p.first_name,
                &p.last_name,
                &p.job_title.is_some(),
                &p.job_title.flatten(),
                &p.role,
            ],
        )
        .await
        .on_constraint("users_email_key", Conflict::EMAIL_TAKEN)
        .on_constraint("users_phone_key", Conflict::PHONE_TAKEN)?;
    match p.on_call {
        // A separate statement: only facility and super admins hold its grant.
        Some(on_call) => {
            if tx.execute(SET_ON_CALL, &[&id, &on_call]).await? == 0 {
                return Err(Error::invalid("onCall", "only staff and facility admins go on call"));
            }
            get(tx, id).await
        }
        None => User::try_from(&row),
    }
}

pub const SET_STATUS: &str =
    concat!("update users set status = $2, status_reason = $3 where id = $1 returning ", columns!());

/// Changes an account's status; the `users_revoke_sessions` trigger revokes
/// its sessions in the same transaction when it is no longer active.
pub async fn set_status(
    tx: &mut TenantTx,
    id: UserId,
    status: UserStatus,
    reason: Option<&str>,
) -> Result<User> {
    User::try_from(&tx.query_one(SET_STATUS, &[&id, &status, &reason]).await?)
}

pub const OWN_PASSWORD_PARAMS: &str = "select carego.own_password_params() as params";

/// The parameters and salt of the caller's own password hash (never the
/// hash: the database compares, [`own_password_matches`]).
pub async fn own_password_params(tx: &mut TenantTx) -> Result<Option<String>> {
    Ok(tx.query_one(OWN_PASSWORD_PARAMS, &[]).await?.try_get("params")?)
}

pub const OWN_PASSWORD_MATCHES: &str = "select carego.own_password_matches($1) as matches";

/// Whether `hash`, derived under [`own_password_params`], is the caller's.
pub async fn own_password_matches(tx: &mut TenantTx, hash: &str) -> Result<bool> {
    Ok(tx.query_one(OWN_PASSWORD_MATCHES, &[&hash]).await?.try_get("matches")?)
}

pub const SET_OWN_PASSWORD: &str = "update users set password_hash = $1, password_changed_at = now()
     where id = carego.current_user_id()";

pub async fn set_own_password(tx: &mut TenantTx, hash: &str) -> Result<()> {
    match tx.execute(SET_OWN_PASSWORD, &[&hash]).await? {
        1 => Ok(()),
        _ => Err(Error::NotFound),
    }
}

pub const SET_PASSWORD: &str = "update users set password_hash = $2, password_changed_at = now(),
       status = case when status = 'pending' then 'active' else status end
     where id = $1";

/// Sets another account's password (operator CLI); activates a pending one.
pub async fn set_password(tx: &mut TenantTx, id: UserId, hash: &str) -> Result<()> {
    match tx.execute(SET_PASSWORD, &[&id, &hash]).await? {
        1 => Ok(()),
        _ => Err(Error::NotFound),
    }
}

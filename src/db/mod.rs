//! The database: the pool, the per-request tenant transaction, the embedded
//! cluster and migrations.
//!
//! There is exactly one door from request code into PostgreSQL:
//! [`Db::begin`] → [`TenantTx`]. It sets the request's Postgres role and the
//! `carego.*` settings transaction-locally, so row-level security — not
//! handler code — decides what the caller sees, and nothing survives on the
//! pooled connection. The raw pool never leaves this module. The three
//! platform-level doors are named so they stand out: [`Db::begin_public`]
//! (login, refresh, registration), [`Db::begin_system`] (the operator's CLI)
//! and [`Db::begin_on_behalf`] (the CLI writing a record in a staff member's
//! name, as `tenants apply` does for care logs). None is reachable from a
//! request that carries a token.

pub mod amendments;
pub mod assignments;
pub mod attendance;
pub mod audit;
pub mod care_logs;
pub mod doctor;
pub mod embedded;
pub mod facilities;
pub mod idempotency;
pub mod migrate;
pub mod patients;
pub mod sessions;
pub mod tls;
pub mod users;
pub mod vitals;

use std::{future::Future, time::Duration};

use deadpool_postgres::{
    ClientWrapper, Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};
use tokio_postgres::{
    NoTls, Row, Statement,
    error::SqlState,
    types::{ToSql, Type},
};
use uuid::Uuid;

use crate::{
    auth::{Principal, Role},
    domain::ids::{FacilityId, SessionId, UserId},
    error::{Error, Result},
};

/// A request parameter list.
pub type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// The Postgres role a transaction runs as. The pool's login role is a member
/// of each (and NOINHERIT), so it can switch into them and do nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbRole {
    Public,
    Patient,
    Staff,
    FacilityAdmin,
    SuperAdmin,
}

impl DbRole {
    pub fn pg_name(self) -> &'static str {
        match self {
            Self::Public => "carego_public",
            Self::Patient => "carego_patient",
            Self::Staff => "carego_staff",
            Self::FacilityAdmin => "carego_facility_admin",
            Self::SuperAdmin => "carego_super_admin",
        }
    }
}

impl From<Role> for DbRole {
    fn from(role: Role) -> Self {
        match role {
            Role::SuperAdmin => Self::SuperAdmin,
            Role::FacilityAdmin => Self::FacilityAdmin,
            Role::Staff => Self::Staff,
            Role::Patient => Self::Patient,
        }
    }
}

/// Who is asking, as the prologue writes it into the transaction.
#[derive(Clone, Debug)]
pub struct Context {
    pub db_role: DbRole,
    /// `carego.role`: the application role (`staff`, `super_admin`, `system`...).
    pub app_role: &'static str,
    pub facility_id: Option<FacilityId>,
    pub user_id: Option<UserId>,
    /// Set for authenticated callers; the prologue then checks the session.
    pub session_id: Option<SessionId>,
    pub request_id: String,
    pub ip: Option<String>,
    /// `carego.change_reason`, recorded by the audit trigger.
    pub reason: Option<String>,
}

impl Context {
    pub fn for_principal(p: &Principal) -> Self {
        Self {
            db_role: p.role.into(),
            app_role: p.role.as_str(),
            facility_id: p.facility_id,
            user_id: Some(p.user_id),
            session_id: Some(p.session_id),
            request_id: p.meta.request_id.clone(),
            ip: p.meta.ip.clone(),
            reason: p.meta.change_reason.clone(),
        }
    }
}

/// The request prologue: one statement; see `carego.begin_request` in
/// `sql/migrations/V5__sessions.sql`.
pub const PROLOGUE: &str = "select carego.begin_request($1, $2, $3, $4, $5, $6, $7, $8, $9)";
const PROLOGUE_TYPES: &[Type] = &[
    Type::TEXT,
    Type::TEXT,
    Type::UUID,
    Type::UUID,
    Type::UUID,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
];

/// Connection settings for [`Db::connect`].
#[derive(Clone, Debug)]
pub struct PoolSettings {
    pub max_size: usize,
    pub checkout_timeout: Duration,
    pub statement_timeout: Duration,
}

/// The application's handle on PostgreSQL. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    statement_timeout: String,
}

impl Db {
    /// Builds the pool for the app's login role. Connections are made lazily.
    pub fn connect(url: &str, settings: &PoolSettings) -> anyhow::Result<Self> {
        let mut pg: tokio_postgres::Config = url.parse()?;
        pg.application_name("carego");
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(settings.checkout_timeout);
        }
        // Fast is safe: a TenantTx never returns its connection to the pool
        // inside an open transaction (see its Drop).
        let manager_config = ManagerConfig { recycling_method: RecyclingMethod::Fast };
        let manager = match tls::connector_for(&pg)? {
            Some(tls) => Manager::from_config(pg, tls, manager_config),
            None => Manager::from_config(pg, NoTls, manager_config),
        };
        let pool = Pool::builder(manager)
            .max_size(settings.max_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(settings.checkout_timeout))
            .create_timeout(Some(settings.checkout_timeout))
            .recycle_timeout(Some(settings.checkout_timeout))
            .build()?;
        Ok(Self { pool, statement_timeout: format!("{}ms", settings.statement_timeout.as_millis()) })
    }

    /// The tenant transaction for an authenticated caller.
    pub async fn begin(&self, principal: &Principal) -> Result<TenantTx> {
        self.begin_with(Context::for_principal(principal)).await
    }

    /// Platform-level door for unauthenticated flows (login, refresh): role
    /// `carego_public`, no facility, no user. That role can only call the
    /// narrow SECURITY DEFINER auth functions.
    pub async fn begin_public(&self, request_id: &str, ip: Option<&str>) -> Result<TenantTx> {
        self.begin_with(Context {
            db_role: DbRole::Public,
            app_role: "public",
            facility_id: None,
            user_id: None,
            session_id: None,
            request_id: request_id.to_owned(),
            ip: ip.map(str::to_owned),
            reason: None,
        })
        .await
    }

    /// Platform-level door for the operator's own CLI (`tenants apply`,
    /// `users create-super-admin`): super-admin reach, no user, audited as
    /// role `system`. Never reachable from HTTP.
    pub async fn begin_system(&self, reason: &str) -> Result<TenantTx> {
        self.begin_with(Context {
            db_role: DbRole::SuperAdmin,
            app_role: "system",
            facility_id: None,
            user_id: None,
            session_id: None,
            request_id: format!("cli-{}", Uuid::new_v4()),
            ip: None,
            reason: Some(reason.to_owned()),
        })
        .await
    }

    /// Platform-level door for the operator's CLI when a record must carry a
    /// real author (care logs in manifests): the author's own role, facility
    /// and user, but no session. Never reachable from HTTP.
    pub async fn begin_on_behalf(
        &self,
        facility: FacilityId,
        user: UserId,
        role: Role,
        reason: &str,
    ) -> Result<TenantTx> {
        self.begin_with(Context {
            db_role: role.into(),
            app_role: role.as_str(),
            facility_id: Some(facility),
            user_id: Some(user),
            session_id: None,
            request_id: format!("cli-{}", Uuid::new_v4()),
            ip: None,
            reason: Some(reason.to_owned()),
        })
        .await
    }

    /// `GET /ready`: can a connection be had and used?
    pub async fn ping(&self) -> Result<()> {
        let conn = self.checkout().await?;
        conn.simple_query("").await?;
        Ok(())
    }

    /// Closes the pool: idle connections are dropped, checkouts fail.
    pub fn close(&self) {
        self.pool.close();
    }

    async fn begin_with(&self, ctx: Context) -> Result<TenantTx> {
        let conn = self.checkout().await?;
        Ok(TenantTx {
            conn: Some(conn),
            state: TxState::Pending(ctx),
            statement_timeout: self.statement_timeout.clone(),
        })
    }

    async fn checkout(&self) -> Result<Object> {
        self.pool.get().await.map_err(|err| match err {
            PoolError::Timeout(_) => Error::Unavailable("connection pool exhausted".into()),
            PoolError::Backend(e) => Error::Unavailable(format!("database unreachable: {}", with_causes(&e))),
            PoolError::Closed => Error::Unavailable("pool closed".into()),
            other => Error::Unavailable(format!("pool: {other}")),
        })
    }
}

/// One request's transaction. BEGIN and the prologue are not sent until the
/// first statement, and then all three go out pipelined in one round trip.
/// Dropped without [`commit`](Self::commit): rolled back before the
/// connection can serve anyone else.
pub struct TenantTx {
    conn: Option<Object>,
    state: TxState,
    statement_timeout: String,
}

/// Where a [`TenantTx`] stands. No statement runs outside `Open`, so nothing
/// can ever run on the connection without the prologue before it.
enum TxState {
    /// Nothing sent yet; the context goes out with the first statement.
    Pending(Context),
    /// BEGIN and the prologue have been sent.
    Open,
    /// Starting failed (a prepare, BEGIN or the prologue): every further
    /// statement and the commit fail too.
    Failed,
    /// Committed; the connection is clean.
    Committed,
}

impl TenantTx {
    /// Rows of a statement.
    pub async fn query(&mut self, sql: &'static str, params: Params<'_>) -> Result<Vec<Row>> {
        self.run(sql, |client, stmt| async move { client.query(&stmt, params).await }).await
    }

    /// Exactly one row, or `NotFound` (the caller's 404 when RLS hides it).
    pub async fn query_one(&mut self, sql: &'static str, params: Params<'_>) -> Result<Row> {
        self.query_opt(sql, params).await?.ok_or(Error::NotFound)
    }

    /// At most one row.
    pub async fn query_opt(&mut self, sql: &'static str, params: Params<'_>) -> Result<Option<Row>> {
        let mut rows = self.query(sql, params).await?;
        match rows.len() {
            0 => Ok(None),
            1 => Ok(rows.pop()),
            n => Err(Error::internal(anyhow::anyhow!("expected at most one row, got {n}"))),
        }
    }

    /// Number of rows a statement affected.
    pub async fn execute(&mut self, sql: &'static str, params: Params<'_>) -> Result<u64> {
        self.run(sql, |client, stmt| async move { client.execute(&stmt, params).await }).await
    }

    /// Commits. A transaction that never ran a statement has nothing to commit.
    pub async fn commit(mut self) -> Result<()> {
        match self.state {
            TxState::Pending(_) | TxState::Committed => Ok(()),
            TxState::Failed => Err(failed_earlier()),
            TxState::Open => {
                let client = self.conn.as_ref().expect("connection held until drop");
                client.batch_execute("COMMIT").await?;
                self.state = TxState::Committed;
                Ok(())
            }
        }
    }

    async fn run<'a, T, F, Fut>(&'a mut self, sql: &'static str, op: F) -> Result<T>
    where
        F: FnOnce(&'a ClientWrapper, Statement) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let ctx = match std::mem::replace(&mut self.state, TxState::Failed) {
            TxState::Failed | TxState::Committed => return Err(failed_earlier()),
            TxState::Open => {
                self.state = TxState::Open;
                let client: &'a ClientWrapper = self.conn.as_deref().expect("connection held until drop");
                let stmt = client.prepare_cached(sql).await?;
                return Ok(op(client, stmt).await?);
            }
            // Until BEGIN and the prologue have both succeeded, the state
            // stays `Failed`: an error on the way leaves nothing usable.
            TxState::Pending(ctx) => ctx,
        };
        let client: &'a ClientWrapper = self.conn.as_deref().expect("connection held until drop");
        // Both are cached per connection after the first time; when they are
        // not, the two prepares share one round trip.
        let (stmt, prologue) = tokio::try_join!(
            client.prepare_cached(sql),
            client.prepare_typed_cached(PROLOGUE, PROLOGUE_TYPES)
        )?;
        let db_role = ctx.db_role.pg_name();
        let params: [&(dyn ToSql + Sync); 9] = [
            &db_role,
            &ctx.app_role,
            &ctx.facility_id,
            &ctx.user_id,
            &ctx.session_id,
            &ctx.request_id,
            &ctx.ip,
            &ctx.reason,
            &self.statement_timeout,
        ];
        // Sent in this order on one connection (a future sends its request when
        // first polled; `biased` polls in order), answered in one round trip.
        // If the prologue raises, the transaction is aborted and `op` fails
        // too; the prologue's error is the one that explains why.
        let (begin, prologue, out) = tokio::join!(
            biased;
            client.batch_execute("BEGIN"),
            client.execute(&prologue, &params),
            op(client, stmt),
        );
        begin?;
        prologue?;
        self.state = TxState::Open;
        Ok(out?)
    }

    /// Whether BEGIN may have gone out without a COMMIT, so dropping must
    /// roll back (a ROLLBACK outside a transaction is harmless).
    fn begun(&self) -> bool {
        matches!(self.state, TxState::Open | TxState::Failed)
    }
}

fn failed_earlier() -> Error {
    Error::internal(anyhow::anyhow!("the transaction failed to start; it cannot be used"))
}

impl Drop for TenantTx {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if !self.begun() {
            return; // nothing was sent (or it was committed): the connection is clean
        }
        // Roll back before the connection can return to the pool. Until the
        // task finishes, the connection stays checked out.
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    if let Err(err) = conn.batch_execute("ROLLBACK").await {
                        tracing::warn!(error = %err, "rollback failed; discarding connection");
                        let _ = Object::take(conn);
                    }
                });
            }
            Err(_) => {
                let _ = Object::take(conn); // closing the connection rolls back
            }
        }
    }
}

/// Maps a driver error to the API's error. Constraint-specific translations
/// live beside the SQL that can raise them; this is the fallback.
pub fn classify(err: tokio_postgres::Error) -> Error {
    if let Some(db) = err.as_db_error() {
        let code = db.code();
        return match code.code() {
            "CG401" => Error::Unauthenticated("session_invalid"),
            "CG403" if db.message() == "facility_suspended" => Error::Forbidden("facility_suspended"),
            "CG403" => Error::Forbidden("account_inactive"),
            _ if *code == SqlState::INSUFFICIENT_PRIVILEGE => Error::Forbidden("forbidden"),
            _ if *code == SqlState::UNIQUE_VIOLATION => conflict(db.constraint()),
            _ if *code == SqlState::FOREIGN_KEY_VIOLATION => {
                Error::invalid(constraint_field(db.constraint()), "refers to a record that does not exist")
            }
            _ if *code == SqlState::CHECK_VIOLATION => {
                Error::invalid(constraint_field(db.constraint()), "is not an allowed value")
            }
            _ if *code == SqlState::QUERY_CANCELED => Error::Unavailable("statement timeout".into()),
            // Data exceptions (out of range, bad encoding, ...): bad input
            // that validation should have caught first. A 400, and a warning
            // so the missing check gets written.
            _ if code.code().starts_with("22") => {
                tracing::warn!(sqlstate = code.code(), "data exception reached the database");
                Error::invalid(
                    "request",
                    "holds a value the database cannot store (out of range or malformed)",
                )
            }
            _ if code.code().starts_with("08") || code.code().starts_with("57P") => {
                Error::Unavailable(format!("database: {}", db.message()))
            }
            _ => Error::internal(err),
        };
    }
    if err.is_closed() || std::error::Error::source(&err).is_some_and(|s| s.is::<std::io::Error>()) {
        return Error::Unavailable(format!("database connection: {}", with_causes(&err)));
    }
    Error::internal(err)
}

/// An error and its causes, `outer: inner: innermost`, for the log (the
/// driver's own message stops at "error connecting to server").
fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Unique constraints, by name, as the client should hear of them.
fn conflict(constraint: Option<&str>) -> Error {
    const CONFLICTS: &[(&str, &str, &str)] = &[
        ("facilities_slug_key", "facility_slug_taken", "A facility with this slug already exists."),
        ("users_email_key", "email_taken", "Another account already uses this email."),
        ("users_phone_key", "phone_taken", "Another account already uses this phone number."),
        ("patients_facility_mrn_key", "mrn_taken", "Another patient of this facility has this MRN."),
        ("assignments_open_key", "already_assigned", "This staff member is already assigned to the patient."),
    ];
    let c = constraint.unwrap_or_default();
    CONFLICTS.iter().find(|(name, ..)| *name == c).map_or_else(
        || Error::conflict("duplicate", "A record with these values already exists."),
        |(_, code, detail)| Error::conflict(code, *detail),
    )
}

/// `users_email_check` → `email`: our constraints are named
/// `{table}_{column}_{kind}`; the column is what the client sent, in camelCase.
fn constraint_field(constraint: Option<&str>) -> &'static str {
    const FIELDS: &[(&str, &str)] = &[
        ("_first_name_", "firstName"),
        ("_last_name_", "lastName"),
        ("_job_title_", "jobTitle"),
        ("_email_", "email"),
        ("_phone_", "phone"),
        ("_slug_", "slug"),
        ("_name_", "name"),
        ("_primary_counsellor_", "primaryCounsellorId"),
        ("_staff_", "staffId"),
        ("_patient_", "patientId"),
        ("_date_of_birth_", "dateOfBirth"),
        ("_admission_date_", "admissionDate"),
        ("_discharge_date_", "dischargeDate"),
        ("_occurred_at_", "occurredAt"),
        ("_measured_at_", "measuredAt"),
        ("_at_", "at"),
        ("_kind_", "kind"),
        ("_status_", "status"),
        ("_role_", "role"),
        ("_facility_", "facilityId"),
    ];
    let c = constraint.unwrap_or_default();
    FIELDS.iter().find(|(needle, _)| c.contains(needle)).map_or("body", |(_, field)| field)
}

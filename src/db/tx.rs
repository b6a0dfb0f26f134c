//! The tenant transaction: one pooled connection, BEGIN and the prologue
//! pipelined with the first statement, rolled back if dropped. The only way
//! request code reaches PostgreSQL (see the module docs of `db`).

use std::future::Future;

use deadpool_postgres::{ClientWrapper, Object};
use tokio_postgres::{
    Row, Statement,
    types::{ToSql, Type},
};

use super::{DbError, Params};
use crate::{
    domain::ids::{FacilityId, SessionId, UserId},
    error::Error,
    identity::{Credential, KeyGrant, Principal, Role},
};

/// The Postgres role a transaction runs as. The pool's login role is a member
/// of each tenant role (and NOINHERIT), so it can switch into them and do
/// nothing else; `SuperAdmin` and `Worker` only the platform's login reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbRole {
    Public,
    Patient,
    Staff,
    FacilityAdmin,
    SuperAdmin,
    Client,
    Student,
    Teacher,
    Integrator,
    /// Background jobs (V41): a facility admin's reach in the job's facility.
    Worker,
}

impl DbRole {
    pub fn pg_name(self) -> &'static str {
        match self {
            Self::Public => "carego_public",
            Self::Patient => "carego_patient",
            Self::Staff => "carego_staff",
            Self::FacilityAdmin => "carego_facility_admin",
            Self::SuperAdmin => "carego_super_admin",
            Self::Client => "carego_client",
            Self::Student => "carego_student",
            Self::Teacher => "carego_teacher",
            Self::Integrator => "carego_integrator",
            Self::Worker => "carego_worker",
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
            Role::Client => Self::Client,
            Role::Student => Self::Student,
            Role::Teacher => Self::Teacher,
            Role::Integrator => Self::Integrator,
        }
    }
}

/// Who is asking, as the prologue writes it into the transaction. The
/// prologue verifies it (a live session, a valid key, a held job, the
/// platform's login) and signs it; nothing here is trusted as it stands
/// (docs/security.md).
#[derive(Clone, Debug)]
pub struct Context {
    pub db_role: DbRole,
    /// `carego.role`: the application role (`staff`, `super_admin`,
    /// `worker`, `operator`...).
    pub app_role: &'static str,
    pub facility_id: Option<FacilityId>,
    pub user_id: Option<UserId>,
    /// Set for authenticated callers; the prologue then checks the session.
    pub session_id: Option<SessionId>,
    pub request_id: String,
    pub ip: Option<String>,
    /// `carego.change_reason`, recorded by the audit trigger.
    pub reason: Option<String>,
    /// What vouches for the context, and so which prologue runs.
    pub door: Door,
}

/// What vouches for a transaction's context: each has its own prologue
/// function, which refuses what it cannot verify.
#[derive(Clone, Debug)]
pub enum Door {
    /// A signed-in session, or the anonymous public (`carego.begin_request`).
    Session,
    /// The few operations a session reaches before its second factor
    /// (enrolment, verification, logout): `carego.begin_mfa_request`.
    SessionBeforeMfa,
    /// A partner's API key: `carego.begin_key_request`, after the key's
    /// admission is counted.
    ApiKey(KeyGrant),
    /// A job this server's worker holds under a lease: `carego.begin_job`.
    /// `facility`: the facility a platform job works on now; `as_worker`:
    /// as `carego_worker`, not as the job's requester.
    Job { id: i64, worker: String, facility: Option<FacilityId>, as_worker: bool },
    /// The operator's CLI: `carego.begin_operator_request`, platform-wide
    /// without a user, or in a user's own name.
    Operator,
}

impl Context {
    pub fn for_principal(p: &Principal) -> Self {
        Self {
            db_role: p.role.into(),
            app_role: p.role.as_str(),
            facility_id: p.facility_id,
            user_id: Some(p.user_id),
            session_id: p.session_id(),
            request_id: p.meta.request_id.clone(),
            ip: p.meta.ip.clone(),
            reason: p.meta.change_reason.clone(),
            door: match &p.credential {
                Credential::ApiKey(key) => Door::ApiKey(key.clone()),
                Credential::Session(_) => Door::Session,
            },
        }
    }

    /// The website's anonymous context: role `carego_public`, no facility,
    /// no user.
    pub fn public(request_id: &str, ip: Option<&str>) -> Self {
        Self {
            db_role: DbRole::Public,
            app_role: "public",
            facility_id: None,
            user_id: None,
            session_id: None,
            request_id: request_id.to_owned(),
            ip: ip.map(str::to_owned),
            reason: None,
            door: Door::Session,
        }
    }

    /// Whether the transaction needs the platform's login role: super
    /// admins, jobs and the operator's CLI. The pool's role cannot switch
    /// into `carego_super_admin` or `carego_worker` at all.
    pub fn on_platform(&self) -> bool {
        matches!(self.door, Door::Job { .. } | Door::Operator) || self.db_role == DbRole::SuperAdmin
    }
}

/// The request prologue: one statement; see `carego.begin_request` in
/// `sql/schema/context.sql`.
pub const PROLOGUE: &str = "select carego.begin_request($1, $2, $3, $4, $5, $6, $7, $8, $9)";
/// The same, for the operations a session reaches before its second factor;
/// see `carego.begin_mfa_request` in `sql/schema/context.sql`.
const MFA_STEP_PROLOGUE: &str = "select carego.begin_mfa_request($1, $2, $3, $4, $5, $6, $7, $8, $9)";
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

/// The prologue of a request made with an API key; see
/// `carego.begin_key_request` (V41).
const KEY_PROLOGUE: &str = "select carego.begin_key_request($1, $2, $3, $4, $5, $6, $7, $8)";
const KEY_PROLOGUE_TYPES: &[Type] =
    &[Type::UUID, Type::UUID, Type::UUID, Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT];
/// Counts the request against the key's rate limit and daily quota, in its
/// own implicit transaction: sent before BEGIN, so the counter's row lock is
/// held for one statement, not for the request.
const ADMIT_KEY: &str = "select carego.admit_api_key($1)";
/// A job's prologue; see `carego.begin_job` (V41).
const JOB_PROLOGUE: &str = "select carego.begin_job($1, $2, $3, $4, $5, $6)";
const JOB_PROLOGUE_TYPES: &[Type] = &[Type::INT8, Type::TEXT, Type::UUID, Type::BOOL, Type::TEXT, Type::TEXT];
/// The operator's prologue; see `carego.begin_operator_request` (V41).
const OPERATOR_PROLOGUE: &str = "select carego.begin_operator_request($1, $2, $3, $4)";
const OPERATOR_PROLOGUE_TYPES: &[Type] = &[Type::UUID, Type::TEXT, Type::TEXT, Type::TEXT];

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
    pub(super) fn new(conn: Object, ctx: Context, statement_timeout: String) -> Self {
        Self { conn: Some(conn), state: TxState::Pending(ctx), statement_timeout }
    }

    /// Rows of a statement.
    pub async fn query(&mut self, sql: &'static str, params: Params<'_>) -> Result<Vec<Row>, DbError> {
        self.run(sql, |client, stmt| async move { client.query(&stmt, params).await }).await
    }

    /// Exactly one row, or `NotFound` (the caller's 404 when RLS hides it).
    pub async fn query_one(&mut self, sql: &'static str, params: Params<'_>) -> Result<Row, DbError> {
        self.query_opt(sql, params).await?.ok_or(DbError::Api(Error::NotFound))
    }

    /// At most one row.
    pub async fn query_opt(&mut self, sql: &'static str, params: Params<'_>) -> Result<Option<Row>, DbError> {
        let mut rows = self.query(sql, params).await?;
        match rows.len() {
            0 => Ok(None),
            1 => Ok(rows.pop()),
            n => Err(Error::internal(anyhow::anyhow!("expected at most one row, got {n}")).into()),
        }
    }

    /// Number of rows a statement affected.
    pub async fn execute(&mut self, sql: &'static str, params: Params<'_>) -> Result<u64, DbError> {
        self.run(sql, |client, stmt| async move { client.execute(&stmt, params).await }).await
    }

    /// Runs `work` inside a savepoint: when it fails, what it did is rolled
    /// back and the transaction stays usable for the next piece of work (a
    /// sync batch records each item this way). The outer error is the
    /// transaction's own (it could not start — the prologue refused the
    /// session — or the savepoint could not be set or undone): nothing more
    /// can run, and the caller must give up. The inner result is `work`'s.
    pub async fn savepoint<T>(
        &mut self,
        work: impl AsyncFnOnce(&mut TenantTx) -> Result<T, Error>,
    ) -> Result<Result<T, Error>, Error> {
        self.execute("savepoint carego_item", &[]).await?;
        let out = work(self).await;
        match out {
            Ok(_) => self.execute("release savepoint carego_item", &[]).await?,
            Err(_) => self.execute("rollback to savepoint carego_item", &[]).await?,
        };
        Ok(out)
    }

    /// Commits. A transaction that never ran a statement has nothing to commit.
    pub async fn commit(mut self) -> Result<(), Error> {
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

    async fn run<'a, T, F, Fut>(&'a mut self, sql: &'static str, op: F) -> Result<T, DbError>
    where
        F: FnOnce(&'a ClientWrapper, Statement) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let ctx = match std::mem::replace(&mut self.state, TxState::Failed) {
            TxState::Failed | TxState::Committed => return Err(failed_earlier().into()),
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
        if let Door::ApiKey(key) = &ctx.door {
            let (stmt, prologue, admit) = tokio::try_join!(
                client.prepare_cached(sql),
                client.prepare_typed_cached(KEY_PROLOGUE, KEY_PROLOGUE_TYPES),
                client.prepare_typed_cached(ADMIT_KEY, &[Type::UUID])
            )?;
            let scopes = key.scopes_setting();
            let admit_params: [&(dyn ToSql + Sync); 1] = [&key.id];
            let params: [&(dyn ToSql + Sync); 8] = [
                &key.id,
                &ctx.facility_id,
                &ctx.user_id,
                &scopes,
                &ctx.request_id,
                &ctx.ip,
                &ctx.reason,
                &self.statement_timeout,
            ];
            // One round trip, as below. The prologue checks the key again
            // inside the transaction; a refusal by the admission (rate limit,
            // quota) leaves the state `Failed`, so what `op` did is rolled back.
            let (admitted, begin, prologue, out) = tokio::join!(
                biased;
                client.execute(&admit, &admit_params),
                client.batch_execute("BEGIN"),
                client.execute(&prologue, &params),
                op(client, stmt),
            );
            admitted?;
            begin?;
            prologue?;
            self.state = TxState::Open;
            return Ok(out?);
        }
        let db_role = ctx.db_role.pg_name();
        let (prologue_sql, types, params): (&str, &[Type], Vec<&(dyn ToSql + Sync)>) = match &ctx.door {
            Door::ApiKey(_) => unreachable!("a key's prologue went out above"),
            Door::Session | Door::SessionBeforeMfa => (
                if matches!(ctx.door, Door::SessionBeforeMfa) { MFA_STEP_PROLOGUE } else { PROLOGUE },
                PROLOGUE_TYPES,
                vec![
                    &db_role,
                    &ctx.app_role,
                    &ctx.facility_id,
                    &ctx.user_id,
                    &ctx.session_id,
                    &ctx.request_id,
                    &ctx.ip,
                    &ctx.reason,
                    &self.statement_timeout,
                ],
            ),
            Door::Job { id, worker, facility, as_worker } => (
                JOB_PROLOGUE,
                JOB_PROLOGUE_TYPES,
                vec![id, worker, facility, as_worker, &ctx.request_id, &self.statement_timeout],
            ),
            Door::Operator => (
                OPERATOR_PROLOGUE,
                OPERATOR_PROLOGUE_TYPES,
                vec![&ctx.user_id, &ctx.request_id, &ctx.reason, &self.statement_timeout],
            ),
        };
        // Both are cached per connection after the first time; when they are
        // not, the two prepares share one round trip.
        let (stmt, prologue) =
            tokio::try_join!(client.prepare_cached(sql), client.prepare_typed_cached(prologue_sql, types))?;
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

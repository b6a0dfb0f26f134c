//! The database: the pool, the per-request tenant transaction, the embedded
//! cluster and migrations.
//!
//! Request code has one door into PostgreSQL: [`Db::begin`] (or [`Db::run`])
//! → [`TenantTx`], and [`Db::run_before_mfa`] for the few operations a
//! session reaches before its second factor. It sets the request's Postgres
//! role and the signed `carego.*` settings transaction-locally, so row-level
//! security — not handler code — decides what the caller sees, and nothing
//! survives on the pooled connection. The raw pool never leaves this module.
//! The other doors are named so they stand out, and none is reachable from a
//! request that carries a token:
//! - [`Db::begin_public`] / [`Db::run_public`]: login, refresh, registration,
//!   the website's catalog and lead form;
//! - [`Db::begin_system`]: the operator's CLI, and [`Db::begin_on_behalf`]:
//!   the CLI writing a record in a staff member's name (`tenants apply`'s
//!   care logs);
//! - `begin_job` / `begin_job_in` (in [`jobs`]): the worker, in the facility
//!   its job names;
//! - single statements outside any request transaction: [`Db::count_attempt`]
//!   (the unauthenticated doors' rate limits) and [`Db::job_queue_depth`]
//!   (metrics), each calling one narrow function.
//!
//! Two pools, two login roles: `carego_app` for tenant requests, and
//! `carego_platform` for super admins, the job worker and the CLI. The
//! first cannot switch into `carego_super_admin` or `carego_worker`, so SQL
//! run inside a tenant request can never reach platform-wide rows
//! (docs/security.md).

pub mod accounts;
pub mod amendments;
pub mod audit;
pub mod catalog;
pub mod clinical;
pub mod communication;
mod errors;
pub mod filters;
pub mod finance;
pub mod idempotency;
pub mod infra;
pub mod jobs;
pub mod recovery;
pub mod training;
mod tx;

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime};
use tokio_postgres::{NoTls, types::ToSql};
use uuid::Uuid;

use self::{errors::with_causes, infra::tls};
pub use self::{
    errors::{DbError, OnConstraint},
    tx::{Context, DbRole, Door, PROLOGUE, TenantTx},
};
use crate::{
    domain::ids::{FacilityId, UserId},
    error::{Error, Result},
    identity::{Principal, Role},
};

/// A request parameter list.
pub type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

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
    /// `carego_app`: tenant requests and the public.
    pool: Pool,
    /// `carego_platform`: super admins, jobs, the operator's CLI.
    platform: Pool,
    statement_timeout: String,
    /// For the LISTEN connection, made apart from the pool.
    config: tokio_postgres::Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
}

impl Db {
    /// Builds the pools for the app's login role (`app_url`) and the
    /// platform's (`platform_url`). Connections are made lazily. The
    /// platform pool is a quarter of the size (at least two): super admins,
    /// jobs and the CLI are few.
    pub fn connect(app_url: &str, platform_url: &str, settings: &PoolSettings) -> anyhow::Result<Self> {
        let (pool, config, tls) = build_pool(app_url, settings.max_size, settings)?;
        let (platform, _, _) = build_pool(platform_url, (settings.max_size / 4).max(2), settings)?;
        Ok(Self {
            pool,
            platform,
            statement_timeout: format!("{}ms", settings.statement_timeout.as_millis()),
            config,
            tls,
        })
    }

    /// Keeps this process's LISTEN connection up and feeds `hub`, until the
    /// future is dropped (see [`infra::listen`]).
    pub fn listen(
        &self,
        hub: std::sync::Arc<infra::listen::Hub>,
    ) -> impl std::future::Future<Output = ()> + use<> {
        infra::listen::run(self.config.clone(), self.tls.clone(), hub)
    }

    /// The tenant transaction for an authenticated caller.
    pub async fn begin(&self, principal: &Principal) -> Result<TenantTx> {
        self.begin_with(Context::for_principal(principal)).await
    }

    /// Runs `work` in the caller's tenant transaction and commits it; on an
    /// error nothing is committed. What request handlers call.
    pub async fn run<T>(
        &self,
        principal: &Principal,
        work: impl AsyncFnOnce(&mut TenantTx) -> Result<T>,
    ) -> Result<T> {
        let mut tx = self.begin(principal).await?;
        let out = work(&mut tx).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// [`run`](Self::run) for the few operations a session reaches before
    /// its second factor is verified: logging in, enrolling and verifying
    /// it, reading where it stands, `me`, logging out. Every other check of
    /// the prologue holds.
    pub async fn run_before_mfa<T>(
        &self,
        principal: &Principal,
        work: impl AsyncFnOnce(&mut TenantTx) -> Result<T>,
    ) -> Result<T> {
        let mut tx = self
            .begin_with(Context { door: Door::SessionBeforeMfa, ..Context::for_principal(principal) })
            .await?;
        let out = work(&mut tx).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Platform-level door for unauthenticated flows (login, refresh): role
    /// `carego_public`, no facility, no user. That role can only call the
    /// narrow SECURITY DEFINER auth functions.
    pub async fn begin_public(&self, request_id: &str, ip: Option<&str>) -> Result<TenantTx> {
        self.begin_with(Context::public(request_id, ip)).await
    }

    /// [`begin_public`](Self::begin_public), `work`, commit: the website's
    /// catalog reads and lead form.
    pub async fn run_public<T>(
        &self,
        request_id: &str,
        ip: Option<&str>,
        work: impl AsyncFnOnce(&mut TenantTx) -> Result<T>,
    ) -> Result<T> {
        let mut tx = self.begin_public(request_id, ip).await?;
        let out = work(&mut tx).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Platform-level door for the operator's own CLI (`tenants apply`,
    /// `users create-super-admin`): super-admin reach, no user, audited as
    /// role `operator`, on the platform's login only. Never reachable from
    /// HTTP.
    pub async fn begin_system(&self, reason: &str) -> Result<TenantTx> {
        self.begin_with(Context {
            db_role: DbRole::SuperAdmin,
            app_role: "operator",
            facility_id: None,
            user_id: None,
            session_id: None,
            request_id: format!("cli-{}", Uuid::new_v4()),
            ip: None,
            reason: Some(reason.to_owned()),
            door: Door::Operator,
        })
        .await
    }

    /// Platform-level door for the operator's CLI when a record must carry a
    /// real author (care logs in manifests): the author's own role, facility
    /// and user (which the prologue reads again from the author's account),
    /// but no session. Never reachable from HTTP.
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
            door: Door::Operator,
        })
        .await
    }

    /// `GET /ready`: can a connection of each login role be had and used?
    pub async fn ping(&self) -> Result<()> {
        let conn = self.checkout().await?;
        conn.simple_query("").await?;
        drop(conn);
        let conn = self.checkout_platform().await?;
        conn.simple_query("").await?;
        Ok(())
    }

    /// Closes the pools: idle connections are dropped, checkouts fail.
    pub fn close(&self) {
        self.pool.close();
        self.platform.close();
    }

    /// Platform-level door for the unauthenticated doors' rate limits
    /// (`auth::rate_limit`): counts one attempt in `carego.hit_rate_limit`,
    /// one statement in its own implicit transaction, as the pool's role. It
    /// reads and writes nothing but the counter.
    pub async fn count_attempt(
        &self,
        bucket: &str,
        key_hash: &[u8],
        limit: u32,
        window_secs: u32,
    ) -> Result<()> {
        const HIT: &str = "select carego.hit_rate_limit($1, $2, $3, $4)";
        let conn = self.checkout().await?;
        let stmt = conn.prepare_cached(HIT).await?;
        let (limit, window) =
            (i32::try_from(limit).unwrap_or(i32::MAX), i32::try_from(window_secs).unwrap_or(i32::MAX));
        conn.execute(&stmt, &[&bucket, &key_hash, &limit, &window]).await?;
        Ok(())
    }

    /// The pool's size, idle connections and waiters, for the metrics.
    pub fn pool_status(&self) -> deadpool_postgres::Status {
        self.pool.status()
    }

    /// Jobs by state (`due`, `running`, `scheduled`), for the metrics:
    /// `carego.job_queue_depth`, as the pool's role; counts only.
    pub async fn job_queue_depth(&self) -> Result<Vec<(String, i64)>> {
        const DEPTH: &str = "select state, jobs from carego.job_queue_depth()";
        let conn = self.checkout().await?;
        let stmt = conn.prepare_cached(DEPTH).await?;
        let rows = conn.query(&stmt, &[]).await?;
        Ok(rows.iter().map(|r| (r.get("state"), r.get("jobs"))).collect())
    }

    async fn begin_with(&self, ctx: Context) -> Result<TenantTx> {
        let conn = if ctx.on_platform() { self.checkout_platform().await? } else { self.checkout().await? };
        Ok(TenantTx::new(conn, ctx, self.statement_timeout.clone()))
    }

    async fn checkout(&self) -> Result<Object> {
        self.pool.get().await.map_err(pool_error)
    }

    /// A connection of the platform's login role, for what only it may do
    /// (the job queue, the cleanup, super admins' and jobs' transactions).
    async fn checkout_platform(&self) -> Result<Object> {
        self.platform.get().await.map_err(pool_error)
    }
}

fn pool_error(err: PoolError) -> Error {
    match err {
        PoolError::Timeout(_) => Error::Unavailable("connection pool exhausted".into()),
        PoolError::Backend(e) => Error::Unavailable(format!("database unreachable: {}", with_causes(&e))),
        PoolError::Closed => Error::Unavailable("pool closed".into()),
        other => Error::Unavailable(format!("pool: {other}")),
    }
}

/// A pool of `max_size` connections to `url`, with the settings both pools
/// share; also its connection config and TLS connector (for LISTEN).
fn build_pool(
    url: &str,
    max_size: usize,
    settings: &PoolSettings,
) -> anyhow::Result<(Pool, tokio_postgres::Config, Option<tokio_postgres_rustls::MakeRustlsConnect>)> {
    let mut pg: tokio_postgres::Config = url.parse()?;
    pg.application_name("carego");
    if pg.get_connect_timeout().is_none() {
        pg.connect_timeout(settings.checkout_timeout);
    }
    // Fast is safe: a TenantTx never returns its connection to the pool
    // inside an open transaction (see its Drop).
    let manager_config = ManagerConfig { recycling_method: RecyclingMethod::Fast };
    let tls = tls::connector_for(&pg)?;
    let config = pg.clone();
    let manager = match tls.clone() {
        Some(tls) => Manager::from_config(pg, tls, manager_config),
        None => Manager::from_config(pg, NoTls, manager_config),
    };
    let pool = Pool::builder(manager)
        .max_size(max_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(settings.checkout_timeout))
        .create_timeout(Some(settings.checkout_timeout))
        .recycle_timeout(Some(settings.checkout_timeout))
        .build()?;
    Ok((pool, config, tls))
}

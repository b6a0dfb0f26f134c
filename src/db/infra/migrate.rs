//! Migrations (refinery, embedded in the binary) and the bootstrap of the
//! login roles on a cluster we manage ourselves.
//!
//! On an external server the operator creates the login roles once (see
//! docs/database.md); migrations, run as `carego_owner`, create everything
//! else, including the NOLOGIN request roles.

use anyhow::Context as _;
use tokio_postgres::{Client, NoTls};

refinery::embed_migrations!("sql/migrations");

/// The owner of every object; runs migrations; never used by requests.
pub const OWNER_ROLE: &str = "carego_owner";
/// The pool's login role: no privileges of its own, member of the tenant
/// request roles.
pub const APP_ROLE: &str = "carego_app";
/// The platform's login role (V41): super admins, the job worker and the
/// operator's CLI. The only login that can switch into `carego_super_admin`
/// and `carego_worker`.
pub const PLATFORM_ROLE: &str = "carego_platform";

/// Connects with a libpq-style string or URL and drives the connection.
pub async fn connect(conn: &str) -> anyhow::Result<Client> {
    let config: tokio_postgres::Config = conn.parse().context("parsing the connection string")?;
    let client = match super::tls::connector_for(&config)? {
        Some(tls) => {
            let (client, connection) = config.connect(tls).await.context("connecting to PostgreSQL")?;
            tokio::spawn(drive(connection));
            client
        }
        None => {
            let (client, connection) = config.connect(NoTls).await.context("connecting to PostgreSQL")?;
            tokio::spawn(drive(connection));
            client
        }
    };
    Ok(client)
}

async fn drive<F: std::future::Future<Output = Result<(), tokio_postgres::Error>>>(connection: F) {
    if let Err(err) = connection.await {
        tracing::debug!(error = %err, "migration connection ended");
    }
}

/// Runs pending migrations as the owner. Returns how many were applied.
pub async fn run(owner_conn: &str) -> anyhow::Result<usize> {
    let mut client = connect(owner_conn).await?;
    let report = migrations::runner()
        .set_abort_divergent(true)
        .run_async(&mut client)
        .await
        .context("running migrations")?;
    Ok(report.applied_migrations().len())
}

/// Creates the login roles and the database on a cluster where we are
/// superuser (the embedded one, or a test cluster). Idempotent.
pub async fn bootstrap(superuser: &Client, database: &str) -> anyhow::Result<()> {
    superuser
        .batch_execute(&format!(
            "do $$ begin
               if not exists (select from pg_roles where rolname = '{OWNER_ROLE}') then
                 create role {OWNER_ROLE} login createrole nosuperuser nobypassrls;
               end if;
               if not exists (select from pg_roles where rolname = '{APP_ROLE}') then
                 create role {APP_ROLE} login noinherit nosuperuser nobypassrls nocreatedb nocreaterole;
               end if;
               if not exists (select from pg_roles where rolname = '{PLATFORM_ROLE}') then
                 create role {PLATFORM_ROLE} login noinherit nosuperuser nobypassrls nocreatedb nocreaterole;
               end if;
             end $$;"
        ))
        .await
        .context("creating login roles")?;
    let exists =
        superuser.query_opt("select 1 from pg_database where datname = $1", &[&database]).await?.is_some();
    if !exists {
        // Identifiers cannot be bound; `database` is ours, never user input.
        superuser
            .batch_execute(&format!("create database \"{database}\" owner {OWNER_ROLE}"))
            .await
            .context("creating the database")?;
    }
    Ok(())
}

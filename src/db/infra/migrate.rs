//! Migrations (refinery, embedded in the binary), the schema files applied
//! after them, and the bootstrap of the login roles on a cluster we manage
//! ourselves.
//!
//! Versioned migrations (`sql/migrations/`) are the immutable history of
//! tables. The current definitions of functions and policies live in
//! `sql/schema/`, one file per area; [`run`] applies a file after the migrations when its text
//! changed or a migration came since it was last applied (a migration may
//! have replaced one of its definitions), so the file always has the last
//! word and a fresh database and an upgraded one end alike.
//!
//! On an external server the operator creates the login roles once (see
//! docs/database.md); migrations, run as `carego_owner`, create everything
//! else, including the NOLOGIN request roles.

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use tokio_postgres::{Client, GenericClient, NoTls};

refinery::embed_migrations!("sql/migrations");

/// `sql/schema/`, in the order applied (a file may call what an earlier one
/// defines). A test holds this list to the directory.
pub const SCHEMA_FILES: &[(&str, &str)] = &[
    ("common", include_str!("../../../sql/schema/common.sql")),
    ("context", include_str!("../../../sql/schema/context.sql")),
    ("audit", include_str!("../../../sql/schema/audit.sql")),
    ("accounts", include_str!("../../../sql/schema/accounts.sql")),
    ("jobs", include_str!("../../../sql/schema/jobs.sql")),
    ("clinical", include_str!("../../../sql/schema/clinical.sql")),
    ("recovery", include_str!("../../../sql/schema/recovery.sql")),
    ("communication", include_str!("../../../sql/schema/communication.sql")),
    ("catalog", include_str!("../../../sql/schema/catalog.sql")),
    ("training", include_str!("../../../sql/schema/training.sql")),
    ("finance", include_str!("../../../sql/schema/finance.sql")),
];

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

/// Runs pending migrations as the owner, then the schema files that need
/// it. Returns how many migrations were applied.
pub async fn run(owner_conn: &str) -> anyhow::Result<usize> {
    run_to(owner_conn, None).await
}

/// [`run`], stopping after migration `target` when one is given (tests
/// that upgrade a database from an earlier version).
pub async fn run_to(owner_conn: &str, target: Option<u32>) -> anyhow::Result<usize> {
    let mut client = connect(owner_conn).await?;
    super::citus::refuse_open_walls(&mut client).await?;
    // One transaction for every pending migration: they land together or
    // not at all, and no other session of the cluster sees a state between
    // two of them. Roles are cluster-wide, and a database migrated from
    // empty passes through some that must never be seen: V1 makes
    // `carego_app` a member of `carego_super_admin`, V41 takes that back.
    // The schema files follow in a transaction of their own (a failure
    // there leaves the migrations applied; the next run applies the files).
    let runner = migrations::runner().set_abort_divergent(true).set_grouped(true).set_target(match target {
        Some(version) => refinery::Target::Version(version),
        None => refinery::Target::Latest,
    });
    let report = runner.run_async(&mut client).await.context("running migrations")?;
    if target.is_none() {
        apply_schema(&mut client).await?;
        // No request or login role logs in on a Citus worker, and none may
        // call Citus's functions beyond what its plans need.
        super::citus::refuse_worker_logins(&client).await?;
        super::citus::refuse_open_citus_functions(&client).await?;
    }
    Ok(report.applied_migrations().len())
}

/// Applies each schema file whose text changed, or that a migration came
/// after, statement by statement, in one transaction under a lock (two
/// servers starting at once apply it once). Returns the names of the files
/// applied.
pub async fn apply_schema(client: &mut Client) -> anyhow::Result<Vec<&'static str>> {
    let tx = client.transaction().await?;
    // A function may call one a later file defines: bodies are checked
    // when called, as in a dump's restore.
    tx.batch_execute(
        "select pg_advisory_xact_lock(hashtext('carego.schema_files'));
         set local check_function_bodies = off;",
    )
    .await?;
    let newest: i32 = tx
        .query_one("select coalesce(max(version), 0) from refinery_schema_history", &[])
        .await
        .context("reading the migration history")?
        .get(0);
    let recorded: std::collections::HashMap<String, (Vec<u8>, i32)> = tx
        .query("select name, checksum, after_migration from carego.schema_files", &[])
        .await?
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect();
    let mut applied = Vec::new();
    for (name, sql) in SCHEMA_FILES {
        let checksum = Sha256::digest(sql.as_bytes()).to_vec();
        if recorded.get(*name) == Some(&(checksum.clone(), newest)) {
            continue;
        }
        execute_each(&tx, &format!("sql/schema/{name}.sql"), sql).await?;
        tx.execute(
            "insert into carego.schema_files (name, checksum, after_migration) values ($1, $2, $3)
             on conflict (name) do update
                set checksum = excluded.checksum, after_migration = excluded.after_migration, applied_at = now()",
            &[name, &checksum, &newest],
        )
        .await?;
        applied.push(*name);
    }
    if !applied.is_empty() {
        // Policies were created again with the roles the files name: every
        // facility wall names the whole tenant group once more.
        tx.batch_execute("select carego.apply_role_groups()").await.context("applying the role groups")?;
    }
    tx.commit().await?;
    if !applied.is_empty() {
        tracing::info!(files = ?applied, "schema files applied");
    }
    Ok(applied)
}

/// Runs the statements of `file` (named `path` in errors) one at a time:
/// Citus forwards some DDL on a distributed table (`DROP POLICY`) to the
/// shards as the client's query string, and refuses one that holds several
/// statements.
pub async fn execute_each(client: &impl GenericClient, path: &str, file: &str) -> anyhow::Result<()> {
    for statement in super::statements::split(file).with_context(|| format!("reading {path}"))? {
        client
            .batch_execute(statement.text)
            .await
            .with_context(|| format!("applying {path}, the statement on line {}", statement.line))?;
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_file_is_applied_and_nothing_else() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/sql/schema");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".sql"))
            .map(|n| n.trim_end_matches(".sql").to_owned())
            .collect();
        on_disk.sort();
        let mut listed: Vec<String> = SCHEMA_FILES.iter().map(|(n, _)| (*n).to_owned()).collect();
        listed.sort();
        assert_eq!(listed, on_disk, "SCHEMA_FILES and sql/schema/ differ");
    }
}

//! The command line. `main.rs` only parses and calls [`run`], which hands
//! each command to where it lives: `serve`'s wiring in [`serve`], the demo
//! facilities and logins an embedded cluster gets in [`demo`], the
//! operator's commands in [`admin`]. What they share is here: the commands
//! themselves and [`Opened`], a migrated database with its pools.

mod admin;
mod demo;
mod serve;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::bail;
use clap::{Parser, Subcommand};

use crate::{
    api,
    config::DbSettings,
    db::{
        Db, PoolSettings,
        infra::{
            citus::EmbeddedCitus,
            embedded::{Durability, EmbeddedCluster, SUPERUSER},
            migrate::{self, APP_ROLE, OWNER_ROLE, PLATFORM_ROLE},
        },
    },
};

/// The embedded cluster's database.
const DATABASE: &str = "carego";

#[derive(Parser, Debug)]
#[command(name = "carego", version, about = "Multi-tenant backend for care facilities")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP server (starts an embedded PostgreSQL without DATABASE_URL).
    Serve {
        #[command(flatten)]
        db: DbSettings,
        /// Boxed: the largest variant by far.
        #[command(flatten)]
        serve: Box<crate::config::ServeSettings>,
    },
    /// Run pending migrations and exit.
    Migrate {
        #[command(flatten)]
        db: DbSettings,
    },
    /// Facility manifests.
    Tenants {
        #[command(subcommand)]
        command: TenantsCommand,
    },
    /// Accounts managed by the operator.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Check the database for what would weaken tenant isolation (RLS not
    /// forced, privileged request roles, unsafe definer functions, ...).
    /// Exits non-zero on any finding.
    Doctor {
        #[command(flatten)]
        db: DbSettings,
    },
    /// Print the OpenAPI document.
    Openapi,
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Recompute hash chains: one facility's, or every facility's and the
    /// platform's. Exits non-zero when a chain is broken.
    Verify {
        /// One facility's chain, by id or slug.
        #[arg(long)]
        facility: Option<String>,
        #[command(flatten)]
        db: DbSettings,
    },
}

#[derive(Subcommand, Debug)]
pub enum TenantsCommand {
    /// Apply every manifest in DIR (default `tenants/`), idempotently.
    Apply {
        #[arg(default_value = "tenants")]
        dir: PathBuf,
        #[command(flatten)]
        db: DbSettings,
    },
}

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Create a super admin. The password is read from CAREGO_SUPER_ADMIN_PASSWORD
    /// or, when that is unset, from the first line of standard input.
    CreateSuperAdmin {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "Platform")]
        first_name: String,
        #[arg(long, default_value = "Admin")]
        last_name: String,
        #[command(flatten)]
        db: DbSettings,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Openapi => {
            print!("{}", api::spec_json());
            Ok(())
        }
        Command::Migrate { db } => {
            let opened = Opened::open(&db, Durability::Durable).await?;
            opened.stop().await
        }
        Command::Tenants { command: TenantsCommand::Apply { dir, db } } => {
            admin::tenants_apply(&dir, &db).await
        }
        Command::Users { command: UsersCommand::CreateSuperAdmin { email, first_name, last_name, db } } => {
            admin::users_create_super_admin(&email, &first_name, &last_name, &db).await
        }
        Command::Audit { command: AuditCommand::Verify { facility, db } } => {
            admin::audit_verify(facility.as_deref(), &db).await
        }
        Command::Doctor { db } => admin::doctor(&db).await,
        Command::Serve { db, serve } => serve::serve(db, *serve).await,
    }
}

/// A database ready for the app: migrated, with the pool built.
struct Opened {
    db: Db,
    cluster: Option<EmbeddedCluster>,
    /// The embedded Citus workers, when `cluster` is their coordinator.
    workers: Vec<EmbeddedCluster>,
}

impl Opened {
    async fn open(settings: &DbSettings, durability: Durability) -> anyhow::Result<Self> {
        let pool = PoolSettings {
            max_size: settings.pool_size,
            checkout_timeout: settings.pool_timeout(),
            statement_timeout: Duration::from_millis(settings.statement_timeout_ms),
        };
        match &settings.database_url {
            Some(_) if settings.citus_workers > 0 => bail!(
                "--citus-workers starts an embedded Citus cluster and cannot be used with DATABASE_URL; \
                 to run on your own Citus, point DATABASE_URL at its coordinator"
            ),
            Some(url) => {
                if let Some(owner) = &settings.migration_database_url {
                    let applied = migrate::run(owner).await?;
                    tracing::info!(applied, "migrations up to date");
                }
                let Some(platform) = &settings.platform_database_url else {
                    bail!(
                        "PLATFORM_DATABASE_URL must be set when DATABASE_URL is: the platform's login role \
                         (carego_platform) serves super admins, jobs and operator commands (docs/database.md)"
                    );
                };
                let db = Db::connect(url, platform, &pool)?;
                // Fail at start, with the cause, rather than serve 503s.
                db.ping().await.map_err(|err| anyhow::anyhow!("DATABASE_URL cannot be reached: {err}"))?;
                Ok(Self { db, cluster: None, workers: Vec::new() })
            }
            None => {
                let (cluster, workers) = if settings.citus_workers > 0 {
                    let root = settings.data_dir.join("citus");
                    let citus =
                        EmbeddedCitus::start(&root, settings.citus_workers, durability, DATABASE).await?;
                    tracing::info!(workers = citus.workers.len(), "embedded Citus ready");
                    (citus.coordinator, citus.workers)
                } else {
                    let cluster =
                        EmbeddedCluster::start(&settings.data_dir.join("postgres"), durability).await?;
                    let superuser = migrate::connect(&cluster.conn_str(SUPERUSER, "postgres")).await?;
                    migrate::bootstrap(&superuser, DATABASE).await?;
                    (cluster, Vec::new())
                };
                let applied = migrate::run(&cluster.conn_str(OWNER_ROLE, DATABASE)).await?;
                tracing::info!(applied, socket = %cluster.socket_dir().display(), "embedded PostgreSQL ready");
                let db = Db::connect(
                    &cluster.conn_str(APP_ROLE, DATABASE),
                    &cluster.conn_str(PLATFORM_ROLE, DATABASE),
                    &pool,
                )?;
                Ok(Self { db, cluster: Some(cluster), workers })
            }
        }
    }

    fn embedded(&self) -> bool {
        self.cluster.is_some()
    }

    /// Resolves `password_env` names; with the embedded cluster the demo
    /// password falls back to one generated once and kept in the data dir.
    fn secret_resolver(&self, data_dir: &Path) -> anyhow::Result<impl Fn(&str) -> Option<String> + use<>> {
        let demo = if self.embedded() { Some(demo::password(data_dir)?) } else { None };
        Ok(move |name: &str| {
            std::env::var(name).ok().or_else(|| (name == demo::PASSWORD_ENV).then(|| demo.clone()).flatten())
        })
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.db.close();
        if let Some(cluster) = self.cluster {
            cluster.stop().await?;
        }
        for worker in self.workers {
            worker.stop().await?;
        }
        Ok(())
    }
}

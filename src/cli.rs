//! The command line: `serve`, `migrate`, `tenants apply`, `users
//! create-super-admin`, `audit verify`, `doctor`, `openapi`. `main.rs` only
//! parses and calls [`run`].

use std::{
    io::Read as _,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};

use crate::{
    api::{self, AppState},
    auth::{jwt::JwtKeys, password, registration::KeyHasher},
    config::{AppSettings, DbSettings, ServeSettings},
    db::{
        Db, PoolSettings,
        accounts::{
            facilities,
            users::{self, NewUser},
        },
        audit,
        infra::{
            doctor,
            embedded::{Durability, EmbeddedCluster, SUPERUSER},
            migrate::{self, APP_ROLE, OWNER_ROLE, PLATFORM_ROLE},
        },
    },
    domain::{contact::Email, ids::FacilityId},
    identity::Role,
    server,
    storage::Storage,
    tenants,
};

/// The embedded cluster's database.
const DATABASE: &str = "carego";
/// The variable demo manifests take their password from.
const DEMO_PASSWORD_ENV: &str = "CAREGO_DEMO_PASSWORD";
const DEMO_SUPER_ADMIN: &str = "root@carego.example";

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
        serve: Box<ServeSettings>,
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
            let opened = Opened::open(&db, Durability::Durable).await?;
            let manifests = tenants::load_dir(&dir)?;
            let secret = opened.secret_resolver(&db.data_dir)?;
            let report = tenants::apply(&opened.db, &manifests, &secret).await;
            let stopped = opened.stop().await;
            let report = report?;
            println!(
                "applied {} manifest(s): {} facilit(ies) created, {} user(s) created, {} activated, \
                 {} patient(s), {} assignment(s) and {} care log(s) created",
                manifests.len(),
                report.facilities_created,
                report.users_created,
                report.users_activated,
                report.patients_created,
                report.assignments_created,
                report.care_logs_created,
            );
            stopped
        }
        Command::Users { command: UsersCommand::CreateSuperAdmin { email, first_name, last_name, db } } => {
            let email = Email::parse(&email).map_err(|m| anyhow::anyhow!("--email {m}"))?;
            let pw = match std::env::var("CAREGO_SUPER_ADMIN_PASSWORD") {
                Ok(pw) => pw,
                Err(_) => read_first_line_of_stdin()?,
            };
            password::validate(&pw).map_err(|m| anyhow::anyhow!("password {m}"))?;
            let hash = password::hash(pw).await?;
            let opened = Opened::open(&db, Durability::Durable).await?;
            let created = create_super_admin(&opened.db, &email, &first_name, &last_name, hash).await;
            let stopped = opened.stop().await;
            println!("created super admin {} ({})", email, created?);
            stopped
        }
        Command::Audit { command: AuditCommand::Verify { facility, db } } => {
            let opened = Opened::open(&db, Durability::Durable).await?;
            let verified = verify_chains(&opened.db, facility.as_deref()).await;
            let stopped = opened.stop().await;
            let broken = verified?;
            stopped?;
            if broken > 0 {
                bail!("{broken} audit chain(s) broken");
            }
            Ok(())
        }
        Command::Doctor { db } => {
            let opened = Opened::open(&db, Durability::Durable).await?;
            let conn = match (&db.migration_database_url, &db.database_url, &opened.cluster) {
                (Some(owner), _, _) => owner.clone(),
                (None, Some(app), _) => app.clone(),
                (None, None, Some(cluster)) => cluster.conn_str(OWNER_ROLE, DATABASE),
                (None, None, None) => unreachable!("without DATABASE_URL the cluster is embedded"),
            };
            let findings = match migrate::connect(&conn).await {
                Ok(client) => doctor::examine(&client).await,
                Err(err) => Err(err),
            };
            let stopped = opened.stop().await;
            let findings = findings?;
            stopped?;
            for f in &findings {
                println!("{f}");
            }
            if !findings.is_empty() {
                bail!("{} finding(s)", findings.len());
            }
            println!("doctor: no findings");
            // Reported, not refused: what stands between this schema and
            // distributing it by facility.
            println!("doctor: these keys omit facility_id by design (docs/scale-out.md):");
            for (key, why) in doctor::PLATFORM_KEYS {
                println!("  {key}: {why}");
            }
            Ok(())
        }
        Command::Serve { db, serve } => serve_command(db, *serve).await,
    }
}

/// Verifies chains, printing one line each; returns how many are broken.
/// `facility` is an id or a slug; one that names no facility is an error.
async fn verify_chains(db: &Db, facility: Option<&str>) -> anyhow::Result<usize> {
    let mut tx = db.begin_system("audit verify").await?;
    let chains: Vec<Option<FacilityId>> = match facility {
        Some(wanted) => {
            let found = match wanted.parse::<uuid::Uuid>() {
                Ok(id) => facilities::find(&mut tx, FacilityId(id)).await?,
                Err(_) => facilities::find_by_slug(&mut tx, wanted).await?,
            };
            let found =
                found.with_context(|| format!("--facility {wanted}: no facility has this id or slug"))?;
            vec![Some(found.id)]
        }
        None => {
            std::iter::once(None).chain(audit::facility_ids(&mut tx).await?.into_iter().map(Some)).collect()
        }
    };
    let mut broken = 0;
    for chain in chains {
        let v = audit::verify(&mut tx, chain).await?;
        let name = chain.map_or_else(|| "platform".to_owned(), |id| id.to_string());
        match v.first_broken_id {
            None => println!("{name}: ok, {} row(s) checked", v.checked),
            Some(row) => {
                broken += 1;
                println!("{name}: BROKEN at row {row} (after {} row(s))", v.checked);
            }
        }
    }
    tx.commit().await?;
    Ok(broken)
}

fn read_first_line_of_stdin() -> anyhow::Result<String> {
    let mut input = String::new();
    std::io::stdin().take(4096).read_to_string(&mut input)?;
    let line = input.lines().next().unwrap_or_default().to_owned();
    if line.is_empty() {
        bail!("no password: set CAREGO_SUPER_ADMIN_PASSWORD or pipe it on standard input");
    }
    Ok(line)
}

async fn create_super_admin(
    db: &Db,
    email: &Email,
    first: &str,
    last: &str,
    hash: String,
) -> anyhow::Result<crate::domain::ids::UserId> {
    let mut tx = db.begin_system("create super admin").await?;
    let user = users::insert(
        &mut tx,
        &NewUser {
            facility_id: None,
            email: Some(email),
            phone: None,
            password_hash: Some(hash),
            role: Role::SuperAdmin,
            first_name: first,
            last_name: last,
            job_title: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(user.id)
}

/// A database ready for the app: migrated, with the pool built.
struct Opened {
    db: Db,
    cluster: Option<EmbeddedCluster>,
}

impl Opened {
    async fn open(settings: &DbSettings, durability: Durability) -> anyhow::Result<Self> {
        let pool = PoolSettings {
            max_size: settings.pool_size,
            checkout_timeout: settings.pool_timeout(),
            statement_timeout: Duration::from_millis(settings.statement_timeout_ms),
        };
        match &settings.database_url {
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
                Ok(Self { db, cluster: None })
            }
            None => {
                let cluster = EmbeddedCluster::start(&settings.data_dir.join("postgres"), durability).await?;
                let superuser = migrate::connect(&cluster.conn_str(SUPERUSER, "postgres")).await?;
                migrate::bootstrap(&superuser, DATABASE).await?;
                drop(superuser);
                let applied = migrate::run(&cluster.conn_str(OWNER_ROLE, DATABASE)).await?;
                tracing::info!(applied, socket = %cluster.socket_dir().display(), "embedded PostgreSQL ready");
                let db = Db::connect(
                    &cluster.conn_str(APP_ROLE, DATABASE),
                    &cluster.conn_str(PLATFORM_ROLE, DATABASE),
                    &pool,
                )?;
                Ok(Self { db, cluster: Some(cluster) })
            }
        }
    }

    fn embedded(&self) -> bool {
        self.cluster.is_some()
    }

    /// Resolves `password_env` names; with the embedded cluster the demo
    /// password falls back to one generated once and kept in the data dir.
    fn secret_resolver(&self, data_dir: &Path) -> anyhow::Result<impl Fn(&str) -> Option<String> + use<>> {
        let demo = if self.embedded() { Some(demo_password(data_dir)?) } else { None };
        Ok(move |name: &str| {
            std::env::var(name).ok().or_else(|| (name == DEMO_PASSWORD_ENV).then(|| demo.clone()).flatten())
        })
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.db.close();
        match self.cluster {
            Some(cluster) => cluster.stop().await,
            None => Ok(()),
        }
    }
}

/// Reads (or creates, 0600) a secret file in the data dir.
fn persistent_secret(path: &Path, generate: impl FnOnce() -> String) -> anyhow::Result<String> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        return Ok(existing.trim().to_owned());
    }
    let value = generate();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    std::io::Write::write_all(&mut file, value.as_bytes())?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(value)
}

fn demo_password(data_dir: &Path) -> anyhow::Result<String> {
    if let Ok(pw) = std::env::var(DEMO_PASSWORD_ENV) {
        return Ok(pw);
    }
    std::fs::create_dir_all(data_dir)?;
    persistent_secret(&data_dir.join("demo-password"), || {
        let (token, _) = crate::auth::tokens::new_refresh_token();
        format!("demo-{}", &token[..16])
    })
}

async fn serve_command(db_settings: DbSettings, serve: ServeSettings) -> anyhow::Result<()> {
    let settings = AppSettings::from_serve(&serve)?;
    let storage = match &serve.storage_url {
        Some(url) => Storage::open(url)?,
        None => {
            let dir = std::path::absolute(db_settings.data_dir.join("documents"))?;
            Storage::open(&format!("file://{}", dir.display()))?
        }
    };
    let opened = Opened::open(&db_settings, Durability::Durable).await?;
    let keys = match (&serve.jwt_keys, opened.embedded()) {
        (Some(spec), _) => JwtKeys::parse(spec)?,
        (None, true) => JwtKeys::parse(&persistent_secret(
            &db_settings.data_dir.join("jwt-keys"),
            JwtKeys::generate_spec,
        )?)?,
        (None, false) => {
            opened.stop().await?;
            bail!("CAREGO_JWT_KEYS must be set when DATABASE_URL is (see README, Configuration)");
        }
    };

    let mut logins = Vec::new();
    if opened.embedded() {
        let demo = demo_password(&db_settings.data_dir)?;
        if serve.tenants_dir.is_dir() {
            let manifests = tenants::load_dir(&serve.tenants_dir)?;
            let secret = opened.secret_resolver(&db_settings.data_dir)?;
            tenants::apply(&opened.db, &manifests, &secret).await?;
            for (_, m) in &manifests {
                let emails: Vec<&str> = m
                    .admins
                    .iter()
                    .chain(&m.staff)
                    .filter(|u| u.password_env.as_deref() == Some(DEMO_PASSWORD_ENV))
                    .map(|u| u.email.as_str())
                    .collect();
                if !emails.is_empty() {
                    logins.push(format!("{}: {}", m.facility.slug, emails.join(", ")));
                }
            }
        }
        let email = Email::parse(DEMO_SUPER_ADMIN).expect("constant email is valid");
        if ensure_demo_super_admin(&opened.db, &email, &demo).await? {
            tracing::debug!("created demo super admin");
        }
        logins.insert(0, format!("{DEMO_SUPER_ADMIN} (super admin)"));
        logins.insert(0, format!("Demo logins (embedded database only), password {demo}:"));
    }

    let key_hasher = match (&serve.key_secret, opened.embedded()) {
        (Some(spec), _) => KeyHasher::parse(spec)?,
        (None, true) => KeyHasher::parse(&persistent_secret(
            &db_settings.data_dir.join("key-secret"),
            KeyHasher::generate_spec,
        )?)?,
        (None, false) => {
            opened.stop().await?;
            bail!("CAREGO_KEY_SECRET must be set when DATABASE_URL is (see README, Configuration)");
        }
    };

    password::warm_up();
    let state = AppState::new(opened.db.clone(), keys, key_hasher, settings, storage);
    // The LISTEN connection and the job worker, for as long as we serve.
    let _background = crate::jobs::Background::start(&state, state.settings.job_poll_interval);
    if let Some(listen) = serve.metrics_listen {
        let metrics_state = state.clone();
        tokio::spawn(async move {
            if let Err(err) = server::metrics::serve(&metrics_state, listen).await {
                tracing::error!(error = %err, %listen, "the metrics endpoint stopped");
            }
        });
    }
    let banner_logins = logins.join("\n  ");
    server::serve(state, serve.listen, shutdown_signal(), Duration::from_secs(20), |addr| {
        eprintln!("Carego is listening on http://{addr} (API docs: /docs, OpenAPI: /openapi.json)");
        if let Some(listen) = serve.metrics_listen {
            eprintln!("Metrics on http://{listen}/metrics");
        }
        if !banner_logins.is_empty() {
            eprintln!("{banner_logins}");
        }
    })
    .await?;
    tracing::info!("HTTP server stopped; closing the pool");
    opened.stop().await?;
    tracing::info!("shut down cleanly");
    Ok(())
}

async fn ensure_demo_super_admin(db: &Db, email: &Email, password: &str) -> anyhow::Result<bool> {
    let mut tx = db.begin_system("demo super admin").await?;
    let exists = users::find_by_email(&mut tx, email).await?.is_some();
    tx.commit().await?;
    if exists {
        return Ok(false);
    }
    let hash = password::hash(password.to_owned()).await?;
    create_super_admin(db, email, "Demo", "Root", hash).await?;
    Ok(true)
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM. The handlers are installed when
/// this is called, not when it is first polled: a signal that arrives just
/// after the "listening" banner still shuts down cleanly instead of killing
/// the process (and leaving the embedded cluster running).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let interrupt = signal(SignalKind::interrupt());
    let term = signal(SignalKind::terminate());
    async move {
        let wait = |s: std::io::Result<tokio::signal::unix::Signal>| async move {
            match s {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            () = wait(interrupt) => {},
            () = wait(term) => {},
        }
        tracing::info!("shutdown requested; finishing in-flight requests");
    }
}

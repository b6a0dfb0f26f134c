//! The operator's commands: `tenants apply`, `users create-super-admin`,
//! `audit verify`, `doctor`. Each opens the database (the embedded cluster a
//! running `serve` started, or `DATABASE_URL`), does its one thing through
//! the system door, and stops what it opened.

use std::{io::Read as _, path::Path};

use anyhow::{Context as _, bail};

use super::{DATABASE, Opened};
use crate::{
    auth::password,
    config::DbSettings,
    db::{
        Db,
        accounts::{
            facilities,
            users::{self, NewUser},
        },
        audit,
        infra::{
            doctor,
            embedded::Durability,
            migrate::{self, OWNER_ROLE},
        },
    },
    domain::{
        contact::Email,
        ids::{FacilityId, UserId},
    },
    identity::Role,
    tenants,
};

/// Applies every manifest in `dir`, idempotently, and prints what it created.
pub async fn tenants_apply(dir: &Path, db: &DbSettings) -> anyhow::Result<()> {
    let opened = Opened::open(db, Durability::Durable).await?;
    let manifests = tenants::load_dir(dir)?;
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

/// Creates a super admin, the password from `CAREGO_SUPER_ADMIN_PASSWORD` or
/// the first line of standard input.
pub async fn users_create_super_admin(
    email: &str,
    first_name: &str,
    last_name: &str,
    db: &DbSettings,
) -> anyhow::Result<()> {
    let email = Email::parse(email).map_err(|m| anyhow::anyhow!("--email {m}"))?;
    let pw = match std::env::var("CAREGO_SUPER_ADMIN_PASSWORD") {
        Ok(pw) => pw,
        Err(_) => read_first_line_of_stdin()?,
    };
    password::validate(&pw).map_err(|m| anyhow::anyhow!("password {m}"))?;
    let hash = password::hash(pw).await?;
    let opened = Opened::open(db, Durability::Durable).await?;
    let created = create_super_admin(&opened.db, &email, first_name, last_name, hash).await;
    let stopped = opened.stop().await;
    println!("created super admin {} ({})", email, created?);
    stopped
}

/// Recomputes the audit chains; fails when one is broken.
pub async fn audit_verify(facility: Option<&str>, db: &DbSettings) -> anyhow::Result<()> {
    let opened = Opened::open(db, Durability::Durable).await?;
    let verified = verify_chains(&opened.db, facility).await;
    let stopped = opened.stop().await;
    let broken = verified?;
    stopped?;
    if broken > 0 {
        bail!("{broken} audit chain(s) broken");
    }
    Ok(())
}

/// Examines the schema; fails on any finding.
/// As the owner: the login role may not read what it examines (the
/// secrets registry, Citus's workers).
pub async fn doctor(db: &DbSettings) -> anyhow::Result<()> {
    if db.migration_database_url.is_none() && db.database_url.is_some() {
        bail!(
            "carego doctor examines the schema as its owner, which DATABASE_URL's login role is not: \
             set MIGRATION_DATABASE_URL (carego_owner)"
        );
    }
    let opened = Opened::open(db, Durability::Durable).await?;
    let conn = match (&db.migration_database_url, &opened.cluster) {
        (Some(owner), _) => owner.clone(),
        (None, Some(cluster)) => cluster.conn_str(OWNER_ROLE, DATABASE),
        (None, None) => unreachable!("without DATABASE_URL the cluster is embedded"),
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

/// Creates a super admin through the system door.
pub(super) async fn create_super_admin(
    db: &Db,
    email: &Email,
    first: &str,
    last: &str,
    hash: String,
) -> anyhow::Result<UserId> {
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

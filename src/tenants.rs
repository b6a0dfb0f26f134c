//! Declarative facility manifests (`tenants/*.toml`), applied idempotently by
//! `carego tenants apply`: a facility is matched by slug, a user by email;
//! what exists is brought in line with the file, what is missing is created.
//! Passwords are never in a manifest: `password_env` names an environment
//! variable, and a user without one is created `pending` (an invitation).
//! An existing user's password is left alone.

use std::path::Path;

use anyhow::Context as _;
use serde::Deserialize;

use crate::{
    auth::{Role, password},
    db::{
        Db,
        facilities::{self, FacilityKind, FacilityPatch, NewFacility},
        users::{self, NewUser, UserPatch, UserStatus},
    },
    domain::contact::{Email, Phone},
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub facility: FacilitySpec,
    #[serde(default)]
    pub admins: Vec<UserSpec>,
    #[serde(default)]
    pub staff: Vec<UserSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FacilitySpec {
    pub slug: String,
    pub name: String,
    pub kind: FacilityKind,
    #[serde(default = "utc")]
    pub timezone: String,
    pub city: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

fn utc() -> String {
    "UTC".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    pub email: String,
    pub phone: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub job_title: Option<String>,
    /// The environment variable holding the initial password.
    pub password_env: Option<String>,
}

/// What an apply did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub facilities_created: usize,
    pub users_created: usize,
    pub users_activated: usize,
}

/// Reads every `*.toml` in `dir`, in name order.
pub fn load_dir(dir: &Path) -> anyhow::Result<Vec<(String, Manifest)>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)?;
            let manifest = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
            Ok((path.display().to_string(), manifest))
        })
        .collect()
}

/// Applies manifests. `secret` resolves a `password_env` name.
pub async fn apply(
    db: &Db,
    manifests: &[(String, Manifest)],
    secret: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Report> {
    let mut report = Report::default();
    for (source, m) in manifests {
        apply_one(db, m, secret, &mut report).await.with_context(|| format!("applying {source}"))?;
    }
    Ok(report)
}

async fn apply_one(
    db: &Db,
    m: &Manifest,
    secret: &dyn Fn(&str) -> Option<String>,
    report: &mut Report,
) -> anyhow::Result<()> {
    let f = &m.facility;
    let email = f.email.as_deref().map(Email::parse).transpose().map_err(anyhow::Error::msg)?;
    let phone = f.phone.as_deref().map(Phone::parse).transpose().map_err(anyhow::Error::msg)?;

    // Hash passwords before opening the transaction: argon2 is slow.
    let mut people = Vec::new();
    for (role, spec) in
        m.admins.iter().map(|u| (Role::FacilityAdmin, u)).chain(m.staff.iter().map(|u| (Role::Staff, u)))
    {
        let email = Email::parse(&spec.email).map_err(|e| anyhow::anyhow!("{}: {e}", spec.email))?;
        let phone = spec.phone.as_deref().map(Phone::parse).transpose().map_err(anyhow::Error::msg)?;
        let hash = match &spec.password_env {
            Some(var) => {
                let pw = secret(var)
                    .with_context(|| format!("{} names password_env {var}, which is not set", spec.email))?;
                password::validate(&pw).map_err(|m| anyhow::anyhow!("{var}: password {m}"))?;
                Some(password::hash(pw).await?)
            }
            None => None,
        };
        people.push((role, spec, email, phone, hash));
    }

    let mut tx = db.begin_system("tenants apply").await?;
    let facility = match facilities::find_by_slug(&mut tx, &f.slug).await? {
        Some(existing) => {
            let patch = FacilityPatch {
                name: Some(&f.name),
                kind: Some(f.kind),
                timezone: Some(&f.timezone),
                city: Some(f.city.as_deref()),
                phone: Some(phone.as_ref().map(Phone::as_str)),
                email: Some(email.as_ref().map(Email::as_str)),
            };
            facilities::update(&mut tx, existing.id, &patch).await?
        }
        None => {
            report.facilities_created += 1;
            let new = NewFacility {
                slug: &f.slug,
                name: &f.name,
                kind: f.kind,
                timezone: &f.timezone,
                city: f.city.as_deref(),
                phone: phone.as_ref().map(Phone::as_str),
                email: email.as_ref().map(Email::as_str),
            };
            facilities::insert(&mut tx, &new).await?
        }
    };

    for (role, spec, email, phone, hash) in people {
        match users::find_by_email(&mut tx, &email).await? {
            Some(existing) => {
                anyhow::ensure!(
                    existing.facility_id == Some(facility.id),
                    "{email} already belongs to another facility"
                );
                let patch = UserPatch {
                    email: None,
                    phone: Some(phone.as_ref()),
                    first_name: Some(&spec.first_name),
                    last_name: Some(&spec.last_name),
                    job_title: Some(spec.job_title.as_deref()),
                    role: Some(role),
                };
                users::update(&mut tx, existing.id, &patch).await?;
                if let (UserStatus::Pending, Some(hash)) = (existing.status, hash) {
                    users::set_password(&mut tx, existing.id, &hash).await?;
                    report.users_activated += 1;
                }
            }
            None => {
                report.users_created += 1;
                let new = NewUser {
                    facility_id: Some(facility.id),
                    email: Some(&email),
                    phone: phone.as_ref(),
                    password_hash: hash,
                    role,
                    first_name: &spec.first_name,
                    last_name: &spec.last_name,
                    job_title: spec.job_title.as_deref(),
                };
                users::insert(&mut tx, &new).await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

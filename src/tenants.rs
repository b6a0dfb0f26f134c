//! Declarative facility manifests (`tenants/*.toml`), applied idempotently by
//! `carego tenants apply`: a facility is matched by slug, a user by email;
//! what exists is brought in line with the file, what is missing is created.
//! Passwords are never in a manifest: `password_env` names an environment
//! variable, and a user without one is created `pending` (an invitation).
//! An existing user's password is left alone.
//!
//! Patients are matched by MRN. Their assignments are opened if missing. Their
//! care logs are appended each in its author's own name, one transaction
//! each, and only if that author has not already recorded the same entry
//! (kind, body and time) for the patient: care records are append-only, so a
//! re-apply adds what is missing (after a failure part-way, say) and never a
//! duplicate.

use std::{collections::HashMap, path::Path};

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use crate::{
    auth::password,
    db::{
        Db,
        accounts::{
            facilities::{self, FacilityKind, FacilityPatch, NewFacility},
            users::{self, NewUser, UserPatch, UserStatus},
        },
        clinical::{
            care_logs::{self, CareLogKind, NewCareLog},
            caseloads::{self, AssignmentRole},
            patients::{self, NewPatient, PatientPatch, PatientStatus},
        },
    },
    domain::contact::{Email, Phone},
    identity::Role,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub facility: FacilitySpec,
    #[serde(default)]
    pub admins: Vec<UserSpec>,
    #[serde(default)]
    pub staff: Vec<UserSpec>,
    #[serde(default)]
    pub patients: Vec<PatientSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatientSpec {
    pub mrn: String,
    pub first_name: String,
    pub last_name: String,
    pub date_of_birth: NaiveDate,
    pub admission_date: Option<NaiveDate>,
    pub sobriety_date: Option<NaiveDate>,
    /// Email of a staff member of this facility.
    pub primary_counsellor: Option<String>,
    pub room: Option<String>,
    #[serde(default)]
    pub assignments: Vec<AssignmentSpec>,
    #[serde(default)]
    pub care_logs: Vec<CareLogSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignmentSpec {
    /// Email of a staff member of this facility.
    pub staff: String,
    pub role: AssignmentRole,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CareLogSpec {
    /// Email of the staff member who wrote it; they must be able to see the
    /// patient (primary counsellor, assigned, or an admin).
    pub author: String,
    pub kind: CareLogKind,
    pub body: String,
    pub occurred_at: DateTime<Utc>,
    #[serde(default)]
    pub visible_to_patient: bool,
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
    pub patients_created: usize,
    pub assignments_created: usize,
    pub care_logs_created: usize,
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
                crisis_escalation_minutes: None,
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

    let mut staff_ids = HashMap::new();
    for (role, spec, email, phone, hash) in people {
        match users::find_by_email(&mut tx, &email).await? {
            Some(existing) => {
                anyhow::ensure!(
                    existing.facility_id == Some(facility.id),
                    "{email} already belongs to another facility"
                );
                let patch = UserPatch {
                    email: None,
                    phone: Some(phone.clone()),
                    first_name: Some(&spec.first_name),
                    last_name: Some(&spec.last_name),
                    job_title: Some(spec.job_title.as_deref()),
                    role: Some(role),
                    on_call: None,
                };
                users::update(&mut tx, existing.id, &patch).await?;
                staff_ids.insert(email.as_str().to_owned(), (existing.id, role));
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
                let user = users::insert(&mut tx, &new).await?;
                staff_ids.insert(email.as_str().to_owned(), (user.id, role));
            }
        }
    }

    let staff = |email: &str| {
        staff_ids
            .get(&email.to_lowercase())
            .copied()
            .with_context(|| format!("{email} is not staff of this manifest"))
    };
    let mut logs = Vec::new();
    for p in &m.patients {
        let counsellor = p.primary_counsellor.as_deref().map(&staff).transpose()?.map(|(id, _)| id);
        let patient = match patients::find_by_mrn(&mut tx, facility.id, &p.mrn).await? {
            Some(existing) => {
                let patch = PatientPatch {
                    first_name: Some(&p.first_name),
                    last_name: Some(&p.last_name),
                    date_of_birth: Some(p.date_of_birth),
                    sobriety_date: Some(p.sobriety_date),
                    primary_counsellor_id: Some(counsellor),
                    room: Some(p.room.as_deref()),
                    ..PatientPatch::default()
                };
                patients::update(&mut tx, existing, &patch).await?.id
            }
            None => {
                let new = NewPatient {
                    facility_id: facility.id,
                    mrn: Some(&p.mrn),
                    first_name: &p.first_name,
                    last_name: &p.last_name,
                    date_of_birth: p.date_of_birth,
                    status: if p.admission_date.is_some() {
                        PatientStatus::Active
                    } else {
                        PatientStatus::PreAdmission
                    },
                    admission_date: p.admission_date,
                    sobriety_date: p.sobriety_date,
                    primary_counsellor_id: counsellor,
                    room: p.room.as_deref(),
                    emergency_contact: None,
                    notes: None,
                };
                report.patients_created += 1;
                patients::insert(&mut tx, &new).await?.id
            }
        };
        let open = caseloads::open_staff(&mut tx, patient).await?;
        for a in &p.assignments {
            let (staff_id, _) = staff(&a.staff)?;
            if !open.contains(&staff_id) {
                caseloads::insert(&mut tx, patient, staff_id, a.role, None).await?;
                report.assignments_created += 1;
            }
        }
        for log in &p.care_logs {
            logs.push((staff(&log.author)?, patient, log));
        }
    }
    tx.commit().await?;

    // Each care log in its author's name: the database stamps the author from
    // the transaction, as it does for every request.
    for ((author, role), patient, log) in logs {
        let mut tx = db.begin_on_behalf(facility.id, author, role, "tenants apply").await?;
        let new = NewCareLog {
            kind: log.kind,
            body: &log.body,
            occurred_at: Some(log.occurred_at),
            visible_to_patient: log.visible_to_patient,
        };
        let created = care_logs::insert_unless_recorded(&mut tx, patient, &new).await?;
        tx.commit().await?;
        report.care_logs_created += usize::from(created);
    }
    Ok(())
}

//! Caseloads: which staff member cares for which patient. Facility admins
//! assign and end; staff see the care team of the patients they can see.
//! The composite foreign key makes assigning another facility's staff
//! impossible.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use crate::db::TenantTx;
use crate::{
    db::{
        OnConstraint,
        filters::{Bound, Variants},
    },
    domain::{
        ids::{AssignmentId, PatientId, UserId},
        page::{Keyed, PageRequest},
        text_enum,
    },
    error::{Conflict, Error, Result},
};

/// The conflicts caseloads can meet.
impl Conflict {
    pub const ALREADY_ASSIGNED: Self =
        Self::new("already_assigned", "This staff member is already assigned to the patient.");
}

text_enum! {
    /// What the staff member does for the patient.
    pub enum AssignmentRole {
        Counsellor = "counsellor",
        Nurse = "nurse",
        Caregiver = "caregiver",
        Therapist = "therapist",
        Doctor = "doctor",
        Teacher = "teacher",
        Other = "other",
    }
}

/// A staff member's assignment to a patient.
#[derive(Debug, Clone)]
pub struct Assignment {
    pub id: AssignmentId,
    pub patient_id: PatientId,
    pub staff_id: UserId,
    pub role: AssignmentRole,
    pub starts_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

macro_rules! columns {
    () => {
        "id, patient_id, staff_id, role, starts_at, ended_at, created_at"
    };
}

impl TryFrom<&Row> for Assignment {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            patient_id: row.try_get("patient_id")?,
            staff_id: row.try_get("staff_id")?,
            role: row.try_get("role")?,
            starts_at: row.try_get("starts_at")?,
            ended_at: row.try_get("ended_at")?,
            created_at: row.try_get("created_at")?,
        })
    }
}

pub const INSERT: &str = concat!(
    "insert into assignments (facility_id, patient_id, staff_id, role, starts_at, created_by)
     select p.facility_id, p.id, $2, $3, coalesce($4, now()), carego.current_user_id()
       from patients p where p.id = $1 and p.deleted_at is null
     returning ",
    columns!()
);

/// Assigns `staff` to a visible patient (404 otherwise).
pub async fn insert(
    tx: &mut TenantTx,
    patient: PatientId,
    staff: UserId,
    role: AssignmentRole,
    starts_at: Option<DateTime<Utc>>,
) -> Result<Assignment> {
    let row = tx
        .query_one(INSERT, &[&patient, &staff, &role, &starts_at])
        .await
        .on_constraint("assignments_open_key", Conflict::ALREADY_ASSIGNED)
        .on_constraint(
            "assignments_staff_fkey",
            Error::invalid("staffId", "is not a staff member of this facility"),
        )?;
    Assignment::try_from(&row)
}

/// The open assignments of a patient, all of them (manifests compare).
pub async fn open_staff(tx: &mut TenantTx, patient: PatientId) -> Result<Vec<UserId>> {
    let rows = tx.query(OPEN_STAFF, &[&patient]).await?;
    rows.iter().map(|r| Ok(r.try_get("staff_id")?)).collect()
}

pub const OPEN_STAFF: &str = "select staff_id from assignments where patient_id = $1 and ended_at is null";

/// `$1` the patient, `$2` the fetch limit; then, each only when asked for
/// (see [`filters`](crate::db::filters)): open ones only, the cursor.
pub static LIST: Variants = Variants::new(
    concat!(
        "select ",
        columns!(),
        " from assignments
         where patient_id = $1
           and exists (select from patients p where p.id = $1 and p.deleted_at is null) {where}
         order by created_at, id
         limit $2"
    ),
    &["ended_at is null", "(created_at, id) > ($::timestamptz, $::uuid)"],
);

/// A patient's assignments, oldest first (open ones only unless `all`), a
/// page at a time; `NotFound` when the patient is hidden.
pub async fn list(
    tx: &mut TenantTx,
    patient: PatientId,
    all: bool,
    page: &PageRequest,
) -> Result<Vec<Assignment>> {
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&patient, &limit]).when(!all, &[]).after(page);
    let rows = tx.query(LIST.get(bound.present), &bound.params).await?;
    if rows.is_empty() {
        super::patients::ensure_visible(tx, patient).await?;
    }
    rows.iter().map(Assignment::try_from).collect()
}

/// Lists are oldest first by creation.
impl Keyed for Assignment {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.created_at, self.id.0)
    }
}

pub const END: &str = concat!(
    "update assignments a set ended_at = greatest(now(), a.starts_at)
      where a.id = $1 and a.ended_at is null
        and exists (select from patients p
                     where p.facility_id = a.facility_id and p.id = a.patient_id and p.deleted_at is null)
     returning ",
    columns!()
);

/// Ends an open assignment (404 if hidden, unknown or already ended).
pub async fn end(tx: &mut TenantTx, id: AssignmentId) -> Result<Assignment> {
    Assignment::try_from(&tx.query_one(END, &[&id]).await?)
}

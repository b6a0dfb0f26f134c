//! Attendance: staff shift check-ins and check-outs, and visits to patients.
//! Append-only; staff see and record only their own, admins everyone's;
//! corrections are amendments.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use crate::db::{
    TenantTx,
    amendments::{self, Versioned},
    filters::{Bound, Variants},
};
use crate::{
    domain::page::{Keyed, PageRequest},
    domain::{
        ids::{AttendanceId, PatientId, UserId},
        text_enum,
    },
    error::{Error, Result},
};

text_enum! {
    /// Arriving or leaving.
    pub enum AttendanceEvent {
        CheckIn = "check_in",
        CheckOut = "check_out",
    }
}

/// One version of an attendance event.
#[derive(Debug, Clone)]
pub struct AttendanceVersion {
    pub id: AttendanceId,
    pub event: AttendanceEvent,
    pub at: DateTime<Utc>,
    pub patient_id: Option<PatientId>,
    pub note: Option<String>,
    pub recorded_by: UserId,
    pub recorded_at: DateTime<Utc>,
    pub amendment_reason: Option<String>,
}

/// An attendance event with its amendments, oldest first.
#[derive(Debug, Clone)]
pub struct Attendance {
    pub id: AttendanceId,
    pub staff_id: UserId,
    pub original: AttendanceVersion,
    pub amendments: Vec<AttendanceVersion>,
}

/// Lists are newest first by the time it happened.
impl Keyed for Attendance {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.original.at, self.id.0)
    }
}

macro_rules! columns {
    () => {
        "id, staff_id, patient_id, event, at, note, recorded_by, recorded_at, amends_id, amendment_reason"
    };
}

struct Stored {
    staff_id: UserId,
    amends_id: Option<AttendanceId>,
    version: AttendanceVersion,
}

impl TryFrom<&Row> for Stored {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            staff_id: row.try_get("staff_id")?,
            amends_id: row.try_get("amends_id")?,
            version: AttendanceVersion {
                id: row.try_get("id")?,
                event: row.try_get("event")?,
                at: row.try_get("at")?,
                patient_id: row.try_get("patient_id")?,
                note: row.try_get("note")?,
                recorded_by: row.try_get("recorded_by")?,
                recorded_at: row.try_get("recorded_at")?,
                amendment_reason: row.try_get("amendment_reason")?,
            },
        })
    }
}

amendments::versioned!(
    Stored,
    table = "attendance",
    id = AttendanceId,
    version = AttendanceVersion,
    record = Attendance,
    |o, amendments| {
        Attendance { id: o.version.id, staff_id: o.staff_id, original: o.version, amendments }
    }
);

// The caller's own attendance. A visit's patient must be one the caller can
// see: otherwise no row is inserted and the answer is 404, as for any hidden
// patient (the insert policy checks it again).
pub const INSERT: &str = concat!(
    "insert into attendance (facility_id, staff_id, patient_id, event, at, note)
     select carego.current_facility_id(), carego.current_user_id(), $1, $2, coalesce($3, now()), $4
      where $1::uuid is null or exists (select 1 from patients p where p.id = $1 and p.deleted_at is null)
     returning ",
    columns!()
);

pub async fn insert(
    tx: &mut TenantTx,
    event: AttendanceEvent,
    patient: Option<PatientId>,
    at: Option<DateTime<Utc>>,
    note: Option<&str>,
) -> Result<Attendance> {
    let row = tx.query_one(INSERT, &[&patient, &event, &at, &note]).await?;
    Ok(Stored::assemble(Stored::try_from(&row)?, Vec::new()))
}

pub const AMEND: &str = concat!(
    "insert into attendance (facility_id, staff_id, patient_id, event, at, note, amends_id, amendment_reason)
     select cur.facility_id, cur.staff_id, cur.patient_id, coalesce($2, cur.event), coalesce($3, cur.at),
            coalesce($4, cur.note), root.id, $5
       from attendance target
       join attendance root on root.facility_id = target.facility_id and root.id = coalesce(target.amends_id, target.id)
       cross join lateral (
            select v.* from attendance v
             where v.facility_id = root.facility_id and (v.id = root.id or v.amends_id = root.id)
             order by v.recorded_at desc, v.id desc limit 1) cur
      where target.id = $1
     returning ",
    columns!()
);

pub const GET: &str = concat!("select ", columns!(), " from attendance where id = $1");

/// Records a correction of a visible event (404 otherwise).
pub async fn amend(
    tx: &mut TenantTx,
    id: AttendanceId,
    event: Option<AttendanceEvent>,
    at: Option<DateTime<Utc>>,
    note: Option<&str>,
    reason: &str,
) -> Result<Attendance> {
    let row = tx.query_one(AMEND, &[&id, &event, &at, &note, &reason]).await?;
    let root: AttendanceId = row.try_get("amends_id")?;
    let original = tx.query_one(GET, &[&root]).await?;
    amendments::one::<Stored>(tx, &original).await
}

/// Newest first. `$1` the fetch limit; then, each only when given (see
/// [`filters`](crate::db::filters)): staff member, from, to, the cursor.
pub static LIST: Variants = Variants::new(
    concat!(
        "select ",
        columns!(),
        " from attendance
         where amends_id is null {where}
         order by at desc, id desc
         limit $1"
    ),
    &[
        "staff_id = $::uuid",
        "at >= $::timestamptz",
        "at < $::timestamptz",
        "(at, id) < ($::timestamptz, $::uuid)",
    ],
);

/// Attendance the caller may see, newest first.
pub async fn list(
    tx: &mut TenantTx,
    staff: Option<UserId>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    page: &PageRequest,
) -> Result<Vec<Attendance>> {
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&limit]).opt(&staff).opt(&from).opt(&to).after(page);
    let rows = tx.query(LIST.get(bound.present), &bound.params).await?;
    amendments::attach_rows::<Stored>(tx, &rows).await
}

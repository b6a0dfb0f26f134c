//! The people a client books care for (V34), and what the client sees of
//! them: visits and the care logs marked visible to the patient's side.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use crate::{
    db::{
        OnConstraint, TenantTx,
        filters::{Bound, Variants},
    },
    domain::{
        ids::{AttendanceId, CareLogId, PatientId, UserId},
        page::{Keyed, PageRequest},
    },
    error::{Conflict, Error, Result},
};

/// A patient a client books care for.
#[derive(Debug, Clone)]
pub struct CareRecipient {
    pub patient_id: PatientId,
    pub first_name: String,
    pub last_name: String,
    pub status: String,
    pub linked_at: DateTime<Utc>,
}

impl Keyed for CareRecipient {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.linked_at, self.patient_id.0)
    }
}

impl TryFrom<&Row> for CareRecipient {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            patient_id: row.try_get("patient_id")?,
            first_name: row.try_get("first_name")?,
            last_name: row.try_get("last_name")?,
            status: row.try_get("status")?,
            linked_at: row.try_get("linked_at")?,
        })
    }
}

macro_rules! select {
    ($where:literal) => {
        concat!(
            "select l.patient_id, p.first_name, p.last_name, p.status, l.linked_at
               from client_care_recipients l
               join patients p on p.facility_id = l.facility_id and p.id = l.patient_id and p.deleted_at is null ",
            $where
        )
    };
}

pub const IS_CLIENT: &str = "select 1 from client_profiles where user_id = $1";

pub const LINK: &str = "
    insert into client_care_recipients (facility_id, client_id, patient_id)
    select c.facility_id, c.user_id, p.id from client_profiles c
      join patients p on p.facility_id = c.facility_id and p.id = $2 and p.deleted_at is null
     where c.user_id = $1
    on conflict do nothing";

pub const GET: &str = select!("where l.client_id = $1 and l.patient_id = $2");

/// Links a client to a patient of the facility (facility admins); again
/// is harmless.
pub async fn link(tx: &mut TenantTx, client: UserId, patient: PatientId) -> Result<CareRecipient> {
    if tx.query_opt(IS_CLIENT, &[&client]).await?.is_none() {
        return Err(Error::NotFound);
    }
    tx.execute(LINK, &[&client, &patient])
        .await
        .on_constraint("client_care_recipients_pkey", Conflict::DUPLICATE)?;
    match tx.query_opt(GET, &[&client, &patient]).await? {
        Some(row) => CareRecipient::try_from(&row),
        None => Err(Error::invalid("patientId", "is not a patient of this facility")),
    }
}

/// `$1` the client, `$2` the fetch limit; then the cursor, when given (see
/// [`filters`](crate::db::filters)).
pub static LIST: Variants = Variants::new(
    select!("where l.client_id = $1 {where} order by l.linked_at desc, l.patient_id desc limit $2"),
    &["(l.linked_at, l.patient_id) < ($::timestamptz, $::uuid)"],
);

/// A client's care recipients (facility admins; the client, their own).
pub async fn list(tx: &mut TenantTx, client: UserId, page: &PageRequest) -> Result<Vec<CareRecipient>> {
    if tx.query_opt(IS_CLIENT, &[&client]).await?.is_none() {
        return Err(Error::NotFound);
    }
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&client, &limit]).after(page);
    let rows = tx.query(LIST.get(bound.present), &bound.params).await?;
    rows.iter().map(CareRecipient::try_from).collect()
}

/// A care log as the client sees it: what happened, not who wrote it.
#[derive(Debug, Clone)]
pub struct SharedCareLog {
    pub id: CareLogId,
    pub patient_id: PatientId,
    pub kind: String,
    pub body: String,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub amends_id: Option<CareLogId>,
    pub amendment_reason: Option<String>,
}

impl Keyed for SharedCareLog {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.occurred_at, self.id.0)
    }
}

pub const PATIENT_VISIBLE: &str = "select 1 from patients where id = $1 and deleted_at is null";

/// `$1` the patient, `$2` the fetch limit; then the cursor, when given (see
/// [`filters`](crate::db::filters)).
pub static SHARED_LOGS: Variants = Variants::new(
    "select id, patient_id, kind, body, occurred_at, recorded_at, amends_id, amendment_reason
       from care_logs
      where patient_id = $1 and visible_to_patient {where}
      order by occurred_at desc, id desc limit $2",
    &["(occurred_at, id) < ($::timestamptz, $::uuid)"],
);

/// The care logs of a care recipient marked visible to the patient's side,
/// newest first (corrections are rows of their own, naming what they amend).
pub async fn shared_logs(
    tx: &mut TenantTx,
    patient: PatientId,
    page: &PageRequest,
) -> Result<Vec<SharedCareLog>> {
    tx.query_one(PATIENT_VISIBLE, &[&patient]).await?;
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&patient, &limit]).after(page);
    let rows = tx.query(SHARED_LOGS.get(bound.present), &bound.params).await?;
    rows.iter()
        .map(|r| {
            Ok(SharedCareLog {
                id: r.try_get("id")?,
                patient_id: r.try_get("patient_id")?,
                kind: r.try_get("kind")?,
                body: r.try_get("body")?,
                occurred_at: r.try_get("occurred_at")?,
                recorded_at: r.try_get("recorded_at")?,
                amends_id: r.try_get("amends_id")?,
                amendment_reason: r.try_get("amendment_reason")?,
            })
        })
        .collect()
}

/// A visit: a caregiver's check-in or check-out at the care recipient.
#[derive(Debug, Clone)]
pub struct Visit {
    pub id: AttendanceId,
    pub patient_id: PatientId,
    pub staff_id: UserId,
    pub event: String,
    pub at: DateTime<Utc>,
    pub amends_id: Option<AttendanceId>,
}

impl Keyed for Visit {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.at, self.id.0)
    }
}

/// `$1` the patient, `$2` the fetch limit; then the cursor, when given (see
/// [`filters`](crate::db::filters)).
pub static VISITS: Variants = Variants::new(
    "select id, patient_id, staff_id, event, at, amends_id from attendance
      where patient_id = $1 {where}
      order by at desc, id desc limit $2",
    &["(at, id) < ($::timestamptz, $::uuid)"],
);

/// A care recipient's visits, newest first.
pub async fn visits(tx: &mut TenantTx, patient: PatientId, page: &PageRequest) -> Result<Vec<Visit>> {
    tx.query_one(PATIENT_VISIBLE, &[&patient]).await?;
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&patient, &limit]).after(page);
    let rows = tx.query(VISITS.get(bound.present), &bound.params).await?;
    rows.iter()
        .map(|r| {
            Ok(Visit {
                id: r.try_get("id")?,
                patient_id: r.try_get("patient_id")?,
                staff_id: r.try_get("staff_id")?,
                event: r.try_get("event")?,
                at: r.try_get("at")?,
                amends_id: r.try_get("amends_id")?,
            })
        })
        .collect()
}

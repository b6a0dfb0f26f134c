//! Crisis alerts: raised by a patient ("I need help") or by staff for a
//! patient, delivered at once to the care team and on-call staff,
//! acknowledged, escalated by a job when nobody acknowledges, resolved. The
//! row holds the timeline; V25's trigger lets each step happen once.

use chrono::{DateTime, Utc};
use tokio_postgres::{Row, types::ToSql};

use crate::{
    db::{
        TenantTx,
        filters::{Bound, Variants},
        recovery::Logged,
    },
    domain::{
        ids::{CrisisAlertId, PatientId, UserId},
        page::{Keyed, PageRequest},
        text_enum,
    },
    error::{Error, Result},
};

text_enum! {
    /// How urgent it is.
    pub enum Severity {
        Low = "low",
        Medium = "medium",
        High = "high",
        Critical = "critical",
    }
}

/// A crisis alert and its timeline.
#[derive(Debug, Clone)]
pub struct CrisisAlert {
    pub id: CrisisAlertId,
    pub patient_id: PatientId,
    pub raised_by: UserId,
    pub severity: Severity,
    pub location: Option<String>,
    pub note: Option<String>,
    pub raised_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<UserId>,
    pub escalated_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<UserId>,
    pub resolution: Option<String>,
}

impl Keyed for CrisisAlert {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.raised_at, self.id.0)
    }
}

macro_rules! columns {
    () => {
        "id, patient_id, raised_by, severity, location, note, raised_at, acknowledged_at, acknowledged_by, \
         escalated_at, resolved_at, resolved_by, resolution"
    };
}

impl TryFrom<&Row> for CrisisAlert {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            patient_id: row.try_get("patient_id")?,
            raised_by: row.try_get("raised_by")?,
            severity: row.try_get("severity")?,
            location: row.try_get("location")?,
            note: row.try_get("note")?,
            raised_at: row.try_get("raised_at")?,
            acknowledged_at: row.try_get("acknowledged_at")?,
            acknowledged_by: row.try_get("acknowledged_by")?,
            escalated_at: row.try_get("escalated_at")?,
            resolved_at: row.try_get("resolved_at")?,
            resolved_by: row.try_get("resolved_by")?,
            resolution: row.try_get("resolution")?,
        })
    }
}

/// A validated new alert.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCrisisAlert {
    pub severity: Severity,
    pub location: Option<String>,
    pub note: Option<String>,
}

impl Logged for CrisisAlert {
    type Input = NewCrisisAlert;

    const INSERT: &'static str = concat!(
        "insert into crisis_alerts (id, patient_id, facility_id, severity, location, note)
         select $1, p.id, p.facility_id, $3, $4, $5
           from patients p where p.id = $2 and p.deleted_at is null
         on conflict (facility_id, id) do nothing
         returning ",
        columns!()
    );
    crate::db::recovery::patient_record_sql!(
        table = "crisis_alerts",
        columns = columns!(),
        key = "raised_at",
        cursor = "$::timestamptz"
    );

    fn params(a: &NewCrisisAlert) -> Vec<&(dyn ToSql + Sync)> {
        vec![&a.severity, &a.location, &a.note]
    }

    fn id(&self) -> uuid::Uuid {
        self.id.0
    }

    fn patient_id(&self) -> PatientId {
        self.patient_id
    }

    fn matches(&self, patient: PatientId, a: &NewCrisisAlert) -> bool {
        self.patient_id == patient
            && a.severity == self.severity
            && a.location == self.location
            && a.note == self.note
    }
}

/// Newest first. `$1` the fetch limit; then the cursor, when given (see
/// [`filters`](crate::db::filters)).
pub static OPEN: Variants = Variants::new(
    concat!(
        "select ",
        columns!(),
        " from crisis_alerts a
         where resolved_at is null
           and exists (select from patients p where p.facility_id = a.facility_id and p.id = a.patient_id
                          and p.deleted_at is null) {where}
         order by raised_at desc, id desc
         limit $1"
    ),
    &["(raised_at, id) < ($::timestamptz, $::uuid)"],
);

/// The open alerts the caller may see (RLS: care team, on call, admins;
/// a patient their own), newest first.
pub async fn open(tx: &mut TenantTx, page: &PageRequest) -> Result<Vec<CrisisAlert>> {
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&limit]).after(page);
    let rows = tx.query(OPEN.get(bound.present), &bound.params).await?;
    let alerts = rows.iter().map(CrisisAlert::try_from).collect::<Result<Vec<_>>>()?;
    crate::db::audit::reads(tx, "crisis_alerts", alerts.iter().map(|a| a.id.0)).await?;
    Ok(alerts)
}

/// An alert the caller may see, its read audited by the same statement.
pub const GET: &str = concat!(
    "select ",
    columns!(),
    ", carego.audit_reads('crisis_alerts', array[a.id]) as audited
       from crisis_alerts a where id = $1
       and exists (select from patients p where p.facility_id = a.facility_id and p.id = a.patient_id
                      and p.deleted_at is null)"
);

pub async fn get(tx: &mut TenantTx, id: CrisisAlertId) -> Result<CrisisAlert> {
    CrisisAlert::try_from(&tx.query_one(GET, &[&id]).await?)
}

/// Takes one step of a live alert the caller may act on, answering the
/// alert as it then stands; `$1` is the alert. The step's own condition
/// (`acknowledged_at is null`...) makes it once-only: taken already, the
/// update matches nothing and the alert is answered as it is (who took it).
macro_rules! step {
    ($set:literal, $once:literal) => {
        concat!(
            "update crisis_alerts a set ",
            $set,
            " where id = $1 and ",
            $once,
            " and exists (select from patients p where p.facility_id = a.facility_id and p.id = a.patient_id
                             and p.deleted_at is null)
             returning ",
            columns!()
        )
    };
}

pub const ACKNOWLEDGE: &str =
    step!("acknowledged_at = now(), acknowledged_by = carego.current_user_id()", "acknowledged_at is null");
pub const RESOLVE: &str = step!(
    "acknowledged_at = coalesce(acknowledged_at, now()),
     acknowledged_by = coalesce(acknowledged_by, carego.current_user_id()),
     resolved_at = now(), resolved_by = carego.current_user_id(), resolution = $2",
    "resolved_at is null"
);

async fn step(
    tx: &mut TenantTx,
    sql: &'static str,
    params: crate::db::Params<'_>,
    id: CrisisAlertId,
) -> Result<CrisisAlert> {
    match tx.query_opt(sql, params).await? {
        Some(row) => CrisisAlert::try_from(&row),
        // Taken already, or not the caller's to see (404).
        None => get(tx, id).await,
    }
}

/// Acknowledges it ("I have it"); the first acknowledgement stands.
pub async fn acknowledge(tx: &mut TenantTx, id: CrisisAlertId) -> Result<CrisisAlert> {
    step(tx, ACKNOWLEDGE, &[&id], id).await
}

/// Resolves it with what was done, acknowledging it too if nobody had.
pub async fn resolve(tx: &mut TenantTx, id: CrisisAlertId, resolution: &str) -> Result<CrisisAlert> {
    step(tx, RESOLVE, &[&id, &resolution], id).await
}

pub const ESCALATE: &str = "
    update crisis_alerts set escalated_at = now()
     where id = $1 and acknowledged_at is null and resolved_at is null and escalated_at is null";

/// The escalation job: escalates the alert if it is still unacknowledged.
/// Whether it did.
pub async fn escalate(tx: &mut TenantTx, id: CrisisAlertId) -> Result<bool> {
    Ok(tx.execute(ESCALATE, &[&id]).await? == 1)
}

//! Leads from the website (V30): filed by the public, worked by facility
//! admins (super admins: every lead, and routing the platform's own), with
//! append-only notes and a status history written by a trigger.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use crate::{
    db::{
        OnConstraint, TenantTx,
        filters::{Bound, Variants},
    },
    domain::{
        ids::{CityId, CourseId, FacilityId, LeadId, LeadNoteId, ServiceId, UserId},
        page::{Keyed, PageRequest},
        text_enum,
    },
    error::{Conflict, Error, Result},
};

/// The conflicts leads can meet.
impl Conflict {
    pub const LEAD_CLOSED: Self =
        Self::new("lead_closed", "This lead is converted or rejected; it no longer changes.");
    pub const LEAD_ROUTING: Self =
        Self::new("lead_routing", "A lead is routed to a facility once, and is converted only once routed.");
}

text_enum! {
    /// What a lead asks about.
    pub enum LeadType {
        /// Care: a service.
        Service = "service",
        /// Training: a course.
        Training = "training",
    }
}

text_enum! {
    /// Where a lead stands. `converted` and `rejected` are final.
    pub enum LeadStatus {
        /// Just arrived.
        New = "new",
        /// Someone has been in touch.
        Contacted = "contacted",
        /// A real prospect.
        Qualified = "qualified",
        /// Became a client or a student (`convertedUserId`).
        Converted = "converted",
        /// Closed without an account (`rejectionReason`).
        Rejected = "rejected",
    }
}

/// A lead.
#[derive(Debug, Clone)]
pub struct Lead {
    pub id: LeadId,
    pub facility_id: Option<FacilityId>,
    pub lead_type: LeadType,
    pub name: String,
    pub phone: String,
    pub email: Option<String>,
    pub city_id: Option<CityId>,
    pub service_id: Option<ServiceId>,
    pub course_id: Option<CourseId>,
    pub message: Option<String>,
    pub status: LeadStatus,
    pub assigned_to: Option<UserId>,
    pub rejection_reason: Option<String>,
    pub converted_user_id: Option<UserId>,
    pub converted_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Keyed for Lead {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.created_at, self.id.0)
    }
}

impl TryFrom<&Row> for Lead {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            facility_id: row.try_get("facility_id")?,
            lead_type: row.try_get("lead_type")?,
            name: row.try_get("name")?,
            phone: row.try_get("phone")?,
            email: row.try_get("email")?,
            city_id: row.try_get("city_id")?,
            service_id: row.try_get("service_id")?,
            course_id: row.try_get("course_id")?,
            message: row.try_get("message")?,
            status: row.try_get("status")?,
            assigned_to: row.try_get("assigned_to")?,
            rejection_reason: row.try_get("rejection_reason")?,
            converted_user_id: row.try_get("converted_user_id")?,
            converted_at: row.try_get("converted_at")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

macro_rules! columns {
    () => {
        "id, facility_id, lead_type, name, phone, email, city_id, service_id, course_id, message, \
         status, assigned_to, rejection_reason, converted_user_id, converted_at, created_at, updated_at"
    };
}

/// A lead from the website, validated and routed.
pub struct Submission<'a> {
    /// Derived from what the lead is (see `api::catalog::public`), so a
    /// repeat of the same form is the same lead.
    pub id: LeadId,
    pub facility_id: Option<FacilityId>,
    pub lead_type: LeadType,
    pub name: &'a str,
    pub phone: &'a str,
    pub email: Option<&'a str>,
    pub city_id: Option<CityId>,
    pub service_id: Option<ServiceId>,
    pub course_id: Option<CourseId>,
    pub message: Option<&'a str>,
}

pub const SUBMIT: &str = "
    insert into leads (id, facility_id, lead_type, name, phone, email, city_id, service_id, course_id, message)
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
    on conflict do nothing";

/// Files it as `carego_public`; the same lead again changes nothing. (No
/// conflict target: naming one would need SELECT on it, which the public
/// does not hold; the id is the only key a repeat can collide on.)
pub async fn submit(tx: &mut TenantTx, s: &Submission<'_>) -> Result<()> {
    tx.execute(
        SUBMIT,
        &[
            &s.id,
            &s.facility_id,
            &s.lead_type,
            &s.name,
            &s.phone,
            &s.email,
            &s.city_id,
            &s.service_id,
            &s.course_id,
            &s.message,
        ],
    )
    .await
    .on_constraint("leads_city_fkey", Error::invalid("cityId", "is not a city of the catalog"))?;
    Ok(())
}

/// A lead (a prospect's contact details), its read audited by the same statement.
pub const GET: &str = concat!(
    "select ",
    columns!(),
    ", carego.audit_reads('leads', array[id]) as audited from leads where id = $1"
);

pub async fn get(tx: &mut TenantTx, id: LeadId) -> Result<Lead> {
    Lead::try_from(&tx.query_one(GET, &[&id]).await?)
}

/// A list's filters; each absent one matches everything.
#[derive(Debug, Default)]
pub struct LeadFilter {
    pub status: Option<LeadStatus>,
    pub lead_type: Option<LeadType>,
    pub city_id: Option<CityId>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Super admins: only the platform's own leads.
    pub platform_only: bool,
}

/// Newest first. `$1` the fetch limit; then, each only when given (see
/// [`filters`](crate::db::filters)): status, type, city, from, to, the
/// platform's own leads only, the cursor.
pub static LIST: Variants = Variants::new(
    concat!(
        "select ",
        columns!(),
        " from leads
         where true {where}
         order by created_at desc, id desc limit $1"
    ),
    &[
        "status = $::text",
        "lead_type = $::text",
        "city_id = $::uuid",
        "created_at >= $::timestamptz",
        "created_at < $::timestamptz",
        "facility_id is null",
        "(created_at, id) < ($::timestamptz, $::uuid)",
    ],
);

/// The leads the caller may see, newest first.
pub async fn list(tx: &mut TenantTx, f: &LeadFilter, page: &PageRequest) -> Result<Vec<Lead>> {
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&limit])
        .opt(&f.status)
        .opt(&f.lead_type)
        .opt(&f.city_id)
        .opt(&f.from)
        .opt(&f.to)
        .when(f.platform_only, &[])
        .after(page);
    let rows = tx.query(LIST.get(bound.present), &bound.params).await?;
    let leads = rows.iter().map(Lead::try_from).collect::<Result<Vec<_>>>()?;
    crate::db::audit::reads(tx, "leads", leads.iter().map(|l| l.id.0)).await?;
    Ok(leads)
}

/// An update of a lead, translated: a closed lead is a 409 whatever was asked.
async fn update(tx: &mut TenantTx, sql: &'static str, params: crate::db::Params<'_>) -> Result<Lead> {
    let row = tx
        .query_one(sql, params)
        .await
        .on_constraint("leads_closed_check", Conflict::LEAD_CLOSED)
        .on_constraint("leads_routed_check", Conflict::LEAD_ROUTING)
        .on_constraint("leads_facility_fkey", Error::invalid("facilityId", "is not a facility"))?;
    Lead::try_from(&row)
}

pub const SET_STATUS: &str = concat!("update leads set status = $2 where id = $1 returning ", columns!());

/// Moves an open lead along (`new`, `contacted`, `qualified`).
pub async fn set_status(tx: &mut TenantTx, id: LeadId, status: LeadStatus) -> Result<Lead> {
    update(tx, SET_STATUS, &[&id, &status]).await
}

pub const ASSIGN: &str = concat!(
    "update leads set assigned_to = $2
      where id = $1
        and ($2::uuid is null or exists (
              select 1 from users u where u.id = $2 and u.facility_id = leads.facility_id
                 and u.role in ('staff', 'facility_admin') and u.status = 'active'))
     returning ",
    columns!()
);

/// Gives it to an active staff member or admin of its facility, or to nobody.
pub async fn assign(tx: &mut TenantTx, id: LeadId, to: Option<UserId>) -> Result<Lead> {
    get(tx, id).await?;
    let row =
        tx.query_opt(ASSIGN, &[&id, &to]).await.on_constraint("leads_closed_check", Conflict::LEAD_CLOSED)?;
    match row {
        Some(row) => Lead::try_from(&row),
        None => Err(Error::invalid("staffId", "is not an active staff member of the lead's facility")),
    }
}

pub const REJECT: &str = concat!(
    "update leads set status = 'rejected', rejection_reason = $2 where id = $1 returning ",
    columns!()
);

/// Closes it without an account.
pub async fn reject(tx: &mut TenantTx, id: LeadId, reason: &str) -> Result<Lead> {
    update(tx, REJECT, &[&id, &reason]).await
}

pub const ROUTE: &str = concat!("update leads set facility_id = $2 where id = $1 returning ", columns!());

/// Hands a platform lead to a facility (super admins; the column is theirs alone).
pub async fn route(tx: &mut TenantTx, id: LeadId, facility: FacilityId) -> Result<Lead> {
    update(tx, ROUTE, &[&id, &facility]).await
}

pub const CONVERTED: &str = concat!(
    "update leads set status = 'converted', converted_user_id = $2, converted_at = now()
      where id = $1 returning ",
    columns!()
);

/// Records the account it became (in the transaction that made it).
pub async fn mark_converted(tx: &mut TenantTx, id: LeadId, user: UserId) -> Result<Lead> {
    update(tx, CONVERTED, &[&id, &user]).await
}

pub const SET_REASON: &str = "select set_config('carego.change_reason', $1, true)";

/// Makes `reason` the transaction's audit reason (a body's `reason` field
/// wins over `X-Change-Reason`).
pub async fn set_reason(tx: &mut TenantTx, reason: &str) -> Result<()> {
    tx.query(SET_REASON, &[&reason]).await?;
    Ok(())
}

/// A note on a lead.
#[derive(Debug, Clone)]
pub struct LeadNote {
    pub id: LeadNoteId,
    pub lead_id: LeadId,
    pub body: String,
    pub recorded_by: UserId,
    pub recorded_at: DateTime<Utc>,
}

impl Keyed for LeadNote {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.recorded_at, self.id.0)
    }
}

impl TryFrom<&Row> for LeadNote {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            lead_id: row.try_get("lead_id")?,
            body: row.try_get("body")?,
            recorded_by: row.try_get("recorded_by")?,
            recorded_at: row.try_get("recorded_at")?,
        })
    }
}

pub const ADD_NOTE: &str = "
    insert into lead_notes (facility_id, lead_id, body)
    select l.facility_id, l.id, $2 from leads l where l.id = $1
    returning id, lead_id, body, recorded_by, recorded_at";

/// Adds a note to a lead the caller can see.
pub async fn add_note(tx: &mut TenantTx, id: LeadId, body: &str) -> Result<LeadNote> {
    LeadNote::try_from(&tx.query_one(ADD_NOTE, &[&id, &body]).await?)
}

/// `$1` the lead, `$2` the fetch limit; then the cursor, when given (see
/// [`filters`](crate::db::filters)).
pub static NOTES: Variants = Variants::new(
    "select id, lead_id, body, recorded_by, recorded_at from lead_notes
      where lead_id = $1 {where}
      order by recorded_at desc, id desc limit $2",
    &["(recorded_at, id) < ($::timestamptz, $::uuid)"],
);

/// Its notes, newest first.
pub async fn notes(tx: &mut TenantTx, id: LeadId, page: &PageRequest) -> Result<Vec<LeadNote>> {
    get(tx, id).await?;
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&id, &limit]).after(page);
    let rows = tx.query(NOTES.get(bound.present), &bound.params).await?;
    rows.iter().map(LeadNote::try_from).collect()
}

/// One step of a lead's history.
#[derive(Debug, Clone)]
pub struct LeadEvent {
    pub id: uuid::Uuid,
    pub status: LeadStatus,
    pub assigned_to: Option<UserId>,
    pub facility_id: Option<FacilityId>,
    pub reason: Option<String>,
    pub actor_id: Option<UserId>,
    pub actor_role: String,
    pub at: DateTime<Utc>,
}

impl Keyed for LeadEvent {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.at, self.id)
    }
}

/// `$1` the lead, `$2` the fetch limit; then the cursor, when given (see
/// [`filters`](crate::db::filters)).
pub static HISTORY: Variants = Variants::new(
    "select id, status, assigned_to, facility_id, reason, actor_id, actor_role, at from lead_events
      where lead_id = $1 {where}
      order by at, id limit $2",
    &["(at, id) > ($::timestamptz, $::uuid)"],
);

/// Its history, oldest first.
pub async fn history(tx: &mut TenantTx, id: LeadId, page: &PageRequest) -> Result<Vec<LeadEvent>> {
    get(tx, id).await?;
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&id, &limit]).after(page);
    let rows = tx.query(HISTORY.get(bound.present), &bound.params).await?;
    rows.iter()
        .map(|r| {
            Ok(LeadEvent {
                id: r.try_get("id")?,
                status: r.try_get("status")?,
                assigned_to: r.try_get("assigned_to")?,
                facility_id: r.try_get("facility_id")?,
                reason: r.try_get("reason")?,
                actor_id: r.try_get("actor_id")?,
                actor_role: r.try_get("actor_role")?,
                at: r.try_get("at")?,
            })
        })
        .collect()
}

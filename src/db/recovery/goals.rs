//! Goals: set by the care team or proposed by the patient, with a
//! measurable target and date; status changes audited; progress entries
//! appended against them (client ids).

use chrono::{DateTime, NaiveDate, Utc};
use tokio_postgres::{Row, types::ToSql};

use super::Logged;
use crate::{
    db::{TenantTx, filters::Variants},
    domain::{
        ids::{GoalId, GoalProgressId, PatientId, UserId},
        page::Keyed,
        text_enum,
    },
    error::{Error, Result},
};

text_enum! {
    /// What a goal is about.
    pub enum GoalCategory {
        Sobriety = "sobriety",
        Health = "health",
        Relationships = "relationships",
        Work = "work",
        Education = "education",
        Housing = "housing",
        Legal = "legal",
        Financial = "financial",
        Other = "other",
    }
}

text_enum! {
    /// Where a goal stands.
    pub enum GoalStatus {
        Active = "active",
        Achieved = "achieved",
        Abandoned = "abandoned",
    }
}

text_enum! {
    /// Who set a goal.
    pub enum GoalOrigin {
        /// The care team assigned it.
        Staff = "staff",
        /// The patient proposed it.
        Patient = "patient",
    }
}

/// A goal, with where its progress stands.
#[derive(Debug, Clone)]
pub struct Goal {
    pub id: GoalId,
    pub patient_id: PatientId,
    pub category: GoalCategory,
    pub description: String,
    pub measurable_target: Option<String>,
    pub target_date: Option<NaiveDate>,
    pub status: GoalStatus,
    pub origin: GoalOrigin,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub progress_entries: i64,
    pub progress_pct: Option<i16>,
    pub last_progress_at: Option<DateTime<Utc>>,
}

/// Lists are newest first by entry.
impl Keyed for Goal {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.created_at, self.id.0)
    }
}

macro_rules! columns {
    () => {
        "g.id, g.patient_id, g.category, g.description, g.measurable_target, g.target_date, g.status, g.origin, \
         g.created_by, g.created_at, g.updated_at, pr.entries, pr.pct, pr.last_at"
    };
}

/// Progress of the goal `g`, as a lateral join.
macro_rules! progress {
    () => {
        " cross join lateral (
            select count(*) as entries,
                   (select e.progress_pct from goal_progress e
                     where e.facility_id = g.facility_id and e.goal_id = g.id and e.progress_pct is not null
                     order by e.recorded_at desc, e.id desc limit 1) as pct,
                   max(e.recorded_at) as last_at
              from goal_progress e where e.facility_id = g.facility_id and e.goal_id = g.id) pr "
    };
}

impl TryFrom<&Row> for Goal {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            patient_id: row.try_get("patient_id")?,
            category: row.try_get("category")?,
            description: row.try_get("description")?,
            measurable_target: row.try_get("measurable_target")?,
            target_date: row.try_get("target_date")?,
            status: row.try_get("status")?,
            origin: row.try_get("origin")?,
            created_by: row.try_get("created_by")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            progress_entries: row.try_get("entries")?,
            progress_pct: row.try_get("pct")?,
            last_progress_at: row.try_get("last_at")?,
        })
    }
}

/// A validated new goal.
#[derive(Debug, Clone, PartialEq)]
pub struct NewGoal {
    pub category: GoalCategory,
    pub description: String,
    pub measurable_target: Option<String>,
    pub target_date: Option<NaiveDate>,
}

impl Logged for Goal {
    type Input = NewGoal;

    const INSERT: &'static str = concat!(
        "with g as (
            insert into goals (id, patient_id, facility_id, category, description, measurable_target, target_date)
            select $1, p.id, p.facility_id, $3, $4, $5, $6
              from patients p where p.id = $2 and p.deleted_at is null
            on conflict (facility_id, id) do nothing
            returning *)
         select ",
        columns!(),
        " from g cross join lateral (select 0::int8 as entries, null::int2 as pct, null::timestamptz as last_at) pr"
    );
    const BY_IDS: &'static str = concat!(
        "select ",
        columns!(),
        " from goals g",
        progress!(),
        "where g.id = any($1)
           and exists (select from patients p
                        where p.facility_id = g.facility_id and p.id = g.patient_id and p.deleted_at is null)"
    );
    fn list() -> &'static Variants {
        static LIST: Variants = Variants::new(
            concat!(
                "select ",
                columns!(),
                ", (select carego.audit_read('patients', $1, p.facility_id) from patients p where p.id = $1) as audited
                 from goals g",
                progress!(),
                "where g.patient_id = $1
                   and exists (select from patients p where p.id = $1 and p.deleted_at is null) {where}
                 order by g.created_at desc, g.id desc
                 limit $2"
            ),
            &["(g.created_at, g.id) < ($::timestamptz, $::uuid)"],
        );
        &LIST
    }

    fn params(g: &NewGoal) -> Vec<&(dyn ToSql + Sync)> {
        vec![&g.category, &g.description, &g.measurable_target, &g.target_date]
    }

    fn id(&self) -> uuid::Uuid {
        self.id.0
    }

    fn patient_id(&self) -> PatientId {
        self.patient_id
    }

    /// The fields the create set. Once the care team has edited the goal, a
    /// late retry of its create answers the goal as it now stands: the
    /// first wording is in the audit log, not here to compare.
    fn matches(&self, patient: PatientId, g: &NewGoal) -> bool {
        let edited = self.updated_at != self.created_at;
        self.patient_id == patient
            && (edited
                || (g.category == self.category
                    && g.description == self.description
                    && g.measurable_target == self.measurable_target
                    && g.target_date == self.target_date))
    }
}

/// The changes of a PATCH; `None` leaves a field, `Some(None)` clears it.
pub struct GoalPatch<'a> {
    pub category: Option<GoalCategory>,
    pub description: Option<&'a str>,
    pub measurable_target: Option<Option<&'a str>>,
    pub target_date: Option<Option<NaiveDate>>,
    pub status: Option<GoalStatus>,
}

pub const UPDATE: &str = "
    update goals g set
       category = coalesce($2, category),
       description = coalesce($3, description),
       measurable_target = case when $4::bool then $5::text else measurable_target end,
       target_date = case when $6::bool then $7::date else target_date end,
       status = coalesce($8, status)
     where g.id = $1
       and exists (select from patients p
                    where p.facility_id = g.facility_id and p.id = g.patient_id and p.deleted_at is null)
    returning g.id";

/// Changes a visible goal (404 otherwise); audited.
pub async fn update(tx: &mut TenantTx, id: GoalId, p: &GoalPatch<'_>) -> Result<Goal> {
    let params: crate::db::Params = &[
        &id,
        &p.category,
        &p.description,
        &p.measurable_target.is_some(),
        &p.measurable_target.flatten(),
        &p.target_date.is_some(),
        &p.target_date.flatten(),
        &p.status,
    ];
    tx.query_one(UPDATE, params).await?;
    let row = tx.query_one(Goal::BY_IDS, &[&vec![id]]).await?;
    Goal::try_from(&row)
}

/// A progress entry as stored.
#[derive(Debug, Clone)]
pub struct GoalProgress {
    pub id: GoalProgressId,
    pub patient_id: PatientId,
    pub goal_id: GoalId,
    pub note: String,
    pub progress_pct: Option<i16>,
    pub recorded_by: UserId,
    pub recorded_at: DateTime<Utc>,
}

/// Lists are newest first by recording.
impl Keyed for GoalProgress {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.recorded_at, self.id.0)
    }
}

macro_rules! progress_columns {
    () => {
        "id, patient_id, goal_id, note, progress_pct, recorded_by, recorded_at"
    };
}

impl TryFrom<&Row> for GoalProgress {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            patient_id: row.try_get("patient_id")?,
            goal_id: row.try_get("goal_id")?,
            note: row.try_get("note")?,
            progress_pct: row.try_get("progress_pct")?,
            recorded_by: row.try_get("recorded_by")?,
            recorded_at: row.try_get("recorded_at")?,
        })
    }
}

/// A validated progress entry.
#[derive(Debug, Clone, PartialEq)]
pub struct NewGoalProgress {
    pub goal_id: GoalId,
    pub note: String,
    pub progress_pct: Option<i16>,
}

pub const GOAL_OF_PATIENT: &str = "
    select from goals g
     where g.id = $2 and g.patient_id = $1
       and exists (select from patients p
                    where p.facility_id = g.facility_id and p.id = g.patient_id and p.deleted_at is null)";

impl Logged for GoalProgress {
    type Input = NewGoalProgress;

    const INSERT: &'static str = concat!(
        "insert into goal_progress (id, patient_id, facility_id, goal_id, note, progress_pct)
         select $1, g.patient_id, g.facility_id, g.id, $4, $5
           from goals g
           join patients p on p.facility_id = g.facility_id and p.id = g.patient_id
          where g.id = $3 and g.patient_id = $2 and p.deleted_at is null
         on conflict (facility_id, id) do nothing
         returning ",
        progress_columns!()
    );
    super::patient_record_sql!(
        table = "goal_progress",
        columns = progress_columns!(),
        key = "recorded_at",
        cursor = "$::timestamptz"
    );

    fn params(e: &NewGoalProgress) -> Vec<&(dyn ToSql + Sync)> {
        vec![&e.goal_id, &e.note, &e.progress_pct]
    }

    fn id(&self) -> uuid::Uuid {
        self.id.0
    }

    fn patient_id(&self) -> PatientId {
        self.patient_id
    }

    fn matches(&self, patient: PatientId, e: &NewGoalProgress) -> bool {
        self.patient_id == patient
            && e.goal_id == self.goal_id
            && e.note == self.note
            && e.progress_pct == self.progress_pct
    }

    /// The goal must be the patient's, and visible.
    async fn ensure_parent(tx: &mut TenantTx, patient: PatientId, e: &NewGoalProgress) -> Result<()> {
        tx.query_one(GOAL_OF_PATIENT, &[&patient, &e.goal_id]).await?;
        Ok(())
    }
}

//! Goals: set by the care team or proposed by the patient, and the progress
//! recorded against them.

use chrono::NaiveDate;
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use serde_json::{Value, json};

use super::{Recorded, record};
use crate::api::contract::{Contract, Contracts};
use crate::api::examples::{AT, Example, GOAL, PATIENT, PATIENT_USER, PROGRESS, page};
use crate::db::recovery::goals::GoalOrigin;
use crate::domain::ids::UserId;
use crate::error::Conflict;
use crate::{
    api::wire,
    api::{ApiTags, body::JsonBody, page::Page},
    auth::BearerAuth,
    db::{
        Db, recovery,
        recovery::goals::{self, GoalCategory, GoalPatch, GoalStatus, NewGoal, NewGoalProgress},
    },
    domain::{
        ids::{GoalId, GoalProgressId, PatientId},
        page::{Cursor, Limit, PageRequest},
        text::{Nullable, Opt, Text},
    },
    error::Result,
};
use chrono::{DateTime, Utc};

pub struct GoalsApi {
    pub db: Db,
}

/// A goal to set (by the care team) or propose (by the patient).
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct NewGoalRequest {
    /// A new UUID the client makes for this goal, so that sending it again
    /// is a harmless replay.
    pub id: GoalId,
    /// What it is about.
    pub category: GoalCategory,
    /// The goal in words (1–2000 characters).
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub description: Text,
    /// How it will be measured (1–500 characters), e.g. "3 meetings a week for 8 weeks".
    #[oai(validator(min_length = 1, max_length = 500))]
    pub measurable_target: Opt<Text>,
    /// By when.
    pub target_date: Opt<NaiveDate>,
}

impl NewGoalRequest {
    pub fn validate(&self) -> Result<NewGoal> {
        Ok(NewGoal {
            category: self.category,
            description: self.description.0.clone(),
            measurable_target: self.measurable_target.as_deref().map(str::to_owned),
            target_date: self.target_date.0,
        })
    }
}

/// Changes to a goal; absent fields stay as they are.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateGoalRequest {
    /// What it is about.
    pub category: Opt<GoalCategory>,
    /// The goal in words (1–2000 characters).
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub description: Opt<Text>,
    /// How it will be measured; `null` clears it.
    #[oai(validator(min_length = 1, max_length = 500))]
    pub measurable_target: Nullable<Text>,
    /// By when; `null` clears it.
    pub target_date: Nullable<NaiveDate>,
    /// Where it stands.
    pub status: Opt<GoalStatus>,
}

/// A progress entry to record against one of the patient's goals.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct NewGoalProgressRequest {
    /// A new UUID the client makes for this entry, so that sending it again
    /// is a harmless replay.
    pub id: GoalProgressId,
    /// The goal.
    pub goal_id: GoalId,
    /// What happened (1–2000 characters).
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub note: Text,
    /// How far along, 0–100.
    #[oai(validator(minimum(value = "0"), maximum(value = "100")))]
    pub progress_pct: Opt<i16>,
}

impl NewGoalProgressRequest {
    pub fn validate(&self) -> Result<NewGoalProgress> {
        Ok(NewGoalProgress {
            goal_id: self.goal_id,
            note: self.note.0.clone(),
            progress_pct: self.progress_pct.0,
        })
    }
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts {
    file: file!(),
    operations: &[
        Contract::of("createGoal").conflicts(&[Conflict::RECORD_ID_TAKEN]),
        Contract::of("createGoalProgress").conflicts(&[Conflict::RECORD_ID_TAKEN]),
    ],
    examples,
};

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<NewGoalRequest>(
            json!({"id": GOAL, "category": "sobriety", "description": "Go to NA meetings regularly",
                   "measurableTarget": "3 meetings a week for 8 weeks", "targetDate": "2027-01-15"}),
        ),
        Example::of::<UpdateGoalRequest>(json!({"status": "achieved"})),
        Example::of::<NewGoalProgressRequest>(
            json!({"id": PROGRESS, "goalId": GOAL, "note": "Three meetings this week.", "progressPct": 40}),
        ),
        Example::of::<Goal>(goal_example()),
        Example::of::<GoalProgress>(progress_example()),
        Example::of::<Page<Goal>>(page(goal_example())),
        Example::of::<Page<GoalProgress>>(page(progress_example())),
    ]
}

/// Also a change in the sync changes example.
pub(crate) fn goal_example() -> Value {
    json!({"id": GOAL, "patientId": PATIENT, "category": "sobriety", "description": "Go to NA meetings regularly",
           "measurableTarget": "3 meetings a week for 8 weeks", "targetDate": "2027-01-15", "status": "active",
           "origin": "patient", "createdBy": PATIENT_USER, "createdAt": AT, "updatedAt": AT, "progressEntries": 2,
           "progressPct": 40, "lastProgressAt": AT})
}

fn progress_example() -> Value {
    json!({"id": PROGRESS, "patientId": PATIENT, "goalId": GOAL, "note": "Three meetings this week.",
           "progressPct": 40, "recordedBy": PATIENT_USER, "recordedAt": AT})
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Goals")]
impl GoalsApi {
    /// A patient's goals.
    ///
    /// Newest first, each with its progress. Visible to the patient. Audited as a read of the
    /// chart.
    #[oai(path = "/patients/:id/goals", method = "get", operation_id = "listGoals")]
    async fn list(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<Goal>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self
            .db
            .run(&auth.0, async |tx| {
                recovery::list::<crate::db::recovery::goals::Goal>(tx, id.0, &page).await
            })
            .await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// Set or propose a goal.
    ///
    /// Staff set goals for a patient in their care (`origin: staff`); a patient proposes their
    /// own (`origin: patient`). The client makes the id: sending the same id and content again
    /// answers 200 with the goal; the same id with other content is a 409 (once the goal has
    /// been edited, a retry answers it as it now stands).
    #[oai(path = "/patients/:id/goals", method = "post", operation_id = "createGoal")]
    async fn create(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        body: JsonBody<NewGoalRequest>,
    ) -> Result<Recorded<Goal>> {
        let input = body.0.validate()?;
        record::<crate::db::recovery::goals::Goal, _>(&self.db, &auth.0, id.0, body.0.id.0, &input).await
    }

    /// Change a goal.
    ///
    /// Its wording, target, date or status (`achieved`, `abandoned`, or `active` again): staff of
    /// the patient's care team and facility admins. The audit log keeps every earlier value.
    #[oai(path = "/goals/:id", method = "patch", operation_id = "updateGoal")]
    async fn update(
        &self,
        auth: BearerAuth,
        id: Path<GoalId>,
        body: JsonBody<UpdateGoalRequest>,
    ) -> Result<Json<Goal>> {
        let b = &body.0;
        let patch = GoalPatch {
            category: b.category.0,
            description: b.description.as_deref(),
            measurable_target: b.measurable_target.as_opt_deref(),
            target_date: b.target_date.as_opt_ref().map(|d| d.copied()),
            status: b.status.0,
        };
        self.db.run(&auth.0, async |tx| goals::update(tx, id.0, &patch).await).await.map(wire)
    }

    /// A patient's goal progress entries.
    ///
    /// Newest first, across their goals. Audited as a read of the chart.
    #[oai(path = "/patients/:id/goal-progress", method = "get", operation_id = "listGoalProgress")]
    async fn list_progress(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<GoalProgress>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self
            .db
            .run(&auth.0, async |tx| {
                recovery::list::<crate::db::recovery::goals::GoalProgress>(tx, id.0, &page).await
            })
            .await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// Record progress on a goal.
    ///
    /// By the patient or their care team, against one of the patient's goals. Append-only. The
    /// client makes the id: sending the same id and content again answers 200 with the stored
    /// entry; the same id with other content is a 409.
    #[oai(path = "/patients/:id/goal-progress", method = "post", operation_id = "createGoalProgress")]
    async fn create_progress(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        body: JsonBody<NewGoalProgressRequest>,
    ) -> Result<Recorded<GoalProgress>> {
        let input = body.0.validate()?;
        record::<crate::db::recovery::goals::GoalProgress, _>(&self.db, &auth.0, id.0, body.0.id.0, &input)
            .await
    }
}

/// A goal, with where its progress stands.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Goal {
    /// Its id (chosen by the client that created it).
    pub id: GoalId,
    /// The patient.
    pub patient_id: PatientId,
    /// What it is about.
    pub category: GoalCategory,
    /// The goal in words.
    pub description: String,
    /// How it will be measured.
    pub measurable_target: Option<String>,
    /// By when.
    pub target_date: Option<NaiveDate>,
    /// Where it stands.
    pub status: GoalStatus,
    /// Who set it.
    pub origin: GoalOrigin,
    /// Who entered it.
    pub created_by: UserId,
    /// When it was entered.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// How many progress entries it has.
    pub progress_entries: i64,
    /// The newest percentage recorded, if any.
    pub progress_pct: Option<i16>,
    /// When progress was last recorded.
    pub last_progress_at: Option<DateTime<Utc>>,
}

impl From<crate::db::recovery::goals::Goal> for Goal {
    fn from(row: crate::db::recovery::goals::Goal) -> Self {
        Self {
            id: row.id,
            patient_id: row.patient_id,
            category: row.category,
            description: row.description,
            measurable_target: row.measurable_target,
            target_date: row.target_date,
            status: row.status,
            origin: row.origin,
            created_by: row.created_by,
            created_at: row.created_at,
            updated_at: row.updated_at,
            progress_entries: row.progress_entries,
            progress_pct: row.progress_pct,
            last_progress_at: row.last_progress_at,
        }
    }
}

/// A progress entry as stored.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct GoalProgress {
    /// Its id (chosen by the client that created it).
    pub id: GoalProgressId,
    /// The patient.
    pub patient_id: PatientId,
    /// The goal.
    pub goal_id: GoalId,
    /// What happened.
    pub note: String,
    /// How far along, 0–100, if said.
    pub progress_pct: Option<i16>,
    /// Who recorded it.
    pub recorded_by: UserId,
    /// When it reached the server.
    pub recorded_at: DateTime<Utc>,
}

impl From<crate::db::recovery::goals::GoalProgress> for GoalProgress {
    fn from(row: crate::db::recovery::goals::GoalProgress) -> Self {
        Self {
            id: row.id,
            patient_id: row.patient_id,
            goal_id: row.goal_id,
            note: row.note,
            progress_pct: row.progress_pct,
            recorded_by: row.recorded_by,
            recorded_at: row.recorded_at,
        }
    }
}

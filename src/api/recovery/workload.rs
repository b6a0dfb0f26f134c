//! The care team's view: a staff member's caseload at a glance, and the
//! acknowledgement of a patient's "needs attention" prompt.

use poem_openapi::{Object, OpenApi, param::Path, payload::Json};
use serde_json::json;

use crate::api::contract::{Contract, Contracts};
use crate::api::examples::{AT, Example, NURSE, PATIENT};
use crate::db::recovery::progress::AttentionFactorCode;
use crate::error::Conflict;
use crate::{
    api::wire,
    api::{ApiTags, Created, body::JsonBody},
    auth::BearerAuth,
    db::{
        Db,
        recovery::progress::{self},
    },
    domain::{
        ids::{PatientId, UserId},
        text::{Opt, Text},
    },
    error::Result,
};
use chrono::{DateTime, Utc};

/// What the care team did about a prompt.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct AcknowledgeAttentionRequest {
    /// What was done, e.g. "called; appointment moved up" (1–2000 characters).
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub note: Opt<Text>,
}

pub struct WorkloadApi {
    pub db: Db,
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts {
    file: file!(),
    operations: &[Contract::of("acknowledgeAttention").conflicts(&[Conflict::NO_ATTENTION_NEEDED])],
    examples,
};

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<StaffWorkload>(
            json!({"staffId": NURSE, "caseload": 14, "overdueReviews": 2, "withoutCheckIn48h": [PATIENT],
                   "missedDoses7d": [], "unacknowledgedAttention": [PATIENT]}),
        ),
        Example::of::<AcknowledgeAttentionRequest>(
            json!({"note": "Called her; moved the next session to tomorrow."}),
        ),
        Example::of::<Attention>(json!({
            "needed": true, "acknowledged": true,
            "factors": [{"code": "missed_doses", "detail": "3 doses missed or refused in the last 7 days."}],
            "lastAcknowledgement": {"by": NURSE, "at": AT, "factors": ["missed_doses"],
                                    "note": "Called her; moved the next session to tomorrow."}
        })),
    ]
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Workload")]
impl WorkloadApi {
    /// A staff member's workload.
    ///
    /// Caseload size, overdue treatment plan reviews, and the patients of the caseload without a
    /// check-in for 48 hours or with 2 or more doses missed in the last 7 days. Staff see their
    /// own; facility admins any of their facility's staff. Also the patients whose "needs
    /// attention" prompt nobody has acknowledged.
    #[oai(path = "/users/:id/workload", method = "get", operation_id = "getStaffWorkload")]
    async fn get(&self, auth: BearerAuth, id: Path<UserId>) -> Result<Json<StaffWorkload>> {
        self.db.run(&auth.0, async |tx| progress::workload(tx, id.0).await).await.map(wire)
    }

    /// Acknowledge a patient's "needs attention" prompt.
    ///
    /// The care team saw the factors that hold now (they are recorded with the acknowledgement,
    /// and the note if given). The prompt stays acknowledged while a 7-day-old or newer
    /// acknowledgement covers every factor; a new factor raises it again. Staff of the patient's
    /// care team and facility admins. 409 `no_attention_needed` when nothing holds.
    #[oai(
        path = "/patients/:id/attention/acknowledgements",
        method = "post",
        operation_id = "acknowledgeAttention"
    )]
    async fn acknowledge(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        body: JsonBody<AcknowledgeAttentionRequest>,
    ) -> Result<Created<Attention>> {
        let note = body.0.note.as_deref();
        let attention = self.db.run(&auth.0, async |tx| progress::acknowledge(tx, id.0, note).await).await?;
        Ok(Created::Created(Json(attention.into()), None))
    }
}

/// One factor, with what was seen.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct AttentionFactor {
    /// Which rule.
    pub code: AttentionFactorCode,
    /// What was seen, in words, with the numbers.
    pub detail: String,
}

impl From<crate::db::recovery::progress::AttentionFactor> for AttentionFactor {
    fn from(row: crate::db::recovery::progress::AttentionFactor) -> Self {
        Self { code: row.code, detail: row.detail }
    }
}

/// A prompt for the care team to look at the patient, with its reasons.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Attention {
    /// Whether any factor holds.
    pub needed: bool,
    /// The factors that hold (empty when none).
    pub factors: Vec<AttentionFactor>,
    /// Whether the care team has acknowledged every factor that holds (within the last 7 days).
    pub acknowledged: bool,
    /// The newest acknowledgement of the last 7 days.
    pub last_acknowledgement: Option<Acknowledgement>,
}

impl From<crate::db::recovery::progress::Attention> for Attention {
    fn from(row: crate::db::recovery::progress::Attention) -> Self {
        Self {
            needed: row.needed,
            factors: row.factors.into_iter().map(Into::into).collect(),
            acknowledged: row.acknowledged,
            last_acknowledgement: row.last_acknowledgement.map(Into::into),
        }
    }
}

/// A member of the care team saw the prompt.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Acknowledgement {
    /// Who.
    pub by: crate::domain::ids::UserId,
    /// When.
    pub at: DateTime<Utc>,
    /// The factors they saw.
    pub factors: Vec<AttentionFactorCode>,
    /// What they did, if they said.
    pub note: Option<String>,
}

impl From<crate::db::recovery::progress::Acknowledgement> for Acknowledgement {
    fn from(row: crate::db::recovery::progress::Acknowledgement) -> Self {
        Self { by: row.by, at: row.at, factors: row.factors, note: row.note }
    }
}

/// Average mood.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct MoodTrend {
    /// Over the last 7 days; absent with no check-in.
    pub average_7d: Option<f64>,
    /// Over the last 30 days; absent with no check-in.
    pub average_30d: Option<f64>,
    /// The last 7 days' average less the 7 days' before; absent unless both have check-ins.
    pub change_7d: Option<f64>,
}

impl From<crate::db::recovery::progress::MoodTrend> for MoodTrend {
    fn from(row: crate::db::recovery::progress::MoodTrend) -> Self {
        Self { average_7d: row.average_7d, average_30d: row.average_30d, change_7d: row.change_7d }
    }
}

/// Cravings counted.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct CravingTrend {
    /// In the last 7 days.
    pub last_7d: i64,
    /// In the 7 days before.
    pub previous_7d: i64,
    /// Of the last 7 days', how many ended in use.
    pub used_7d: i64,
}

impl From<crate::db::recovery::progress::CravingTrend> for CravingTrend {
    fn from(row: crate::db::recovery::progress::CravingTrend) -> Self {
        Self { last_7d: row.last_7d, previous_7d: row.previous_7d, used_7d: row.used_7d }
    }
}

/// Goals counted.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct GoalSummary {
    /// Active goals.
    pub active: i64,
    /// Achieved goals.
    pub achieved: i64,
    /// The average newest progress percentage of active goals that have one.
    pub average_progress_pct: Option<f64>,
}

impl From<crate::db::recovery::progress::GoalSummary> for GoalSummary {
    fn from(row: crate::db::recovery::progress::GoalSummary) -> Self {
        Self { active: row.active, achieved: row.achieved, average_progress_pct: row.average_progress_pct }
    }
}

/// The recovery part of a patient's dashboard.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct RecoverySummary {
    /// Consecutive days with a check-in, up to today (or yesterday, before today's).
    pub check_in_streak: i64,
    /// The newest check-in.
    pub last_check_in_at: Option<DateTime<Utc>>,
    /// Mood from check-ins.
    pub mood: MoodTrend,
    /// Cravings logged.
    pub cravings: CravingTrend,
    /// Doses taken (on time or late) out of all recorded over the last 30 days, 0–1; absent with
    /// none recorded.
    pub dose_adherence_30d: Option<f64>,
    /// Goals.
    pub goals: GoalSummary,
    /// Whether the care team should look at the patient now, and why.
    pub attention: Attention,
}

impl From<crate::db::recovery::progress::RecoverySummary> for RecoverySummary {
    fn from(row: crate::db::recovery::progress::RecoverySummary) -> Self {
        Self {
            check_in_streak: row.check_in_streak,
            last_check_in_at: row.last_check_in_at,
            mood: row.mood.into(),
            cravings: row.cravings.into(),
            dose_adherence_30d: row.dose_adherence_30d,
            goals: row.goals.into(),
            attention: row.attention.into(),
        }
    }
}

/// A staff member's caseload at a glance.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct StaffWorkload {
    /// The staff member.
    pub staff_id: crate::domain::ids::UserId,
    /// Patients they care for now (open assignments and those they counsel).
    pub caseload: i64,
    /// Of those, the treatment plans whose review is overdue.
    pub overdue_reviews: i64,
    /// Patients of the caseload without a check-in for 48 hours.
    pub without_check_in_48h: Vec<PatientId>,
    /// Patients of the caseload with 2 or more doses missed or refused in the last 7 days.
    pub missed_doses_7d: Vec<PatientId>,
    /// Patients of the caseload whose "needs attention" prompt nobody has acknowledged.
    pub unacknowledged_attention: Vec<PatientId>,
}

impl From<crate::db::recovery::progress::StaffWorkload> for StaffWorkload {
    fn from(row: crate::db::recovery::progress::StaffWorkload) -> Self {
        Self {
            staff_id: row.staff_id,
            caseload: row.caseload,
            overdue_reviews: row.overdue_reviews,
            without_check_in_48h: row.without_check_in_48h,
            missed_doses_7d: row.missed_doses_7d,
            unacknowledged_attention: row.unacknowledged_attention,
        }
    }
}

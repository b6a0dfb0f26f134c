//! Offline sync for the mobile app: a batch of queued records in one
//! request, each with its own result, and the change feed since a cursor.

use poem_openapi::{Object, OpenApi, param::Query, payload::Json};
use serde_json::json;
use uuid::Uuid;

use super::{
    check_ins::NewCheckInRequest,
    cravings::NewCravingRequest,
    goals::{NewGoalProgressRequest, NewGoalRequest},
    medications::NewDoseEventRequest,
    meetings::NewMeetingRequest,
    sobriety::NewSobrietyResetRequest,
};
use crate::api::clinical::patients::Patient;
use crate::api::contract::Contracts;
use crate::api::examples::{CHECK_IN, CRAVING, Example, GOAL, MEETING, PATIENT, PATIENT_B, RESET};
use crate::api::recovery::check_ins::CheckIn;
use crate::api::recovery::check_ins::check_in_example;
use crate::api::recovery::check_ins::check_in_request_example;
use crate::api::recovery::cravings::Craving;
use crate::api::recovery::cravings::craving_request_example;
use crate::api::recovery::goals::Goal;
use crate::api::recovery::goals::GoalProgress;
use crate::api::recovery::goals::goal_example;
use crate::api::recovery::medications::DoseEvent;
use crate::api::recovery::medications::Prescription;
use crate::api::recovery::medications::dose_request_example;
use crate::api::recovery::meetings::Meeting;
use crate::api::recovery::meetings::meeting_request_example;
use crate::api::recovery::sobriety::SobrietyReset;
use crate::api::recovery::sobriety::reset_example;
use crate::db::recovery::sync::ChangeAction;
use crate::db::recovery::sync::ChangeType;
use crate::{
    api::wire,
    api::{ApiTags, body::JsonBody},
    auth::BearerAuth,
    db::{
        Db, TenantTx,
        recovery::{
            self, Outcome, check_ins, cravings, goals, medications, meetings, sobriety,
            sync::{self},
        },
    },
    domain::{
        ids::PatientId,
        page::{Limit, SyncCursor},
        text::Opt,
        text_enum,
    },
    error::{Error, FieldError, Problem, Result},
};

pub struct SyncApi {
    pub db: Db,
}

text_enum! {
    /// What kind of record a queued entry holds.
    pub enum RecordType {
        CheckIn = "check_in",
        Craving = "craving",
        Meeting = "meeting",
        SobrietyReset = "sobriety_reset",
        DoseEvent = "dose_event",
        Goal = "goal",
        GoalProgress = "goal_progress",
    }
}

/// One queued record: its type, its patient, and the record, in the field
/// `type` names (the same body as the record's own create operation).
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncRecord {
    /// Which field holds the record.
    #[oai(rename = "type")]
    pub kind: RecordType,
    /// The patient it is about.
    pub patient_id: PatientId,
    /// With `type: check_in`.
    pub check_in: Opt<NewCheckInRequest>,
    /// With `type: craving`.
    pub craving: Opt<NewCravingRequest>,
    /// With `type: meeting`.
    pub meeting: Opt<NewMeetingRequest>,
    /// With `type: sobriety_reset`.
    pub sobriety_reset: Opt<NewSobrietyResetRequest>,
    /// With `type: dose_event`.
    pub dose_event: Opt<NewDoseEventRequest>,
    /// With `type: goal`.
    pub goal: Opt<NewGoalRequest>,
    /// With `type: goal_progress`.
    pub goal_progress: Opt<NewGoalProgressRequest>,
}

/// Records queued offline, sent in one request.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncBatchRequest {
    /// 1–100 records, recorded in this order.
    #[oai(validator(min_items = 1, max_items = 100))]
    pub records: Vec<SyncRecord>,
}

text_enum! {
    /// What became of a queued record.
    pub enum SyncStatus {
        /// Recorded now.
        Created = "created",
        /// Already recorded under this id with this content: nothing written.
        Replayed = "replayed",
        /// Not recorded; `problem` says why. Retrying the same record will not help
        /// unless the problem is fixed.
        Rejected = "rejected",
    }
}

/// The result for one queued record.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct SyncResult {
    /// Its place in `records`, from 0.
    pub index: u32,
    /// Its type, when it could be read.
    #[oai(rename = "type")]
    pub kind: Option<RecordType>,
    /// Its id, when it could be read.
    pub id: Option<Uuid>,
    /// What became of it.
    pub status: SyncStatus,
    /// Why it was rejected (the problem its own create operation would answer).
    pub problem: Option<Problem>,
}

/// One result per queued record, in order, and the totals.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct SyncBatchResult {
    /// One per record, in the order sent.
    pub results: Vec<SyncResult>,
    /// How many were recorded now.
    pub created: u32,
    /// How many had been recorded already.
    pub replayed: u32,
    /// How many were rejected.
    pub rejected: u32,
}

/// A queued record, checked and ready to record.
enum Item {
    CheckIn(recovery::check_ins::NewCheckIn),
    Craving(recovery::cravings::NewCraving),
    Meeting(recovery::meetings::NewMeeting),
    SobrietyReset(recovery::sobriety::NewSobrietyReset),
    DoseEvent(recovery::medications::NewDoseEvent),
    Goal(recovery::goals::NewGoal),
    GoalProgress(recovery::goals::NewGoalProgress),
}

struct Valid {
    patient: PatientId,
    id: Uuid,
    item: Item,
}

/// A queued record after checking: what could be read of it, and either
/// the record to write or the problem that rejects it.
struct Checked {
    kind: Option<RecordType>,
    id: Option<Uuid>,
    valid: std::result::Result<Valid, Problem>,
}

/// Names a record's field errors from the batch's root.
fn nested(err: Error, prefix: &str) -> Error {
    match err {
        Error::Invalid(errors) => Error::Invalid(
            errors
                .into_iter()
                .map(|e| {
                    let field =
                        if e.field == "body" { prefix.to_owned() } else { format!("{prefix}.{}", e.field) };
                    FieldError { field, message: e.message }
                })
                .collect(),
        ),
        other => other,
    }
}

impl SyncRecord {
    fn validate(&self) -> Result<Valid> {
        let fields = [
            (RecordType::CheckIn, "checkIn", self.check_in.is_some()),
            (RecordType::Craving, "craving", self.craving.is_some()),
            (RecordType::Meeting, "meeting", self.meeting.is_some()),
            (RecordType::SobrietyReset, "sobrietyReset", self.sobriety_reset.is_some()),
            (RecordType::DoseEvent, "doseEvent", self.dose_event.is_some()),
            (RecordType::Goal, "goal", self.goal.is_some()),
            (RecordType::GoalProgress, "goalProgress", self.goal_progress.is_some()),
        ];
        let mut errors = Vec::new();
        for (kind, field, present) in fields {
            if kind == self.kind && !present {
                errors.push(FieldError::new(field, format!("is required with type {}", kind.as_str())));
            } else if kind != self.kind && present {
                errors
                    .push(FieldError::new(field, format!("must be absent with type {}", self.kind.as_str())));
            }
        }
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        let (id, field, item) = self.named().ok_or_else(|| Error::invalid("type", "names no record"))?;
        Ok(Valid { patient: self.patient_id, id, item: item.map_err(|e| nested(e, field))? })
    }

    /// The record `type` names, if present: its id, its field, and the
    /// record checked.
    fn named(&self) -> Option<(Uuid, &'static str, Result<Item>)> {
        Some(match self.kind {
            RecordType::CheckIn => {
                self.check_in.as_ref().map(|r| (r.id.0, "checkIn", r.validate().map(Item::CheckIn)))?
            }
            RecordType::Craving => {
                self.craving.as_ref().map(|r| (r.id.0, "craving", r.validate().map(Item::Craving)))?
            }
            RecordType::Meeting => {
                self.meeting.as_ref().map(|r| (r.id.0, "meeting", r.validate().map(Item::Meeting)))?
            }
            RecordType::SobrietyReset => self
                .sobriety_reset
                .as_ref()
                .map(|r| (r.id.0, "sobrietyReset", r.validate().map(Item::SobrietyReset)))?,
            RecordType::DoseEvent => {
                self.dose_event.as_ref().map(|r| (r.id.0, "doseEvent", r.validate().map(Item::DoseEvent)))?
            }
            RecordType::Goal => self.goal.as_ref().map(|r| (r.id.0, "goal", r.validate().map(Item::Goal)))?,
            RecordType::GoalProgress => self
                .goal_progress
                .as_ref()
                .map(|r| (r.id.0, "goalProgress", r.validate().map(Item::GoalProgress)))?,
        })
    }

    /// The record's id, when it parsed.
    fn id(&self) -> Option<Uuid> {
        self.named().map(|(id, ..)| id)
    }
}

impl Valid {
    /// Records it; whether it was a replay.
    async fn record(&self, tx: &mut TenantTx) -> Result<bool> {
        fn replayed<R>(o: Outcome<R>) -> bool {
            matches!(o, Outcome::Replayed(_))
        }
        let (p, id) = (self.patient, self.id);
        Ok(match &self.item {
            Item::CheckIn(input) => replayed(recovery::log::<check_ins::CheckIn>(tx, p, id, input).await?),
            Item::Craving(input) => replayed(recovery::log::<cravings::Craving>(tx, p, id, input).await?),
            Item::Meeting(input) => replayed(recovery::log::<meetings::Meeting>(tx, p, id, input).await?),
            Item::SobrietyReset(input) => {
                replayed(recovery::log::<sobriety::SobrietyReset>(tx, p, id, input).await?)
            }
            Item::DoseEvent(input) => {
                replayed(recovery::log::<medications::DoseEvent>(tx, p, id, input).await?)
            }
            Item::Goal(input) => replayed(recovery::log::<goals::Goal>(tx, p, id, input).await?),
            Item::GoalProgress(input) => {
                replayed(recovery::log::<goals::GoalProgress>(tx, p, id, input).await?)
            }
        })
    }
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts { file: file!(), operations: &[], examples };

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<SyncBatchRequest>(json!({"records": [
            {"type": "check_in", "patientId": PATIENT, "checkIn": check_in_request_example()},
            {"type": "craving", "patientId": PATIENT, "craving": craving_request_example()},
            {"type": "meeting", "patientId": PATIENT, "meeting": meeting_request_example()},
            {"type": "dose_event", "patientId": PATIENT, "doseEvent": dose_request_example()},
        ]})),
        Example::of::<SyncBatchResult>(json!({"results": [
            {"index": 0, "type": "check_in", "id": CHECK_IN, "status": "created"},
            {"index": 1, "type": "craving", "id": CRAVING, "status": "replayed"},
            {"index": 2, "type": "meeting", "id": MEETING, "status": "rejected",
             "problem": {"type": "urn:carego:problem:validation_failed", "title": "Bad Request", "status": 400,
                         "detail": "One or more fields are invalid.", "code": "validation_failed",
                         "errors": [{"field": "records[2].meeting.attendedOn",
                                     "message": "must not be in the future"}]}},
        ], "created": 1, "replayed": 1, "rejected": 1})),
        Example::of::<Changes>(json!({"items": [
            {"type": "check_in", "action": "upsert", "id": CHECK_IN, "patientId": PATIENT,
             "checkIn": check_in_example()},
            {"type": "sobriety_reset", "action": "upsert", "id": RESET, "patientId": PATIENT,
             "sobrietyReset": reset_example()},
            {"type": "goal", "action": "upsert", "id": GOAL, "patientId": PATIENT, "goal": goal_example()},
            {"type": "patient", "action": "tombstone", "id": PATIENT_B, "patientId": PATIENT_B},
        ], "nextCursor": "1187", "hasMore": false})),
    ]
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Sync")]
impl SyncApi {
    /// Send records queued offline.
    ///
    /// Up to 100 check-ins, cravings, meetings, sobriety resets, dose events, goals and goal
    /// progress entries, each with the id the client made for it, recorded in order. The body
    /// must fit the schema: a record that does not (a mood of 11, an unknown `type`) fails the
    /// whole request with 400 naming it (`records[3].checkIn.mood`), a client bug to fix rather
    /// than data to retry. Each record that fits gets its own result: `created`, `replayed` (it
    /// was recorded before: sending a batch again is safe) or `rejected` with the problem its own
    /// create operation would have answered (its patient is not yours, its id is taken, a date
    /// in the future, its type and field disagree); one rejected record never costs the others.
    /// On 401, 403 or a server fault nothing of the batch is recorded.
    #[oai(path = "/sync/batch", method = "post", operation_id = "syncBatch")]
    async fn batch(
        &self,
        auth: BearerAuth,
        body: JsonBody<SyncBatchRequest>,
    ) -> Result<Json<SyncBatchResult>> {
        // Checked before the transaction: a record that cannot be valid
        // never reaches the database.
        let checked: Vec<Checked> = body
            .0
            .records
            .iter()
            .enumerate()
            .map(|(i, record)| Checked {
                kind: Some(record.kind),
                id: record.id(),
                valid: record.validate().map_err(|e| nested(e, &format!("records[{i}]")).to_problem()),
            })
            .collect();
        let results = self
            .db
            .run(&auth.0, async |tx| {
                let mut results = Vec::with_capacity(checked.len());
                for (index, Checked { kind, id, valid }) in checked.iter().enumerate() {
                    let (status, problem) = match valid {
                        Err(problem) => (SyncStatus::Rejected, Some(problem.clone())),
                        Ok(valid) => match tx.savepoint(async |tx| valid.record(tx).await).await? {
                            Ok(false) => (SyncStatus::Created, None),
                            Ok(true) => (SyncStatus::Replayed, None),
                            // A fault of the server or the database fails the
                            // whole batch (rolled back): the client sends it again.
                            // So does a transaction that could not start (`?` above).
                            Err(err) if err.status().is_server_error() => return Err(err),
                            Err(err) => (SyncStatus::Rejected, Some(err.to_problem())),
                        },
                    };
                    let index = u32::try_from(index).unwrap_or(u32::MAX);
                    results.push(SyncResult { index, kind: *kind, id: *id, status, problem });
                }
                Ok(results)
            })
            .await?;
        let count =
            |s: SyncStatus| u32::try_from(results.iter().filter(|r| r.status == s).count()).unwrap_or(0);
        Ok(Json(SyncBatchResult {
            created: count(SyncStatus::Created),
            replayed: count(SyncStatus::Replayed),
            rejected: count(SyncStatus::Rejected),
            results,
        }))
    }

    /// Changes since a cursor.
    ///
    /// Everything you may see that changed after `since`, oldest first: patients and their
    /// check-ins, cravings, meetings, sobriety resets, prescriptions, dose events, goals and goal
    /// progress, each at its current version and at most
    /// once a page (apply items in order). A `tombstone` for a patient means you no longer see them (your assignment
    /// ended, you are no longer their counsellor, or they were removed): forget them and their
    /// records. An `upsert` of a patient you had forgotten means you see them again: fetch their
    /// records with the list operations. Store `nextCursor` with the items and pass it as `since`
    /// next time; while `hasMore`, pull again. The cursor counts your facility's changes in commit
    /// order, so a pull never steps past a change that commits late. Types may be added: skip
    /// what you do not know. Audited as a read of each patient's chart it returns.
    #[oai(path = "/sync/changes", method = "get", operation_id = "listChanges")]
    async fn changes(
        &self,
        auth: BearerAuth,
        since: Query<Option<SyncCursor>>,
        limit: Query<Option<Limit>>,
    ) -> Result<Json<Changes>> {
        let since = since.0.map_or(0, |c| c.0);
        let limit = limit.0.map_or(crate::domain::page::DEFAULT_LIMIT, |l| l.0);
        self.db.run(&auth.0, async |tx| sync::changes(tx, since, limit).await).await.map(wire)
    }
}

/// One change: the record's current version, or a tombstone.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Change {
    /// Which field holds the record.
    #[oai(rename = "type")]
    pub kind: ChangeType,
    /// Store or forget.
    pub action: ChangeAction,
    /// The record's id.
    pub id: Uuid,
    /// The patient it is about (for a patient, the patient's own id).
    pub patient_id: PatientId,
    /// With `type: patient` and `action: upsert`.
    pub patient: Option<Patient>,
    /// With `type: check_in`.
    pub check_in: Option<CheckIn>,
    /// With `type: craving`.
    pub craving: Option<Craving>,
    /// With `type: meeting`.
    pub meeting: Option<Meeting>,
    /// With `type: sobriety_reset`.
    pub sobriety_reset: Option<SobrietyReset>,
    /// With `type: prescription`.
    pub prescription: Option<Prescription>,
    /// With `type: dose_event`.
    pub dose_event: Option<DoseEvent>,
    /// With `type: goal`.
    pub goal: Option<Goal>,
    /// With `type: goal_progress`.
    pub goal_progress: Option<GoalProgress>,
}

impl From<crate::db::recovery::sync::Change> for Change {
    fn from(row: crate::db::recovery::sync::Change) -> Self {
        Self {
            kind: row.kind,
            action: row.action,
            id: row.id,
            patient_id: row.patient_id,
            patient: row.patient.map(Into::into),
            check_in: row.check_in.map(Into::into),
            craving: row.craving.map(Into::into),
            meeting: row.meeting.map(Into::into),
            sobriety_reset: row.sobriety_reset.map(Into::into),
            prescription: row.prescription.map(Into::into),
            dose_event: row.dose_event.map(Into::into),
            goal: row.goal.map(Into::into),
            goal_progress: row.goal_progress.map(Into::into),
        }
    }
}

/// One pull.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct Changes {
    /// In commit order; each record at most once a page, at its latest
    /// change (a later page may carry it again: apply items in order).
    pub items: Vec<Change>,
    /// Pass as `since` next time (store it once the items are stored).
    pub next_cursor: String,
    /// Whether more changes are waiting: pull again at once.
    pub has_more: bool,
}

impl From<crate::db::recovery::sync::Changes> for Changes {
    fn from(row: crate::db::recovery::sync::Changes) -> Self {
        Self {
            items: row.items.into_iter().map(Into::into).collect(),
            next_cursor: row.next_cursor,
            has_more: row.has_more,
        }
    }
}

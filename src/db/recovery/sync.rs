//! The offline-sync feed: what changed after a cursor, for the caller.
//!
//! `carego.sync_changes` (V14) picks the changes in the caller's facility
//! that concern a patient they see, plus the ones that took a patient out of
//! their sight, numbered by the audit chain (gap-free, in commit order). The
//! records are then read here under the caller's own RLS, so the feed can
//! never show what a list would not.

use std::collections::HashMap;

use uuid::Uuid;

use super::{
    Logged,
    check_ins::CheckIn,
    cravings::Craving,
    goals::{Goal, GoalProgress},
    medications::{self, DoseEvent, Prescription},
    meetings::Meeting,
    sobriety::SobrietyReset,
};
use crate::{
    db::{
        TenantTx,
        clinical::patients::{self, Patient},
    },
    domain::{ids::PatientId, text_enum},
    error::Result,
};

text_enum! {
    /// What kind of record a change is about.
    pub enum ChangeType {
        Patient = "patient",
        CheckIn = "check_in",
        Craving = "craving",
        Meeting = "meeting",
        SobrietyReset = "sobriety_reset",
        Prescription = "prescription",
        DoseEvent = "dose_event",
        Goal = "goal",
        GoalProgress = "goal_progress",
    }
}

text_enum! {
    /// What to do with the record: store this version, or forget it.
    pub enum ChangeAction {
        /// Store the record carried in the field named by `type`.
        Upsert = "upsert",
        /// Forget it. For a patient: forget the patient and every record
        /// about them; you no longer see them.
        Tombstone = "tombstone",
    }
}

impl ChangeType {
    /// The table whose audit rows carry this type.
    fn of_table(table: &str) -> Option<Self> {
        Some(match table {
            "patients" => Self::Patient,
            "check_ins" => Self::CheckIn,
            "cravings" => Self::Craving,
            "meetings" => Self::Meeting,
            "sobriety_resets" => Self::SobrietyReset,
            "prescriptions" => Self::Prescription,
            "dose_events" => Self::DoseEvent,
            "goals" => Self::Goal,
            "goal_progress" => Self::GoalProgress,
            _ => return None,
        })
    }
}

/// One change: the record's current version, or a tombstone.
#[derive(Debug, Clone)]
pub struct Change {
    pub kind: ChangeType,
    pub action: ChangeAction,
    pub id: Uuid,
    pub patient_id: PatientId,
    pub patient: Option<Patient>,
    pub check_in: Option<CheckIn>,
    pub craving: Option<Craving>,
    pub meeting: Option<Meeting>,
    pub sobriety_reset: Option<SobrietyReset>,
    pub prescription: Option<Prescription>,
    pub dose_event: Option<DoseEvent>,
    pub goal: Option<Goal>,
    pub goal_progress: Option<GoalProgress>,
}

impl Change {
    fn new(kind: ChangeType, action: ChangeAction, id: Uuid, patient_id: PatientId) -> Self {
        Self {
            kind,
            action,
            id,
            patient_id,
            patient: None,
            check_in: None,
            craving: None,
            meeting: None,
            sobriety_reset: None,
            prescription: None,
            dose_event: None,
            goal: None,
            goal_progress: None,
        }
    }
}

/// One pull.
#[derive(Debug, Clone)]
pub struct Changes {
    pub items: Vec<Change>,
    pub next_cursor: String,
    pub has_more: bool,
}

pub const CHANGES: &str =
    "select seq, entity_type, entity_id, patient_id, visible from carego.sync_changes($1, $2)";

pub const AUDIT_READS: &str = "select count(carego.audit_read('patients', p, carego.current_facility_id()))
       from unnest($1::uuid[]) p";

/// A change as the function numbered it.
struct Numbered {
    kind: ChangeType,
    id: Uuid,
    patient: PatientId,
    visible: bool,
}

/// The changes after `since`, at most `limit`.
pub async fn changes(tx: &mut TenantTx, since: i64, limit: u32) -> Result<Changes> {
    let fetch = i32::try_from(limit).unwrap_or(i32::MAX).saturating_add(1);
    let mut rows = tx.query(CHANGES, &[&since, &fetch]).await?;
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = match rows.last() {
        Some(row) => row.try_get::<_, i64>("seq")?,
        None => since,
    };
    let mut numbered = Vec::with_capacity(rows.len());
    for row in &rows {
        let visible: bool = row.try_get("visible")?;
        // A change that hid a patient is about the patient, whatever its
        // table (an assignment, say).
        let (kind, id) = if visible {
            let table: String = row.try_get("entity_type")?;
            let Some(kind) = ChangeType::of_table(&table) else { continue };
            (kind, row.try_get("entity_id")?)
        } else {
            (ChangeType::Patient, row.try_get::<_, Uuid>("patient_id")?)
        };
        numbered.push(Numbered { kind, id, patient: PatientId(row.try_get("patient_id")?), visible });
    }
    // Each record once, at its latest change.
    let mut last: HashMap<(ChangeType, Uuid), usize> = HashMap::new();
    for (i, n) in numbered.iter().enumerate() {
        last.insert((n.kind, n.id), i);
    }
    let numbered: Vec<Numbered> = numbered
        .into_iter()
        .enumerate()
        .filter(|(i, n)| last[&(n.kind, n.id)] == *i)
        .map(|(_, n)| n)
        .collect();

    let ids = |kind: ChangeType| -> Vec<Uuid> {
        numbered.iter().filter(|n| n.visible && n.kind == kind).map(|n| n.id).collect()
    };
    let patient_ids: Vec<PatientId> = ids(ChangeType::Patient).into_iter().map(PatientId).collect();
    let mut patients: HashMap<Uuid, Patient> = if patient_ids.is_empty() {
        HashMap::new()
    } else {
        patients::by_ids(tx, &patient_ids).await?.into_iter().map(|p| (p.id.0, p)).collect()
    };
    let mut check_ins = by_ids::<CheckIn>(tx, ids(ChangeType::CheckIn)).await?;
    let mut cravings = by_ids::<Craving>(tx, ids(ChangeType::Craving)).await?;
    let mut meetings = by_ids::<Meeting>(tx, ids(ChangeType::Meeting)).await?;
    let mut resets = by_ids::<SobrietyReset>(tx, ids(ChangeType::SobrietyReset)).await?;
    let prescription_ids = ids(ChangeType::Prescription);
    let mut prescriptions: HashMap<Uuid, Prescription> = if prescription_ids.is_empty() {
        HashMap::new()
    } else {
        medications::by_ids(tx, &prescription_ids).await?.into_iter().map(|p| (p.id.0, p)).collect()
    };
    let mut doses = by_ids::<DoseEvent>(tx, ids(ChangeType::DoseEvent)).await?;
    let mut goals = by_ids::<Goal>(tx, ids(ChangeType::Goal)).await?;
    let mut progress = by_ids::<GoalProgress>(tx, ids(ChangeType::GoalProgress)).await?;

    let mut read: Vec<PatientId> = numbered.iter().filter(|n| n.visible).map(|n| n.patient).collect();
    read.sort_by_key(|p| p.0);
    read.dedup();
    if !read.is_empty() {
        tx.query_one(AUDIT_READS, &[&read]).await?;
    }

    let mut items = Vec::with_capacity(numbered.len());
    for n in numbered {
        if !n.visible {
            items.push(Change::new(ChangeType::Patient, ChangeAction::Tombstone, n.id, n.patient));
            continue;
        }
        let mut change = Change::new(n.kind, ChangeAction::Upsert, n.id, n.patient);
        // A record the caller's RLS does not show is not theirs to sync.
        let found = match n.kind {
            ChangeType::Patient => patients.remove(&n.id).map(|r| change.patient = Some(r)),
            ChangeType::CheckIn => check_ins.remove(&n.id).map(|r| change.check_in = Some(r)),
            ChangeType::Craving => cravings.remove(&n.id).map(|r| change.craving = Some(r)),
            ChangeType::Meeting => meetings.remove(&n.id).map(|r| change.meeting = Some(r)),
            ChangeType::SobrietyReset => resets.remove(&n.id).map(|r| change.sobriety_reset = Some(r)),
            ChangeType::Prescription => prescriptions.remove(&n.id).map(|r| change.prescription = Some(r)),
            ChangeType::DoseEvent => doses.remove(&n.id).map(|r| change.dose_event = Some(r)),
            ChangeType::Goal => goals.remove(&n.id).map(|r| change.goal = Some(r)),
            ChangeType::GoalProgress => progress.remove(&n.id).map(|r| change.goal_progress = Some(r)),
        };
        if found.is_some() {
            items.push(change);
        }
    }
    Ok(Changes { items, next_cursor: next_cursor.to_string(), has_more })
}

async fn by_ids<R: Logged>(tx: &mut TenantTx, ids: Vec<Uuid>) -> Result<HashMap<Uuid, R>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = tx.query(R::BY_IDS, &[&ids]).await?;
    rows.iter().map(|row| R::try_from(row).map(|r| (r.id(), r))).collect()
}

//! Crisis alerts: "I need help", delivered at once, acknowledged, escalated
//! when nobody does, resolved.

use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use serde_json::{Value, json};

use crate::api::contract::{Contract, Contracts};
use crate::api::examples::{ALERT, AT, Example, LATER, NURSE, PATIENT, PATIENT_USER, page};
use crate::domain::ids::UserId;
use crate::error::Conflict;
use crate::{
    api::wire,
    api::{
        ApiTags,
        body::JsonBody,
        page::Page,
        recovery::{Recorded, record},
    },
    auth::BearerAuth,
    db::{
        Db,
        communication::crisis::{self, NewCrisisAlert, Severity},
        recovery,
    },
    domain::{
        ids::{CrisisAlertId, PatientId},
        page::{Cursor, Limit, PageRequest},
        text::{Opt, Text},
    },
    error::Result,
};
use chrono::{DateTime, Utc};

/// An alert to raise.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct NewCrisisAlertRequest {
    /// A new UUID the client makes for this alert, so that pressing the button again (or a
    /// retry over a bad connection) raises it once.
    pub id: CrisisAlertId,
    /// How urgent it is.
    pub severity: Severity,
    /// Where the patient is (1–500 characters).
    #[oai(validator(min_length = 1, max_length = 500))]
    pub location: Opt<Text>,
    /// What is happening (1–2000 characters).
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub note: Opt<Text>,
}

/// How an alert was resolved.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResolveCrisisAlertRequest {
    /// What was done (1–2000 characters).
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub resolution: Text,
}

pub struct CrisisAlertsApi {
    pub db: Db,
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts {
    file: file!(),
    operations: &[Contract::of("raiseCrisisAlert").conflicts(&[Conflict::RECORD_ID_TAKEN])],
    examples,
};

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<NewCrisisAlertRequest>(
            json!({"id": ALERT, "severity": "high", "location": "Garden, by the gate",
                   "note": "Panicking, need someone."}),
        ),
        Example::of::<ResolveCrisisAlertRequest>(
            json!({"resolution": "Sat with her; calm; counsellor informed."}),
        ),
        Example::of::<CrisisAlert>(crisis_alert_example()),
        Example::of::<Page<CrisisAlert>>(page(crisis_alert_example())),
    ]
}

fn crisis_alert_example() -> Value {
    json!({"id": ALERT, "patientId": PATIENT, "raisedBy": PATIENT_USER, "severity": "high",
           "location": "Garden, by the gate", "note": "Panicking, need someone.", "raisedAt": AT,
           "acknowledgedAt": LATER, "acknowledgedBy": NURSE})
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::CrisisAlerts")]
impl CrisisAlertsApi {
    /// Raise a crisis alert.
    ///
    /// The patient for themselves ("I need help"), or staff of their care team and facility
    /// admins for them. Delivered at once over the event stream to the patient's care team and
    /// the facility's on-call staff. If nobody acknowledges it within the facility's
    /// `crisisEscalationMinutes`, it is escalated to the facility admins. The client makes the
    /// id: the same id and content again answers 200 with the alert; other content is a 409.
    #[oai(path = "/patients/:id/crisis-alerts", method = "post", operation_id = "raiseCrisisAlert")]
    async fn raise(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        body: JsonBody<NewCrisisAlertRequest>,
    ) -> Result<Recorded<CrisisAlert>> {
        let b = &body.0;
        let input = NewCrisisAlert {
            severity: b.severity,
            location: b.location.as_deref().map(str::to_owned),
            note: b.note.as_deref().map(str::to_owned),
        };
        record::<crate::db::communication::crisis::CrisisAlert, _>(&self.db, &auth.0, id.0, b.id.0, &input)
            .await
    }

    /// A patient's crisis alerts.
    ///
    /// Newest first. Visible to the patient, their care team, on-call staff and facility admins.
    /// Audited as a read of the chart.
    #[oai(path = "/patients/:id/crisis-alerts", method = "get", operation_id = "listPatientCrisisAlerts")]
    async fn list_for_patient(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<CrisisAlert>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self
            .db
            .run(&auth.0, async |tx| {
                recovery::list::<crate::db::communication::crisis::CrisisAlert>(tx, id.0, &page).await
            })
            .await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// Open crisis alerts.
    ///
    /// Those not yet resolved that the caller may see, newest first: a care team's patients' and,
    /// for on-call staff and facility admins, the facility's. A patient sees their own.
    #[oai(path = "/crisis-alerts", method = "get", operation_id = "listOpenCrisisAlerts")]
    async fn list_open(
        &self,
        auth: BearerAuth,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<CrisisAlert>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self.db.run(&auth.0, async |tx| crisis::open(tx, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// A crisis alert, with its timeline.
    ///
    /// Raised, acknowledged, escalated and resolved, each with who and when. For the patient,
    /// their care team, on-call staff and facility admins.
    #[oai(path = "/crisis-alerts/:id", method = "get", operation_id = "getCrisisAlert")]
    async fn get(&self, auth: BearerAuth, id: Path<CrisisAlertId>) -> Result<Json<CrisisAlert>> {
        self.db.run(&auth.0, async |tx| crisis::get(tx, id.0).await).await.map(wire)
    }

    /// Acknowledge a crisis alert.
    ///
    /// "I have it": staff who can see it and facility admins. The first acknowledgement stands
    /// and stops the escalation; acknowledging again answers the alert as it is, showing who
    /// acknowledged it. Everyone it was sent to, and the patient, are told.
    #[oai(
        path = "/crisis-alerts/:id/acknowledgement",
        method = "post",
        operation_id = "acknowledgeCrisisAlert"
    )]
    async fn acknowledge(&self, auth: BearerAuth, id: Path<CrisisAlertId>) -> Result<Json<CrisisAlert>> {
        self.db.run(&auth.0, async |tx| crisis::acknowledge(tx, id.0).await).await.map(wire)
    }

    /// Resolve a crisis alert.
    ///
    /// With what was done; acknowledges it too if nobody had. Resolved once: resolving again
    /// answers the alert as it is.
    #[oai(path = "/crisis-alerts/:id/resolution", method = "post", operation_id = "resolveCrisisAlert")]
    async fn resolve(
        &self,
        auth: BearerAuth,
        id: Path<CrisisAlertId>,
        body: JsonBody<ResolveCrisisAlertRequest>,
    ) -> Result<Json<CrisisAlert>> {
        let resolution = body.0.resolution.0.clone();
        self.db.run(&auth.0, async |tx| crisis::resolve(tx, id.0, &resolution).await).await.map(wire)
    }
}

/// A crisis alert and its timeline.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct CrisisAlert {
    /// Its id (chosen by the client that raised it).
    pub id: CrisisAlertId,
    /// The patient in crisis.
    pub patient_id: PatientId,
    /// Who raised it: the patient, or a member of staff.
    pub raised_by: UserId,
    /// How urgent it is.
    pub severity: Severity,
    /// Where the patient is, as they said.
    pub location: Option<String>,
    /// What they said.
    pub note: Option<String>,
    /// When it was raised.
    pub raised_at: DateTime<Utc>,
    /// When someone acknowledged it.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Who acknowledged it.
    pub acknowledged_by: Option<UserId>,
    /// When it was escalated to the facility admins, nobody having acknowledged it in time.
    pub escalated_at: Option<DateTime<Utc>>,
    /// When it was resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Who resolved it.
    pub resolved_by: Option<UserId>,
    /// What was done.
    pub resolution: Option<String>,
}

impl From<crate::db::communication::crisis::CrisisAlert> for CrisisAlert {
    fn from(row: crate::db::communication::crisis::CrisisAlert) -> Self {
        Self {
            id: row.id,
            patient_id: row.patient_id,
            raised_by: row.raised_by,
            severity: row.severity,
            location: row.location,
            note: row.note,
            raised_at: row.raised_at,
            acknowledged_at: row.acknowledged_at,
            acknowledged_by: row.acknowledged_by,
            escalated_at: row.escalated_at,
            resolved_at: row.resolved_at,
            resolved_by: row.resolved_by,
            resolution: row.resolution,
        }
    }
}

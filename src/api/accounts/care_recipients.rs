//! A client's care recipients: linked by a facility admin; the client then
//! follows their visits and the care logs shared with the patient's side.

use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use serde_json::json;

use crate::api::contract::Contracts;
use crate::api::examples::{AT, ATTENDANCE, CARE_LOG, Example, LATER, NURSE, PATIENT, page};
use crate::domain::ids::AttendanceId;
use crate::domain::ids::CareLogId;
use crate::{
    api::{
        ApiTags, Created,
        body::JsonBody,
        idempotency::{self, Creates, IdempotencyKey},
        page::Page,
    },
    auth::BearerAuth,
    db::{Db, accounts::care_recipients},
    domain::{
        ids::{PatientId, UserId},
        page::{Cursor, Limit, PageRequest},
    },
    error::Result,
};
use chrono::{DateTime, Utc};

/// Whom the client books care for.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct CareRecipientRequest {
    /// A patient of the facility.
    pub patient_id: PatientId,
}

pub struct CareRecipientsApi {
    pub db: Db,
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts { file: file!(), operations: &[], examples };

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<CareRecipientRequest>(json!({"patientId": PATIENT})),
        Example::of::<CareRecipient>(
            json!({"patientId": PATIENT, "firstName": "Mohan", "lastName": "Verma", "status": "active", "linkedAt": LATER}),
        ),
        Example::of::<Page<CareRecipient>>(page(
            json!({"patientId": PATIENT, "firstName": "Mohan", "lastName": "Verma", "status": "active",
                   "linkedAt": LATER}),
        )),
        Example::of::<Page<SharedCareLog>>(page(
            json!({"id": CARE_LOG, "patientId": PATIENT, "kind": "note",
                   "body": "Dressing changed; wound healing well.", "occurredAt": AT, "recordedAt": LATER}),
        )),
        Example::of::<Page<Visit>>(page(
            json!({"id": ATTENDANCE, "patientId": PATIENT, "staffId": NURSE, "event": "check_in", "at": AT}),
        )),
    ]
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Clients")]
impl CareRecipientsApi {
    /// Link a care recipient.
    ///
    /// Facility admins: the client now follows this patient's visits and the care logs marked
    /// visible to the patient. Linking again is harmless.
    #[oai(path = "/clients/:id/care-recipients", method = "post", operation_id = "linkCareRecipient")]
    async fn link(
        &self,
        auth: BearerAuth,
        id: Path<UserId>,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<CareRecipientRequest>,
    ) -> Result<Created<CareRecipient>> {
        let work = async |tx: &mut _| care_recipients::link(tx, id.0, body.0.patient_id).await;
        idempotency::create(&self.db, &auth.0, key.0, Creates::LinkCareRecipient.under(id.0), &body.0, work)
            .await
    }

    /// A client's care recipients.
    ///
    /// Newest link first. Facility admins; a client, their own.
    #[oai(path = "/clients/:id/care-recipients", method = "get", operation_id = "listCareRecipients")]
    async fn list(
        &self,
        auth: BearerAuth,
        id: Path<UserId>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<CareRecipient>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self.db.run(&auth.0, async |tx| care_recipients::list(tx, id.0, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// A care recipient's shared care logs.
    ///
    /// Newest first: the logs marked visible to the patient, without their author. The client
    /// who books the care; facility admins see the same.
    #[oai(path = "/care-recipients/:id/care-logs", method = "get", operation_id = "listSharedCareLogs")]
    async fn logs(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<SharedCareLog>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows =
            self.db.run(&auth.0, async |tx| care_recipients::shared_logs(tx, id.0, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// A care recipient's visits.
    ///
    /// Newest first: caregivers' check-ins and check-outs at the patient. The client who books
    /// the care; facility admins.
    #[oai(path = "/care-recipients/:id/visits", method = "get", operation_id = "listVisits")]
    async fn visits(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<Visit>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self.db.run(&auth.0, async |tx| care_recipients::visits(tx, id.0, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }
}

/// A patient a client books care for.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct CareRecipient {
    /// The patient record.
    pub patient_id: PatientId,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// The patient's status (`active`, `discharged`...).
    pub status: String,
    /// When the client was linked to them.
    pub linked_at: DateTime<Utc>,
}

impl From<crate::db::accounts::care_recipients::CareRecipient> for CareRecipient {
    fn from(row: crate::db::accounts::care_recipients::CareRecipient) -> Self {
        Self {
            patient_id: row.patient_id,
            first_name: row.first_name,
            last_name: row.last_name,
            status: row.status,
            linked_at: row.linked_at,
        }
    }
}

/// A care log as the client sees it: what happened, not who wrote it.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct SharedCareLog {
    /// Its id.
    pub id: CareLogId,
    /// The patient.
    pub patient_id: PatientId,
    /// `note`, `observation`, `incident`...
    pub kind: String,
    /// What was written.
    pub body: String,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The log this one corrects.
    pub amends_id: Option<CareLogId>,
    /// Why.
    pub amendment_reason: Option<String>,
}

impl From<crate::db::accounts::care_recipients::SharedCareLog> for SharedCareLog {
    fn from(row: crate::db::accounts::care_recipients::SharedCareLog) -> Self {
        Self {
            id: row.id,
            patient_id: row.patient_id,
            kind: row.kind,
            body: row.body,
            occurred_at: row.occurred_at,
            recorded_at: row.recorded_at,
            amends_id: row.amends_id,
            amendment_reason: row.amendment_reason,
        }
    }
}

/// A visit: a caregiver's check-in or check-out at the care recipient.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Visit {
    /// Its id.
    pub id: AttendanceId,
    /// The care recipient.
    pub patient_id: PatientId,
    /// The caregiver.
    pub staff_id: UserId,
    /// `check_in` or `check_out`.
    pub event: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The record this one corrects.
    pub amends_id: Option<AttendanceId>,
}

impl From<crate::db::accounts::care_recipients::Visit> for Visit {
    fn from(row: crate::db::accounts::care_recipients::Visit) -> Self {
        Self {
            id: row.id,
            patient_id: row.patient_id,
            staff_id: row.staff_id,
            event: row.event,
            at: row.at,
            amends_id: row.amends_id,
        }
    }
}

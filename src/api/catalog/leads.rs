//! Working the website's leads: facility admins their facility's, super
//! admins every lead and the platform's own (which they route to a
//! facility). Staff read the leads assigned to them and add notes.

use chrono::{DateTime, Utc};
use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use serde_json::{Value, json};

use crate::api::accounts::clients::ClientProfile;
use crate::api::accounts::clients::StudentProfile;
use crate::api::accounts::clients::client_account_example;
use crate::api::accounts::clients::client_profile_example;
use crate::api::accounts::users::User;
use crate::api::contract::{Contract, Contracts};
use crate::api::examples::{
    AT, CITY, CLIENT_USER, Example, FACILITY, LATER, LEAD, LEAD_NOTE, NURSE, SERVICE, page,
};
use crate::domain::ids::CourseId;
use crate::domain::ids::LeadNoteId;
use crate::domain::ids::ServiceId;
use crate::{
    api::wire,
    api::{
        ApiTags, Created,
        accounts::clients::AccountRequest,
        body::JsonBody,
        idempotency::{self, Creates, IdempotencyKey},
        page::Page,
    },
    auth::BearerAuth,
    db::{
        Db,
        accounts::clients,
        catalog::leads::{self, LeadFilter, LeadStatus, LeadType},
    },
    domain::{
        contact::{Email, Phone},
        ids::{CityId, FacilityId, LeadId, UserId},
        page::{Cursor, Limit, PageRequest},
        text::{Opt, Text},
        text_enum,
    },
    error::{Conflict, Error, Result},
    identity::Role,
};

/// A note to add.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct LeadNoteRequest {
    /// What it says (1–5000 characters).
    #[oai(validator(min_length = 1, max_length = 5000))]
    pub body: Text,
}

/// Who works a lead.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct LeadAssignmentRequest {
    /// An active staff member or admin of the lead's facility; `null` for nobody.
    pub staff_id: Option<UserId>,
}

text_enum! {
    /// The statuses a lead may be moved to by hand.
    pub enum OpenLeadStatus {
        /// Back to new.
        New = "new",
        /// Someone has been in touch.
        Contacted = "contacted",
        /// A real prospect.
        Qualified = "qualified",
    }
}

/// A lead's new status.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct LeadStatusRequest {
    /// `new`, `contacted` or `qualified` (convert and reject have their own operations).
    pub status: OpenLeadStatus,
}

/// Why a lead is rejected.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct LeadRejectionRequest {
    /// The reason (1–500 characters), kept on the lead and in its history.
    #[oai(validator(min_length = 1, max_length = 500))]
    pub reason: Text,
}

/// Where a platform lead goes.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct LeadRoutingRequest {
    /// The facility that will work it.
    pub facility_id: FacilityId,
}

text_enum! {
    /// What a lead becomes.
    pub enum ConversionKind {
        /// A home-care customer.
        Client = "client",
        /// A student of a training centre.
        Student = "student",
    }
}

/// A conversion: the account and profile the lead becomes.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct LeadConversionRequest {
    /// What it becomes.
    pub kind: ConversionKind,
    /// Why (1–500 characters): kept in the audit log with every row the conversion writes.
    #[oai(validator(min_length = 1, max_length = 500))]
    pub reason: Text,
    /// The account. Without an email and a phone number, the lead's are used. Its facility is
    /// the lead's.
    pub account: AccountRequest,
    /// For `client`: who the care is for (required).
    pub client_profile: Opt<ClientProfile>,
    /// For `student`: the profile (optional).
    pub student_profile: Opt<StudentProfile>,
}

/// A converted lead and the account it became.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct LeadConversion {
    /// The lead, now `converted`.
    pub lead: Lead,
    /// The new account (`client` or `student`).
    pub account: User,
}

pub struct LeadsApi {
    pub db: Db,
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts {
    file: file!(),
    operations: &[
        Contract::of("assignLead").conflicts(&[Conflict::LEAD_CLOSED]),
        Contract::of("setLeadStatus").conflicts(&[Conflict::LEAD_CLOSED]),
        Contract::of("rejectLead").conflicts(&[Conflict::LEAD_CLOSED]),
        Contract::of("routeLead").conflicts(&[Conflict::LEAD_CLOSED, Conflict::LEAD_ROUTING]),
        Contract::of("convertLead").conflicts(&[
            Conflict::LEAD_CLOSED,
            Conflict::LEAD_ROUTING,
            Conflict::EMAIL_TAKEN,
            Conflict::PHONE_TAKEN,
        ]),
    ],
    examples,
};

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<Lead>(lead_example()),
        Example::of::<Page<Lead>>(page(lead_example())),
        Example::of::<LeadNoteRequest>(json!({"body": "Called back; visit on Monday at 10."})),
        Example::of::<LeadNote>(
            json!({"id": LEAD_NOTE, "leadId": LEAD, "body": "Called back; visit on Monday at 10.",
                   "recordedBy": NURSE, "recordedAt": LATER}),
        ),
        Example::of::<Page<LeadNote>>(page(
            json!({"id": LEAD_NOTE, "leadId": LEAD, "body": "Called back; visit on Monday at 10.",
                   "recordedBy": NURSE, "recordedAt": LATER}),
        )),
        Example::of::<Page<LeadEvent>>(page(
            json!({"id": LEAD_NOTE, "status": "contacted", "assignedTo": NURSE, "facilityId": FACILITY,
                   "actorId": NURSE, "actorRole": "facility_admin", "at": LATER}),
        )),
        Example::of::<LeadAssignmentRequest>(json!({"staffId": NURSE})),
        Example::of::<LeadStatusRequest>(json!({"status": "contacted"})),
        Example::of::<LeadRejectionRequest>(json!({"reason": "Outside our service area."})),
        Example::of::<LeadRoutingRequest>(json!({"facilityId": FACILITY})),
        Example::of::<LeadConversionRequest>(
            json!({"kind": "client", "reason": "Assessment visit done; care starts Monday.",
                   "account": {"firstName": "Asha", "lastName": "Verma", "password": "correct horse battery"},
                   "clientProfile": client_profile_example()}),
        ),
        Example::of::<LeadConversion>(
            json!({"lead": {"id": LEAD, "facilityId": FACILITY, "leadType": "service", "name": "Asha Verma",
                            "phone": "+919812345678", "serviceId": SERVICE, "status": "converted",
                            "convertedUserId": CLIENT_USER, "convertedAt": LATER, "createdAt": AT, "updatedAt": LATER},
                   "account": client_account_example()}),
        ),
    ]
}

fn lead_example() -> Value {
    json!({"id": LEAD, "facilityId": FACILITY, "leadType": "service", "name": "Asha Verma",
           "phone": "+919812345678", "email": "asha@example.com", "cityId": CITY, "serviceId": SERVICE,
           "message": "Nursing for my father after his surgery, mornings.", "status": "contacted",
           "assignedTo": NURSE, "createdAt": AT, "updatedAt": LATER})
}

#[OpenApi(prefix_path = "/api/v1/leads", tag = "ApiTags::Leads")]
impl LeadsApi {
    /// Leads.
    ///
    /// Newest first, filtered by `status`, `type`, `cityId` and arrival (`from` inclusive, `to`
    /// exclusive). Facility admins see their facility's; staff the ones assigned to them; super
    /// admins every lead, or with `platform=true` only the platform's own.
    #[oai(path = "/", method = "get", operation_id = "listLeads")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: BearerAuth,
        /// Only leads in this status.
        status: Query<Option<LeadStatus>>,
        /// Only service or only training leads.
        #[oai(name = "type")]
        lead_type: Query<Option<LeadType>>,
        /// Only leads naming this city.
        #[oai(name = "cityId")]
        city_id: Query<Option<CityId>>,
        /// Only leads that arrived at or after this time.
        from: Query<Option<DateTime<Utc>>>,
        /// Only leads that arrived before this time.
        to: Query<Option<DateTime<Utc>>>,
        /// Super admins: only the platform's own leads (no facility yet).
        platform: Query<Option<bool>>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<Lead>>> {
        let filter = LeadFilter {
            status: status.0,
            lead_type: lead_type.0,
            city_id: city_id.0,
            from: from.0,
            to: to.0,
            platform_only: platform.0.unwrap_or(false),
        };
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self.db.run(&auth.0, async |tx| leads::list(tx, &filter, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// A lead.
    ///
    /// Facility admins, their facility's; staff, one assigned to them; super admins, any.
    #[oai(path = "/:id", method = "get", operation_id = "getLead")]
    async fn get(&self, auth: BearerAuth, id: Path<LeadId>) -> Result<Json<Lead>> {
        self.db.run(&auth.0, async |tx| leads::get(tx, id.0).await).await.map(wire)
    }

    /// Add a note to a lead.
    ///
    /// Append-only. Whoever can see the lead.
    #[oai(path = "/:id/notes", method = "post", operation_id = "addLeadNote")]
    async fn add_note(
        &self,
        auth: BearerAuth,
        id: Path<LeadId>,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<LeadNoteRequest>,
    ) -> Result<Created<LeadNote>> {
        let work = async |tx: &mut _| leads::add_note(tx, id.0, &body.0.body).await;
        idempotency::create(&self.db, &auth.0, key.0, Creates::AddLeadNote.under(id.0), &body.0, work).await
    }

    /// A lead's notes.
    ///
    /// Newest first; whoever can see the lead.
    #[oai(path = "/:id/notes", method = "get", operation_id = "listLeadNotes")]
    async fn notes(
        &self,
        auth: BearerAuth,
        id: Path<LeadId>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<LeadNote>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self.db.run(&auth.0, async |tx| leads::notes(tx, id.0, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// A lead's history.
    ///
    /// Oldest first: its arrival, then every change of status, assignee or facility, with who
    /// and why.
    #[oai(path = "/:id/history", method = "get", operation_id = "listLeadHistory")]
    async fn history(
        &self,
        auth: BearerAuth,
        id: Path<LeadId>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<LeadEvent>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self.db.run(&auth.0, async |tx| leads::history(tx, id.0, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// Assign a lead.
    ///
    /// Facility admins: to an active staff member or admin of the facility, or to nobody.
    #[oai(path = "/:id/assignee", method = "put", operation_id = "assignLead")]
    async fn assign(
        &self,
        auth: BearerAuth,
        id: Path<LeadId>,
        body: JsonBody<LeadAssignmentRequest>,
    ) -> Result<Json<Lead>> {
        self.db.run(&auth.0, async |tx| leads::assign(tx, id.0, body.0.staff_id).await).await.map(wire)
    }

    /// Move a lead along.
    ///
    /// Facility admins: `new`, `contacted`, `qualified`. A converted or rejected lead no longer
    /// changes (409 `lead_closed`).
    #[oai(path = "/:id/status", method = "post", operation_id = "setLeadStatus")]
    async fn set_status(
        &self,
        auth: BearerAuth,
        id: Path<LeadId>,
        body: JsonBody<LeadStatusRequest>,
    ) -> Result<Json<Lead>> {
        let status = match body.0.status {
            OpenLeadStatus::New => LeadStatus::New,
            OpenLeadStatus::Contacted => LeadStatus::Contacted,
            OpenLeadStatus::Qualified => LeadStatus::Qualified,
        };
        self.db.run(&auth.0, async |tx| leads::set_status(tx, id.0, status).await).await.map(wire)
    }

    /// Reject a lead.
    ///
    /// Facility admins (super admins: platform leads too), with a reason. Final.
    #[oai(path = "/:id/reject", method = "post", operation_id = "rejectLead")]
    async fn reject(
        &self,
        auth: BearerAuth,
        id: Path<LeadId>,
        body: JsonBody<LeadRejectionRequest>,
    ) -> Result<Json<Lead>> {
        self.db.run(&auth.0, async |tx| leads::reject(tx, id.0, body.0.reason.trim()).await).await.map(wire)
    }

    /// Route a platform lead to a facility.
    ///
    /// Super admins, once, while it is open; its notes and history go with it.
    #[oai(path = "/:id/route", method = "post", operation_id = "routeLead")]
    async fn route(
        &self,
        auth: BearerAuth,
        id: Path<LeadId>,
        body: JsonBody<LeadRoutingRequest>,
    ) -> Result<Json<Lead>> {
        self.db.run(&auth.0, async |tx| leads::route(tx, id.0, body.0.facility_id).await).await.map(wire)
    }

    /// Convert a lead.
    ///
    /// Facility admins: the lead becomes a client or a student account of its facility, with
    /// its profile, in one transaction audited with the `reason`; the lead links to the
    /// account. A platform lead must be routed first (409 `lead_routing`); a converted or
    /// rejected one is 409 `lead_closed`.
    #[oai(path = "/:id/convert", method = "post", operation_id = "convertLead")]
    async fn convert(
        &self,
        auth: BearerAuth,
        id: Path<LeadId>,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<LeadConversionRequest>,
    ) -> Result<Created<LeadConversion>> {
        let b = &body.0;
        let profiles = Profiles::of(b)?;
        let mut account = b.account.validate(true).await?;
        let work = async |tx: &mut _| {
            let lead = leads::get(tx, id.0).await?;
            if matches!(lead.status, LeadStatus::Converted | LeadStatus::Rejected) {
                return Err(Conflict::LEAD_CLOSED.into());
            }
            let Some(facility) = lead.facility_id else { return Err(Conflict::LEAD_ROUTING.into()) };
            if b.account.facility_id.is_some_and(|f| f != facility) {
                return Err(Error::invalid("account.facilityId", "the account joins the lead's facility"));
            }
            if account.email.is_none() && account.phone.is_none() {
                account.email = lead.email.as_deref().and_then(|e| Email::parse(e).ok());
                account.phone = Phone::parse(&lead.phone).ok();
            }
            account.facility_id = Some(facility);
            leads::set_reason(tx, b.reason.trim()).await?;
            let user = match &profiles {
                Profiles::Client(p) => {
                    clients::create_client(tx, &account.new_user(Role::Client, &auth.0)?, &(*p).into())
                        .await?
                        .account
                }
                Profiles::Student(p) => {
                    clients::create_student(tx, &account.new_user(Role::Student, &auth.0)?, &p.into())
                        .await?
                        .account
                }
            };
            let lead = leads::mark_converted(tx, id.0, user.id).await?;
            Ok(LeadConversion { lead: lead.into(), account: user.into() })
        };
        idempotency::create(&self.db, &auth.0, key.0, Creates::ConvertLead.under(id.0), &body.0, work).await
    }
}

/// The profile a conversion makes.
enum Profiles<'a> {
    Client(&'a ClientProfile),
    Student(StudentProfile),
}

impl<'a> Profiles<'a> {
    fn of(b: &'a LeadConversionRequest) -> Result<Self> {
        match b.kind {
            ConversionKind::Client => {
                if b.student_profile.is_some() {
                    return Err(Error::invalid("studentProfile", "a client has a clientProfile"));
                }
                b.client_profile
                    .as_ref()
                    .map(Profiles::Client)
                    .ok_or_else(|| Error::invalid("clientProfile", "is required to convert into a client"))
            }
            ConversionKind::Student => {
                if b.client_profile.is_some() {
                    return Err(Error::invalid("clientProfile", "a student has a studentProfile"));
                }
                Ok(Profiles::Student(b.student_profile.0.clone().unwrap_or(StudentProfile {
                    born_on: None,
                    education: None,
                    guardian_name: None,
                    guardian_phone: None,
                    city_id: None,
                })))
            }
        }
    }
}

/// A lead.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Lead {
    /// Its id (also the website's reference for it).
    pub id: LeadId,
    /// The facility it was routed to; absent for a platform lead.
    pub facility_id: Option<FacilityId>,
    /// Service or training.
    pub lead_type: LeadType,
    /// Who asked.
    pub name: String,
    /// Their phone number.
    pub phone: String,
    /// Their email.
    pub email: Option<String>,
    /// The city they named.
    pub city_id: Option<CityId>,
    /// The service they asked about.
    pub service_id: Option<ServiceId>,
    /// The course they asked about.
    pub course_id: Option<CourseId>,
    /// What they wrote.
    pub message: Option<String>,
    /// Where it stands.
    pub status: LeadStatus,
    /// The staff member working it.
    pub assigned_to: Option<UserId>,
    /// Why it was rejected.
    pub rejection_reason: Option<String>,
    /// The account it became.
    pub converted_user_id: Option<UserId>,
    /// When it became one.
    pub converted_at: Option<DateTime<Utc>>,
    /// When it arrived.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<crate::db::catalog::leads::Lead> for Lead {
    fn from(row: crate::db::catalog::leads::Lead) -> Self {
        Self {
            id: row.id,
            facility_id: row.facility_id,
            lead_type: row.lead_type,
            name: row.name,
            phone: row.phone,
            email: row.email,
            city_id: row.city_id,
            service_id: row.service_id,
            course_id: row.course_id,
            message: row.message,
            status: row.status,
            assigned_to: row.assigned_to,
            rejection_reason: row.rejection_reason,
            converted_user_id: row.converted_user_id,
            converted_at: row.converted_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// A note on a lead.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct LeadNote {
    /// Its id.
    pub id: LeadNoteId,
    /// Its lead.
    pub lead_id: LeadId,
    /// What it says.
    pub body: String,
    /// Who wrote it.
    pub recorded_by: UserId,
    /// When.
    pub recorded_at: DateTime<Utc>,
}

impl From<crate::db::catalog::leads::LeadNote> for LeadNote {
    fn from(row: crate::db::catalog::leads::LeadNote) -> Self {
        Self {
            id: row.id,
            lead_id: row.lead_id,
            body: row.body,
            recorded_by: row.recorded_by,
            recorded_at: row.recorded_at,
        }
    }
}

/// One step of a lead's history.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct LeadEvent {
    /// Its id.
    pub id: uuid::Uuid,
    /// The status from then on.
    pub status: LeadStatus,
    /// The assignee from then on.
    pub assigned_to: Option<UserId>,
    /// The facility from then on.
    pub facility_id: Option<FacilityId>,
    /// Why (the rejection reason, or the request's `X-Change-Reason`).
    pub reason: Option<String>,
    /// Who; absent when the website filed it.
    pub actor_id: Option<UserId>,
    /// Their role (`public` for the website).
    pub actor_role: String,
    /// When.
    pub at: DateTime<Utc>,
}

impl From<crate::db::catalog::leads::LeadEvent> for LeadEvent {
    fn from(row: crate::db::catalog::leads::LeadEvent) -> Self {
        Self {
            id: row.id,
            status: row.status,
            assigned_to: row.assigned_to,
            facility_id: row.facility_id,
            reason: row.reason,
            actor_id: row.actor_id,
            actor_role: row.actor_role,
            at: row.at,
        }
    }
}

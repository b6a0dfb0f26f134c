//! Working the website's leads: facility admins their facility's, super
//! admins every lead and the platform's own (which they route to a
//! facility). Staff read the leads assigned to them and add notes.

use chrono::{DateTime, Utc};
use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};

use crate::{
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
        accounts::{
            clients::{self, ClientProfile, StudentProfile},
            users::User,
        },
        catalog::leads::{self, Lead, LeadEvent, LeadFilter, LeadNote, LeadStatus, LeadType},
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
        self.db.run(&auth.0, async |tx| leads::get(tx, id.0).await).await.map(Json)
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
        self.db.run(&auth.0, async |tx| leads::assign(tx, id.0, body.0.staff_id).await).await.map(Json)
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
        self.db.run(&auth.0, async |tx| leads::set_status(tx, id.0, status).await).await.map(Json)
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
        self.db.run(&auth.0, async |tx| leads::reject(tx, id.0, body.0.reason.trim()).await).await.map(Json)
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
        self.db.run(&auth.0, async |tx| leads::route(tx, id.0, body.0.facility_id).await).await.map(Json)
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
                return Err(Conflict::LeadClosed.into());
            }
            let Some(facility) = lead.facility_id else { return Err(Conflict::LeadRouting.into()) };
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
                    clients::create_client(tx, &account.new_user(Role::Client, &auth.0)?, p).await?.account
                }
                Profiles::Student(p) => {
                    clients::create_student(tx, &account.new_user(Role::Student, &auth.0)?, p).await?.account
                }
            };
            let lead = leads::mark_converted(tx, id.0, user.id).await?;
            Ok(LeadConversion { lead, account: user })
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

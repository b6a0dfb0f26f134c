//! The HTTP API: one `#[OpenApi]` struct per domain, composed in [`service`].
//! Handlers are thin: extract, validate into domain values, one call into
//! `db::*` inside a tenant transaction, map the result. Who may do what is
//! decided by the Postgres role and RLS, not by `if`s here.

pub mod accounts;
pub mod audit;
pub mod body;
pub mod catalog;
pub mod clinical;
pub mod communication;
mod contract;
mod examples;
pub mod finance;
pub mod health;
pub mod idempotency;
pub mod page;
pub mod recovery;
pub mod rendered;
pub mod training;

use std::sync::Arc;

use poem_openapi::{ApiResponse, OpenApiService, ServerObject, Tags, payload::Json};

use crate::{
    auth::{
        api_keys::ApiKeys,
        jwt::JwtKeys,
        mfa::{Sealed, SecretBox},
        rate_limit::RateLimiter,
        registration::KeyHasher,
    },
    config::AppSettings,
    db::{Db, PoolSettings, infra::listen::Hub},
    storage::{Storage, UploadLimits},
};

/// Second-factor codes tried per account per five minutes.
const MFA_ATTEMPTS: u32 = 10;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub keys: Arc<JwtKeys>,
    pub settings: AppSettings,
    pub login_ip_limiter: Arc<RateLimiter>,
    pub login_account_limiter: Arc<RateLimiter>,
    pub register_ip_limiter: Arc<RateLimiter>,
    pub lead_ip_limiter: Arc<RateLimiter>,
    pub key_hasher: Arc<KeyHasher>,
    /// Wake-ups from this process's LISTEN connection (see `jobs::Background`).
    pub hub: Arc<Hub>,
    /// Where documents' bytes are kept.
    pub storage: Storage,
    /// The public catalog's answers.
    pub catalog: Arc<catalog::cache::CatalogCache>,
    /// Verifies partner integrators' API keys.
    pub api_keys: Arc<ApiKeys>,
    /// Seals staff's TOTP secrets at rest.
    pub mfa_sealer: Arc<SecretBox>,
    /// Second-factor attempts per account.
    pub mfa_limiter: Arc<RateLimiter>,
    /// Checks webhook URLs and sends deliveries (the job worker's).
    pub webhooks: Arc<crate::webhooks::Sender>,
}

impl AppState {
    pub fn new(
        db: Db,
        keys: JwtKeys,
        key_hasher: KeyHasher,
        settings: AppSettings,
        storage: Storage,
    ) -> Self {
        use std::time::Duration;
        let hub = Arc::<Hub>::default();
        let key_hasher = Arc::new(key_hasher);
        Self {
            lead_ip_limiter: Arc::new(RateLimiter::new(
                db.clone(),
                key_hasher.clone(),
                "lead_ip",
                settings.lead_limit_per_ip,
                Duration::from_secs(3600),
            )),
            catalog: Arc::new(catalog::cache::CatalogCache::new(hub.clone())),
            register_ip_limiter: Arc::new(RateLimiter::new(
                db.clone(),
                key_hasher.clone(),
                "register_ip",
                settings.register_limit_per_ip,
                Duration::from_secs(15 * 60),
            )),
            api_keys: Arc::new(ApiKeys::new(
                key_hasher.clone(),
                db.clone(),
                settings.api_key_failures_per_ip,
            )),
            mfa_sealer: Arc::new(SecretBox::new(&key_hasher, Sealed::TotpSecrets)),
            webhooks: Arc::new(
                crate::webhooks::Sender::new(&key_hasher, settings.webhook_allow_private)
                    .expect("the webhook client builds"),
            ),
            mfa_limiter: Arc::new(RateLimiter::new(
                db.clone(),
                key_hasher.clone(),
                "mfa_account",
                MFA_ATTEMPTS,
                Duration::from_secs(5 * 60),
            )),
            hub,
            login_ip_limiter: Arc::new(RateLimiter::new(
                db.clone(),
                key_hasher.clone(),
                "login_ip",
                settings.login_limit_per_ip,
                Duration::from_secs(60),
            )),
            login_account_limiter: Arc::new(RateLimiter::new(
                db.clone(),
                key_hasher.clone(),
                "login_account",
                settings.login_limit_per_account,
                Duration::from_secs(15 * 60),
            )),
            db,
            keys: Arc::new(keys),
            settings,
            storage,
            key_hasher,
        }
    }
}

#[derive(Tags)]
pub enum ApiTags {
    /// Liveness and readiness probes.
    Health,
    /// Login, token refresh, sessions and passwords.
    Auth,
    /// API keys for partner integrators: scopes, limits, rotation and revocation.
    ApiKeys,
    /// Facilities (tenants); super admins manage them.
    Facilities,
    /// Staff, facility admins and super admins.
    Users,
    /// Patients, their registration keys and dashboards.
    Patients,
    /// Which staff care for which patient.
    Caseloads,
    /// Append-only notes, observations and incidents about a patient, with amendments.
    CareLogs,
    /// Append-only vital-sign readings, with amendments.
    Vitals,
    /// Append-only check-ins and check-outs of staff, with amendments.
    Attendance,
    /// Daily check-ins: mood, HALT, sleep, cravings; from the patient's app or their care team.
    CheckIns,
    /// Cravings: intensity, trigger, coping strategy and outcome.
    Cravings,
    /// Meetings attended: AA, NA, SMART, group therapy, counselling.
    Meetings,
    /// Goals: set by the care team or proposed by the patient, with progress entries.
    Goals,
    /// Medications: prescriptions, dose events and adherence.
    Medications,
    /// Sobriety: days sober and the resets that move the start date.
    Sobriety,
    /// Treatment plans: templates, versions signed off by a clinician and acknowledged by the patient.
    TreatmentPlans,
    /// Reports: the patient progress report (PDF).
    Reports,
    /// The care team's view: a staff member's workload, and acknowledging a patient's prompt.
    Workload,
    /// Offline sync for the mobile app: queued records in one batch, and changes since a cursor.
    Sync,
    /// Conversations and messages: staff and patients, staff among themselves, care-team groups.
    Messaging,
    /// Announcements from facility admins, and who has acknowledged them.
    Announcements,
    /// Crisis alerts: raised by or for a patient, acknowledged, escalated when nobody does, resolved.
    CrisisAlerts,
    /// The live event stream (Server-Sent Events) and its tickets.
    Events,
    /// Documents about a patient: treatment plans, assessments, consents, lab results.
    Documents,
    /// Webhooks: signed deliveries of a facility's events to a partner's URL, retried and logged.
    Webhooks,
    /// The public website: cities, services, courses, training centres, and the lead form.
    Public,
    /// What facilities publish: cities (super admins), services and courses.
    Catalog,
    /// Leads from the website: notes, assignment, history, conversion and rejection.
    Leads,
    /// Clients (home-care customers), students and teachers, each with a profile.
    Clients,
    /// Training: batches of a course, enrollments, class attendance, completion, certificates.
    Training,
    /// Finance: plans, invoices and credit notes, payments and refunds, balances.
    Finance,
    /// The tamper-evident audit log.
    Audit,
}

/// The operations, by area (an area is a tuple of its own: poem-openapi
/// composes at most 16 in one).
pub type Apis = (
    health::HealthApi,
    (accounts::auth::AuthApi, accounts::mfa::MfaApi, accounts::api_keys::ApiKeysApi),
    accounts::facilities::FacilitiesApi,
    accounts::users::UsersApi,
    clinical::patients::PatientsApi,
    clinical::caseloads::CaseloadsApi,
    clinical::care_logs::CareLogsApi,
    clinical::vitals::VitalsApi,
    clinical::attendance::AttendanceApi,
    (
        recovery::check_ins::CheckInsApi,
        recovery::cravings::CravingsApi,
        recovery::meetings::MeetingsApi,
        recovery::goals::GoalsApi,
        recovery::medications::MedicationsApi,
        recovery::sobriety::SobrietyApi,
        recovery::treatment_plans::TreatmentPlansApi,
        recovery::workload::WorkloadApi,
        recovery::reports::ReportsApi,
        recovery::sync::SyncApi,
    ),
    (
        communication::conversations::ConversationsApi,
        communication::announcements::AnnouncementsApi,
        communication::crisis::CrisisAlertsApi,
        communication::events::EventsApi,
        communication::documents::DocumentsApi,
        communication::webhooks::WebhooksApi,
    ),
    (
        catalog::public::PublicApi,
        catalog::cities::CitiesApi,
        catalog::services::ServicesApi,
        catalog::courses::CoursesApi,
        catalog::leads::LeadsApi,
        accounts::clients::ClientsApi,
        accounts::care_recipients::CareRecipientsApi,
    ),
    (
        training::batches::BatchesApi,
        training::certificates::CertificatesApi,
        training::certificates::CertificateVerificationApi,
        finance::plans::PlansApi,
        finance::invoices::InvoicesApi,
    ),
    audit::AuditApi,
);

/// The composed OpenAPI service.
pub fn service(state: &AppState) -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            health::HealthApi { db: state.db.clone() },
            (
                accounts::auth::AuthApi { state: state.clone() },
                accounts::mfa::MfaApi {
                    db: state.db.clone(),
                    hasher: state.key_hasher.clone(),
                    sealer: state.mfa_sealer.clone(),
                    limiter: state.mfa_limiter.clone(),
                },
                accounts::api_keys::ApiKeysApi { db: state.db.clone(), keys: state.api_keys.clone() },
            ),
            accounts::facilities::FacilitiesApi { db: state.db.clone() },
            accounts::users::UsersApi { db: state.db.clone() },
            clinical::patients::PatientsApi { state: state.clone() },
            clinical::caseloads::CaseloadsApi { db: state.db.clone() },
            clinical::care_logs::CareLogsApi { db: state.db.clone() },
            clinical::vitals::VitalsApi { db: state.db.clone() },
            clinical::attendance::AttendanceApi { db: state.db.clone() },
            (
                recovery::check_ins::CheckInsApi { db: state.db.clone() },
                recovery::cravings::CravingsApi { db: state.db.clone() },
                recovery::meetings::MeetingsApi { db: state.db.clone() },
                recovery::goals::GoalsApi { db: state.db.clone() },
                recovery::medications::MedicationsApi { db: state.db.clone() },
                recovery::sobriety::SobrietyApi { db: state.db.clone() },
                recovery::treatment_plans::TreatmentPlansApi { db: state.db.clone() },
                recovery::workload::WorkloadApi { db: state.db.clone() },
                recovery::reports::ReportsApi { db: state.db.clone() },
                recovery::sync::SyncApi { db: state.db.clone() },
            ),
            (
                communication::conversations::ConversationsApi { db: state.db.clone() },
                communication::announcements::AnnouncementsApi { db: state.db.clone() },
                communication::crisis::CrisisAlertsApi { db: state.db.clone() },
                communication::events::EventsApi {
                    db: state.db.clone(),
                    hub: state.hub.clone(),
                    heartbeat: state.settings.stream_heartbeat,
                },
                communication::documents::DocumentsApi {
                    db: state.db.clone(),
                    storage: state.storage.clone(),
                    limits: UploadLimits {
                        limit: state.settings.document_limit_bytes,
                        stall: state.settings.body_read_timeout,
                    },
                },
                communication::webhooks::WebhooksApi { db: state.db.clone(), sender: state.webhooks.clone() },
            ),
            (
                catalog::public::PublicApi {
                    db: state.db.clone(),
                    cache: state.catalog.clone(),
                    lead_limiter: state.lead_ip_limiter.clone(),
                    key_hasher: state.key_hasher.clone(),
                },
                catalog::cities::CitiesApi { db: state.db.clone() },
                catalog::services::ServicesApi { db: state.db.clone() },
                catalog::courses::CoursesApi { db: state.db.clone() },
                catalog::leads::LeadsApi { db: state.db.clone() },
                accounts::clients::ClientsApi { db: state.db.clone() },
                accounts::care_recipients::CareRecipientsApi { db: state.db.clone() },
            ),
            (
                training::batches::BatchesApi { db: state.db.clone() },
                training::certificates::CertificatesApi { db: state.db.clone() },
                training::certificates::CertificateVerificationApi { db: state.db.clone() },
                finance::plans::PlansApi { db: state.db.clone() },
                finance::invoices::InvoicesApi { db: state.db.clone() },
            ),
            audit::AuditApi { db: state.db.clone() },
        ),
        "Carego API",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Multi-tenant backend for care facilities. Every tenant-scoped operation is \
         isolated by PostgreSQL row-level security: another facility's records answer 404. \
         Errors are RFC 9457 `application/problem+json` with a stable `code`; every 400 is \
         `validation_failed` with `errors: [{field, message}]`. Lists take `limit` and \
         `cursor` and answer `{items, nextCursor}`, `nextCursor` omitted on the last page. \
         Creates accept an `Idempotency-Key`. Every response carries `X-Request-Id`; send \
         your own (1–64 of `A-Z a-z 0-9 - _ . :`) to find a request in the server log.",
    )
    .server(ServerObject::new("/").description("The server that serves this document"))
}

/// The served documents: the contract and the Swagger UI page showing it.
pub struct Documents {
    pub spec: String,
    pub docs_html: String,
}

impl Documents {
    pub fn of(service: &OpenApiService<Apis, ()>) -> Self {
        let generated = service.spec();
        let spec = contract::finish(&generated);
        // The page embeds the document verbatim; show the finished one.
        let docs_html = service.swagger_ui_html().replacen(&generated, &spec, 1);
        Self { spec, docs_html }
    }
}

/// The OpenAPI document, exactly as served at `/openapi.json`.
pub fn spec_json() -> String {
    // Connections are made lazily, so this handle never touches a database.
    let db = Db::connect(
        "host=/nonexistent user=spec dbname=spec",
        "host=/nonexistent user=spec dbname=spec",
        &PoolSettings {
            max_size: 1,
            checkout_timeout: std::time::Duration::from_secs(1),
            statement_timeout: std::time::Duration::from_secs(1),
        },
    )
    .expect("a static connection string parses");
    let keys = JwtKeys::parse(&JwtKeys::generate_spec()).expect("a generated key parses");
    let hasher = KeyHasher::parse(&KeyHasher::generate_spec()).expect("a generated secret parses");
    let state = AppState::new(db, keys, hasher, AppSettings::default(), Storage::in_memory());
    Documents::of(&service(&state)).spec
}

/// 201 with the created resource.
#[derive(ApiResponse)]
pub enum Created<T: poem_openapi::types::ToJSON + Send + Sync> {
    /// Created. With `Idempotent-Replayed: true`, this is the stored answer to
    /// an earlier request with the same `Idempotency-Key`.
    #[oai(status = 201)]
    Created(Json<T>, #[oai(header = "Idempotent-Replayed")] Option<String>),
}

/// 204: done, nothing to return.
#[derive(ApiResponse)]
pub enum NoContent {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}

/// A row as its wire object, for `.map(wire)` on what `db` returned: the
/// API's objects are converted from `db`'s rows, never the rows themselves.
pub fn wire<R: Into<T>, T: poem_openapi::types::ToJSON>(row: R) -> Json<T> {
    Json(row.into())
}

/// Rows as their wire objects.
pub fn wire_all<R: Into<T>, T>(rows: Vec<R>) -> Vec<T> {
    rows.into_iter().map(Into::into).collect()
}

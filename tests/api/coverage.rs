//! The isolation and authorization matrix, driven by the spec: every
//! `operationId` in `openapi/openapi.json` has a row here (or sits in
//! `EXEMPT` with its reason), so a new operation without one fails this test.
//!
//! Each row names facility A's target, the actor who may act on it and the
//! status they get, and what each outsider gets: facility B's admin, B's
//! staff and B's patient; and, inside A, a staff member who does not care
//! for the patient and another patient. 404 means the row is invisible to them; 403 means
//! their role may never do this, whatever the id (a grant, not a row, says
//! no, so it tells nothing about what exists). Rows about a patient also run against a
//! soft-deleted patient of A, whose whole chart must be gone (404) even for
//! the actor who may otherwise act. Outsiders' writes must change nothing.

use std::collections::BTreeSet;

use poem::http::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Actor, Clinic, Res, TestApp};

/// Operations outside the matrix, and why.
const EXEMPT: &[(&str, &str)] = &[
    ("health", "public probe; names no tenant's row"),
    ("ready", "public probe; names no tenant's row"),
    ("login", "public; answers only for the credentials given (tests/api/auth.rs)"),
    ("refresh", "public; answers only for the refresh token given (tests/api/tokens.rs)"),
    ("registerPatient", "public; answers only for the key given (tests/api/registration.rs)"),
    ("me", "acts on the caller's own account only: there is no other tenant's row to name"),
    ("listSessions", "acts on the caller's own sessions only (tests/api/auth.rs)"),
    ("logout", "acts on the caller's own session only (tests/api/tokens.rs)"),
    ("logoutAll", "acts on the caller's own sessions only (tests/api/tokens.rs)"),
    ("changePassword", "acts on the caller's own account only (tests/api/auth.rs)"),
    ("getMfaStatus", "reads the caller's own second factor and session only (tests/api/mfa.rs)"),
    ("startMfaEnrolment", "acts on the caller's own second factor only (tests/api/mfa.rs)"),
    ("confirmMfaEnrolment", "acts on the caller's own second factor only (tests/api/mfa.rs)"),
    ("verifyMfa", "acts on the caller's own second factor and session only (tests/api/mfa.rs)"),
    ("disableMfa", "acts on the caller's own second factor only (tests/api/mfa.rs)"),
    ("listPublicCities", "public; the website's catalog shows published rows only (tests/api/catalog.rs)"),
    ("listPublicServices", "public; drafts and suspended facilities never show (tests/api/catalog.rs)"),
    ("getPublicService", "public; a draft is 404 like an unknown handle (tests/api/catalog.rs)"),
    ("listPublicCourses", "public; drafts never show (tests/api/catalog.rs)"),
    ("listPublicTrainingCenters", "public; only centres with a published course (tests/api/catalog.rs)"),
    ("submitLead", "public; files a lead and reads nothing back (tests/api/catalog.rs)"),
    ("verifyCertificate", "public; shows a verifier's fields for the code given (tests/api/training.rs)"),
    ("createStreamTicket", "acts on the caller's own session only (tests/api/communication.rs)"),
    (
        "streamEvents",
        "a stream that never ends; reads only the caller's own events, and another facility's \
         subscriber receiving nothing is tested in tests/api/communication.rs",
    ),
];

/// What an outsider gets.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Exactly this status, and nothing written.
    Status(u16),
    /// 200 with a list holding nothing of facility A.
    NoneOfA,
    /// A member of facility A whose role may do this: exactly this status
    /// (their own facility, themselves, a patient they create and counsel);
    /// or, for an operation that names no facility, anyone acting in their
    /// own (B's admin making a template for B).
    Member(u16),
    /// A batch: 200, with every record rejected with this status, and
    /// nothing written.
    Rejected(u16),
    /// 200, and not one mention of A's live patient, its alert, A's conversation or A's
    /// announcement.
    Unseen,
    /// What a client or student gets from an operation that is not theirs: 403 or 404, or
    /// 200 holding nothing of A; and nothing written.
    Closed,
}

use Expect::{Closed, Member, NoneOfA, Rejected, Status, Unseen};

/// Facility A's ids for a patient and the records about them.
struct Chart {
    patient: Uuid,
    log: Uuid,
    vitals: Uuid,
    assignment: Uuid,
    prescription: Uuid,
    goal: Uuid,
    /// A signed plan whose review is overdue.
    plan: Uuid,
    /// A crisis alert raised for the patient.
    alert: Uuid,
    /// A document about the patient, shared with them, still pending.
    document: Uuid,
}

struct Fixture {
    c: Clinic,
    live: Chart,
    /// Soft-deleted, with records.
    deleted: Chart,
    attendance: Uuid,
    /// A staff member of A whom rows may assign, suspend and so on.
    spare: Actor,
    /// Another session of A's nurse, for revokeSession.
    nurse_session: Uuid,
    /// A patient of A that deletePatient deletes and restorePatient restores.
    doomed: Uuid,
    /// A third facility for the super admin's facility-level writes.
    third: Uuid,
    /// A treatment plan template of A.
    template: Uuid,
    /// A's nurse and patient 1 talking, with a message.
    conversation: Uuid,
    /// An announcement of A's admin to everyone in A.
    announcement: Uuid,
    /// A city, and A's published service and course in it.
    city: Uuid,
    service: Uuid,
    course: Uuid,
    /// Leads of A from the website: one assigned to A's nurse, one that
    /// rejectLead rejects, one that convertLead converts; and a platform
    /// lead that routeLead routes.
    lead: Uuid,
    lead_to_reject: Uuid,
    lead_to_convert: Uuid,
    platform_lead: Uuid,
    /// A's client and student.
    client: Uuid,
    student: Uuid,
    /// B's client, student and teacher: the matrix's last three outsiders.
    client_b: Actor,
    student_b: Actor,
    teacher_b: Actor,
    /// A's teacher, and a batch of A's course that she teaches.
    teacher: Actor,
    batch: Uuid,
    /// Students of A in the batch: one attending, one whose enrollment
    /// completeEnrollment completes, one that withdrawEnrollment withdraws;
    /// and one not enrolled, whom enrollStudent enrolls.
    attending: Uuid,
    to_complete: Uuid,
    to_withdraw: Uuid,
    to_enroll: Uuid,
    /// A certificate of A (a fifth student's completed enrollment).
    certificate: Uuid,
    /// A's plan; an issued invoice of A's client, a draft, and an issued one
    /// that voidInvoice voids.
    plan: Uuid,
    invoice: Uuid,
    draft: Uuid,
    to_void: Uuid,
    /// A's API key (rotateApiKey rotates it, revokeApiKey revokes it).
    api_key: Uuid,
    /// A's webhook subscription (disableWebhook turns it off).
    webhook: Uuid,
}

/// Which of A's charts a row targets.
#[derive(Clone, Copy)]
enum Target {
    Live,
    Deleted,
}

impl Fixture {
    fn chart(&self, t: Target) -> &Chart {
        match t {
            Target::Live => &self.live,
            Target::Deleted => &self.deleted,
        }
    }
}

type PathFn = fn(&Fixture, Target) -> String;
type BodyFn = fn(&Fixture) -> Option<Value>;
type ActorFn = fn(&Fixture) -> &Actor;

struct Row {
    op: &'static str,
    method: Method,
    path: PathFn,
    body: BodyFn,
    /// Who may act, and the status they get.
    actor: ActorFn,
    ok: u16,
    /// Facility B's admin, staff and patient; A's staff member who does
    /// not care for the patient; A's other patient.
    outsiders: [Expect; 5],
    /// Facility B's client, student and teacher.
    learners: [Expect; 3],
    /// Whether the row runs against the soft-deleted chart too (404).
    about_a_patient: bool,
}

fn none(_: &Fixture) -> Option<Value> {
    None
}

fn admin_a(f: &Fixture) -> &Actor {
    &f.c.w.admin_a
}

fn nurse_a(f: &Fixture) -> &Actor {
    &f.c.w.staff_a
}

fn patient_a(f: &Fixture) -> &Actor {
    &f.c.patient1
}

fn teacher_a(f: &Fixture) -> &Actor {
    &f.teacher
}

fn super_admin(f: &Fixture) -> &Actor {
    &f.c.w.sa
}

macro_rules! row {
    ($op:literal, $method:ident, $path:expr, $body:expr, $actor:expr, $ok:literal,
     [$a:expr, $s:expr, $p:expr, $us:expr, $op2:expr], $patient:literal) => {
        Row {
            op: $op,
            method: Method::$method,
            path: $path,
            body: $body,
            actor: $actor,
            ok: $ok,
            outsiders: [$a, $s, $p, $us, $op2],
            learners: [Closed, Closed, Closed],
            about_a_patient: $patient,
        }
    };
    ($op:literal, $method:ident, $path:expr, $body:expr, $actor:expr, $ok:literal,
     [$a:expr, $s:expr, $p:expr, $us:expr, $op2:expr], [$c:expr, $st:expr, $t:expr]) => {
        Row {
            op: $op,
            method: Method::$method,
            path: $path,
            body: $body,
            actor: $actor,
            ok: $ok,
            outsiders: [$a, $s, $p, $us, $op2],
            learners: [$c, $st, $t],
            about_a_patient: false,
        }
    };
}

/// The matrix. Rows run in this order; the ones that end or remove
/// something come last.
fn rows() -> Vec<Row> {
    vec![
        row!(
            "getStaffProfile",
            GET,
            |f, _| format!("/api/v1/users/{}/staff-profile", f.c.w.staff_a.id),
            none,
            nurse_a,
            200,
            [Status(404), Status(404), Status(403), Status(404), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "setStaffProfile",
            PUT,
            |f, _| format!("/api/v1/users/{}/staff-profile", f.c.w.staff_a.id),
            |_| Some(json!({"skills": ["Wound care"], "certifications": [], "languages": ["hi"]})),
            admin_a,
            200,
            [Status(404), Status(404), Status(403), Status(404), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        // Care recipients.
        row!(
            "linkCareRecipient",
            POST,
            |f, _| format!("/api/v1/clients/{}/care-recipients", f.client),
            |f| Some(json!({"patientId": f.c.p1})),
            admin_a,
            201,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(404), Status(403), Status(403)]
        ),
        row!(
            "listCareRecipients",
            GET,
            |f, _| format!("/api/v1/clients/{}/care-recipients", f.client),
            none,
            admin_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(404), Status(403), Status(403)]
        ),
        row!(
            "listSharedCareLogs",
            GET,
            |f, _| format!("/api/v1/care-recipients/{}/care-logs", f.c.p1),
            none,
            admin_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            [Status(404), Status(403), Status(403)]
        ),
        row!(
            "listVisits",
            GET,
            |f, _| format!("/api/v1/care-recipients/{}/visits", f.c.p1),
            none,
            admin_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            [Status(404), Status(403), Status(403)]
        ),
        // A facility's second-factor policy (false: the matrix's own users have none).
        row!(
            "setFacilityMfaPolicy",
            PUT,
            |f, _| format!("/api/v1/facilities/{}/mfa-policy", f.c.w.a),
            |_| Some(json!({"requireMfa": false})),
            admin_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        // A locked second factor of A's spare caregiver (the fixture locks it).
        row!(
            "unlockUserMfa",
            POST,
            |f, _| format!("/api/v1/users/{}/mfa/unlock", f.spare.id),
            none,
            admin_a,
            204,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        // Webhooks.
        row!(
            "listWebhooks",
            GET,
            |_, _| "/api/v1/webhooks".into(),
            none,
            admin_a,
            200,
            [NoneOfA, Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "createWebhook",
            POST,
            |_, _| "/api/v1/webhooks".into(),
            |_| Some(json!({"url": "http://127.0.0.1:9/matrix-new", "events": ["crisis_alert.raised"]})),
            admin_a,
            201,
            [Member(201), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "getWebhook",
            GET,
            |f, _| format!("/api/v1/webhooks/{}", f.webhook),
            none,
            admin_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "listWebhookDeliveries",
            GET,
            |f, _| format!("/api/v1/webhooks/{}/deliveries", f.webhook),
            none,
            admin_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "disableWebhook",
            DELETE,
            |f, _| format!("/api/v1/webhooks/{}", f.webhook),
            none,
            admin_a,
            204,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        // API keys.
        row!(
            "listApiKeys",
            GET,
            |_, _| "/api/v1/api-keys".into(),
            none,
            admin_a,
            200,
            [NoneOfA, Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "createApiKey",
            POST,
            |_, _| "/api/v1/api-keys".into(),
            |_| Some(json!({"name": "Matrix partner", "scopes": ["patients:read", "care-logs:read"]})),
            admin_a,
            201,
            [Member(201), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "getApiKey",
            GET,
            |f, _| format!("/api/v1/api-keys/{}", f.api_key),
            none,
            admin_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "rotateApiKey",
            POST,
            |f, _| format!("/api/v1/api-keys/{}/rotate", f.api_key),
            |_| Some(json!({"overlapHours": 1})),
            admin_a,
            201,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "revokeApiKey",
            POST,
            |f, _| format!("/api/v1/api-keys/{}/revoke", f.api_key),
            none,
            admin_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        // Finance.
        row!(
            "listPlans",
            GET,
            |_, _| "/api/v1/plans".into(),
            none,
            admin_a,
            200,
            [Unseen, Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "createPlan",
            POST,
            |_, _| "/api/v1/plans".into(),
            |_| Some(
                json!({"name": "Matrix plan", "priceMinor": 100, "currency": "INR", "period": "one_time"})
            ),
            admin_a,
            201,
            [Member(201), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "updatePlan",
            PUT,
            |f, _| format!("/api/v1/plans/{}", f.plan),
            |_| Some(
                json!({"name": "Home care visit", "priceMinor": 55000, "currency": "INR", "period": "per_visit"})
            ),
            admin_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "listInvoices",
            GET,
            |_, _| "/api/v1/invoices".into(),
            none,
            admin_a,
            200,
            [NoneOfA, Status(403), Status(403), Status(403), Status(403)],
            [NoneOfA, NoneOfA, Status(403)]
        ),
        row!(
            "createInvoice",
            POST,
            |_, _| "/api/v1/invoices".into(),
            |f| Some(json!({"customerId": f.client, "currency": "INR",
                            "lines": [{"description": "Visit", "quantity": 1, "unitPriceMinor": 50000}]})),
            admin_a,
            201,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            [Status(404), Status(404), Status(404)]
        ),
        row!(
            "getInvoice",
            GET,
            |f, _| format!("/api/v1/invoices/{}", f.invoice),
            none,
            admin_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(404), Status(404), Status(403)]
        ),
        row!(
            "replaceInvoiceLines",
            PUT,
            |f, _| format!("/api/v1/invoices/{}/lines", f.draft),
            |_| Some(json!({"lines": [{"description": "Visit", "quantity": 3, "unitPriceMinor": 50000}]})),
            admin_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(404), Status(404), Status(403)]
        ),
        row!(
            "issueInvoice",
            POST,
            |f, _| format!("/api/v1/invoices/{}/issue", f.draft),
            |_| Some(json!({})),
            admin_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "voidInvoice",
            POST,
            |f, _| format!("/api/v1/invoices/{}/void", f.to_void),
            |_| Some(json!({"reason": "Billed twice."})),
            admin_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "createCreditNote",
            POST,
            |f, _| format!("/api/v1/invoices/{}/credit-notes", f.invoice),
            |_| Some(json!({"reason": "One visit missed.",
                            "lines": [{"description": "Visit", "quantity": 1, "unitPriceMinor": 10000}]})),
            admin_a,
            201,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "recordPayment",
            POST,
            |f, _| format!("/api/v1/invoices/{}/payments", f.invoice),
            |_| Some(json!({"amountMinor": 1000, "method": "cash"})),
            admin_a,
            201,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "listPayments",
            GET,
            |f, _| format!("/api/v1/invoices/{}/payments", f.invoice),
            none,
            admin_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(404), Status(404), Status(403)]
        ),
        row!(
            "downloadInvoicePdf",
            GET,
            |f, _| format!("/api/v1/invoices/{}/pdf", f.invoice),
            none,
            admin_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(404), Status(404), Status(403)]
        ),
        row!(
            "getCustomerBalance",
            GET,
            |f, _| format!("/api/v1/customers/{}/balance", f.client),
            none,
            admin_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            [Status(404), Status(404), Status(404)]
        ),
        // Training.
        row!(
            "listTeachers",
            GET,
            |_, _| "/api/v1/teachers".into(),
            none,
            admin_a,
            200,
            [NoneOfA, Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), NoneOfA]
        ),
        row!(
            "createTeacher",
            POST,
            |_, _| "/api/v1/teachers".into(),
            |f| Some(json!({"account": {"facilityId": f.c.w.a, "email": "new.teacher@matrix.example",
                                        "firstName": "N", "lastName": "T"},
                            "profile": {"subjects": ["First aid"]}})),
            admin_a,
            201,
            [Status(404), Status(404), Status(404), Status(403), Status(403)],
            [Status(404), Status(404), Status(404)]
        ),
        row!(
            "getTeacher",
            GET,
            |f, _| format!("/api/v1/teachers/{}", f.teacher.id),
            none,
            admin_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), Status(404)]
        ),
        row!(
            "createBatch",
            POST,
            |f, _| format!("/api/v1/courses/{}/batches", f.course),
            |_| Some(
                json!({"name": "Second", "startsOn": "2027-03-01", "endsOn": "2027-03-31", "capacity": 5})
            ),
            admin_a,
            201,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "listBatches",
            GET,
            |_, _| "/api/v1/batches".into(),
            none,
            admin_a,
            200,
            [Unseen, Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Unseen, Unseen]
        ),
        row!(
            "getBatch",
            GET,
            |f, _| format!("/api/v1/batches/{}", f.batch),
            none,
            teacher_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(404), Status(404)]
        ),
        row!(
            "updateBatch",
            PUT,
            |f, _| format!("/api/v1/batches/{}", f.batch),
            |f| Some(json!({"name": "Matrix batch", "teacherId": f.teacher.id, "startsOn": "2027-01-09",
                            "endsOn": "2027-02-14", "capacity": 12})),
            admin_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(404), Status(404)]
        ),
        row!(
            "enrollStudent",
            POST,
            |f, _| format!("/api/v1/batches/{}/enrollments", f.batch),
            |f| Some(json!({"studentId": f.to_enroll})),
            admin_a,
            201,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "listEnrollments",
            GET,
            |f, _| format!("/api/v1/batches/{}/enrollments", f.batch),
            none,
            teacher_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(404), Status(404)]
        ),
        row!(
            "withdrawEnrollment",
            POST,
            |f, _| format!("/api/v1/enrollments/{}/withdraw", f.to_withdraw),
            |_| Some(json!({})),
            admin_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(404), Status(404)]
        ),
        row!(
            "completeEnrollment",
            POST,
            |f, _| format!("/api/v1/enrollments/{}/complete", f.to_complete),
            |_| Some(json!({})),
            admin_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(404), Status(404)]
        ),
        row!(
            "recordClassAttendance",
            POST,
            |f, _| format!("/api/v1/batches/{}/attendance", f.batch),
            |f| Some(
                json!({"sessionOn": "2027-01-09", "records": [{"studentId": f.attending, "status": "present"}]})
            ),
            teacher_a,
            201,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(404), Status(404)]
        ),
        row!(
            "listClassAttendance",
            GET,
            |f, _| format!("/api/v1/batches/{}/attendance", f.batch),
            none,
            teacher_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(404), Status(404)]
        ),
        row!(
            "listCertificates",
            GET,
            |_, _| "/api/v1/certificates".into(),
            none,
            admin_a,
            200,
            [Unseen, Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Unseen, Status(403)]
        ),
        row!(
            "getCertificate",
            GET,
            |f, _| format!("/api/v1/certificates/{}", f.certificate),
            none,
            admin_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(404), Status(403)]
        ),
        row!(
            "downloadCertificatePdf",
            GET,
            |f, _| format!("/api/v1/certificates/{}/pdf", f.certificate),
            none,
            admin_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(404), Status(403)]
        ),
        row!(
            "revokeCertificate",
            POST,
            |f, _| format!("/api/v1/certificates/{}/revoke", f.certificate),
            |_| Some(json!({"reason": "Issued in error."})),
            admin_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        // The catalog behind the website.
        row!(
            "listCities",
            GET,
            |_, _| "/api/v1/cities".into(),
            none,
            admin_a,
            200,
            [Member(200), Member(200), Member(200), Member(200), Member(200)],
            [Member(200), Member(200), Member(200)]
        ),
        row!(
            "createCity",
            POST,
            |_, _| "/api/v1/cities".into(),
            |_| Some(json!({"slug": "matrix-city", "name": "Matrix"})),
            super_admin,
            201,
            [Status(403), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "updateCity",
            PUT,
            |f, _| format!("/api/v1/cities/{}", f.city),
            |_| Some(json!({"name": "Renamed", "active": true})),
            super_admin,
            200,
            [Status(403), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "listServices",
            GET,
            |_, _| "/api/v1/services".into(),
            none,
            admin_a,
            200,
            [NoneOfA, NoneOfA, Status(403), Member(200), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "createService",
            POST,
            |_, _| "/api/v1/services".into(),
            |f| Some(json!({"slug": "matrix-service", "name": "M", "summary": "M", "cityId": f.city,
                            "published": false})),
            admin_a,
            201,
            [Member(201), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "getService",
            GET,
            |f, _| format!("/api/v1/services/{}", f.service),
            none,
            admin_a,
            200,
            [Status(404), Status(404), Status(403), Member(200), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "updateService",
            PUT,
            |f, _| format!("/api/v1/services/{}", f.service),
            |f| Some(json!({"slug": "home-care", "name": "Home care", "summary": "Care at home.",
                            "cityId": f.city, "published": true})),
            admin_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "listCourses",
            GET,
            |_, _| "/api/v1/courses".into(),
            none,
            admin_a,
            200,
            [NoneOfA, NoneOfA, Status(403), Member(200), Status(403)],
            [Status(403), NoneOfA, NoneOfA]
        ),
        row!(
            "createCourse",
            POST,
            |_, _| "/api/v1/courses".into(),
            |f| Some(json!({"slug": "matrix-course", "title": "M", "summary": "M", "cityId": f.city,
                            "durationHours": 8, "published": false})),
            admin_a,
            201,
            [Member(201), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "getCourse",
            GET,
            |f, _| format!("/api/v1/courses/{}", f.course),
            none,
            admin_a,
            200,
            [Status(404), Status(404), Status(403), Member(200), Status(403)],
            [Status(403), Status(404), Status(404)]
        ),
        row!(
            "updateCourse",
            PUT,
            |f, _| format!("/api/v1/courses/{}", f.course),
            |f| Some(json!({"slug": "first-aid", "title": "First aid", "summary": "Two days.",
                            "cityId": f.city, "durationHours": 16, "published": true})),
            admin_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        // Leads.
        row!(
            "listLeads",
            GET,
            |_, _| "/api/v1/leads".into(),
            none,
            admin_a,
            200,
            [NoneOfA, NoneOfA, Status(403), NoneOfA, Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "getLead",
            GET,
            |f, _| format!("/api/v1/leads/{}", f.lead),
            none,
            nurse_a,
            200,
            [Status(404), Status(404), Status(403), Status(404), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "addLeadNote",
            POST,
            |f, _| format!("/api/v1/leads/{}/notes", f.lead),
            |_| Some(json!({"body": "Called back."})),
            nurse_a,
            201,
            [Status(404), Status(404), Status(403), Status(404), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "listLeadNotes",
            GET,
            |f, _| format!("/api/v1/leads/{}/notes", f.lead),
            none,
            nurse_a,
            200,
            [Status(404), Status(404), Status(403), Status(404), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "listLeadHistory",
            GET,
            |f, _| format!("/api/v1/leads/{}/history", f.lead),
            none,
            admin_a,
            200,
            [Status(404), Status(404), Status(403), Status(404), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "assignLead",
            PUT,
            |f, _| format!("/api/v1/leads/{}/assignee", f.lead),
            |f| Some(json!({"staffId": f.c.w.staff_a.id})),
            admin_a,
            200,
            [Status(404), Status(404), Status(403), Status(404), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "setLeadStatus",
            POST,
            |f, _| format!("/api/v1/leads/{}/status", f.lead),
            |_| Some(json!({"status": "contacted"})),
            admin_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "rejectLead",
            POST,
            |f, _| format!("/api/v1/leads/{}/reject", f.lead_to_reject),
            |_| Some(json!({"reason": "Duplicate of an earlier call."})),
            admin_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "routeLead",
            POST,
            |f, _| format!("/api/v1/leads/{}/route", f.platform_lead),
            |f| Some(json!({"facilityId": f.c.w.a})),
            super_admin,
            200,
            [Status(403), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        row!(
            "convertLead",
            POST,
            |f, _| format!("/api/v1/leads/{}/convert", f.lead_to_convert),
            |_| Some(json!({"kind": "client", "reason": "Assessed; care starts Monday.",
                            "account": {"email": "converted@matrix.example", "firstName": "Asha", "lastName": "V"},
                            "clientProfile": {"careRecipientName": "Mohan"}})),
            admin_a,
            201,
            [Status(404), Status(404), Status(403), Status(404), Status(403)],
            [Status(403), Status(403), Status(403)]
        ),
        // Clients and students.
        row!(
            "listClients",
            GET,
            |_, _| "/api/v1/clients".into(),
            none,
            admin_a,
            200,
            [NoneOfA, Status(403), Status(403), Status(403), Status(403)],
            [NoneOfA, Status(403), Status(403)]
        ),
        row!(
            "createClient",
            POST,
            |_, _| "/api/v1/clients".into(),
            |f| Some(json!({"account": {"facilityId": f.c.w.a, "email": "new.client@matrix.example",
                                        "firstName": "N", "lastName": "C"},
                            "profile": {"careRecipientName": "Kamla"}})),
            admin_a,
            201,
            [Status(404), Status(404), Status(404), Status(403), Status(403)],
            [Status(404), Status(404), Status(404)]
        ),
        row!(
            "getClient",
            GET,
            |f, _| format!("/api/v1/clients/{}", f.client),
            none,
            admin_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(404), Status(403), Status(403)]
        ),
        row!(
            "listStudents",
            GET,
            |_, _| "/api/v1/students".into(),
            none,
            admin_a,
            200,
            [NoneOfA, Status(403), Status(403), Status(403), Status(403)],
            [Status(403), NoneOfA, NoneOfA]
        ),
        row!(
            "createStudent",
            POST,
            |_, _| "/api/v1/students".into(),
            |f| Some(json!({"account": {"facilityId": f.c.w.a, "email": "new.student@matrix.example",
                                        "firstName": "N", "lastName": "S"},
                            "profile": {}})),
            admin_a,
            201,
            [Status(404), Status(404), Status(404), Status(403), Status(403)],
            [Status(404), Status(404), Status(404)]
        ),
        row!(
            "getStudent",
            GET,
            |f, _| format!("/api/v1/students/{}", f.student),
            none,
            admin_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            [Status(403), Status(404), Status(404)]
        ),
        // Facilities.
        row!(
            "listFacilities",
            GET,
            |_, _| "/api/v1/facilities".into(),
            none,
            admin_a,
            200,
            [NoneOfA, NoneOfA, NoneOfA, Member(200), Member(200)],
            false
        ),
        row!(
            "getFacility",
            GET,
            |f, _| format!("/api/v1/facilities/{}", f.c.w.a),
            none,
            admin_a,
            200,
            [Status(404), Status(404), Status(404), Member(200), Member(200)],
            false
        ),
        row!(
            "createFacility",
            POST,
            |_, _| "/api/v1/facilities".into(),
            |_| Some(json!({"slug": "matrix-new", "name": "New", "kind": "clinic",
                             "admin": {"email": "boss@matrix-new.example", "firstName": "B", "lastName": "S"}})),
            super_admin,
            201,
            [Status(403), Status(403), Status(403), Status(403), Status(403)],
            false
        ),
        row!(
            "updateFacility",
            PATCH,
            |f, _| format!("/api/v1/facilities/{}", f.third),
            |_| Some(json!({"city": "Pune"})),
            super_admin,
            200,
            [Status(403), Status(403), Status(403), Status(403), Status(403)],
            false
        ),
        row!(
            "suspendFacility",
            POST,
            |f, _| format!("/api/v1/facilities/{}/suspend", f.third),
            |_| Some(json!({})),
            super_admin,
            200,
            [Status(403), Status(403), Status(403), Status(403), Status(403)],
            false
        ),
        row!(
            "reactivateFacility",
            POST,
            |f, _| format!("/api/v1/facilities/{}/reactivate", f.third),
            |_| Some(json!({})),
            super_admin,
            200,
            [Status(403), Status(403), Status(403), Status(403), Status(403)],
            false
        ),
        // Communication: crisis alerts.
        row!(
            "raiseCrisisAlert",
            POST,
            |f, t| format!("/api/v1/patients/{}/crisis-alerts", f.chart(t).patient),
            |_| Some(json!({"id": Uuid::new_v4(), "severity": "critical", "location": "Room 12"})),
            patient_a,
            201,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        row!(
            "listPatientCrisisAlerts",
            GET,
            |f, t| format!("/api/v1/patients/{}/crisis-alerts", f.chart(t).patient),
            none,
            nurse_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        row!(
            "listOpenCrisisAlerts",
            GET,
            |_, _| "/api/v1/crisis-alerts".into(),
            none,
            nurse_a,
            200,
            [Unseen, Unseen, Unseen, Unseen, Unseen],
            false
        ),
        row!(
            "getCrisisAlert",
            GET,
            |f, t| format!("/api/v1/crisis-alerts/{}", f.chart(t).alert),
            none,
            nurse_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        row!(
            "acknowledgeCrisisAlert",
            POST,
            |f, t| format!("/api/v1/crisis-alerts/{}/acknowledgement", f.chart(t).alert),
            |_| Some(json!({})),
            nurse_a,
            200,
            [Status(404), Status(404), Status(403), Status(404), Status(403)],
            true
        ),
        row!(
            "resolveCrisisAlert",
            POST,
            |f, t| format!("/api/v1/crisis-alerts/{}/resolution", f.chart(t).alert),
            |_| Some(json!({"resolution": "Talked it through; safe."})),
            nurse_a,
            200,
            [Status(404), Status(404), Status(403), Status(404), Status(403)],
            true
        ),
        // Communication: documents. The content uploaded is the JSON string the
        // matrix sends as every body: UTF-8 text, which the sniffer accepts.
        row!(
            "createDocument",
            POST,
            |f, t| format!("/api/v1/patients/{}/documents", f.chart(t).patient),
            |_| Some(json!({"id": Uuid::new_v4(), "kind": "consent", "title": "Consent form"})),
            nurse_a,
            201,
            [Status(404), Status(404), Status(403), Status(404), Status(403)],
            true
        ),
        row!(
            "listPatientDocuments",
            GET,
            |f, t| format!("/api/v1/patients/{}/documents", f.chart(t).patient),
            none,
            nurse_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        row!(
            "getDocument",
            GET,
            |f, t| format!("/api/v1/documents/{}", f.chart(t).document),
            none,
            nurse_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        row!(
            "uploadDocumentContent",
            PUT,
            |f, t| format!("/api/v1/documents/{}/content", f.chart(t).document),
            |_| Some(json!("Haemoglobin 14.1 g/dL, within range.")),
            nurse_a,
            200,
            [Status(404), Status(404), Status(403), Status(404), Status(403)],
            true
        ),
        row!(
            "downloadDocumentContent",
            GET,
            |f, t| format!("/api/v1/documents/{}/content", f.chart(t).document),
            none,
            nurse_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        // Communication: conversations.
        row!(
            "listConversations",
            GET,
            |_, _| "/api/v1/conversations".into(),
            none,
            nurse_a,
            200,
            [Unseen, Unseen, Unseen, Unseen, Unseen],
            false
        ),
        row!(
            "openConversation",
            POST,
            |_, _| "/api/v1/conversations".into(),
            |f| Some(json!({"kind": "direct", "members": [f.c.patient1.id]})),
            nurse_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            false
        ),
        row!(
            "getConversation",
            GET,
            |f, _| format!("/api/v1/conversations/{}", f.conversation),
            none,
            nurse_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            false
        ),
        row!(
            "listMessages",
            GET,
            |f, _| format!("/api/v1/conversations/{}/messages", f.conversation),
            none,
            patient_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            false
        ),
        row!(
            "sendMessage",
            POST,
            |f, _| format!("/api/v1/conversations/{}/messages", f.conversation),
            |_| Some(json!({"id": Uuid::new_v4(), "body": "On my way."})),
            patient_a,
            201,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            false
        ),
        row!(
            "markConversationRead",
            POST,
            |f, _| format!("/api/v1/conversations/{}/read", f.conversation),
            |_| Some(json!({})),
            patient_a,
            204,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            false
        ),
        // Communication: announcements (A's unassigned staff and other patient are its audience).
        row!(
            "listAnnouncements",
            GET,
            |_, _| "/api/v1/announcements".into(),
            none,
            admin_a,
            200,
            [Unseen, Unseen, Unseen, Member(200), Member(200)],
            false
        ),
        row!(
            "publishAnnouncement",
            POST,
            |_, _| "/api/v1/announcements".into(),
            |_| Some(json!({"audience": "staff", "title": "Rota", "body": "New rota from Monday."})),
            admin_a,
            201,
            [Member(201), Status(403), Status(403), Status(403), Status(403)],
            false
        ),
        row!(
            "getAnnouncement",
            GET,
            |f, _| format!("/api/v1/announcements/{}", f.announcement),
            none,
            admin_a,
            200,
            [Status(404), Status(404), Status(404), Member(200), Member(200)],
            false
        ),
        row!(
            "acknowledgeAnnouncement",
            POST,
            |f, _| format!("/api/v1/announcements/{}/acknowledgement", f.announcement),
            |_| Some(json!({})),
            admin_a,
            200,
            [Status(404), Status(404), Status(404), Member(200), Member(200)],
            false
        ),
        row!(
            "listAnnouncementAcknowledgements",
            GET,
            |f, _| format!("/api/v1/announcements/{}/acknowledgements", f.announcement),
            none,
            admin_a,
            200,
            [Status(404), Status(404), Status(404), Member(200), Member(200)],
            false
        ),
        // Users.
        row!(
            "listUsers",
            GET,
            |f, _| format!("/api/v1/users?facilityId={}", f.c.w.a),
            none,
            admin_a,
            200,
            [NoneOfA, NoneOfA, NoneOfA, Member(200), Member(200)],
            false
        ),
        row!(
            "getUser",
            GET,
            |f, _| format!("/api/v1/users/{}", f.c.w.staff_a.id),
            none,
            admin_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            false
        ),
        row!(
            "createUser",
            POST,
            |_, _| "/api/v1/users".into(),
            |f| Some(json!({"facilityId": f.c.w.a, "email": "made@matrix.example", "role": "staff",
                             "firstName": "M", "lastName": "Ade"})),
            admin_a,
            201,
            [Status(403), Status(403), Status(403), Status(403), Status(403)],
            false
        ),
        row!(
            "updateUser",
            PATCH,
            |f, _| format!("/api/v1/users/{}", f.spare.id),
            |_| Some(json!({"jobTitle": "cook"})),
            admin_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            false
        ),
        row!(
            "revokeSession",
            DELETE,
            |f, _| format!("/api/v1/auth/sessions/{}", f.nurse_session),
            none,
            nurse_a,
            204,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            false
        ),
        // Patients.
        row!(
            "listPatients",
            GET,
            |_, _| "/api/v1/patients".into(),
            none,
            admin_a,
            200,
            [NoneOfA, NoneOfA, NoneOfA, NoneOfA, Member(200)],
            false
        ),
        row!(
            "getPatient",
            GET,
            |f, t| format!("/api/v1/patients/{}", f.chart(t).patient),
            none,
            nurse_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        row!(
            "getPatientDashboard",
            GET,
            |f, t| format!("/api/v1/patients/{}/dashboard", f.chart(t).patient),
            none,
            patient_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        row!(
            "createPatient",
            POST,
            |_, _| "/api/v1/patients".into(),
            |f| Some(json!({"facilityId": f.c.w.a, "firstName": "New", "lastName": "Comer",
                             "dateOfBirth": "1990-01-01"})),
            admin_a,
            201,
            [Status(403), Status(403), Status(403), Member(201), Status(403)],
            false
        ),
        row!(
            "updatePatient",
            PATCH,
            |f, t| format!("/api/v1/patients/{}", f.chart(t).patient),
            |_| Some(json!({"room": "X1"})),
            nurse_a,
            200,
            [Status(404), Status(404), Status(403), Status(404), Status(403)],
            true
        ),
        row!(
            "regenerateRegistrationKey",
            POST,
            |f, _| format!("/api/v1/patients/{}/registration-key", f.doomed),
            none,
            admin_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            false
        ),
        row!(
            "revokeRegistrationKey",
            DELETE,
            |f, _| format!("/api/v1/patients/{}/registration-key", f.doomed),
            none,
            admin_a,
            204,
            [Status(404), Status(404), Status(403), Status(404), Status(403)],
            false
        ),
        // Caseloads.
        row!(
            "listAssignments",
            GET,
            |f, t| format!("/api/v1/patients/{}/assignments", f.chart(t).patient),
            none,
            nurse_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        row!(
            "createAssignment",
            POST,
            |f, t| format!("/api/v1/patients/{}/assignments", f.chart(t).patient),
            |f| Some(json!({"staffId": f.spare.id, "role": "caregiver"})),
            admin_a,
            201,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            true
        ),
        // Care logs, vitals, attendance.
        row!(
            "listCareLogs",
            GET,
            |f, t| format!("/api/v1/patients/{}/care-logs", f.chart(t).patient),
            none,
            nurse_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        row!(
            "createCareLog",
            POST,
            |f, t| format!("/api/v1/patients/{}/care-logs", f.chart(t).patient),
            |_| Some(json!({"kind": "note", "body": "matrix"})),
            nurse_a,
            201,
            [Status(404), Status(404), Status(403), Status(404), Status(403)],
            true
        ),
        row!(
            "getCareLog",
            GET,
            |f, t| format!("/api/v1/care-logs/{}", f.chart(t).log),
            none,
            nurse_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        row!(
            "amendCareLog",
            POST,
            |f, t| format!("/api/v1/care-logs/{}/amendments", f.chart(t).log),
            |_| Some(json!({"reason": "typo", "body": "matrix"})),
            nurse_a,
            201,
            [Status(404), Status(404), Status(403), Status(404), Status(403)],
            true
        ),
        row!(
            "listVitals",
            GET,
            |f, t| format!("/api/v1/patients/{}/vitals", f.chart(t).patient),
            none,
            nurse_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        row!(
            "createVitals",
            POST,
            |f, t| format!("/api/v1/patients/{}/vitals", f.chart(t).patient),
            |_| Some(json!({"pulse": 71})),
            nurse_a,
            201,
            [Status(404), Status(404), Status(403), Status(404), Status(403)],
            true
        ),
        row!(
            "amendVitals",
            POST,
            |f, t| format!("/api/v1/vitals/{}/amendments", f.chart(t).vitals),
            |_| Some(json!({"reason": "typo", "pulse": 72})),
            nurse_a,
            201,
            [Status(404), Status(404), Status(403), Status(404), Status(403)],
            true
        ),
        row!(
            "listAttendance",
            GET,
            |f, _| format!("/api/v1/attendance?staffId={}", f.c.w.staff_a.id),
            none,
            admin_a,
            200,
            [NoneOfA, NoneOfA, Status(403), NoneOfA, Status(403)],
            false
        ),
        row!(
            "createAttendance",
            POST,
            |_, _| "/api/v1/attendance".into(),
            |f| Some(json!({"event": "check_in", "patientId": f.live.patient})),
            nurse_a,
            201,
            [Status(404), Status(404), Status(403), Status(404), Status(403)],
            false
        ),
        row!(
            "amendAttendance",
            POST,
            |f, _| format!("/api/v1/attendance/{}/amendments", f.attendance),
            |_| Some(json!({"reason": "late", "note": "matrix"})),
            admin_a,
            201,
            [Status(404), Status(404), Status(403), Status(404), Status(403)],
            false
        ),
        // The recovery programme: what patients log, and offline sync.
        row!(
            "listCheckIns",
            GET,
            |f, t| format!("/api/v1/patients/{}/check-ins", f.chart(t).patient),
            none,
            patient_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        row!(
            "createCheckIn",
            POST,
            |f, t| format!("/api/v1/patients/{}/check-ins", f.chart(t).patient),
            |_| Some(json!({"id": Uuid::new_v4(), "mood": 7})),
            patient_a,
            201,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        row!(
            "listCravings",
            GET,
            |f, t| format!("/api/v1/patients/{}/cravings", f.chart(t).patient),
            none,
            nurse_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        row!(
            "createCraving",
            POST,
            |f, t| format!("/api/v1/patients/{}/cravings", f.chart(t).patient),
            |_| Some(json!({"id": Uuid::new_v4(), "intensity": 6, "outcome": "resisted"})),
            nurse_a,
            201,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        row!(
            "listMeetings",
            GET,
            |f, t| format!("/api/v1/patients/{}/meetings", f.chart(t).patient),
            none,
            admin_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        row!(
            "createMeeting",
            POST,
            |f, t| format!("/api/v1/patients/{}/meetings", f.chart(t).patient),
            |_| Some(json!({"id": Uuid::new_v4(), "kind": "aa", "attendedOn": "2026-11-01"})),
            patient_a,
            201,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        row!(
            "getSobriety",
            GET,
            |f, t| format!("/api/v1/patients/{}/sobriety", f.chart(t).patient),
            none,
            patient_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        row!(
            "listSobrietyResets",
            GET,
            |f, t| format!("/api/v1/patients/{}/sobriety/resets", f.chart(t).patient),
            none,
            nurse_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        row!(
            "createSobrietyReset",
            POST,
            |f, t| format!("/api/v1/patients/{}/sobriety/resets", f.chart(t).patient),
            |_| Some(json!({"id": Uuid::new_v4(), "since": "2026-11-01", "reason": "relapse"})),
            nurse_a,
            201,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        row!(
            "listPrescriptions",
            GET,
            |f, t| format!("/api/v1/patients/{}/prescriptions", f.chart(t).patient),
            none,
            patient_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        row!(
            "createPrescription",
            POST,
            |f, t| format!("/api/v1/patients/{}/prescriptions", f.chart(t).patient),
            |_| Some(
                json!({"drug": "Acamprosate", "dose": "666 mg", "route": "oral", "schedule": "three times daily",
                             "startsOn": "2026-11-01", "prescriber": "Dr. M"})
            ),
            nurse_a,
            201,
            [Status(404), Status(404), Status(403), Status(404), Status(403)],
            true
        ),
        row!(
            "getPrescription",
            GET,
            |f, t| format!("/api/v1/prescriptions/{}", f.chart(t).prescription),
            none,
            patient_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        row!(
            "updatePrescription",
            PATCH,
            |f, t| format!("/api/v1/prescriptions/{}", f.chart(t).prescription),
            |_| Some(json!({"dose": "25 mg"})),
            nurse_a,
            200,
            [Status(404), Status(404), Status(403), Status(404), Status(403)],
            true
        ),
        row!(
            "listDoseEvents",
            GET,
            |f, t| format!("/api/v1/patients/{}/doses", f.chart(t).patient),
            none,
            patient_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        row!(
            "createDoseEvent",
            POST,
            |f, t| format!("/api/v1/patients/{}/doses", f.chart(t).patient),
            |f| Some(json!({"id": Uuid::new_v4(), "prescriptionId": f.live.prescription, "status": "missed",
                             "scheduledAt": "2026-11-20T08:00:00Z"})),
            patient_a,
            201,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        row!(
            "listGoals",
            GET,
            |f, t| format!("/api/v1/patients/{}/goals", f.chart(t).patient),
            none,
            patient_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        row!(
            "createGoal",
            POST,
            |f, t| format!("/api/v1/patients/{}/goals", f.chart(t).patient),
            |_| Some(json!({"id": Uuid::new_v4(), "category": "work", "description": "Find a job"})),
            patient_a,
            201,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        row!(
            "updateGoal",
            PATCH,
            |f, t| format!("/api/v1/goals/{}", f.chart(t).goal),
            |_| Some(json!({"status": "achieved"})),
            nurse_a,
            200,
            [Status(404), Status(404), Status(403), Status(404), Status(403)],
            true
        ),
        row!(
            "listGoalProgress",
            GET,
            |f, t| format!("/api/v1/patients/{}/goal-progress", f.chart(t).patient),
            none,
            nurse_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        row!(
            "createGoalProgress",
            POST,
            |f, t| format!("/api/v1/patients/{}/goal-progress", f.chart(t).patient),
            |f| Some(
                json!({"id": Uuid::new_v4(), "goalId": f.live.goal, "note": "Walked 3 km", "progressPct": 20})
            ),
            patient_a,
            201,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        row!(
            "listPlanTemplates",
            GET,
            |_, _| "/api/v1/treatment-plan-templates".into(),
            none,
            nurse_a,
            200,
            [Unseen, Unseen, Status(403), Member(200), Status(403)],
            false
        ),
        row!(
            "createPlanTemplate",
            POST,
            |_, _| "/api/v1/treatment-plan-templates".into(),
            |_| Some(json!({"name": "Detox, 7 days", "goals": ["Complete detox"], "reviewIntervalDays": 7})),
            admin_a,
            201,
            [Member(201), Status(403), Status(403), Status(403), Status(403)],
            false
        ),
        row!(
            "listTreatmentPlans",
            GET,
            |f, t| format!("/api/v1/patients/{}/treatment-plans", f.chart(t).patient),
            none,
            patient_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        row!(
            "createTreatmentPlan",
            POST,
            |f, t| format!("/api/v1/patients/{}/treatment-plans", f.chart(t).patient),
            |f| Some(json!({"title": "Aftercare", "templateId": f.template})),
            nurse_a,
            201,
            [Status(404), Status(404), Status(403), Status(404), Status(403)],
            true
        ),
        row!(
            "listOverdueReviews",
            GET,
            |_, _| "/api/v1/treatment-plans/overdue-reviews".into(),
            none,
            nurse_a,
            200,
            [Unseen, Unseen, Unseen, Unseen, Unseen],
            false
        ),
        row!(
            "getTreatmentPlan",
            GET,
            |f, t| format!("/api/v1/treatment-plans/{}", f.chart(t).plan),
            none,
            patient_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        row!(
            "editTreatmentPlanDraft",
            PATCH,
            |f, t| format!("/api/v1/treatment-plans/{}/draft", f.chart(t).plan),
            |_| Some(json!({"interventions": ["CBT weekly"]})),
            nurse_a,
            200,
            [Status(404), Status(404), Status(403), Status(404), Status(403)],
            true
        ),
        row!(
            "signTreatmentPlan",
            POST,
            |f, t| format!("/api/v1/treatment-plans/{}/sign", f.chart(t).plan),
            |_| Some(json!({})),
            nurse_a,
            200,
            [Status(404), Status(404), Status(403), Status(404), Status(403)],
            true
        ),
        row!(
            "acknowledgeTreatmentPlan",
            POST,
            |f, t| format!("/api/v1/treatment-plans/{}/acknowledge", f.chart(t).plan),
            |_| Some(json!({})),
            patient_a,
            200,
            [Status(403), Status(403), Status(404), Status(403), Status(404)],
            true
        ),
        row!(
            "fileProgressReport",
            POST,
            |f, t| format!("/api/v1/patients/{}/reports/progress", f.chart(t).patient),
            |_| Some(json!({"id": Uuid::new_v4()})),
            nurse_a,
            202,
            [Status(404), Status(404), Status(403), Status(404), Status(403)],
            true
        ),
        row!(
            "getProgressReport",
            GET,
            |f, t| format!("/api/v1/patients/{}/reports/progress", f.chart(t).patient),
            none,
            patient_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        row!(
            "getWeeklyMetrics",
            GET,
            |f, _| format!("/api/v1/facilities/{}/metrics/weekly?weeks=4", f.c.w.a),
            none,
            admin_a,
            200,
            [Status(404), Status(404), Status(404), Status(403), Status(403)],
            false
        ),
        row!(
            "acknowledgeAttention",
            POST,
            |f, t| format!("/api/v1/patients/{}/attention/acknowledgements", f.chart(t).patient),
            |_| Some(json!({"note": "seen"})),
            nurse_a,
            201,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            true
        ),
        row!(
            "getStaffWorkload",
            GET,
            |f, _| format!("/api/v1/users/{}/workload", f.c.w.staff_a.id),
            none,
            nurse_a,
            200,
            [Status(404), Status(404), Status(404), Status(404), Status(404)],
            false
        ),
        row!(
            "syncBatch",
            POST,
            |_, _| "/api/v1/sync/batch".into(),
            |f| Some(json!({"records": [
                {"type": "check_in", "patientId": f.live.patient, "checkIn": {"id": Uuid::new_v4(), "mood": 5}},
                {"type": "meeting", "patientId": f.live.patient,
                 "meeting": {"id": Uuid::new_v4(), "kind": "na", "attendedOn": "2026-11-02"}},
            ]})),
            patient_a,
            200,
            [Rejected(404), Rejected(404), Rejected(404), Rejected(404), Rejected(404)],
            false
        ),
        row!(
            "listChanges",
            GET,
            |_, _| "/api/v1/sync/changes?limit=100".into(),
            none,
            patient_a,
            200,
            [Unseen, Unseen, Unseen, Unseen, Unseen],
            false
        ),
        // Audit.
        row!(
            "listAuditLogs",
            GET,
            |f, _| format!("/api/v1/audit-logs?facilityId={}", f.c.w.a),
            none,
            admin_a,
            200,
            [NoneOfA, Status(403), Status(403), Status(403), Status(403)],
            false
        ),
        row!(
            "verifyAuditLog",
            GET,
            |f, _| format!("/api/v1/audit-logs/verify?facilityId={}", f.c.w.a),
            none,
            admin_a,
            200,
            [Status(404), Status(404), Status(404), Status(403), Status(403)],
            false
        ),
        // Last: what ends or removes something.
        row!(
            "deleteDocument",
            DELETE,
            |f, t| format!("/api/v1/documents/{}", f.chart(t).document),
            none,
            nurse_a,
            204,
            [Status(404), Status(404), Status(403), Status(404), Status(403)],
            true
        ),
        row!(
            "stopPrescription",
            POST,
            |f, t| format!("/api/v1/prescriptions/{}/stop", f.chart(t).prescription),
            |_| Some(json!({"reason": "course complete"})),
            nurse_a,
            200,
            [Status(404), Status(404), Status(403), Status(404), Status(403)],
            true
        ),
        row!(
            "endAssignment",
            POST,
            |f, t| format!("/api/v1/assignments/{}/end", f.chart(t).assignment),
            |_| Some(json!({})),
            admin_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            true
        ),
        row!(
            "setUserStatus",
            POST,
            |f, _| format!("/api/v1/users/{}/status", f.spare.id),
            |_| Some(json!({"status": "suspended", "reason": "matrix"})),
            admin_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            false
        ),
        row!(
            "deletePatient",
            DELETE,
            |f, _| format!("/api/v1/patients/{}", f.doomed),
            none,
            admin_a,
            204,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            false
        ),
        row!(
            "restorePatient",
            POST,
            |f, _| format!("/api/v1/patients/{}/restore", f.doomed),
            |_| Some(json!({})),
            admin_a,
            200,
            [Status(404), Status(403), Status(403), Status(403), Status(403)],
            false
        ),
    ]
}

async fn fixture(app: &TestApp) -> Fixture {
    let c = app.clinic().await;
    let (admin, nurse) = (&c.w.admin_a, &c.w.staff_a);
    let spare = app.staff(admin, "caregiver").await;
    // A second factor locked after too many wrong codes, for unlockUserMfa
    // (written directly: the matrix needs the state, not the 100 attempts,
    // which tests/api/mfa.rs makes through the API).
    app.superuser()
        .await
        .execute(
            "insert into mfa_factors (facility_id, user_id, secret_sealed, confirmed_at, failed_attempts, locked_at)
             values ($1, $2, '\\x00', now(), 100, now())",
            &[&c.w.a, &spare.id],
        )
        .await
        .unwrap();
    let chart = |patient: Uuid| async move {
        let path = format!("/api/v1/patients/{patient}/care-logs");
        let log = app.post(nurse, &path, json!({"kind": "note", "body": "x"})).await;
        let log = log.assert_status(201).body["id"].as_str().unwrap().parse().unwrap();
        let vit = app.post(nurse, &format!("/api/v1/patients/{patient}/vitals"), json!({"pulse": 70})).await;
        let vitals = vit.assert_status(201).body["id"].as_str().unwrap().parse().unwrap();
        let team = app.get(admin, &format!("/api/v1/patients/{patient}/assignments")).await;
        let assignment = team.items()[0]["id"].as_str().unwrap().parse().unwrap();
        let rx = json!({"drug": "Naltrexone", "dose": "50 mg", "route": "oral", "schedule": "daily",
                        "startsOn": "2026-11-01", "prescriber": "Dr. M"});
        let rx = app.post(nurse, &format!("/api/v1/patients/{patient}/prescriptions"), rx).await;
        let prescription = rx.assert_status(201).body["id"].as_str().unwrap().parse().unwrap();
        let goal = Uuid::new_v4();
        let body = json!({"id": goal, "category": "health", "description": "Walk daily"});
        app.post(nurse, &format!("/api/v1/patients/{patient}/goals"), body).await.assert_status(201);
        let body = json!({"title": "Plan", "problems": ["AUD"], "reviewDate": "2026-01-01"});
        let plan = app.post(nurse, &format!("/api/v1/patients/{patient}/treatment-plans"), body).await;
        let plan = plan.assert_status(201).body["id"].as_str().unwrap().parse().unwrap();
        app.post(nurse, &format!("/api/v1/treatment-plans/{plan}/sign"), json!({})).await.assert_status(200);
        let alert = Uuid::new_v4();
        let body = json!({"id": alert, "severity": "high", "note": "matrix"});
        app.post(nurse, &format!("/api/v1/patients/{patient}/crisis-alerts"), body).await.assert_status(201);
        let document = Uuid::new_v4();
        let body =
            json!({"id": document, "kind": "lab_result", "title": "Blood panel", "visibleToPatient": true});
        app.post(nurse, &format!("/api/v1/patients/{patient}/documents"), body).await.assert_status(201);
        Chart { patient, log, vitals, assignment, prescription, goal, plan, alert, document }
    };
    let live = chart(c.p1).await;
    // A strong craving keeps patient 1's "needs attention" prompt up all through the matrix.
    let craving = json!({"id": Uuid::new_v4(), "intensity": 9, "outcome": "resisted"});
    app.post(&c.patient1, &format!("/api/v1/patients/{}/cravings", c.p1), craving).await.assert_status(201);
    let (gone, _) = app.patient(admin).await;
    app.assign(admin, gone, nurse).await;
    let deleted = chart(gone).await;
    app.delete(admin, &format!("/api/v1/patients/{gone}")).await.assert_status(204);
    let att = app.post(nurse, "/api/v1/attendance", json!({"event": "check_in", "patientId": c.p1})).await;
    let attendance = att.assert_status(201).body["id"].as_str().unwrap().parse().unwrap();
    let other_device = app.login_actor(&nurse.email).await;
    let nurse_session = other_device.session_id();
    let (doomed, _) = app.patient(admin).await;
    let (third, _) = app.facility(&c.w.sa).await;
    let body = json!({"name": "Matrix template", "problems": ["AUD"]});
    let template = app.post(admin, "/api/v1/treatment-plan-templates", body).await;
    let template = template.assert_status(201).body["id"].as_str().unwrap().parse().unwrap();
    let body = json!({"kind": "direct", "members": [c.patient1.id]});
    let conversation = app.post(nurse, "/api/v1/conversations", body).await;
    let conversation: Uuid = conversation.assert_status(201).body["id"].as_str().unwrap().parse().unwrap();
    let body = json!({"id": Uuid::new_v4(), "body": "See you at 10."});
    app.post(nurse, &format!("/api/v1/conversations/{conversation}/messages"), body).await.assert_status(201);
    let body = json!({"audience": "everyone", "title": "Fire drill", "body": "Friday at 3 pm."});
    let announcement = app.post(admin, "/api/v1/announcements", body).await;
    let announcement = announcement.assert_status(201).body["id"].as_str().unwrap().parse().unwrap();
    let sa = &c.w.sa;
    let city = app.city(sa).await;
    let body = json!({"slug": "home-care", "name": "Home care", "summary": "Care at home.", "cityId": city,
                      "published": true});
    let service = app.post(admin, "/api/v1/services", body).await;
    let service: Uuid = service.assert_status(201).body["id"].as_str().unwrap().parse().unwrap();
    let body = json!({"slug": "first-aid", "title": "First aid", "summary": "Two days.", "cityId": city,
                      "durationHours": 16, "published": true});
    let course = app.post(admin, "/api/v1/courses", body).await;
    let course: Uuid = course.assert_status(201).body["id"].as_str().unwrap().parse().unwrap();
    let lead_of =
        |phone: &str| json!({"leadType": "service", "name": "Asha", "phone": phone, "serviceId": service});
    let lead = app.submit_lead(lead_of("+919800000001")).await;
    let assign = json!({"staffId": nurse.id});
    let path = format!("/api/v1/leads/{lead}/assignee");
    app.call(Method::PUT, &path, Some(&admin.token), Some(assign)).await.assert_status(200);
    let lead_to_reject = app.submit_lead(lead_of("+919800000002")).await;
    let lead_to_convert = app.submit_lead(lead_of("+919800000003")).await;
    let platform_lead =
        app.submit_lead(json!({"leadType": "service", "name": "Ravi", "phone": "+919800000004"})).await;
    let client = app.learner(admin, "client").await.id;
    let student = app.learner(admin, "student").await.id;
    let client_b = app.learner(&c.w.admin_b, "client").await;
    let student_b = app.learner(&c.w.admin_b, "student").await;
    let teacher_b = app.learner(&c.w.admin_b, "teacher").await;
    let teacher = app.learner(admin, "teacher").await;
    let body = json!({"name": "Matrix batch", "teacherId": teacher.id, "startsOn": "2027-01-09",
                      "endsOn": "2027-02-14", "capacity": 10});
    let batch = app.post(admin, &format!("/api/v1/courses/{course}/batches"), body).await;
    let batch: Uuid = batch.assert_status(201).body["id"].as_str().unwrap().parse().unwrap();
    let enroll = |student: Uuid| async move {
        let path = format!("/api/v1/batches/{batch}/enrollments");
        let res = app.post(admin, &path, json!({"studentId": student})).await;
        res.assert_status(201).body["id"].as_str().unwrap().parse::<Uuid>().unwrap()
    };
    let attending = student;
    enroll(attending).await;
    let to_complete = enroll(app.learner(admin, "student").await.id).await;
    let to_withdraw = enroll(app.learner(admin, "student").await.id).await;
    let to_enroll = app.learner(admin, "student").await.id;
    let done = enroll(app.learner(admin, "student").await.id).await;
    let completion = app.post(admin, &format!("/api/v1/enrollments/{done}/complete"), json!({})).await;
    let certificate =
        completion.assert_status(200).body["certificate"]["id"].as_str().unwrap().parse().unwrap();
    let body =
        json!({"name": "Home care visit", "priceMinor": 50000, "currency": "INR", "period": "per_visit"});
    let plan = app.post(admin, "/api/v1/plans", body).await;
    let plan: Uuid = plan.assert_status(201).body["id"].as_str().unwrap().parse().unwrap();
    let bill = |issue: bool| async move {
        let body = json!({"customerId": client, "currency": "INR",
                          "lines": [{"description": "Visit", "quantity": 2, "unitPriceMinor": 50000, "taxRateBp": 1800}]});
        let inv = app.post(admin, "/api/v1/invoices", body).await;
        let id: Uuid = inv.assert_status(201).body["id"].as_str().unwrap().parse().unwrap();
        if issue {
            app.post(admin, &format!("/api/v1/invoices/{id}/issue"), json!({})).await.assert_status(200);
        }
        id
    };
    let invoice = bill(true).await;
    let draft = bill(false).await;
    let to_void = bill(true).await;
    let key = app
        .post(admin, "/api/v1/api-keys", json!({"name": "Matrix sync", "scopes": ["patients:read"]}))
        .await;
    let api_key = key.assert_status(201).body["apiKey"]["id"].as_str().unwrap().parse().unwrap();
    let hook = app
        .post(
            admin,
            "/api/v1/webhooks",
            json!({"url": "http://127.0.0.1:9/matrix", "events": ["patient.admitted"]}),
        )
        .await;
    let webhook = hook.assert_status(201).body["webhook"]["id"].as_str().unwrap().parse().unwrap();
    Fixture {
        webhook,
        api_key,
        plan,
        invoice,
        draft,
        to_void,
        teacher_b,
        teacher,
        batch,
        attending,
        to_complete,
        to_withdraw,
        to_enroll,
        certificate,
        city,
        service,
        course,
        lead,
        lead_to_reject,
        lead_to_convert,
        platform_lead,
        client,
        student,
        client_b,
        student_b,
        c,
        live,
        deleted,
        attendance,
        spare,
        nurse_session,
        doomed,
        third,
        template,
        conversation,
        announcement,
    }
}

/// Whether a response mentions any of A's records that outsiders must not see.
fn mentions_a(res: &Res, f: &Fixture) -> bool {
    let text = res.body.to_string();
    [
        f.live.patient,
        f.live.alert,
        f.conversation,
        f.announcement,
        f.lead,
        f.client,
        f.student,
        f.batch,
        f.certificate,
        f.teacher.id,
        f.plan,
        f.invoice,
        f.api_key,
        f.webhook,
    ]
    .iter()
    .any(|id| text.contains(&id.to_string()))
}

/// Rows of the tables that hold tenant data: an outsider's refused write
/// must leave every count as it was.
const TABLES: &[&str] = &[
    "facilities",
    "users",
    "patients",
    "assignments",
    "care_logs",
    "vitals",
    "attendance",
    "registration_keys",
    "sessions",
    "check_ins",
    "cravings",
    "meetings",
    "sobriety_resets",
    "prescriptions",
    "dose_events",
    "goals",
    "goal_progress",
    "treatment_plans",
    "treatment_plan_versions",
    "attention_acknowledgements",
    "conversations",
    "conversation_members",
    "messages",
    "announcements",
    "announcement_acknowledgements",
    "crisis_alerts",
    "events",
    "documents",
    "message_attachments",
    "cities",
    "services",
    "courses",
    "leads",
    "lead_notes",
    "lead_events",
    "client_profiles",
    "student_profiles",
    "teacher_profiles",
    "batches",
    "enrollments",
    "class_attendance",
    "certificates",
    "plans",
    "invoices",
    "invoice_lines",
    "payments",
    "client_care_recipients",
    "staff_profiles",
    "api_keys",
    "api_key_usage",
    "webhook_subscriptions",
    "webhook_deliveries",
];

async fn counts(su: &tokio_postgres::Client) -> Vec<i64> {
    let sql = TABLES.iter().map(|t| format!("(select count(*) from {t})")).collect::<Vec<_>>().join(", ");
    let row = su.query_one(&format!("select {sql}"), &[]).await.unwrap();
    (0..TABLES.len()).map(|i| row.get(i)).collect()
}

fn holds_facility_a(res: &Res, f: &Fixture) -> bool {
    let a = f.c.w.a.to_string();
    res.items().iter().any(|item| {
        item["facilityId"] == a.as_str()
            || item["id"] == a.as_str()
            || item["account"]["facilityId"] == a.as_str()
    })
}

fn all_rejected(res: &Res, status: u16) -> bool {
    let results = res.body["results"].as_array().cloned().unwrap_or_default();
    !results.is_empty()
        && results.iter().all(|r| r["status"] == "rejected" && r["problem"]["status"] == status)
}

#[tokio::test]
async fn every_operation_has_a_row_and_every_row_holds_for_every_audience() {
    // Every operation of the spec is in the matrix or exempt, and no row is stale.
    let spec: Value = serde_json::from_str(&carego::api::spec_json()).unwrap();
    let in_spec: BTreeSet<String> = spec["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|ops| {
            ops.as_object().unwrap().values().map(|op| op["operationId"].as_str().unwrap().to_owned())
        })
        .collect();
    let rows = rows();
    let covered: BTreeSet<String> =
        rows.iter().map(|r| r.op.to_owned()).chain(EXEMPT.iter().map(|(op, _)| op.to_string())).collect();
    let missing: Vec<_> = in_spec.difference(&covered).collect();
    assert!(missing.is_empty(), "operations without a row in the isolation matrix: {missing:?}");
    let stale: Vec<_> = covered.difference(&in_spec).collect();
    assert!(stale.is_empty(), "rows for operations the spec does not have: {stale:?}");

    let app = TestApp::spawn().await;
    let f = fixture(&app).await;
    let outsiders = [
        ("B's admin", &f.c.w.admin_b),
        ("B's staff", &f.c.w.staff_b),
        ("B's patient", &f.c.patient_b),
        ("A's unassigned staff", &f.c.nurse_a2),
        ("A's other patient", &f.c.patient2),
    ];
    let learners =
        [("B's client", &f.client_b), ("B's student", &f.student_b), ("B's teacher", &f.teacher_b)];
    let su = app.superuser().await;
    let mut wrong = Vec::new();
    for row in &rows {
        let path = (row.path)(&f, Target::Live);
        let body = (row.body)(&f);
        let everyone = outsiders.iter().zip(row.outsiders).chain(learners.iter().zip(row.learners));
        for ((who, actor), expect) in everyone {
            let before = counts(&su).await;
            let res = app.call(row.method.clone(), &path, Some(&actor.token), body.clone()).await;
            let ok = match expect {
                Status(status) | Member(status) => res.status.as_u16() == status,
                NoneOfA => res.status.as_u16() == 200 && !holds_facility_a(&res, &f),
                Rejected(status) => res.status.as_u16() == 200 && all_rejected(&res, status),
                Unseen => res.status.as_u16() == 200 && !mentions_a(&res, &f),
                Closed => match res.status.as_u16() {
                    403 | 404 => true,
                    200 => !mentions_a(&res, &f) && !res.body.to_string().contains(&f.c.w.a.to_string()),
                    _ => false,
                },
            };
            if !matches!(expect, Member(_)) && counts(&su).await != before {
                wrong.push(format!("{}: {who} changed something", row.op));
            }
            if !ok {
                wrong.push(format!("{}: {who} expected {expect:?}, got {} {}", row.op, res.status, res.body));
            } else if let Status(status) = expect {
                res.assert_problem(status, res.body["code"].as_str().unwrap_or("?"));
            } else if matches!(expect, Closed) && res.status.as_u16() >= 400 {
                res.assert_problem(res.status.as_u16(), res.body["code"].as_str().unwrap_or("?"));
            }
        }
        let actor = (row.actor)(&f);
        if row.about_a_patient {
            let gone = (row.path)(&f, Target::Deleted);
            let res = app.call(row.method.clone(), &gone, Some(&actor.token), body.clone()).await;
            if res.status.as_u16() != 404 {
                wrong.push(format!("{} on a soft-deleted patient: {} {}", row.op, res.status, res.body));
            }
        }
        let res = app.call(row.method.clone(), &path, Some(&actor.token), body).await;
        if res.status.as_u16() != row.ok {
            wrong.push(format!(
                "{} by {}: expected {}, got {} {}",
                row.op, actor.email, row.ok, res.status, res.body
            ));
        }
    }
    assert!(wrong.is_empty(), "{} cell(s) of the matrix do not hold:\n{}", wrong.len(), wrong.join("\n"));
}

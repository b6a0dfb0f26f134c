//! Distinct id types, so a facility id can never be passed where a user id
//! is meant. Each is a UUID on the wire, in JSON and in PostgreSQL.

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
                 poem_openapi::NewType)]
        #[serde(transparent)]
        pub struct $name(pub uuid::Uuid);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl<'a> tokio_postgres::types::FromSql<'a> for $name {
            fn from_sql(
                ty: &tokio_postgres::types::Type,
                raw: &'a [u8],
            ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
                uuid::Uuid::from_sql(ty, raw).map(Self)
            }

            fn accepts(ty: &tokio_postgres::types::Type) -> bool {
                <uuid::Uuid as tokio_postgres::types::FromSql>::accepts(ty)
            }
        }

        impl tokio_postgres::types::ToSql for $name {
            fn to_sql(
                &self,
                ty: &tokio_postgres::types::Type,
                out: &mut bytes::BytesMut,
            ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
                self.0.to_sql(ty, out)
            }

            fn accepts(ty: &tokio_postgres::types::Type) -> bool {
                <uuid::Uuid as tokio_postgres::types::ToSql>::accepts(ty)
            }

            tokio_postgres::types::to_sql_checked!();
        }
    };
}

id_type!(
    /// A facility (tenant).
    FacilityId
);
id_type!(
    /// A user account.
    UserId
);
id_type!(
    /// A login session.
    SessionId
);
id_type!(
    /// A patient (a facility's record of a person in care).
    PatientId
);
id_type!(
    /// A staff member's assignment to a patient.
    AssignmentId
);
id_type!(
    /// A care log entry.
    CareLogId
);
id_type!(
    /// A vitals reading.
    VitalsId
);
id_type!(
    /// An attendance event.
    AttendanceId
);
id_type!(
    /// A daily check-in (the client may choose it).
    CheckInId
);
id_type!(
    /// A logged craving (the client may choose it).
    CravingId
);
id_type!(
    /// A meeting attended (the client may choose it).
    MeetingId
);
id_type!(
    /// A sobriety reset (the client may choose it).
    SobrietyResetId
);
id_type!(
    /// A prescription.
    PrescriptionId
);
id_type!(
    /// A dose event (the client may choose it).
    DoseEventId
);
id_type!(
    /// A goal (the client may choose it).
    GoalId
);
id_type!(
    /// A progress entry of a goal (the client may choose it).
    GoalProgressId
);
id_type!(
    /// A facility's treatment plan template.
    PlanTemplateId
);
id_type!(
    /// A treatment plan.
    TreatmentPlanId
);
id_type!(
    /// A version of a treatment plan.
    PlanVersionId
);
id_type!(
    /// A conversation (the client may choose it).
    ConversationId
);
id_type!(
    /// A message (the client may choose it).
    MessageId
);
id_type!(
    /// An announcement.
    AnnouncementId
);
id_type!(
    /// A crisis alert (the client may choose it).
    CrisisAlertId
);
id_type!(
    /// A document (the client chooses it).
    DocumentId
);
id_type!(
    /// A city of the catalog.
    CityId
);
id_type!(
    /// A facility's service in the catalog.
    ServiceId
);
id_type!(
    /// A facility's training course.
    CourseId
);
id_type!(
    /// A lead from the website.
    LeadId
);
id_type!(
    /// A note on a lead.
    LeadNoteId
);
id_type!(
    /// A batch (cohort) of a course.
    BatchId
);
id_type!(
    /// A student's enrollment in a batch.
    EnrollmentId
);
id_type!(
    /// One student's attendance at one class.
    ClassAttendanceId
);
id_type!(
    /// A certificate.
    CertificateId
);
id_type!(
    /// A plan on a facility's price list.
    PlanId
);
id_type!(
    /// An invoice or a credit note.
    InvoiceId
);
id_type!(
    /// A payment (or refund).
    PaymentId
);
id_type!(
    /// A line of an invoice.
    InvoiceLineId
);
id_type!(
    /// A partner integrator's API key.
    ApiKeyId
);
id_type!(
    /// A webhook subscription.
    WebhookId
);
id_type!(
    /// One delivery of a webhook.
    WebhookDeliveryId
);

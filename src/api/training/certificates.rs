//! Certificates: listed and downloaded by facility admins and their
//! student, revoked by admins, verified by anyone with the code.

use poem::Request;
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::{Binary, Json},
};
use serde_json::{Value, json};

use crate::api::contract::{Contract, Contracts};
use crate::api::examples::{
    CERTIFICATE, COURSE, ENROLLMENT, Example, FACILITY_ADMIN_OF_CENTRE, LATER, STUDENT_USER, TRAINING_CENTRE,
    page,
};
use crate::db::training::certificates::CertificateStatus;
use crate::domain::ids::CourseId;
use crate::domain::ids::EnrollmentId;
use crate::domain::ids::FacilityId;
use crate::error::Conflict;
use crate::{
    api::wire,
    api::{ApiTags, body::JsonBody, page::Page, recovery::reports::Pdf},
    auth::BearerAuth,
    db::{Db, accounts::facilities, training::certificates},
    domain::{
        ids::{CertificateId, UserId},
        page::{Cursor, Limit, PageRequest},
        text::Text,
    },
    error::{Error, Result},
    identity::RequestMeta,
};
use chrono::{DateTime, NaiveDate, Utc};

/// Why a certificate is revoked.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct RevocationRequest {
    /// The reason (1–500 characters), kept on the certificate.
    #[oai(validator(min_length = 1, max_length = 500))]
    pub reason: Text,
}

pub struct CertificatesApi {
    pub db: Db,
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts {
    file: file!(),
    operations: &[Contract::of("revokeCertificate").conflicts(&[Conflict::CERTIFICATE_REVOKED])],
    examples,
};

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<Certificate>(certificate_example()),
        Example::of::<Page<Certificate>>(page(certificate_example())),
        Example::of::<RevocationRequest>(
            json!({"reason": "Issued in error: the final assessment was not passed."}),
        ),
        Example::of::<CertificateVerification>(
            json!({"code": "CERT-7K9M-P4N8-X2Q5", "status": "valid", "studentName": "Ravi Meena",
                   "courseTitle": "Caregiver basics", "issuedBy": "Sunrise Academy", "issuedOn": "2026-11-20"}),
        ),
    ]
}

/// Also the certificate of the completion example.
pub(crate) fn certificate_example() -> Value {
    json!({"id": CERTIFICATE, "facilityId": TRAINING_CENTRE, "enrollmentId": ENROLLMENT, "studentId": STUDENT_USER,
           "courseId": COURSE, "code": "CERT-7K9M-P4N8-X2Q5", "studentName": "Ravi Meena",
           "courseTitle": "Caregiver basics", "issuedAt": LATER, "issuedBy": FACILITY_ADMIN_OF_CENTRE})
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Training")]
impl CertificatesApi {
    /// Certificates.
    ///
    /// Newest first; one student's with `studentId`. Facility admins see the facility's; a
    /// student their own.
    #[oai(path = "/certificates", method = "get", operation_id = "listCertificates")]
    async fn list(
        &self,
        auth: BearerAuth,
        /// Only this student's.
        #[oai(name = "studentId")]
        student_id: Query<Option<UserId>>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<Certificate>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self.db.run(&auth.0, async |tx| certificates::list(tx, student_id.0, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// A certificate.
    ///
    /// Facility admins, and the student it was issued to.
    #[oai(path = "/certificates/:id", method = "get", operation_id = "getCertificate")]
    async fn get(&self, auth: BearerAuth, id: Path<CertificateId>) -> Result<Json<Certificate>> {
        self.db.run(&auth.0, async |tx| certificates::get(tx, id.0).await).await.map(wire)
    }

    /// A certificate as a PDF.
    ///
    /// Facility admins, and the student. Printed with its verification code; a revoked
    /// certificate says so.
    #[oai(path = "/certificates/:id/pdf", method = "get", operation_id = "downloadCertificatePdf")]
    async fn pdf(&self, auth: BearerAuth, id: Path<CertificateId>) -> Result<Pdf> {
        let (c, issuer) = self
            .db
            .run(&auth.0, async |tx| {
                let c = certificates::get(tx, id.0).await?;
                let issuer = facilities::get(tx, c.facility_id).await?.name;
                Ok((c, issuer))
            })
            .await?;
        let name = format!("attachment; filename=\"certificate-{}.pdf\"", c.code);
        let pdf = tokio::task::spawn_blocking(move || crate::pdf::certificate::render(&c, &issuer))
            .await
            .map_err(Error::internal)?
            .map_err(Error::internal)?;
        Ok(Pdf::Pdf(Binary(pdf), name))
    }

    /// Revoke a certificate.
    ///
    /// Facility admins, once, with a reason; verifiers see it revoked from then on. A revoked
    /// certificate is 409 `certificate_revoked`.
    #[oai(path = "/certificates/:id/revoke", method = "post", operation_id = "revokeCertificate")]
    async fn revoke(
        &self,
        auth: BearerAuth,
        id: Path<CertificateId>,
        body: JsonBody<RevocationRequest>,
    ) -> Result<Json<Certificate>> {
        self.db
            .run(&auth.0, async |tx| certificates::revoke(tx, id.0, body.0.reason.trim()).await)
            .await
            .map(wire)
    }
}

/// The public half: a verifier with a code.
pub struct CertificateVerificationApi {
    pub db: Db,
}

#[OpenApi(prefix_path = "/api/v1/public", tag = "ApiTags::Public")]
impl CertificateVerificationApi {
    /// Verify a certificate.
    ///
    /// Public: what a verifier needs (whose, of what, from whom, when, valid or revoked) for
    /// a code printed on a certificate; nothing else. An unknown code is 404.
    #[oai(path = "/certificates/:code", method = "get", operation_id = "verifyCertificate")]
    async fn verify(
        &self,
        req: &Request,
        /// The code on the certificate, e.g. `CERT-7K9M-P4N8-X2Q5`.
        code: Path<String>,
    ) -> Result<Json<CertificateVerification>> {
        let code = code.0.trim().to_ascii_uppercase();
        if code.len() > 19 {
            return Err(Error::NotFound);
        }
        let meta = RequestMeta::from_request(req);
        self.db
            .run_public(&meta.request_id, meta.ip.as_deref(), async |tx| {
                certificates::verify(tx, &code).await
            })
            .await
            .map(wire)
    }
}

/// A certificate.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Certificate {
    /// Its id.
    pub id: CertificateId,
    /// Its facility.
    pub facility_id: FacilityId,
    /// The enrollment it completes.
    pub enrollment_id: EnrollmentId,
    /// The student.
    pub student_id: UserId,
    /// The course.
    pub course_id: CourseId,
    /// What a verifier enters at `GET /public/certificates/{code}`.
    pub code: String,
    /// The student's name, as at issue.
    pub student_name: String,
    /// The course's title, as at issue.
    pub course_title: String,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// Who issued it.
    pub issued_by: Option<UserId>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why.
    pub revocation_reason: Option<String>,
}

impl From<crate::db::training::certificates::Certificate> for Certificate {
    fn from(row: crate::db::training::certificates::Certificate) -> Self {
        Self {
            id: row.id,
            facility_id: row.facility_id,
            enrollment_id: row.enrollment_id,
            student_id: row.student_id,
            course_id: row.course_id,
            code: row.code,
            student_name: row.student_name,
            course_title: row.course_title,
            issued_at: row.issued_at,
            issued_by: row.issued_by,
            revoked_at: row.revoked_at,
            revocation_reason: row.revocation_reason,
        }
    }
}

/// What the public sees of a certificate.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct CertificateVerification {
    /// The code looked up.
    pub code: String,
    /// Valid or revoked.
    pub status: CertificateStatus,
    /// Whose it is.
    pub student_name: String,
    /// Of what.
    pub course_title: String,
    /// From which training centre.
    pub issued_by: String,
    /// When (UTC date).
    pub issued_on: NaiveDate,
    /// When it was revoked (UTC date).
    pub revoked_on: Option<NaiveDate>,
}

impl From<crate::db::training::certificates::CertificateVerification> for CertificateVerification {
    fn from(row: crate::db::training::certificates::CertificateVerification) -> Self {
        Self {
            code: row.code,
            status: row.status,
            student_name: row.student_name,
            course_title: row.course_title,
            issued_by: row.issued_by,
            issued_on: row.issued_on,
            revoked_on: row.revoked_on,
        }
    }
}

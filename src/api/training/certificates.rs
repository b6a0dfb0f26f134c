//! Certificates: listed and downloaded by facility admins and their
//! student, revoked by admins, verified by anyone with the code.

use poem::Request;
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::{Binary, Json},
};

use crate::{
    api::{ApiTags, body::JsonBody, page::Page, recovery::reports::Pdf},
    auth::BearerAuth,
    db::{
        Db,
        accounts::facilities,
        training::certificates::{self, Certificate, CertificateVerification},
    },
    domain::{
        ids::{CertificateId, UserId},
        page::{Cursor, Limit, PageRequest},
        text::Text,
    },
    error::{Error, Result},
    identity::RequestMeta,
};

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
        self.db.run(&auth.0, async |tx| certificates::get(tx, id.0).await).await.map(Json)
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
            .map(Json)
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
            .map(Json)
    }
}

//! A course certificate.

use super::{MARGIN, Writer};
use crate::db::training::certificates::Certificate;

/// A course certificate: who, what, from whom, when, and the code that
/// verifies it on the public website.
pub fn render(c: &Certificate, issuer: &str) -> anyhow::Result<Vec<u8>> {
    let mut w = Writer::new(&format!("Certificate {}", c.code), "Carego course certificate")?;
    w.gap(40.0);
    w.text("Certificate of completion", 24.0, MARGIN, true);
    w.gap(12.0);
    w.text("This certifies that", 12.0, MARGIN, false);
    w.gap(2.0);
    w.text(&c.student_name, 20.0, MARGIN, true);
    w.gap(6.0);
    w.text("has completed the course", 12.0, MARGIN, false);
    w.gap(2.0);
    w.text(&c.course_title, 16.0, MARGIN, true);
    w.gap(6.0);
    w.text(&format!("at {issuer}, on {}.", c.issued_at.format("%Y-%m-%d")), 12.0, MARGIN, false);
    w.gap(20.0);
    w.text(&format!("Verification code {}", c.code), 11.0, MARGIN, true);
    w.text(
        "Check it at /api/v1/public/certificates/{code} on the issuer's Carego server.",
        9.0,
        MARGIN,
        false,
    );
    if let Some(at) = c.revoked_at {
        w.gap(6.0);
        w.text(&format!("REVOKED on {}", at.format("%Y-%m-%d")), 14.0, MARGIN, true);
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use uuid::Uuid;

    use super::*;
    use crate::domain::ids::{CertificateId, CourseId, EnrollmentId, FacilityId, UserId};

    #[test]
    fn a_certificate_says_nothing_of_health_on_any_page() {
        let c = Certificate {
            id: CertificateId(Uuid::new_v4()),
            facility_id: FacilityId(Uuid::new_v4()),
            enrollment_id: EnrollmentId(Uuid::new_v4()),
            student_id: UserId(Uuid::new_v4()),
            course_id: CourseId(Uuid::new_v4()),
            code: "CERT-7K2M-9PQR".into(),
            student_name: "Asha Verma".into(),
            course_title: "Home care basics".into(),
            issued_at: Utc::now(),
            issued_by: None,
            revoked_at: None,
            revocation_reason: None,
        };
        let pdf = printpdf::lopdf::Document::load_mem(&render(&c, "Harbor Training").unwrap()).unwrap();
        let pages: Vec<u32> = pdf.get_pages().keys().copied().collect();
        let text = pdf.extract_text(&pages).unwrap();
        for expected in ["Asha Verma", "Home care basics", "Carego course certificate", "page 1"] {
            assert!(text.contains(expected), "{expected:?} not in:\n{text}");
        }
        assert!(!text.contains("health") && !text.contains("progress report"), "{text}");
    }
}

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

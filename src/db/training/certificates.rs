//! Certificates (V32): issued on completion, verified by code by anyone,
//! revoked (once) with a reason.

use chrono::{DateTime, NaiveDate, Utc};
use rand::{Rng, rngs::OsRng};
use tokio_postgres::Row;

use crate::{
    db::{
        OnConstraint, TenantTx,
        filters::{Bound, Variants},
    },
    domain::{
        ids::{CertificateId, CourseId, EnrollmentId, FacilityId, UserId},
        page::{Keyed, PageRequest},
        text_enum,
    },
    error::{Conflict, Error, Result},
};

/// The conflicts certificates can meet.
impl Conflict {
    pub const CERTIFICATE_REVOKED: Self =
        Self::new("certificate_revoked", "This certificate is revoked; it no longer changes.");
}

/// Digits and capitals without the look-alikes (0/O, 1/I/L).
const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// A fresh verification code, `CERT-XXXX-XXXX-XXXX`: 12 symbols of 31, about 59 bits, so
/// codes cannot be enumerated from the public lookup.
pub fn new_code() -> String {
    let mut code = String::from("CERT");
    for _ in 0..3 {
        code.push('-');
        for _ in 0..4 {
            code.push(ALPHABET[OsRng.gen_range(0..ALPHABET.len())] as char);
        }
    }
    code
}

/// A certificate.
#[derive(Debug, Clone)]
pub struct Certificate {
    pub id: CertificateId,
    pub facility_id: FacilityId,
    pub enrollment_id: EnrollmentId,
    pub student_id: UserId,
    pub course_id: CourseId,
    pub code: String,
    pub student_name: String,
    pub course_title: String,
    pub issued_at: DateTime<Utc>,
    pub issued_by: Option<UserId>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revocation_reason: Option<String>,
}

impl Keyed for Certificate {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.issued_at, self.id.0)
    }
}

impl TryFrom<&Row> for Certificate {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            facility_id: row.try_get("facility_id")?,
            enrollment_id: row.try_get("enrollment_id")?,
            student_id: row.try_get("student_id")?,
            course_id: row.try_get("course_id")?,
            code: row.try_get("code")?,
            student_name: row.try_get("student_name")?,
            course_title: row.try_get("course_title")?,
            issued_at: row.try_get("issued_at")?,
            issued_by: row.try_get("issued_by")?,
            revoked_at: row.try_get("revoked_at")?,
            revocation_reason: row.try_get("revocation_reason")?,
        })
    }
}

macro_rules! columns {
    () => {
        "id, facility_id, enrollment_id, student_id, course_id, code, student_name, course_title, \
         issued_at, issued_by, revoked_at, revocation_reason"
    };
}

pub const ISSUE: &str = concat!(
    "insert into certificates (facility_id, enrollment_id, student_id, course_id, code, student_name,
                               course_title)
     select e.facility_id, e.id, e.student_id, c.id, $2, u.first_name || ' ' || u.last_name, c.title
       from enrollments e
       join batches b on b.facility_id = e.facility_id and b.id = e.batch_id
       join courses c on c.facility_id = b.facility_id and c.id = b.course_id
       join users u on u.id = e.student_id
      where e.id = $1
     returning ",
    columns!()
);

/// Issues the certificate of a completed enrollment.
pub async fn issue(tx: &mut TenantTx, enrollment: EnrollmentId) -> Result<Certificate> {
    // A code collision (one in 2^59) is retried, never shown.
    for _ in 0..3 {
        let code = new_code();
        let issued = tx.savepoint(async |tx| {
            let row = tx
                .query_one(ISSUE, &[&enrollment, &code])
                .await
                .on_constraint("certificates_code_key", Conflict::DUPLICATE)?;
            Certificate::try_from(&row)
        });
        match issued.await? {
            Err(Error::Conflict(Conflict::DUPLICATE)) => continue,
            other => return other,
        }
    }
    Err(Error::internal(anyhow::anyhow!("three certificate codes in a row were taken")))
}

pub const GET: &str = concat!("select ", columns!(), " from certificates where id = $1");

pub async fn get(tx: &mut TenantTx, id: CertificateId) -> Result<Certificate> {
    Certificate::try_from(&tx.query_one(GET, &[&id]).await?)
}

/// Newest first. `$1` the fetch limit; then, each only when given (see
/// [`filters`](crate::db::filters)): student, the cursor.
pub static LIST: Variants = Variants::new(
    concat!(
        "select ",
        columns!(),
        " from certificates
         where true {where}
         order by issued_at desc, id desc limit $1"
    ),
    &["student_id = $::uuid", "(issued_at, id) < ($::timestamptz, $::uuid)"],
);

/// The certificates the caller can see (a student: their own), newest first.
pub async fn list(
    tx: &mut TenantTx,
    student: Option<UserId>,
    page: &PageRequest,
) -> Result<Vec<Certificate>> {
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&limit]).opt(&student).after(page);
    let rows = tx.query(LIST.get(bound.present), &bound.params).await?;
    rows.iter().map(Certificate::try_from).collect()
}

pub const REVOKE: &str = concat!(
    "update certificates set revoked_at = now(), revocation_reason = $2 where id = $1 returning ",
    columns!()
);

/// Revokes it, once (facility admins).
pub async fn revoke(tx: &mut TenantTx, id: CertificateId, reason: &str) -> Result<Certificate> {
    let row = tx
        .query_one(REVOKE, &[&id, &reason])
        .await
        .on_constraint("certificates_revoked_check", Conflict::CERTIFICATE_REVOKED)?;
    Certificate::try_from(&row)
}

text_enum! {
    /// Whether a certificate still stands.
    pub enum CertificateStatus {
        /// Issued and not revoked.
        Valid = "valid",
        /// Revoked by the training centre.
        Revoked = "revoked",
    }
}

/// What the public sees of a certificate.
#[derive(Debug, Clone)]
pub struct CertificateVerification {
    pub code: String,
    pub status: CertificateStatus,
    pub student_name: String,
    pub course_title: String,
    pub issued_by: String,
    pub issued_on: NaiveDate,
    pub revoked_on: Option<NaiveDate>,
}

pub const VERIFY: &str = "select * from carego.verify_certificate($1)";

/// Looks a code up as the public (a SECURITY DEFINER function returns only
/// what a verifier needs).
pub async fn verify(tx: &mut TenantTx, code: &str) -> Result<CertificateVerification> {
    let row = tx.query_one(VERIFY, &[&code]).await?;
    let revoked: bool = row.try_get("revoked")?;
    Ok(CertificateVerification {
        code: row.try_get("code")?,
        status: if revoked { CertificateStatus::Revoked } else { CertificateStatus::Valid },
        student_name: row.try_get("student_name")?,
        course_title: row.try_get("course_title")?,
        issued_by: row.try_get("facility_name")?,
        issued_on: row.try_get("issued_on")?,
        revoked_on: row.try_get("revoked_on")?,
    })
}

//! Staff profiles (V35): skills, certifications, languages, availability.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use crate::{
    db::TenantTx,
    domain::ids::UserId,
    error::{Error, Result},
};

/// What a staff member brings.
#[derive(Debug, Clone)]
pub struct StaffProfile {
    pub user_id: UserId,
    pub skills: Vec<String>,
    pub certifications: Vec<String>,
    pub languages: Vec<String>,
    pub availability: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl TryFrom<&Row> for StaffProfile {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            user_id: row.try_get("user_id")?,
            skills: row.try_get("skills")?,
            certifications: row.try_get("certifications")?,
            languages: row.try_get("languages")?,
            availability: row.try_get("availability")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// The profile's fields, validated.
pub struct StaffProfileFields<'a> {
    pub skills: &'a [String],
    pub certifications: &'a [String],
    pub languages: &'a [String],
    pub availability: Option<&'a str>,
}

/// A staff member or facility admin the caller can see, with their
/// profile (empty until one is written).
pub const GET: &str = "
    select u.id as user_id, coalesce(p.skills, '{}') as skills,
           coalesce(p.certifications, '{}') as certifications, coalesce(p.languages, '{}') as languages,
           p.availability, p.updated_at
      from users u
      left join staff_profiles p on p.facility_id = u.facility_id and p.user_id = u.id
     where u.id = $1 and u.role in ('staff', 'facility_admin')";

pub async fn get(tx: &mut TenantTx, id: UserId) -> Result<StaffProfile> {
    StaffProfile::try_from(&tx.query_one(GET, &[&id]).await?)
}

pub const UPSERT: &str = "
    insert into staff_profiles (facility_id, user_id, skills, certifications, languages, availability)
    select u.facility_id, u.id, $2, $3, $4, $5 from users u
     where u.id = $1 and u.role in ('staff', 'facility_admin')
    on conflict (facility_id, user_id) do update
       set skills = excluded.skills, certifications = excluded.certifications,
           languages = excluded.languages, availability = excluded.availability";

/// Writes the whole profile (facility admins).
pub async fn set(tx: &mut TenantTx, id: UserId, p: &StaffProfileFields<'_>) -> Result<StaffProfile> {
    get(tx, id).await?;
    tx.execute(UPSERT, &[&id, &p.skills, &p.certifications, &p.languages, &p.availability]).await?;
    get(tx, id).await
}

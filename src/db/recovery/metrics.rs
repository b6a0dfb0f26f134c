//! Facility weekly metrics: a rollup table per facility and ISO week,
//! refreshed incrementally from the audit chain (V19) before each read.

use chrono::{DateTime, NaiveDate, Utc};

use crate::{db::TenantTx, domain::ids::FacilityId, error::Result};

/// One week of a facility.
#[derive(Debug, Clone)]
pub struct WeeklyMetrics {
    pub week_start: NaiveDate,
    pub occupancy: i32,
    pub admissions: i32,
    pub discharges: i32,
    pub check_in_compliance: Option<f64>,
    pub dose_adherence: Option<f64>,
    pub average_mood: Option<f64>,
    pub check_ins: i32,
    pub refreshed_at: DateTime<Utc>,
}

pub const FACILITY: &str = "select id from facilities where id = $1";
pub const REFRESH: &str = "select carego.refresh_weekly_metrics($1) as weeks";
pub const LIST: &str = "
    select week_start, occupancy, admissions, discharges, check_in_compliance::float8 as check_in_compliance,
           dose_adherence::float8 as dose_adherence, average_mood::float8 as average_mood, check_ins, refreshed_at
      from facility_weekly_metrics
     where facility_id = $1
       and week_start > (date_trunc('week', now() at time zone 'UTC')::date - $2 * 7)
     order by week_start desc";

/// The facility's last `weeks` weeks, newest first, brought up to date
/// first; `NotFound` for a facility the caller does not see.
pub async fn weekly(tx: &mut TenantTx, facility: FacilityId, weeks: i32) -> Result<Vec<WeeklyMetrics>> {
    tx.query_one(FACILITY, &[&facility]).await?;
    tx.query_one(REFRESH, &[&facility]).await?;
    let rows = tx.query(LIST, &[&facility, &weeks]).await?;
    rows.iter()
        .map(|r| {
            Ok(WeeklyMetrics {
                week_start: r.try_get("week_start")?,
                occupancy: r.try_get("occupancy")?,
                admissions: r.try_get("admissions")?,
                discharges: r.try_get("discharges")?,
                check_in_compliance: r.try_get("check_in_compliance")?,
                dose_adherence: r.try_get("dose_adherence")?,
                average_mood: r.try_get("average_mood")?,
                check_ins: r.try_get("check_ins")?,
                refreshed_at: r.try_get("refreshed_at")?,
            })
        })
        .collect()
}

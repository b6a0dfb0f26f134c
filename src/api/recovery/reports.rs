//! The patient progress report, as a PDF to print and hand to a clinician.

use chrono::{Duration, NaiveDate, Utc};
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Path, Query},
    payload::{Binary, Json},
};

use crate::{
    api::ApiTags,
    auth::BearerAuth,
    db::{
        Db,
        recovery::{
            metrics::{self, WeeklyMetrics},
            report,
        },
    },
    domain::ids::{FacilityId, PatientId},
    error::{Error, Result, Validator},
};

/// The longest period one report covers, in days.
pub const MAX_DAYS: i64 = 366;

pub struct ReportsApi {
    pub db: Db,
}

/// A facility's weeks, newest first.
#[derive(Debug, poem_openapi::Object)]
#[oai(rename_all = "camelCase")]
pub struct WeeklyMetricsList {
    /// One per week, newest first (the current week so far included).
    pub items: Vec<WeeklyMetrics>,
}

/// A PDF document.
#[derive(ApiResponse)]
pub enum Pdf {
    /// The report (A4), to print or save.
    #[oai(status = 200, content_type = "application/pdf")]
    Pdf(Binary<Vec<u8>>, #[oai(header = "Content-Disposition")] String),
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Reports")]
impl ReportsApi {
    /// A patient's progress report (PDF).
    ///
    /// The patient, key figures of the period (days sober, check-in days, average mood,
    /// cravings, meetings, dose adherence, goals), a chart of daily mood and cravings, and tables
    /// of the period's check-ins, cravings, meetings and goals (at most 1000 rows each). `from`
    /// and `to` are days (UTC), both included: default the 30 days to today, at most 366 days.
    /// For the patient and everyone who sees their chart; audited as a read of the chart.
    #[oai(path = "/patients/:id/reports/progress", method = "get", operation_id = "getProgressReport")]
    async fn progress(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        /// The first day; default 29 days before `to`.
        from: Query<Option<NaiveDate>>,
        /// The last day; default today (UTC).
        to: Query<Option<NaiveDate>>,
    ) -> Result<Pdf> {
        let today = Utc::now().date_naive();
        let to = to.0.unwrap_or(today);
        let from = from.0.unwrap_or(to - Duration::days(29));
        let mut v = Validator::default();
        v.check(from <= to, "from", "must not be after to");
        v.check((to - from).num_days() < MAX_DAYS, "from", "the period must be at most 366 days");
        v.check(to <= today + Duration::days(1), "to", "must not be in the future");
        v.finish()?;
        let data = self.db.run(&auth.0, async |tx| report::progress(tx, id.0, from, to).await).await?;
        let pdf = tokio::task::spawn_blocking(move || crate::report::progress_pdf(&data))
            .await
            .map_err(Error::internal)?
            .map_err(Error::internal)?;
        let name = format!("attachment; filename=\"progress-report-{from}-to-{to}.pdf\"");
        Ok(Pdf::Pdf(Binary(pdf), name))
    }

    /// A facility's weekly metrics.
    ///
    /// Per ISO week (UTC): occupancy, admissions and discharges, check-in compliance, dose
    /// adherence, average mood. A rollup brought up to date incrementally on each read (only the
    /// weeks that changed since the last are recomputed). The facility's admins and super admins.
    #[oai(path = "/facilities/:id/metrics/weekly", method = "get", operation_id = "getWeeklyMetrics")]
    async fn weekly(
        &self,
        auth: BearerAuth,
        id: Path<FacilityId>,
        /// How many weeks back, 1–52 (default 12).
        weeks: Query<Option<i32>>,
    ) -> Result<Json<WeeklyMetricsList>> {
        let weeks = weeks.0.unwrap_or(12);
        if !(1..=52).contains(&weeks) {
            return Err(Error::invalid("weeks", "must be a whole number from 1 to 52"));
        }
        let items = self.db.run(&auth.0, async |tx| metrics::weekly(tx, id.0, weeks).await).await?;
        Ok(Json(WeeklyMetricsList { items }))
    }
}

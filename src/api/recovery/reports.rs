//! The patient progress report, as a PDF to print and hand to a clinician.

use chrono::{Duration, NaiveDate, Utc};
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Path, Query},
    payload::Binary,
};

use crate::{
    api::ApiTags,
    auth::BearerAuth,
    db::{Db, recovery::report},
    domain::ids::PatientId,
    error::{Error, Result, Validator},
};

/// The longest period one report covers, in days.
pub const MAX_DAYS: i64 = 366;

pub struct ReportsApi {
    pub db: Db,
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
}

//! The patient progress report, as a PDF to print and hand to a clinician:
//! at once, or filed as one of the patient's documents, rendered by a job.

use chrono::{Duration, NaiveDate, Utc};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::{Binary, Json},
};
use serde_json::json;

use crate::api::communication::documents::Document;
use crate::api::contract::{Contract, Contracts};
use crate::api::examples::{AT, DOCUMENT, Example};
use crate::error::Conflict;
use crate::{
    api::wire_all,
    api::{ApiTags, body::JsonBody},
    auth::BearerAuth,
    db::{
        Db,
        communication::documents::{self},
        recovery::{
            Outcome,
            metrics::{self},
            report,
        },
    },
    domain::{
        ids::{DocumentId, FacilityId, PatientId},
        text::Opt,
    },
    error::{Error, Result, Validator},
};
use chrono::DateTime;

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
    /// The document (A4), to print or save.
    #[oai(status = 200, content_type = "application/pdf")]
    Pdf(Binary<Vec<u8>>, #[oai(header = "Content-Disposition")] String),
}

/// A progress report to file as a document of the patient's.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct FileProgressReportRequest {
    /// A new UUID the client makes for the document, so a retry files it once.
    pub id: DocumentId,
    /// The first day; default 29 days before `to`.
    pub from: Opt<NaiveDate>,
    /// The last day; default today (UTC).
    pub to: Opt<NaiveDate>,
    /// Whether the patient may read it once it is rendered (default false).
    pub visible_to_patient: Opt<bool>,
}

/// What filing a report answers.
#[derive(ApiResponse)]
pub enum Filed {
    /// Accepted: the document is `pending` until the report is rendered and stored, then
    /// `ready` (poll `GET /documents/{id}`; the patient's stream says `document.shared` when it
    /// is shared with them).
    #[oai(status = 202)]
    Accepted(Json<Document>),
    /// Already filed under this id with this period (a retry): the document as it stands.
    #[oai(status = 200)]
    Replayed(Json<Document>),
}

/// The period of a report: `from` and `to` both included, by default the
/// 30 days to today, at most [`MAX_DAYS`], not in the future.
fn period(from: Option<NaiveDate>, to: Option<NaiveDate>) -> Result<(NaiveDate, NaiveDate)> {
    let today = Utc::now().date_naive();
    let to = to.unwrap_or(today);
    let from = from.unwrap_or(to - Duration::days(29));
    let mut v = Validator::default();
    v.check(from <= to, "from", "must not be after to");
    v.check((to - from).num_days() < MAX_DAYS, "from", "the period must be at most 366 days");
    v.check(to <= today + Duration::days(1), "to", "must not be in the future");
    v.finish()?;
    Ok((from, to))
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts {
    file: file!(),
    operations: &[Contract::of("fileProgressReport").conflicts(&[Conflict::RECORD_ID_TAKEN])],
    examples,
};

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<WeeklyMetricsList>(
            json!({"items": [{"weekStart": "2026-11-16", "occupancy": 42, "admissions": 3, "discharges": 2,
                              "checkInCompliance": 0.87, "doseAdherence": 0.93, "averageMood": 6.4,
                              "checkIns": 256, "refreshedAt": AT}]}),
        ),
        Example::of::<FileProgressReportRequest>(
            json!({"id": DOCUMENT, "from": "2026-10-22", "to": "2026-11-20", "visibleToPatient": true}),
        ),
    ]
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Reports")]
impl ReportsApi {
    /// File a progress report as a document.
    ///
    /// The same report as `GET /patients/{id}/reports/progress`, rendered in the background by
    /// the job queue (as the caller, who must still see the patient when it runs) and kept as a
    /// document of kind `progress_report`, to download later or share with the patient. The
    /// client makes the document's id: the same id and period again answers 200 with it. For
    /// the patient's care team and facility admins.
    #[oai(path = "/patients/:id/reports/progress", method = "post", operation_id = "fileProgressReport")]
    async fn file(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        body: JsonBody<FileProgressReportRequest>,
    ) -> Result<Filed> {
        let b = &body.0;
        let period = period(b.from.0, b.to.0)?;
        let visible = b.visible_to_patient.0.unwrap_or(false);
        let outcome = self
            .db
            .run(&auth.0, async |tx| documents::file_progress_report(tx, id.0, b.id, period, visible).await)
            .await?;
        Ok(match outcome {
            Outcome::Created(d) => Filed::Accepted(Json(d.into())),
            Outcome::Replayed(d) => Filed::Replayed(Json(d.into())),
        })
    }

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
        let (from, to) = period(from.0, to.0)?;
        let data = self.db.run(&auth.0, async |tx| report::progress(tx, id.0, from, to).await).await?;
        let pdf = tokio::task::spawn_blocking(move || crate::pdf::progress::render(&data))
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
        Ok(Json(WeeklyMetricsList { items: wire_all(items) }))
    }
}

/// One week of a facility.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct WeeklyMetrics {
    /// The Monday the week starts on (UTC).
    pub week_start: NaiveDate,
    /// Patients whose stay overlaps the week.
    pub occupancy: i32,
    /// Admissions in the week.
    pub admissions: i32,
    /// Discharges in the week.
    pub discharges: i32,
    /// Days with a check-in out of the staying patients' days, 0–1; absent with no patients.
    pub check_in_compliance: Option<f64>,
    /// Doses taken (on time or late) out of all recorded, 0–1; absent with none recorded.
    pub dose_adherence: Option<f64>,
    /// Average mood of the week's check-ins; absent with none.
    pub average_mood: Option<f64>,
    /// Check-ins in the week.
    pub check_ins: i32,
    /// When this week was last recomputed.
    pub refreshed_at: DateTime<Utc>,
}

impl From<crate::db::recovery::metrics::WeeklyMetrics> for WeeklyMetrics {
    fn from(row: crate::db::recovery::metrics::WeeklyMetrics) -> Self {
        Self {
            week_start: row.week_start,
            occupancy: row.occupancy,
            admissions: row.admissions,
            discharges: row.discharges,
            check_in_compliance: row.check_in_compliance,
            dose_adherence: row.dose_adherence,
            average_mood: row.average_mood,
            check_ins: row.check_ins,
            refreshed_at: row.refreshed_at,
        }
    }
}

//! The job queue's door (V21): claiming and settling jobs as the platform's
//! login role (`carego_platform`; a tenant connection cannot), outside any
//! tenant transaction. What a job does runs in a [`TenantTx`](super::TenantTx)
//! opened by [`Db::begin_job`], whose prologue (`carego.begin_job`, V41)
//! checks that this worker holds the job and signs its context.

use std::time::Duration;

use uuid::Uuid;

use super::Db;
use chrono::NaiveDate;

use crate::{
    domain::ids::{CrisisAlertId, DocumentId, FacilityId, PatientId, UserId, WebhookDeliveryId},
    error::Result,
    identity::Role,
};

/// What a job does, with its payload: the closed set of kinds of V43's
/// `jobs_kind_check`, each enqueued by its own function or trigger there.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(tag = "kind", content = "payload", rename_all = "snake_case")]
pub enum JobKind {
    /// Nobody acknowledged a crisis alert in time: tell the next tier.
    #[serde(rename_all = "camelCase")]
    CrisisEscalation { alert_id: CrisisAlertId },
    /// The hourly rollup of a facility's weekly metrics.
    WeeklyMetrics {},
    /// A deleted document's stored object is removed.
    #[serde(rename_all = "camelCase")]
    DocumentRemoval { document_id: DocumentId },
    /// A filed progress report is rendered, as the staff member who filed it.
    #[serde(rename_all = "camelCase")]
    ProgressReport { document_id: DocumentId, patient_id: PatientId, from: NaiveDate, to: NaiveDate },
    /// One webhook delivery is sent.
    #[serde(rename_all = "camelCase")]
    WebhookDelivery { delivery_id: WebhookDeliveryId },
    /// The daily sweep of stored objects no document refers to.
    DocumentSweep {},
    /// The daily cleanup of expired sessions, keys, jobs and events.
    Cleanup {},
}

impl JobKind {
    /// A job's kind and payload as the queue holds them.
    pub fn parse(kind: &str, payload: serde_json::Value) -> anyhow::Result<Self> {
        Ok(serde_json::from_value(serde_json::json!({"kind": kind, "payload": payload}))?)
    }

    /// Its name in the queue (for logs and metrics).
    pub fn name(&self) -> &'static str {
        match self {
            Self::CrisisEscalation { .. } => "crisis_escalation",
            Self::WeeklyMetrics {} => "weekly_metrics",
            Self::DocumentRemoval { .. } => "document_removal",
            Self::ProgressReport { .. } => "progress_report",
            Self::WebhookDelivery { .. } => "webhook_delivery",
            Self::DocumentSweep {} => "document_sweep",
            Self::Cleanup {} => "cleanup",
        }
    }
}

/// A claimed job.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    pub facility_id: Option<FacilityId>,
    /// What it does; an error when the queue holds what this server does
    /// not know (a newer server's kind): the job then fails and is retried,
    /// perhaps by a newer server.
    pub kind: Result<JobKind, String>,
    /// The user it runs as (re-checked), with their role.
    pub requester: Option<(UserId, Role)>,
    pub attempts: i32,
    pub max_attempts: i32,
    /// The worker that claimed it: the job prologue checks the lease is ours.
    pub worker: String,
}

impl Job {
    /// Its kind's name, or `unknown`.
    pub fn kind_name(&self) -> &'static str {
        self.kind.as_ref().map_or("unknown", JobKind::name)
    }
}

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    Done,
    /// No longer applicable (its requester left, its record is gone).
    Skipped,
    /// Failed: retried after the delay while attempts remain.
    Failed(Duration),
}

const ENQUEUE_PROGRESS_REPORT: &str = "select carego.enqueue_progress_report($1, $2, $3, $4) as id";

/// Queues the rendering of the progress report the caller has just filed,
/// in the caller's transaction: it exists only if the filing commits, and
/// runs as the caller while they stay active.
pub async fn enqueue_progress_report(
    tx: &mut super::TenantTx,
    document: DocumentId,
    patient: PatientId,
    (from, to): (NaiveDate, NaiveDate),
) -> Result<()> {
    tx.query_one(ENQUEUE_PROGRESS_REPORT, &[&document, &patient, &from, &to]).await?;
    Ok(())
}

impl Db {
    /// Claims up to `limit` due jobs for `lease`.
    pub async fn claim_jobs(&self, worker: &str, limit: i32, lease: Duration) -> Result<Vec<Job>> {
        let conn = self.checkout_platform().await?;
        let lease = format!("{} milliseconds", lease.as_millis());
        let rows = conn
            .query("select * from carego.claim_jobs($1, $2, $3::text::interval)", &[&worker, &limit, &lease])
            .await?;
        rows.iter()
            .map(|r| {
                let requester: Option<UserId> = r.try_get("requested_by")?;
                let role: Option<Role> = r.try_get("requester_role")?;
                let (kind, payload): (String, serde_json::Value) =
                    (r.try_get("kind")?, r.try_get("payload")?);
                Ok(Job {
                    id: r.try_get("id")?,
                    facility_id: r.try_get("facility_id")?,
                    kind: JobKind::parse(&kind, payload).map_err(|e| format!("job kind {kind}: {e}")),
                    requester: requester.zip(role),
                    attempts: r.try_get("attempts")?,
                    max_attempts: r.try_get("max_attempts")?,
                    worker: worker.to_owned(),
                })
            })
            .collect()
    }

    /// Settles a claimed job; false when the lease was lost meanwhile.
    pub async fn settle_job(
        &self,
        job: &Job,
        worker: &str,
        how: Settled,
        error: Option<&str>,
    ) -> Result<bool> {
        let conn = self.checkout_platform().await?;
        let (outcome, retry) = match how {
            Settled::Done => ("done", Duration::ZERO),
            Settled::Skipped => ("skipped", Duration::ZERO),
            Settled::Failed(retry) => ("failed", retry),
        };
        let retry = format!("{} milliseconds", retry.as_millis());
        let row = conn
            .query_opt(
                "select carego.settle_job($1, $2, $3, $4, $5::text::interval) as settled",
                &[&job.id, &worker, &outcome, &error, &retry],
            )
            .await?;
        Ok(row.and_then(|r| r.get::<_, Option<bool>>("settled")).unwrap_or(false))
    }

    /// Enqueues the periodic jobs of the current period (once across servers).
    pub async fn schedule_periodic_jobs(&self) -> Result<i32> {
        let conn = self.checkout_platform().await?;
        Ok(conn.query_one("select carego.schedule_periodic_jobs() as n", &[]).await?.get("n"))
    }

    /// The daily cleanup, as its own transaction: what it removed.
    pub async fn cleanup_expired(&self) -> Result<(i64, i64, i64, i64)> {
        let conn = self.checkout_platform().await?;
        let row = conn.query_one("select * from carego.cleanup_expired()", &[]).await?;
        Ok((row.get("sessions"), row.get("registration_keys"), row.get("jobs"), row.get("events")))
    }

    /// A job's tenant transaction: its facility, as its requester (whose
    /// account and facility the job prologue re-checks) or, for jobs no user
    /// asked for (or `Job { requester: None, .. }`), as `carego_worker`,
    /// which has a facility admin's reach inside that one facility.
    pub async fn begin_job(&self, job: &Job) -> Result<super::TenantTx> {
        self.begin_job_in(job, None).await
    }

    /// [`begin_job`](Self::begin_job) for a platform job (no facility of its
    /// own) working on one facility's rows now, as the document sweep does.
    pub async fn begin_job_in(&self, job: &Job, facility: Option<FacilityId>) -> Result<super::TenantTx> {
        let (db_role, app_role, user) = match job.requester {
            Some((user, role)) => (role.into(), role.as_str(), Some(user)),
            None => (super::DbRole::Worker, "worker", None),
        };
        self.begin_with(super::Context {
            db_role,
            app_role,
            facility_id: job.facility_id.or(facility),
            user_id: user,
            session_id: None,
            request_id: format!("job-{}-{}", job.id, Uuid::new_v4().simple()),
            ip: None,
            reason: Some(format!("job {} ({})", job.id, job.kind_name())),
            door: super::Door::Job {
                id: job.id,
                worker: job.worker.clone(),
                facility,
                as_worker: job.requester.is_none(),
            },
        })
        .await
    }
}

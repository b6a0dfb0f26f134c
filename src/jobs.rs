//! The background job worker: one per server process, any number of
//! servers. It claims due jobs from the queue (V21, `FOR UPDATE SKIP
//! LOCKED` under a lease), runs each in its facility's tenant context, and
//! settles it: done, skipped (no longer applicable: its requester was
//! suspended, its record is gone) or failed (retried with exponential
//! backoff). It is woken by NOTIFY when a job is enqueued and polls as a
//! backstop; once a minute it enqueues the periodic jobs, which the queue's
//! dedupe keys run once per period across servers.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use crate::{
    db::{
        Db,
        communication::{crisis, documents, webhooks},
        infra::listen::Hub,
        jobs::{Job, JobKind, Settled},
        recovery::{metrics, report},
    },
    domain::{
        documents::DocumentStatus,
        ids::{DocumentId, FacilityId, PatientId, WebhookDeliveryId},
    },
    error::{Error, Result},
    storage::Storage,
    webhooks::{Attempt as WebhookAttempt, Sender},
};

/// Jobs claimed at a time.
const BATCH: i32 = 8;
/// How long a claimed job is ours before another server may take it.
const LEASE: Duration = Duration::from_secs(120);
const SCHEDULE_EVERY: Duration = Duration::from_secs(60);
/// An object younger than this may be an upload still being recorded: the
/// sweep leaves it.
const SWEEP_GRACE: Duration = Duration::from_secs(3600);

/// The worker of one server process.
pub struct Worker {
    db: Db,
    hub: Arc<Hub>,
    storage: Storage,
    webhooks: Arc<Sender>,
    id: String,
    poll: Duration,
}

impl Worker {
    pub fn new(db: Db, hub: Arc<Hub>, storage: Storage, webhooks: Arc<Sender>, poll: Duration) -> Self {
        let id = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        Self { db, hub, storage, webhooks, id, poll }
    }

    /// Runs until the future is dropped.
    pub async fn run(self) {
        let mut scheduled: Option<Instant> = None;
        loop {
            if scheduled.is_none_or(|at| at.elapsed() >= SCHEDULE_EVERY) {
                match self.db.schedule_periodic_jobs().await {
                    Ok(_) => scheduled = Some(Instant::now()),
                    Err(e) => tracing::warn!(error = %e, "could not schedule the periodic jobs"),
                }
            }
            // Listen before looking, so a job enqueued in between still wakes us.
            let woken = self.hub.jobs_enqueued();
            tokio::pin!(woken);
            woken.as_mut().enable();
            match self.run_due().await {
                Ok(0) => {
                    tokio::select! {
                        () = &mut woken => {}
                        () = tokio::time::sleep(self.poll) => {}
                    }
                }
                Ok(_) => {} // there may be more
                Err(e) => {
                    tracing::warn!(error = %e, "could not claim jobs");
                    tokio::time::sleep(self.poll).await;
                }
            }
        }
    }

    /// Claims one batch of due jobs and runs them: how many there were.
    pub async fn run_due(&self) -> Result<usize> {
        let jobs = self.db.claim_jobs(&self.id, BATCH, LEASE).await?;
        for job in &jobs {
            let started = Instant::now();
            let (how, error) = match self.perform(job).await {
                Ok(()) => (Settled::Done, None),
                // The requester was suspended, the record removed: nothing to do.
                Err(e @ (Error::Forbidden(_) | Error::NotFound)) => (Settled::Skipped, Some(e.to_string())),
                Err(e) => (Settled::Failed(backoff(job.attempts)), Some(e.to_string())),
            };
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            match &error {
                None => tracing::debug!(job = job.id, kind = job.kind_name(), ms, "job done"),
                Some(e) => {
                    tracing::warn!(job = job.id, kind = job.kind_name(), attempt = job.attempts, ms, error = %e, ?how, "job not done")
                }
            }
            // What must happen when a job will not run again is done while it
            // is still held: the job's own prologue checks the lease.
            let last = how == Settled::Skipped || (error.is_some() && job.attempts >= job.max_attempts);
            match &job.kind {
                Ok(JobKind::WebhookDelivery { delivery_id }) if last => {
                    if let Err(e) = self.webhook_given_up(job, *delivery_id).await {
                        tracing::warn!(job = job.id, error = %e, "could not mark a webhook delivery failed");
                    }
                }
                Ok(JobKind::ProgressReport { document_id, .. }) if last => {
                    if let Err(e) = self.report_not_filed(job, *document_id).await {
                        tracing::warn!(job = job.id, error = %e, "could not mark an unrendered report failed");
                    }
                }
                _ => {}
            }
            if let Err(e) = self.db.settle_job(job, &self.id, how, error.as_deref()).await {
                tracing::warn!(job = job.id, error = %e, "could not settle a job; its lease will run out");
            }
        }
        Ok(jobs.len())
    }

    async fn perform(&self, job: &Job) -> Result<()> {
        let kind = job.kind.as_ref().map_err(|e| Error::internal(anyhow::anyhow!("{e}")))?;
        match kind {
            &JobKind::CrisisEscalation { alert_id } => {
                let mut tx = self.db.begin_job(job).await?;
                if crisis::escalate(&mut tx, alert_id).await? {
                    tracing::warn!(job = job.id, alert = %alert_id, "crisis alert escalated: nobody acknowledged it in time");
                }
                tx.commit().await
            }
            JobKind::WeeklyMetrics {} => {
                let mut tx = self.db.begin_job(job).await?;
                tx.query_one(metrics::REFRESH, &[&job.facility_id]).await?;
                tx.commit().await
            }
            &JobKind::DocumentRemoval { document_id } => {
                let mut tx = self.db.begin_job(job).await?;
                if let Some(key) = documents::removal_target(&mut tx, document_id).await? {
                    // Removed before it is marked: a failure here retries the job.
                    self.storage.delete(&key).await?;
                    documents::mark_removed(&mut tx, document_id).await?;
                }
                tx.commit().await
            }
            &JobKind::ProgressReport { document_id, patient_id, from, to } => {
                self.file_progress_report(job, document_id, patient_id, (from, to)).await
            }
            &JobKind::WebhookDelivery { delivery_id } => self.deliver_webhook(job, delivery_id).await,
            JobKind::DocumentSweep {} => {
                let removed = self.sweep_documents(job).await?;
                if removed > 0 {
                    tracing::info!(removed, "document sweep");
                }
                Ok(())
            }
            JobKind::Cleanup {} => {
                let (sessions, keys, jobs, events) = self.db.cleanup_expired().await?;
                if sessions + keys + jobs + events > 0 {
                    tracing::info!(sessions, registration_keys = keys, jobs, events, "daily cleanup");
                }
                Ok(())
            }
        }
    }

    /// Renders a filed progress report and stores it as its document's
    /// content. Read and recorded in two tenant transactions as the
    /// requester (who must still see the patient); rendered between them
    /// off the async threads, holding no connection.
    async fn file_progress_report(
        &self,
        job: &Job,
        document: DocumentId,
        patient: PatientId,
        (from, to): (chrono::NaiveDate, chrono::NaiveDate),
    ) -> Result<()> {
        let mut tx = self.db.begin_job(job).await?;
        let target = documents::upload_target(&mut tx, document).await?;
        if target.status != DocumentStatus::Pending {
            return Ok(()); // stored by an earlier attempt, or deleted meanwhile
        }
        let data = report::progress(&mut tx, patient, from, to).await?;
        tx.commit().await?;
        let pdf = tokio::task::spawn_blocking(move || crate::pdf::progress::render(&data))
            .await
            .map_err(Error::internal)?
            .map_err(Error::internal)?;
        let key = Storage::key_for(target.facility_id, document);
        let stored = self.storage.put_bytes(&key, pdf.into()).await?;
        let recorded = async {
            let mut tx = self.db.begin_job(job).await?;
            match documents::mark_ready(&mut tx, document, &stored).await? {
                Some(_) => tx.commit().await.map(|()| true),
                None => Ok(false), // deleted while it was rendered
            }
        }
        .await;
        // Not recorded (deleted meanwhile, the requester suspended, the
        // database away): the object must not outlive the attempt.
        if !matches!(recorded, Ok(true)) {
            self.storage.delete(&key).await?;
        }
        recorded.map(|_| ())
    }

    /// A report that will never be rendered (its requester can no longer
    /// act, or every attempt failed) is marked `failed` in the facility's
    /// system context, so nobody waits on it: the requester's own context is
    /// the one that can no longer act.
    async fn report_not_filed(&self, job: &Job, document: DocumentId) -> Result<()> {
        let system = Job { requester: None, ..job.clone() };
        let mut tx = self.db.begin_job(&system).await?;
        documents::mark_failed(&mut tx, document).await?;
        tx.commit().await
    }

    /// Sends one webhook delivery and records the attempt. Read in one
    /// system transaction of the facility, sent holding no connection,
    /// recorded in another. Anything but a 2xx fails the job, which the
    /// queue retries with backoff.
    async fn deliver_webhook(&self, job: &Job, delivery: WebhookDeliveryId) -> Result<()> {
        let system = Job { requester: None, ..job.clone() };
        let mut tx = self.db.begin_job(&system).await?;
        let target = webhooks::target(&mut tx, delivery).await?;
        tx.commit().await?;
        if !target.pending {
            return Ok(());
        }
        if !target.active {
            let mut tx = self.db.begin_job(&system).await?;
            webhooks::record(&mut tx, delivery, None, Some("the subscription was turned off"), "failed")
                .await?;
            return tx.commit().await;
        }
        let event = target.payload["event"].as_str().unwrap_or_default().to_owned();
        let body = serde_json::to_vec(&target.payload).map_err(Error::internal)?;
        let attempt = self
            .webhooks
            .send(&target.url, target.subscription_id, &target.secret_sealed, &event, delivery.0, body)
            .await;
        let (status, error, outcome) = match &attempt {
            WebhookAttempt::Delivered(code) => (Some(i32::from(*code)), None, "delivered"),
            WebhookAttempt::Refused(code) => {
                (Some(i32::from(*code)), Some(format!("answered {code}")), "pending")
            }
            WebhookAttempt::Failed(why) => (None, Some(why.clone()), "pending"),
        };
        let mut tx = self.db.begin_job(&system).await?;
        webhooks::record(&mut tx, delivery, status, error.as_deref(), outcome).await?;
        tx.commit().await?;
        match error {
            None => Ok(()),
            Some(why) => Err(Error::Unavailable(format!("webhook delivery: {why}"))),
        }
    }

    /// A delivery out of attempts is marked failed.
    async fn webhook_given_up(&self, job: &Job, delivery: WebhookDeliveryId) -> Result<()> {
        let system = Job { requester: None, ..job.clone() };
        let mut tx = self.db.begin_job(&system).await?;
        webhooks::record(&mut tx, delivery, None, None, "failed").await?;
        tx.commit().await
    }

    /// Removes the objects no live document refers to that are older than
    /// the grace period (uploads whose server died before recording them,
    /// tombstones whose removal job gave up). Keys that are not ours are
    /// left alone. Each facility's keys are checked in a transaction of that
    /// facility: the worker never reads across facilities. How many it
    /// removed.
    async fn sweep_documents(&self, job: &Job) -> Result<usize> {
        let keys = self.storage.keys_older_than(SWEEP_GRACE).await?;
        let mut by_facility: std::collections::HashMap<FacilityId, Vec<String>> = Default::default();
        for key in keys {
            if let Some(facility) = facility_of(&key) {
                by_facility.entry(facility).or_default().push(key);
            }
        }
        let mut removed = 0;
        for (facility, keys) in by_facility {
            for chunk in keys.chunks(500) {
                let facilities = vec![facility.0; chunk.len()];
                let mut tx = self.db.begin_job_in(job, Some(facility)).await?;
                let live = documents::referenced(&mut tx, &facilities, chunk).await?;
                tx.commit().await?;
                for key in chunk.iter().filter(|k| !live.contains(*k)) {
                    self.storage.delete(key).await?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

/// The facility of a key this server wrote
/// (`facilities/{facility}/documents/{document}/{upload}`).
fn facility_of(key: &str) -> Option<FacilityId> {
    let parts: Vec<&str> = key.split('/').collect();
    match parts.as_slice() {
        ["facilities", facility, "documents", document, upload]
            if document.parse::<uuid::Uuid>().is_ok() && !upload.is_empty() =>
        {
            facility.parse().ok().map(FacilityId)
        }
        _ => None,
    }
}

/// 2^attempts seconds, at most ten minutes.
fn backoff(attempts: i32) -> Duration {
    Duration::from_secs(1u64 << attempts.clamp(0, 10)).min(Duration::from_secs(600))
}

/// What runs beside the HTTP server: the LISTEN connection and the job
/// worker. Stopped when dropped.
pub struct Background {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Background {
    /// The LISTEN connection and the job worker of a server with `state`.
    pub fn start(state: &crate::api::AppState, poll: Duration) -> Self {
        let (db, hub) = (&state.db, &state.hub);
        let listen = tokio::spawn(db.listen(hub.clone()));
        let worker =
            Worker::new(db.clone(), hub.clone(), state.storage.clone(), state.webhooks.clone(), poll);
        let worker = tokio::spawn(worker.run());
        Self { tasks: vec![listen, worker] }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweep_touches_only_keys_it_wrote() {
        let f = uuid::Uuid::new_v4();
        let d = uuid::Uuid::new_v4();
        assert_eq!(facility_of(&format!("facilities/{f}/documents/{d}/0a1b")), Some(FacilityId(f)));
        for foreign in [
            format!("facilities/{f}/documents/{d}"),
            format!("facilities/{f}/documents/{d}/"),
            format!("facilities/{f}/reports/{d}/0a1b"),
            format!("facilities/not-a-uuid/documents/{d}/0a1b"),
            format!("backups/{f}/documents/{d}/0a1b"),
            format!("facilities/{f}/documents/{d}/0a1b/extra"),
        ] {
            assert_eq!(facility_of(&foreign), None, "{foreign}");
        }
    }

    #[test]
    fn every_kind_of_the_queue_parses_with_its_payload() {
        let id = uuid::Uuid::new_v4();
        let cases = [
            ("crisis_escalation", serde_json::json!({"alertId": id})),
            ("weekly_metrics", serde_json::json!({})),
            ("document_removal", serde_json::json!({"documentId": id})),
            (
                "progress_report",
                serde_json::json!({"documentId": id, "patientId": id, "from": "2026-01-01", "to": "2026-01-31"}),
            ),
            ("webhook_delivery", serde_json::json!({"deliveryId": id})),
            ("document_sweep", serde_json::json!({})),
            ("cleanup", serde_json::json!({})),
        ];
        for (kind, payload) in cases {
            assert_eq!(JobKind::parse(kind, payload).unwrap().name(), kind);
        }
        // A kind this server does not know, or a payload missing its field, is an error.
        assert!(JobKind::parse("enqueue_anything", serde_json::json!({})).is_err());
        assert!(JobKind::parse("document_removal", serde_json::json!({"id": id})).is_err());
    }

    #[test]
    fn backoff_doubles_up_to_ten_minutes() {
        assert_eq!(backoff(1), Duration::from_secs(2));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(9), Duration::from_secs(512));
        assert_eq!(backoff(10), Duration::from_secs(600));
        assert_eq!(backoff(40), Duration::from_secs(600));
    }
}

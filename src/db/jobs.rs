//! The job queue's door (V21): claiming and settling jobs as the servers'
//! login role, outside any tenant transaction. What a job does runs in a
//! [`TenantTx`](super::TenantTx) opened by [`Db::begin_job`].

use std::time::Duration;

use uuid::Uuid;

use super::Db;
use crate::{
    auth::Role,
    domain::ids::{FacilityId, UserId},
    error::Result,
};

/// A claimed job.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    pub facility_id: Option<FacilityId>,
    pub kind: String,
    pub payload: serde_json::Value,
    /// The user it runs as (re-checked), with their role.
    pub requester: Option<(UserId, Role)>,
    pub attempts: i32,
    pub max_attempts: i32,
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

pub const ENQUEUE: &str = "select carego.enqueue_job($1, $2, null, $3) as id";

/// Enqueues a job of the caller's facility in the caller's transaction: it
/// exists only if the change that needs it commits. `as_requester`: it runs
/// as the caller, and only while they stay active.
pub async fn enqueue(
    tx: &mut super::TenantTx,
    kind: &str,
    payload: &serde_json::Value,
    as_requester: bool,
) -> Result<()> {
    tx.query_one(ENQUEUE, &[&kind, payload, &as_requester]).await?;
    Ok(())
}

impl Db {
    /// Claims up to `limit` due jobs for `lease`.
    pub async fn claim_jobs(&self, worker: &str, limit: i32, lease: Duration) -> Result<Vec<Job>> {
        let conn = self.checkout().await?;
        let lease = format!("{} milliseconds", lease.as_millis());
        let rows = conn
            .query("select * from carego.claim_jobs($1, $2, $3::text::interval)", &[&worker, &limit, &lease])
            .await?;
        rows.iter()
            .map(|r| {
                let requester: Option<UserId> = r.try_get("requested_by")?;
                let role: Option<Role> = r.try_get("requester_role")?;
                Ok(Job {
                    id: r.try_get("id")?,
                    facility_id: r.try_get("facility_id")?,
                    kind: r.try_get("kind")?,
                    payload: r.try_get("payload")?,
                    requester: requester.zip(role),
                    attempts: r.try_get("attempts")?,
                    max_attempts: r.try_get("max_attempts")?,
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
        let conn = self.checkout().await?;
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
        let conn = self.checkout().await?;
        Ok(conn.query_one("select carego.schedule_periodic_jobs() as n", &[]).await?.get("n"))
    }

    /// The daily cleanup, as its own transaction: what it removed.
    pub async fn cleanup_expired(&self) -> Result<(i64, i64, i64, i64)> {
        let conn = self.checkout().await?;
        let row = conn.query_one("select * from carego.cleanup_expired()", &[]).await?;
        Ok((row.get("sessions"), row.get("registration_keys"), row.get("jobs"), row.get("events")))
    }

    /// A job's tenant transaction: its facility, as its requester (whose
    /// account and facility the job prologue re-checks) or, for jobs no user
    /// asked for, as the system with a facility admin's reach.
    pub async fn begin_job(&self, job: &Job) -> Result<super::TenantTx> {
        let (db_role, app_role, user) = match job.requester {
            Some((user, role)) => (role.into(), role.as_str(), Some(user)),
            None if job.facility_id.is_some() => (super::DbRole::FacilityAdmin, "system", None),
            None => (super::DbRole::SuperAdmin, "system", None),
        };
        let mut tx = self
            .begin_with(super::Context {
                db_role,
                app_role,
                facility_id: job.facility_id,
                user_id: user,
                session_id: None,
                request_id: format!("job-{}-{}", job.id, Uuid::new_v4().simple()),
                ip: None,
                reason: Some(format!("job {} ({})", job.id, job.kind)),
                api_key: None,
                before_mfa: false,
            })
            .await?;
        // The job prologue's check, sent pipelined with BEGIN and the prologue.
        tx.execute("select carego.check_job_requester($1)", &[&user]).await?;
        Ok(tx)
    }
}

//! Probes: `/health` says the process is up; `/ready` that it can reach the
//! database (a load balancer should route only to ready instances).

use poem_openapi::{Object, OpenApi, payload::Json};
use serde_json::json;

use super::ApiTags;
use crate::api::contract::Contracts;
use crate::api::examples::Example;
use crate::{db::Db, error::Result};

pub struct HealthApi {
    pub db: Db,
}

/// A probe's answer.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Health {
    /// `ok` or `ready`.
    pub status: String,
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts { file: file!(), operations: &[], examples };

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![Example::of::<Health>(json!({"status": "ok"}))]
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Health")]
impl HealthApi {
    /// Liveness: the process is serving requests.
    ///
    /// Answers 200 while the process runs, without touching the database. Use it as a liveness
    /// probe; use `ready` for readiness.
    #[oai(path = "/health", method = "get", operation_id = "health")]
    async fn health(&self) -> Json<Health> {
        Json(Health { status: "ok".into() })
    }

    /// Readiness: the database is reachable.
    ///
    /// Checks out a pooled connection and runs an empty statement. 503 with `Retry-After` when the
    /// database is down or the pool is exhausted; take the instance out of rotation until it
    /// answers 200.
    #[oai(path = "/ready", method = "get", operation_id = "ready")]
    async fn ready(&self) -> Result<Json<Health>> {
        self.db.ping().await?;
        Ok(Json(Health { status: "ready".into() }))
    }
}

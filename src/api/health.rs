//! Probes: `/health` says the process is up; `/ready` that it can reach the
//! database (a load balancer should route only to ready instances).

use poem_openapi::{Object, OpenApi, payload::Json};

use super::ApiTags;
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

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Health")]
impl HealthApi {
    /// Liveness: the process is serving requests.
    #[oai(path = "/health", method = "get", operation_id = "health")]
    async fn health(&self) -> Json<Health> {
        Json(Health { status: "ok".into() })
    }

    /// Readiness: the database is reachable (503 otherwise).
    #[oai(path = "/ready", method = "get", operation_id = "ready")]
    async fn ready(&self) -> Result<Json<Health>> {
        self.db.ping().await?;
        Ok(Json(Health { status: "ready".into() }))
    }
}

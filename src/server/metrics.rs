//! Prometheus metrics (`metrics` + `metrics-exporter-prometheus`), served on
//! their own listen address (`CAREGO_METRICS_LISTEN`), never next to the API:
//!
//! - `carego_http_requests_total` and `carego_http_request_duration_seconds`
//!   by `operation` (the spec's operationId; `none` when no operation
//!   matched) and `status`. Never a raw path: ids would make every patient a
//!   time series.
//! - `carego_db_pool_connections{state="in_use"|"idle"}`,
//!   `carego_db_pool_max_connections`, `carego_db_pool_waiting`.
//! - `carego_db_errors_total{sqlstate}`: every database error, by SQLSTATE
//!   class or our own `CG…` code (`connection` when there was no answer).
//! - `carego_api_key_checks_total{outcome}`: presented API keys by how they
//!   were answered: `cached`, `found` (looked up), `unknown` (looked up,
//!   no such key), `remembered` (an unknown key again, not looked up),
//!   `malformed`, `limited` (the address's failures are spent: 429).
//! - `carego_jobs{state="due"|"running"|"scheduled"}`: the job queue.
//! - `carego_sse_subscribers`: open event streams.
//!
//! The layers below the server record their own counters through the
//! `metrics` facade (`db::errors`: database errors; `auth::api_keys`: key
//! checks), so they need not import the server; this module installs the
//! recorder and serves what all of them recorded.
//!
//! Gauges are read when Prometheus scrapes, so they cost nothing between
//! scrapes. No label carries a patient's data or an id.

use std::{
    net::SocketAddr,
    sync::{Arc, OnceLock},
    time::Duration,
};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use poem::{Endpoint, EndpointExt, Response, Route, get, handler, listener::TcpListener, web::Data};

use crate::{api::AppState, db::Db, db::infra::listen::Hub};

/// Latency buckets, in seconds: a request is fast, a PDF or an export is not.
const BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The process's recorder: installed once, whatever number of apps the
/// process builds (tests build many).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full("carego_http_request_duration_seconds".into()), BUCKETS)
            .expect("the buckets are not empty")
            .install_recorder()
            .expect("no other metrics recorder is installed")
    })
}

/// Counts one answered request.
pub fn record_request(operation: &'static str, status: u16, elapsed: Duration) {
    let status = status.to_string();
    metrics::counter!("carego_http_requests_total", "operation" => operation, "status" => status.clone())
        .increment(1);
    metrics::histogram!("carego_http_request_duration_seconds", "operation" => operation, "status" => status)
        .record(elapsed.as_secs_f64());
}

/// Counts one read run again after losing a race in the database.
pub fn record_db_replay() {
    metrics::counter!("carego_db_replays_total").increment(1);
}

struct Sources {
    db: Db,
    hub: Arc<Hub>,
}

/// The scrape: gauges read now, then everything rendered.
#[handler]
async fn scrape(sources: Data<&Arc<Sources>>) -> Response {
    let pool = sources.db.pool_status();
    metrics::gauge!("carego_db_pool_connections", "state" => "in_use")
        .set((pool.size - pool.available) as f64);
    metrics::gauge!("carego_db_pool_connections", "state" => "idle").set(pool.available as f64);
    metrics::gauge!("carego_db_pool_max_connections").set(pool.max_size as f64);
    metrics::gauge!("carego_db_pool_waiting").set(pool.waiting as f64);
    metrics::gauge!("carego_sse_subscribers").set(sources.hub.subscribers() as f64);
    match sources.db.job_queue_depth().await {
        Ok(depth) => {
            for (state, jobs) in depth {
                metrics::gauge!("carego_jobs", "state" => state).set(jobs as f64);
            }
        }
        Err(err) => tracing::warn!(error = %err, "metrics: could not read the job queue"),
    }
    let handle = handle();
    handle.run_upkeep();
    Response::builder().content_type("text/plain; version=0.0.4").body(handle.render())
}

/// The metrics endpoint (`GET /metrics`), for its own listener.
pub fn app(state: &AppState) -> impl Endpoint<Output = Response> + use<> {
    let sources = Arc::new(Sources { db: state.db.clone(), hub: state.hub.clone() });
    Route::new().at("/metrics", get(scrape)).data(sources).map_to_response()
}

/// Serves the metrics endpoint on `listen` until the process ends.
pub async fn serve(state: &AppState, listen: SocketAddr) -> anyhow::Result<()> {
    handle();
    poem::Server::new(TcpListener::bind(listen)).run(app(state)).await?;
    Ok(())
}

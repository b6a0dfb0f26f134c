//! Carego: a multi-tenant backend for care facilities. PostgreSQL row-level
//! security is the wall between facilities; this crate is the typed door in
//! front of it. See `docs/architecture.md` for the request path.

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod jobs;
pub mod report;
pub mod server;
pub mod storage;
pub mod tenants;
pub mod webhooks;

/// Makes ring the process's TLS provider, for the HTTP client under the S3
/// store (built without a provider of its own, so that aws-lc-rs is never
/// compiled in). Idempotent; `main` calls it first.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// JSON logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    use tracing_subscriber::{EnvFilter, fmt};
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

//! Carego: a multi-tenant backend for care facilities. PostgreSQL row-level
//! security is the wall between facilities; this crate is the typed door in
//! front of it. See `docs/architecture.md` for the request path.

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod egress;
pub mod error;
pub mod identity;
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

/// JSON logs to stderr, filtered by `RUST_LOG` (default `info`); with
/// `CAREGO_OTLP_ENDPOINT` set (an OTLP/HTTP traces URL, e.g.
/// `http://collector:4318/v1/traces`), the request spans are exported too.
/// Only spans go out, never log events, and a request span carries its id,
/// method, operationId and status: no path, no record, no patient. The
/// returned provider must be shut down at exit, which flushes what is left.
pub fn init_tracing() -> Option<opentelemetry_sdk::trace::SdkTracerProvider> {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::{
        EnvFilter, Layer, filter::filter_fn, fmt, layer::SubscriberExt, util::SubscriberInitExt,
    };
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = fmt::layer().json().with_current_span(true).with_span_list(false).with_writer(std::io::stderr);
    let provider =
        std::env::var("CAREGO_OTLP_ENDPOINT").ok().filter(|e| !e.trim().is_empty()).and_then(|endpoint| {
            use opentelemetry_otlp::WithExportConfig as _;
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(endpoint.trim())
                .build()
                .map_err(|e| eprintln!("warning: CAREGO_OTLP_ENDPOINT: {e}; traces are not exported"))
                .ok()?;
            let resource = opentelemetry_sdk::Resource::builder().with_service_name("carego").build();
            Some(
                opentelemetry_sdk::trace::SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(resource)
                    .build(),
            )
        });
    let spans = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer().with_tracer(p.tracer("carego")).with_filter(filter_fn(|m| m.is_span()))
    });
    let _ = tracing_subscriber::registry().with(filter).with(logs).with(spans).try_init();
    provider
}

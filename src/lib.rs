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
pub mod pdf;
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

/// Logs to stderr, filtered by `RUST_LOG` (default `info`, without the
/// migration runner's and poem's start lines): short human
/// lines on a terminal (time, level, message and fields; no module paths),
/// JSON lines otherwise, or whenever `CAREGO_LOG_FORMAT=json`
/// (`CAREGO_LOG_FORMAT=text` asks for the human lines anywhere). With
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
    // By default each migration applied and poem's own start lines are left
    // out: `serve` says what matters in its banner.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("info,refinery_core=warn,refinery=warn,tokio_postgres=warn,poem=warn")
    });
    let terminal = {
        use std::io::IsTerminal as _;
        std::io::stderr().is_terminal()
    };
    let logs = match log_format(std::env::var("CAREGO_LOG_FORMAT").ok().as_deref(), terminal) {
        LogFormat::Json => fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Text => {
            fmt::layer().compact().with_target(false).with_ansi(terminal).with_writer(std::io::stderr).boxed()
        }
    };
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    Json,
    Text,
}

/// `CAREGO_LOG_FORMAT` (`json` or `text`) if given, else text on a terminal
/// and JSON for a collector. Logging starts before the configuration is
/// read, so another value is named in a warning, not refused.
fn log_format(setting: Option<&str>, terminal: bool) -> LogFormat {
    let default = if terminal { LogFormat::Text } else { LogFormat::Json };
    match setting.map(str::trim) {
        None | Some("") => default,
        Some("json") => LogFormat::Json,
        Some("text") => LogFormat::Text,
        Some(other) => {
            eprintln!(
                "warning: CAREGO_LOG_FORMAT={other:?} is neither \"json\" nor \"text\"; using {default:?}"
            );
            default
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{LogFormat, log_format};

    #[test]
    fn logs_are_human_on_a_terminal_and_json_for_a_collector_unless_told() {
        assert_eq!(log_format(None, true), LogFormat::Text);
        assert_eq!(log_format(None, false), LogFormat::Json);
        assert_eq!(log_format(Some("json"), true), LogFormat::Json);
        assert_eq!(log_format(Some("text"), false), LogFormat::Text);
        assert_eq!(log_format(Some("yaml"), false), LogFormat::Json);
        assert_eq!(log_format(Some(""), true), LogFormat::Text);
    }
}

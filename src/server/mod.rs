//! The HTTP server: middleware, the route table, and `serve` with graceful
//! shutdown. `edge` holds what every response carries (security headers,
//! CORS, compression); `conn` the connection limits below HTTP.

mod conn;
mod edge;
pub mod metrics;

use std::time::{Duration, Instant};

use poem::{
    Endpoint, EndpointExt, Middleware, Request, Response, Route,
    http::{HeaderValue, header},
    listener::{Acceptor, Listener, TcpListener},
};
use tracing::Instrument;
use uuid::Uuid;

use crate::{
    api::{self, AppState},
    auth::{PeerAddr, RequestId},
    error::{Contended, Error, problem_for_poem_error},
};

const REQUEST_ID: &str = "x-request-id";

/// The whole application as one endpoint.
pub fn app(state: AppState) -> impl Endpoint<Output = Response> {
    // Counted from the first request, whether or not anyone scrapes.
    metrics::handle();
    let service = api::service(&state);
    let documents = api::Documents::of(&service);
    let (spec, html) = (documents.spec, documents.docs_html);
    let spec = poem::endpoint::make_sync(move |_| {
        Response::builder().content_type("application/json").body(spec.clone())
    });
    let docs = poem::endpoint::make_sync(move |_| poem::web::Html(html.clone()));
    let settings = &state.settings;
    Route::new()
        .nest("/", service)
        .at("/openapi.json", spec)
        .at("/docs", docs)
        .data(state.keys.clone())
        .data(state.api_keys.clone())
        .data(std::sync::Arc::new(settings.trusted_proxies.clone()))
        .with(BodyLimit { limit: settings.body_limit_bytes, timeout: settings.body_read_timeout })
        .with_if(!settings.cors_origins.is_empty(), edge::cors(&settings.cors_origins))
        .catch_all_error(problem_for_poem_error)
        .with(edge::Compress)
        .with(edge::SecurityHeaders)
        .with(ReadReplay)
        .with(RequestTrace)
}

/// Runs a read (GET, HEAD) once more when its transaction lost a race in the
/// database (deadlock, serialization failure, a lock it would not wait for:
/// [`Error::Contention`](crate::error::Error::Contention), marked on its
/// response by [`Contended`](crate::error::Contended)). Nothing was done, and a read is safe to run
/// again; a write is answered 503 with `Retry-After`. A GET carries no body,
/// so the request is rebuilt from its head; the peer's address travels in
/// [`PeerAddr`](crate::auth::PeerAddr), which the rebuilt request has no socket for.
struct ReadReplay;

impl<E: Endpoint<Output = Response>> Middleware<E> for ReadReplay {
    type Output = ReadReplayEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        ReadReplayEndpoint(ep)
    }
}

struct ReadReplayEndpoint<E>(E);

impl<E: Endpoint<Output = Response>> Endpoint for ReadReplayEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        if !matches!(*req.method(), poem::http::Method::GET | poem::http::Method::HEAD) {
            return self.0.call(req).await;
        }
        if let Some(peer) = req.remote_addr().as_socket_addr().copied() {
            req.extensions_mut().insert(PeerAddr(peer));
        }
        let (method, uri, version) = (req.method().clone(), req.uri().clone(), req.version());
        let (headers, extensions) = (req.headers().clone(), req.extensions().clone());
        let resp = self.0.call(req).await.unwrap_or_else(|e| e.into_response());
        if resp.extensions().get::<Contended>().is_none() {
            return Ok(resp);
        }
        metrics::record_db_replay();
        tracing::info!("read run once more after contention in the database");
        let mut again = Request::builder().method(method).uri(uri).version(version).finish();
        *again.headers_mut() = headers;
        *again.extensions_mut() = extensions;
        self.0.call(again).await
    }
}

/// Assigns `X-Request-Id` (keeping a sane one from the client), opens a
/// tracing span for the request, logs its outcome, and echoes the id.
struct RequestTrace;

impl<E: Endpoint<Output = Response>> Middleware<E> for RequestTrace {
    type Output = RequestTraceEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        RequestTraceEndpoint(ep)
    }
}

struct RequestTraceEndpoint<E>(E);

fn acceptable_request_id(v: &str) -> bool {
    (1..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

impl<E: Endpoint<Output = Response>> Endpoint for RequestTraceEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let id = req
            .headers()
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| acceptable_request_id(v))
            .map_or_else(|| Uuid::new_v4().to_string(), str::to_owned);
        req.extensions_mut().insert(RequestId(id.clone()));
        // The span's fields are what a trace exporter sends: no path (it
        // holds ids), the operation once known. The path is in the log line.
        let span = tracing::info_span!(
            "request",
            request_id = %id,
            method = %req.method(),
            operation = tracing::field::Empty,
            status = tracing::field::Empty,
        );
        // A caller's W3C `traceparent` makes this request part of its trace.
        let parent =
            opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(req.headers())));
        let _ = tracing_opentelemetry::OpenTelemetrySpanExt::set_parent(&span, parent);
        let path = req.uri().path().to_owned();
        let started = Instant::now();
        let mut resp = async { self.0.call(req).await.unwrap_or_else(|e| e.into_response()) }
            .instrument(span.clone())
            .await;
        let status = resp.status().as_u16();
        let operation = resp.data::<poem_openapi::OperationId>().map_or("none", |op| op.0);
        metrics::record_request(operation, status, started.elapsed());
        span.record("operation", operation);
        span.in_scope(|| {
            // Hundredths of a millisecond are all a reader needs.
            let ms = (started.elapsed().as_secs_f64() * 100_000.0).round() / 100.0;
            if status >= 500 {
                tracing::warn!(status, ms, path, "request failed");
            } else {
                tracing::info!(status, ms, path, "request");
            }
        });
        // After the log line, which carries it once; the trace exporter
        // reads it from the span.
        span.record("status", status);
        if let Ok(v) = HeaderValue::from_str(&id) {
            resp.headers_mut().insert(REQUEST_ID, v);
        }
        Ok(resp)
    }
}

/// Reads `traceparent` (and `tracestate`) for the propagator.
struct HeaderExtractor<'a>(&'a poem::http::HeaderMap);

impl opentelemetry::propagation::Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Checks the headers that matter, then reads the whole body before the handler
/// runs (but for a document upload, which streams): over the limit is 413 (by
/// `Content-Length` up front, or while reading one that did not announce
/// it), slower than the read timeout is 408.
struct BodyLimit {
    limit: usize,
    timeout: Duration,
}

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        BodyLimitEndpoint { inner: ep, limit: self.limit, timeout: self.timeout }
    }
}

struct BodyLimitEndpoint<E> {
    inner: E,
    limit: usize,
    timeout: Duration,
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> poem::Result<Self::Output> {
        check_headers(&req)?;
        // A document upload is streamed to its handler, which counts it
        // against its own limit as it goes.
        if api::communication::documents::streams_its_body(req.method(), req.uri().path()) {
            return self.inner.call(req).await;
        }
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.limit as u64) {
            return Err(Error::PayloadTooLarge.into());
        }
        let read = req.take_body().into_bytes_limit(self.limit);
        let body = match tokio::time::timeout(self.timeout, read).await {
            Ok(Ok(body)) => body,
            Ok(Err(_)) => return Err(Error::PayloadTooLarge.into()),
            Err(_) => return Err(poem::Error::from_status(poem::http::StatusCode::REQUEST_TIMEOUT)),
        };
        req.set_body(body);
        self.inner.call(req).await
    }
}

/// Headers whose value matters are refused when malformed, never ignored or
/// cut: `X-Change-Reason` becomes the audit log's reason (up to 500
/// characters of text); an `Idempotency-Key` that is not 1–200 visible ASCII
/// characters would otherwise be dropped by the parameter parser (a value
/// that is not visible ASCII reads as absent) and the create would run
/// unprotected.
fn check_headers(req: &Request) -> Result<(), Error> {
    if let Some(value) = req.headers().get("x-change-reason") {
        let ok = value.to_str().is_ok_and(|v| {
            v.chars().count() <= crate::auth::MAX_REASON_LEN
                && !crate::domain::text::has_control_characters(v)
        });
        if !ok {
            return Err(Error::invalid("X-Change-Reason", "must be at most 500 characters of text"));
        }
    }
    if let Some(value) = req.headers().get("idempotency-key") {
        let bytes = value.as_bytes();
        if !(1..=api::idempotency::MAX_KEY_LEN).contains(&bytes.len())
            || !bytes.iter().all(u8::is_ascii_graphic)
        {
            return Err(Error::invalid("Idempotency-Key", "must be 1 to 200 visible ASCII characters"));
        }
    }
    Ok(())
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish
/// (up to `grace`).
pub async fn serve(
    state: AppState,
    listen: std::net::SocketAddr,
    shutdown: impl std::future::Future<Output = ()> + Send,
    grace: Duration,
    on_ready: impl FnOnce(std::net::SocketAddr),
) -> anyhow::Result<()> {
    let settings = &state.settings;
    let acceptor = TcpListener::bind(listen).into_acceptor().await?;
    let local = acceptor.local_addr().first().and_then(|a| a.as_socket_addr().copied()).unwrap_or(listen);
    let acceptor = conn::Limited::new(acceptor, settings.max_connections, settings.header_read_timeout);
    let idle = settings.idle_timeout;
    on_ready(local);
    poem::Server::new_with_acceptor(acceptor)
        .idle_timeout(idle)
        .run_with_graceful_shutdown(app(state), shutdown, Some(grace))
        .await?;
    Ok(())
}

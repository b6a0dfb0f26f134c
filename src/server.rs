//! The HTTP server: middleware, the route table, and `serve` with graceful
//! shutdown.

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
    auth::RequestId,
    error::{Error, problem_for_poem_error},
};

const REQUEST_ID: &str = "x-request-id";

/// The whole application as one endpoint.
pub fn app(state: AppState) -> impl Endpoint<Output = Response> {
    let service = api::service(&state);
    let docs = service.swagger_ui();
    let spec = service.spec_endpoint();
    Route::new()
        .nest("/", service)
        .at("/openapi.json", spec)
        .nest("/docs", docs)
        .data(state.keys.clone())
        .with(BodyLimit(state.settings.body_limit_bytes))
        .catch_all_error(problem_for_poem_error)
        .with(RequestTrace)
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
        let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
        let started = Instant::now();
        let mut resp = async { self.0.call(req).await.unwrap_or_else(|e| e.into_response()) }
            .instrument(span.clone())
            .await;
        let status = resp.status().as_u16();
        span.in_scope(|| {
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            if status >= 500 {
                tracing::warn!(status, ms, "request failed");
            } else {
                tracing::info!(status, ms, "request");
            }
        });
        if let Ok(v) = HeaderValue::from_str(&id) {
            resp.headers_mut().insert(REQUEST_ID, v);
        }
        Ok(resp)
    }
}

/// Refuses bodies over the limit with 413: by `Content-Length` up front, or
/// while reading a body that did not announce its length.
struct BodyLimit(usize);

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        BodyLimitEndpoint { inner: ep, limit: self.0 }
    }
}

struct BodyLimitEndpoint<E> {
    inner: E,
    limit: usize,
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> poem::Result<Self::Output> {
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        match declared {
            Some(len) if len > self.limit as u64 => return Err(Error::PayloadTooLarge.into()),
            Some(_) => {}
            None => {
                // Chunked (or unannounced) body: read it, but never past the limit.
                let body =
                    req.take_body().into_bytes_limit(self.limit).await.map_err(|_| Error::PayloadTooLarge)?;
                req.set_body(body);
            }
        }
        self.inner.call(req).await
    }
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
    let acceptor = TcpListener::bind(listen).into_acceptor().await?;
    let local = acceptor.local_addr().first().and_then(|a| a.as_socket_addr().copied()).unwrap_or(listen);
    on_ready(local);
    poem::Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(app(state), shutdown, Some(grace))
        .await?;
    Ok(())
}

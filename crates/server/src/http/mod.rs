//! HTTP: the router that mounts every surface on one port, the cross-cutting layers
//! (request id, one span per request, metrics, body limits, panic guard) and the
//! operational endpoints: `/healthz` and `/readyz` are public, `/metrics` is not (a bearer
//! token on this port, or a separate address). `connections` accepts connections and times
//! out slow clients. Surfaces live in `native/`, `ui/` and `dialects/`; each only maps its
//! wire shapes and auth scheme to the core. What more than one surface needs lives beside
//! them (`problem`, `upload`, `auth`), never in `native/` (`layering` checks it).

pub(crate) mod access;
pub mod auth;
pub mod client_address;
mod connections;
pub mod dialects;
#[cfg(test)]
mod layering;
pub mod native;
pub mod problem;
pub mod surfaces;
pub mod ui;
pub(crate) mod upload;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use accounts::Accounts;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::metrics::Metrics;

pub use connections::ServeOptions;

/// Largest request body outside the upload routes.
pub const MAX_JSON_BODY: usize = 64 * 1024;

/// Everything a handler may use. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub accounts: Arc<Accounts>,
    pub metrics: Arc<Metrics>,
    /// Upload routes accept this many bytes (the picture limit plus multipart framing).
    pub max_upload_body: usize,
    /// The first-run setup page's one-time token (open while there is no administrator).
    pub setup: Arc<ui::SetupGate>,
    /// Which proxies may say where a request comes from (none by default).
    pub client_addresses: Arc<client_address::ClientAddresses>,
    /// With a token, `/metrics` on the service port answers requests that bear it; without
    /// one it is not served there (see [`serve_metrics`] for a separate address).
    pub metrics_token: Option<Arc<SecretString>>,
    /// The pages and dialects mounted beside the native API (default: every one built in).
    pub surfaces: surfaces::Surfaces,
}

impl AppState {
    pub fn new(accounts: Arc<Accounts>, metrics: Arc<Metrics>) -> Self {
        let max_upload_body = accounts.config().max_picture_bytes + 64 * 1024;
        Self {
            accounts,
            metrics,
            max_upload_body,
            setup: Arc::default(),
            client_addresses: Arc::default(),
            metrics_token: None,
            surfaces: surfaces::Surfaces::default(),
        }
    }
}

/// Who may read `/metrics`. Knobs for the configuration; both off by default, so the
/// service port serves no metrics.
#[derive(Debug, Clone, Default)]
pub struct MetricsExposure {
    /// Serve `/metrics` (and nothing else, without a token) on this separate address, meant
    /// for a private interface the scraper reaches [default: none].
    pub listen: Option<SocketAddr>,
    /// Serve `/metrics` on the service port to requests with `Authorization: Bearer
    /// <token>` [default: none]. A secret.
    pub bearer_token: Option<SecretString>,
}

/// Only `/metrics`, unauthenticated: for the separate metrics address.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(render_metrics))
        .fallback(not_found)
        .with_state(state)
}

/// Serves [`metrics_router`] until `shutdown` resolves, with the default timeouts and
/// connection limit.
pub async fn serve_metrics(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    connections::serve(
        listener,
        metrics_router(state),
        ServeOptions::default(),
        shutdown,
    )
    .await
}

/// The whole application on one router.
pub fn router(state: AppState) -> Router {
    let request_id = header::HeaderName::from_static("x-request-id");
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(native::routes(&state))
        // The pages and the dialects the `surfaces` setting names (and the build has).
        .merge(surfaces::routes(&state))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
        .layer(middleware::from_fn(close_if_body_unread))
        .layer(middleware::from_fn(retry_after_on_503))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            record_metrics,
        ))
        .layer(middleware::from_fn(access::access_log))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<Body>| {
                    let route = req
                        .extensions()
                        .get::<MatchedPath>()
                        .map_or("unmatched", MatchedPath::as_str);
                    let request_id = req
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    // The route template, never the URI: some paths carry tokens.
                    let span = tracing::info_span!(
                        "request",
                        method = %req.method(),
                        route,
                        request_id,
                        client = tracing::field::Empty,
                        user_id = tracing::field::Empty,
                    );
                    if let Some(client) = req.extensions().get::<client_address::ClientAddress>() {
                        span.record("client", tracing::field::display(client.0));
                    }
                    span
                })
                // `access_log` writes the one line per request; server errors are logged at
                // error by the default on_failure.
                .on_request(())
                .on_response(()),
        )
        .layer(middleware::from_fn_with_state(
            state.client_addresses.clone(),
            client_address::resolve_client_address,
        ))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a handler panicked");
            problem::ApiError::internal().into_response()
        }))
        .with_state(state)
}

/// Serves until `shutdown` resolves, then waits for in-flight requests; default timeouts and
/// connection limit.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, ServeOptions::default(), shutdown).await
}

/// `serve` with its own timeouts and connection limit (`connections` enforces them).
pub async fn serve_with(
    listener: TcpListener,
    state: AppState,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    connections::serve(listener, router(state), options, shutdown).await
}

async fn record_metrics(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    // Labels come from fixed sets (a method any client can invent, a path any client can
    // type, would each add a series per request).
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    state.metrics.record(
        method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// The method as a metric label: one of the standard methods, else `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// A request body that records whether it was read to its end.
struct TrackedBody {
    inner: Body,
    finished: Arc<AtomicBool>,
}

impl http_body::Body for TrackedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) {
            self.finished.store(true, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Answers `Connection: close` when a handler refused a request without reading its body
/// (a failed authentication, say). The server cannot reuse such a connection, and without
/// the header a client pools it and sees its next request fail on a closed connection.
async fn close_if_body_unread(req: Request, next: Next) -> Response {
    use http_body::Body as _;
    if req.body().is_end_stream() {
        return next.run(req).await;
    }
    let finished = Arc::new(AtomicBool::new(false));
    let (parts, body) = req.into_parts();
    let tracked = TrackedBody {
        inner: body,
        finished: Arc::clone(&finished),
    };
    let mut response = next
        .run(Request::from_parts(parts, Body::new(tracked)))
        .await;
    if !finished.load(Ordering::Relaxed) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

async fn healthz() -> &'static str {
    "ok"
}

/// How long `/readyz` waits for the database: under a second, so a load balancer moves
/// traffic away at once instead of waiting out `database_wait_seconds`.
const READINESS_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// `Retry-After` on a 503 for an unavailable database, every surface.
pub const RETRY_AFTER_UNAVAILABLE_SECONDS: i64 = 2;

async fn readyz(State(state): State<AppState>) -> Response {
    let error = match tokio::time::timeout(READINESS_WAIT, state.accounts.ready()).await {
        Ok(Ok(())) => return (StatusCode::OK, "ready").into_response(),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {} ms", READINESS_WAIT.as_millis()),
    };
    tracing::error!(error = %error, "readiness check: the database does not answer");
    (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
}

/// Every 503 says when to try again (the dialects' error shapes have no field for it).
async fn retry_after_on_503(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    if response.status() == StatusCode::SERVICE_UNAVAILABLE
        && !response.headers().contains_key(header::RETRY_AFTER)
    {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(RETRY_AFTER_UNAVAILABLE_SECONDS),
        );
    }
    response
}

/// `/metrics` on the service port: not served without a token setting; with one, only to
/// requests that bear it (compared in constant time).
async fn metrics(State(state): State<AppState>, headers: header::HeaderMap) -> Response {
    let Some(token) = &state.metrics_token else {
        return not_found().await;
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !same_secret(presented.as_bytes(), token.expose_secret().as_bytes()) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\"")],
            "a metrics token is needed",
        )
            .into_response();
    }
    render_metrics(State(state), headers).await
}

/// Equal length and every byte compared, whatever differs first.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// OpenMetrics to scrapers that ask for it (Prometheus does), the plain text format to the
/// rest (`curl`, `promtool check metrics`).
async fn render_metrics(State(state): State<AppState>, headers: header::HeaderMap) -> Response {
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    if openmetrics {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            )],
            state.metrics.render().await,
        )
            .into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            )],
            state.metrics.render_text().await,
        )
            .into_response()
    }
}

async fn not_found() -> Response {
    problem::ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint").into_response()
}

/// Whether a request declares a JSON body (`application/json`, or a `+json` type). The
/// unauthenticated endpoints that send mail require it: a cross-site page can send a
/// simple request (a form's types, `text/plain`, or no type at all) without the browser
/// asking first, and must not be able to make us mail someone.
pub fn declares_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase())
        .is_some_and(|t| {
            t == "application/json" || (t.starts_with("application/") && t.ends_with("+json"))
        })
}

//! The web pages: self-service account pages at `/`, the admin console at `/admin` and the
//! first-run setup page. Server-rendered from compile-checked askama templates
//! (`crates/server/templates/ui/`), one stylesheet and one small script served from the binary;
//! no page needs the script to work.
//!
//! Every page goes through [`guard`]: a per-browser CSRF token (a cookie, and a hidden field in
//! every form, compared on every POST, with cross-site POSTs refused outright), and the security
//! headers (a Content-Security-Policy without inline script or style, no framing, no referrer,
//! no caching). A signed-in browser holds a core session in an `HttpOnly`, `SameSite=Lax`
//! cookie (`Secure` and `__Host-` when the public URL is https), new at every sign-in.
//! Handlers call the same core functions, with the same permission checks, as the native API;
//! they never read the store.

pub mod account;
pub mod console;
pub mod signin;

use std::collections::HashMap;

use accounts::{CredentialKind, Principal, User};
use askama::Template;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

use super::problem::ApiError;
use super::AppState;

/// Largest urlencoded form body the guard reads to find the CSRF field.
const MAX_FORM_BODY: usize = 64 * 1024;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLESHEET: &str = include_str!("../../../static/gatehouse.css");
const SCRIPT: &str = include_str!("../../../static/gatehouse.js");
const ICON: &str = include_str!("../../../static/favicon.svg");

pub fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .merge(signin::routes())
        .merge(account::routes(state))
        .merge(console::routes())
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .route("/static/gatehouse.css", get(stylesheet))
        .route("/static/gatehouse.js", get(script))
        .route("/static/favicon.svg", get(icon))
        .route("/favicon.ico", get(icon))
}

async fn icon() -> Response {
    asset("image/svg+xml", ICON)
}

async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", STYLESHEET)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

// ------------------------------------------------------------ cookies

/// The device cookie's names, over plain HTTP and over HTTPS.
pub const DEVICE_COOKIE: &str = "gatehouse_device";
pub const DEVICE_COOKIE_SECURE: &str = "__Host-gatehouse_device";

/// The names and attributes of the cookies (session, CSRF, device), from the public URL's
/// scheme.
#[derive(Debug, Clone, Copy)]
pub struct Cookies {
    secure: bool,
}

impl Cookies {
    pub fn for_state(state: &AppState) -> Self {
        Self {
            secure: state.accounts.config().public_url.starts_with("https://"),
        }
    }

    pub fn session_name(self) -> &'static str {
        if self.secure {
            "__Host-gatehouse_session"
        } else {
            "gatehouse_session"
        }
    }

    /// The device cookie: which account this browser signed in to lately, so the owner is
    /// not held back by the per-account sign-in ceiling (`Accounts::device_cookie`).
    pub fn device_name(self) -> &'static str {
        if self.secure {
            DEVICE_COOKIE_SECURE
        } else {
            DEVICE_COOKIE
        }
    }

    fn csrf_name(self) -> &'static str {
        if self.secure {
            "__Host-gatehouse_csrf"
        } else {
            "gatehouse_csrf"
        }
    }

    fn header(self, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
        let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
        if self.secure {
            cookie.push_str("; Secure");
        }
        if let Some(seconds) = max_age {
            cookie.push_str(&format!("; Max-Age={seconds}"));
        }
        HeaderValue::from_str(&cookie).expect("cookie values are URL-safe")
    }

    /// Sets the session cookie (and a fresh CSRF token, so a token seen before sign-in is
    /// worthless after it).
    pub fn signed_in(
        self,
        secret: &str,
        max_age: i64,
        device: &str,
        device_max_age: i64,
    ) -> AppendHeaders<[(header::HeaderName, HeaderValue); 3]> {
        AppendHeaders([
            (
                header::SET_COOKIE,
                self.header(self.session_name(), secret, Some(max_age)),
            ),
            (
                header::SET_COOKIE,
                self.header(self.device_name(), device, Some(device_max_age)),
            ),
            (
                header::SET_COOKIE,
                self.header(self.csrf_name(), &new_csrf_token(), None),
            ),
        ])
    }

    /// Clears the session cookie and replaces the CSRF token.
    pub fn signed_out(self) -> AppendHeaders<[(header::HeaderName, HeaderValue); 2]> {
        AppendHeaders([
            (
                header::SET_COOKIE,
                self.header(self.session_name(), "", Some(0)),
            ),
            (
                header::SET_COOKIE,
                self.header(self.csrf_name(), &new_csrf_token(), None),
            ),
        ])
    }
}

/// The value of cookie `name`, from every `Cookie` header.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

fn new_csrf_token() -> String {
    use base64::Engine as _;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn same_secret(a: &str, b: &str) -> bool {
    // Compare digests: the time taken says nothing about how much of the token matched.
    Sha256::digest(a.as_bytes()) == Sha256::digest(b.as_bytes())
}

// ------------------------------------------------------------ the guard

/// This browser's CSRF token, for the hidden field of every form on the page.
#[derive(Debug, Clone)]
pub struct Csrf(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Csrf {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Csrf>()
            .cloned()
            .unwrap_or_else(|| Csrf(String::new())))
    }
}

/// CSRF check on every POST and the security headers on every answer. The token travels in
/// the form field `csrf` (urlencoded forms) or the query parameter `csrf` (the multipart
/// upload form, whose body the guard does not buffer).
async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let cookies = Cookies::for_state(&state);
    let existing = cookie(req.headers(), cookies.csrf_name()).map(str::to_owned);
    let token = existing.clone().unwrap_or_else(new_csrf_token);

    let (mut parts, body) = req.into_parts();
    let body = if parts.method == Method::POST {
        // A multipart upload carries its token in the query: checked before a byte of the
        // body is read, and the body then goes to the handler unbuffered (its own limit
        // applies). Only an urlencoded form is read here, up to MAX_FORM_BODY.
        let (bytes, body) = if is_multipart(&parts) {
            (axum::body::Bytes::new(), Some(body))
        } else {
            match axum::body::to_bytes(body, MAX_FORM_BODY).await {
                Ok(bytes) => (bytes, None),
                Err(_) => return refused(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large."),
            }
        };
        let submitted = submitted_token(&parts, &bytes);
        let cross_site = parts
            .headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|site| site == "cross-site" || site == "same-site");
        let valid = match (&existing, submitted) {
            (Some(cookie), Some(field)) => same_secret(cookie, &field),
            _ => false,
        };
        if cross_site || !valid {
            return refused(
                StatusCode::FORBIDDEN,
                "This form has expired or did not come from this site. Go back, reload the page and try again.",
            );
        }
        body.unwrap_or_else(|| Body::from(bytes))
    } else {
        body
    };
    parts.extensions.insert(Csrf(token.clone()));
    let mut response = next.run(Request::from_parts(parts, body)).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    let replaced = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| v.as_bytes().starts_with(cookies.csrf_name().as_bytes()));
    if existing.is_none() && !replaced {
        headers.append(
            header::SET_COOKIE,
            cookies.header(cookies.csrf_name(), &token, None),
        );
    }
    response
}

fn is_multipart(parts: &Parts) -> bool {
    parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"))
}

/// The token of an urlencoded form is in its body; only a multipart form (whose body the
/// guard does not parse) may carry it in the query string.
fn submitted_token(parts: &Parts, body: &[u8]) -> Option<String> {
    if is_multipart(parts) {
        return query_token(parts);
    }
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    is_form
        .then(|| serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).ok())
        .flatten()
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "csrf").map(|(_, v)| v))
}

fn query_token(parts: &Parts) -> Option<String> {
    parts.uri.query().and_then(|q| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v)
    })
}

fn refused(status: StatusCode, message: &str) -> Response {
    let page = MessagePage {
        chrome: Chrome::anonymous(String::new()),
        title: "That did not work".to_owned(),
        message: message.to_owned(),
        link: Some(("/".to_owned(), "Back to the start".to_owned())),
    };
    render(status, &page)
}

// ------------------------------------------------------------ first-run setup

/// The one-time token of the first-run setup page: set at start-up while the instance has
/// no administrator, printed in the start-up message, taken by the setup that uses it.
#[derive(Debug, Default)]
pub struct SetupGate(std::sync::Mutex<Option<String>>);

impl SetupGate {
    /// Opens the gate with a new token and returns it.
    pub fn open(&self) -> String {
        let token = new_csrf_token();
        *self.0.lock().expect("setup gate lock") = Some(token.clone());
        token
    }

    pub fn matches(&self, candidate: &str) -> bool {
        self.0
            .lock()
            .expect("setup gate lock")
            .as_deref()
            .is_some_and(|token| same_secret(token, candidate))
    }

    /// The token, taken out, when `candidate` is it; nobody else can use it meanwhile.
    pub fn take(&self, candidate: &str) -> Option<String> {
        let mut slot = self.0.lock().expect("setup gate lock");
        if slot.as_deref().is_some_and(|t| same_secret(t, candidate)) {
            slot.take()
        } else {
            None
        }
    }

    /// Puts a taken token back (the setup it was taken for failed).
    pub fn restore(&self, token: String) {
        *self.0.lock().expect("setup gate lock") = Some(token);
    }
}

// ------------------------------------------------------------ the signed-in browser

/// A browser with a live session cookie. Pages that need one take this; without one the
/// browser is sent to the sign-in page and brought back afterwards.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub principal: Principal,
    pub user: User,
    /// Where the request came from, for the audit of what the user does.
    pub client: accounts::service::ClientInfo,
    /// Whether the console link shows: the caller holds some instance-level permission
    /// beyond their own account, or administers an organisation.
    pub console: bool,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let back = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let to_signin = || {
            let next = if parts.method == Method::GET {
                back.clone()
            } else {
                "/".to_owned()
            };
            Redirect::to(&format!("/signin?next={}", urlencode(&next))).into_response()
        };
        let Some(secret) = cookie(&parts.headers, Cookies::for_state(state).session_name()) else {
            return Err(to_signin());
        };
        let principal = match state.accounts.authenticate(secret).await {
            Ok(p) if p.kind == CredentialKind::Session => p,
            Ok(_) | Err(accounts::AuthError::Invalid | accounts::AuthError::Missing) => {
                return Err(to_signin())
            }
            Err(accounts::AuthError::Store(e)) => return Err(failure_page(ApiError::from(e))),
        };
        super::auth::record_user(&principal);
        let user = state
            .accounts
            .user(principal.user_id)
            .await
            .map_err(|e| failure_page(ApiError::from(e)))?;
        let console = state
            .accounts
            .sees_console(&accounts::Actor::from(&principal))
            .await
            .map_err(|e| failure_page(ApiError::from(e)))?;
        let Ok(super::auth::Client(client)) =
            super::auth::Client::from_request_parts(parts, state).await;
        Ok(Self {
            principal,
            user,
            client,
            console,
        })
    }
}

impl SignedIn {
    pub fn actor(&self) -> accounts::Actor {
        accounts::Actor::from(&self.principal).with_client(&self.client)
    }

    pub fn chrome(&self, csrf: Csrf) -> Chrome {
        Chrome {
            csrf: csrf.0,
            username: Some(self.user.username.as_str().to_owned()),
            console: self.console,
        }
    }
}

// ------------------------------------------------------------ rendering

/// What the layout needs on every page.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub csrf: String,
    /// The signed-in user, for the navigation.
    pub username: Option<String>,
    pub console: bool,
}

impl Chrome {
    pub fn anonymous(csrf: String) -> Self {
        Self {
            csrf,
            username: None,
            console: false,
        }
    }
}

/// Messages next to the form fields they concern; `form` is for the ones about no field.
#[derive(Debug, Default, Clone)]
pub struct Errors(HashMap<String, String>);

impl Errors {
    pub fn of(&self, field: &str) -> &str {
        self.0.get(field).map_or("", String::as_str)
    }

    pub fn set(&mut self, field: &str, message: impl Into<String>) {
        self.0.insert(field.to_owned(), message.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The core's refusal, placed next to the field it names (or at the top of the form);
    /// `rename` maps the core's field names to the form's.
    pub fn from_api(error: &ApiError, rename: &[(&str, &str)]) -> Self {
        let mut errors = Self::default();
        let field = error.field.as_deref().map_or("form", |f| {
            rename
                .iter()
                .find(|(core, _)| *core == f)
                .map_or(f, |(_, form)| form)
        });
        errors.set(field, error.detail.clone());
        errors
    }
}

/// A page that only says something.
#[derive(Debug, Template)]
#[template(path = "ui/message.html")]
pub struct MessagePage {
    pub chrome: Chrome,
    pub title: String,
    pub message: String,
    /// Where to go next: (href, text).
    pub link: Option<(String, String)>,
}

pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page failed to render",
            )
                .into_response()
        }
    }
}

/// A core refusal as a page, with its status (and Retry-After when throttled).
pub fn failure_page(error: ApiError) -> Response {
    failure_in(
        Chrome::anonymous(String::new()),
        error,
        ("/", "Back to your account"),
    )
}

/// A refusal as a page with this navigation and a link back: (href, text).
pub fn failure_in(chrome: Chrome, error: ApiError, back: (&str, &str)) -> Response {
    let page = MessagePage {
        chrome,
        title: title_for(error.status).to_owned(),
        message: error.detail.clone(),
        link: Some((back.0.to_owned(), back.1.to_owned())),
    };
    with_retry_after(render(error.status, &page), &error)
}

/// Adds `Retry-After` to a page answering a throttled request.
pub fn with_retry_after(mut response: Response, error: &ApiError) -> Response {
    if let Some(seconds) = error.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    }
    response
}

fn title_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
        s if s.is_server_error() => "Something went wrong",
        _ => "That did not work",
    }
}

/// `value` as one query-string component.
pub fn urlencode(value: &str) -> String {
    serde_urlencoded::to_string([("", value)])
        .unwrap_or_default()
        .trim_start_matches('=')
        .to_owned()
}

/// A `next` parameter is followed only to a path on this site: browsers drop tabs and line
/// breaks from URLs and read `\` as `/`, so `/\t/evil.example` would leave it.
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.contains('\\')
                && !p.chars().any(|c| c.is_control() || c.is_whitespace()) =>
        {
            p.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// After a form that changed something: back to a page, with a note of what happened.
pub fn done(path: &str, note: &str) -> Response {
    let sep = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{sep}done={note}")).into_response()
}

/// The words for a `done` note; unknown notes show nothing.
pub fn note_text(note: Option<&str>) -> &'static str {
    match note.unwrap_or_default() {
        "profile" => "Your profile is saved.",
        "picture" => "Your picture is saved.",
        "password" => "Your password is changed.",
        "session-ended" => "The session has ended.",
        "sessions-ended" => "Your other sessions have ended.",
        "token-disabled" => "The token is disabled.",
        "token-enabled" => "The token is enabled.",
        "token-deleted" => "The token is deleted.",
        "two-factor-off" => "Two-factor sign-in is off.",
        "reauthenticated" => "Confirmed. You can change two-factor sign-in for the next 10 minutes.",
        "verified" => "Your e-mail address is confirmed. You can sign in now.",
        "reset" => {
            "Your password is changed: every session has ended and every API token is revoked. Sign in with the new password."
        }
        "user-disabled" => "The account is disabled.",
        "user-enabled" => "The account is enabled.",
        "roles" => "The roles are saved.",
        "reset-sent" => "A reset code and link are on their way to the account's address.",
        "sessions-revoked" => "Every session of the account has ended.",
        "tokens-revoked" => "Every API token of the account is revoked.",
        "second-factor-reset" => "The account's second factor is removed.",
        "user-deleted" => "The account is deleted.",
        "role-saved" => "The role is saved.",
        "role-deleted" => "The role is deleted.",
        "org-saved" => "The organisation is saved.",
        "org-deleted" => "The organisation is deleted.",
        "member-saved" => "The membership is saved.",
        "member-removed" => "The member is removed.",
        _ => "",
    }
}

/// An urlencoded form; a body that does not parse gets a 400 page, not axum's plain text.
#[derive(Debug)]
pub struct UiForm<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for UiForm<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(form)) => Ok(Self(form)),
            Err(rejection) => Err(failure_page(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_form",
                format!("The form could not be read: {}", rejection.body_text()),
            ))),
        }
    }
}

/// A path parameter; one that does not parse gets a 404 page, not axum's plain text.
#[derive(Debug)]
pub struct UiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for UiPath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(_) => Err(failure_page(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "There is no such page.",
            ))),
        }
    }
}

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

mod cookies;
mod page_guard;
mod render;
mod signed_in;
pub use cookies::*;
pub use page_guard::*;
pub use render::*;
pub use signed_in::*;

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

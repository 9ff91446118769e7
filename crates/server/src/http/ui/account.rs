//! The signed-in user's own pages: profile (the OIDC claims) and picture, password, sessions,
//! API tokens and two-factor sign-in. Each action calls one core function with the caller,
//! which checks the need on the caller's own account, as it does for the native API.

use accounts::domain::{Patch, ProfileUpdate};
use accounts::second_factor::Proof;
use accounts::{ApiToken, Password, TokenRef, User};
use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    done, failure_page, note_text, render, with_retry_after, Chrome, Cookies, Csrf, Errors,
    SignedIn, UiForm, UiPath,
};
use crate::http::auth::Client;
use crate::http::problem::ApiError;
use crate::http::AppState;

mod password;
mod profile;
mod sessions;
mod tokens;
mod two_factor;
use password::*;
use profile::*;
use sessions::*;
use tokens::*;
use two_factor::*;

pub fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/account", get(profile_page).post(save_profile))
        .route(
            "/account/picture",
            post(upload_picture).layer(axum::extract::DefaultBodyLimit::max(state.max_upload_body)),
        )
        .route(
            "/account/password",
            get(password_page).post(change_password),
        )
        .route("/account/sessions", get(sessions_page))
        .route("/account/sessions/end-others", post(end_other_sessions))
        .route("/account/sessions/{id}/end", post(end_session))
        .route("/account/tokens", get(tokens_page).post(create_token))
        .route("/account/tokens/{id}/{action}", post(token_action))
        .route("/account/two-factor", get(two_factor_page))
        .route("/account/two-factor/begin", post(begin_totp))
        .route("/account/two-factor/reauthenticate", post(reauthenticate))
        .route("/account/two-factor/confirm", post(confirm_totp))
        .route("/account/two-factor/disable", post(disable_totp))
        .route(
            "/account/two-factor/recovery-codes",
            post(regenerate_recovery_codes),
        )
}

#[derive(Debug, Deserialize)]
struct NoteQuery {
    done: Option<String>,
}

/// The core refusal of a self-service action as a page.
fn refused(error: impl Into<ApiError>) -> Response {
    failure_page(error.into())
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

//! Password login and logout.

use accounts::access::{Action, Entity};
use accounts::Password;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::me::UserView;
use super::{authorize_own, ApiError, ApiJson, Authenticated};
use crate::http::auth::Client;
use crate::http::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Username or e-mail address.
    pub login: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// The session's bearer token (`ghs_...`). Shown once.
    pub token: String,
    pub session_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub user: UserView,
}

/// Sign in with a password; returns a session token.
#[utoipa::path(
    post, path = "/auth/v1/login", tag = "sessions",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = LoginResponse),
        (status = 400, description = "Malformed body", body = super::Problem),
        (status = 401, description = "Unknown login or wrong password (indistinguishable)", body = super::Problem),
        (status = 403, description = "Account disabled", body = super::Problem),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let session = state
        .accounts
        .login(&body.login, Password::for_login(body.password), client)
        .await?;
    Ok(axum::Json(LoginResponse {
        token: session.secret.expose().to_owned(),
        session_id: session.session_id,
        expires_at: session.expires_at,
        user: UserView::from(session.user),
    })
    .into_response())
}

/// End the session this request authenticates with.
#[utoipa::path(
    post, path = "/auth/v1/logout", tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Session ended"),
        (status = 400, description = "The credential is an API token, not a session", body = super::Problem),
        (status = 401, description = "No valid credential", body = super::Problem),
        (status = 403, description = "The caller's roles do not include `session:delete` on themselves", body = super::Problem),
    )
)]
pub async fn logout(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<StatusCode, ApiError> {
    authorize_own(&state, &principal, Entity::Session, Action::Delete).await?;
    if state.accounts.logout(&principal).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "not_a_session",
            "this credential is an API token; delete it with DELETE /auth/v1/tokens/{id}",
        ))
    }
}

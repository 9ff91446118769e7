//! Password login (with the second step for accounts with a TOTP second factor) and logout.

use accounts::second_factor::Proof;
use accounts::{InvalidInput, LoginError, LoginSession, Password};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::me::UserView;
use super::{ApiError, ApiJson, Authenticated};
use crate::http::auth::Client;
use crate::http::auth::Credential;
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
    #[serde(serialize_with = "super::timestamp::millis")]
    pub expires_at: DateTime<Utc>,
    pub user: UserView,
}

/// The first step went through for an account with a second factor: send the challenge
/// back with a code to `POST /auth/v1/login/second-factor`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecondFactorRequired {
    /// Always `true`: tells this answer from a session.
    pub second_factor_required: bool,
    /// Single use, dies after 5 wrong codes or at `expires_at` (5 minutes).
    pub challenge: String,
    #[serde(serialize_with = "super::timestamp::millis")]
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecondFactorLogin {
    /// `challenge` from the first step.
    pub challenge: String,
    /// The 6-digit code from the authenticator app, or an unused recovery code.
    pub code: String,
}

fn session_response(session: LoginSession) -> Response {
    axum::Json(LoginResponse {
        token: session.secret.expose().to_owned(),
        session_id: session.session_id,
        expires_at: session.expires_at,
        user: UserView::from(session.user),
    })
    .into_response()
}

/// Sign in with a password; returns a session token, or (202) a challenge when the account
/// has a second factor.
#[utoipa::path(
    post, path = "/auth/v1/login", tag = "sessions",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = LoginResponse),
        (status = 202, description = "Password right; the account needs its one-time code: send it with `challenge` to /auth/v1/login/second-factor", body = SecondFactorRequired),
        (status = 400, description = "Malformed body", body = super::Problem),
        (status = 401, description = "Unknown login or wrong password (indistinguishable)", body = super::Problem),
        (status = 403, description = "Account disabled", body = super::Problem),
        (status = 429, description = "Too many attempts", body = super::Problem),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    match state
        .accounts
        .login(&body.login, Password::for_login(body.password), client)
        .await
    {
        Ok(session) => Ok(session_response(session)),
        Err(LoginError::SecondFactorRequired(Some(challenge))) => Ok((
            StatusCode::ACCEPTED,
            axum::Json(SecondFactorRequired {
                second_factor_required: true,
                challenge: challenge.token,
                expires_at: challenge.expires_at,
            }),
        )
            .into_response()),
        Err(e) => Err(e.into()),
    }
}

/// The second step of a login: the challenge and a one-time code (or a recovery code).
#[utoipa::path(
    post, path = "/auth/v1/login/second-factor", tag = "sessions",
    request_body = SecondFactorLogin,
    responses(
        (status = 200, description = "Signed in", body = LoginResponse),
        (status = 400, description = "`invalid_code`: wrong or already used code, or an expired or dead challenge (5 wrong codes end it)", body = super::Problem),
        (status = 403, description = "Account disabled meanwhile", body = super::Problem),
        (status = 422, description = "Malformed body", body = super::Problem),
        (status = 429, description = "Too many attempts", body = super::Problem),
    )
)]
pub async fn login_second_factor(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<SecondFactorLogin>,
) -> Result<Response, ApiError> {
    let session = state
        .accounts
        .login_second_factor(&body.challenge, &body.code, client)
        .await?;
    Ok(session_response(session))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReauthRequest {
    /// The account's password; or else
    pub password: Option<String>,
    /// a current code from the authenticator app, or an unused recovery code.
    pub code: Option<String>,
}

/// Prove the password (or a code of the second factor) again on this session: enrolling,
/// replacing or removing a second factor needs a proof less than 10 minutes old.
#[utoipa::path(
    post, path = "/auth/v1/session/reauthenticate", tag = "sessions",
    security(("bearer" = [])),
    request_body = ReauthRequest,
    responses(
        (status = 204, description = "Proved; the session may change the second factor for the next 10 minutes"),
        (status = 400, description = "`not_a_session`: the credential is an API token", body = super::Problem),
        (status = 401, description = "`invalid_credentials`: wrong password or code", body = super::Problem),
        (status = 403, description = "The caller's roles do not include `session:update` on themselves", body = super::Problem),
        (status = 422, description = "Neither or both of `password` and `code`", body = super::Problem),
        (status = 429, description = "Too many attempts", body = super::Problem),
    )
)]
pub async fn reauthenticate(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(principal, _): Authenticated,
    ApiJson(body): ApiJson<ReauthRequest>,
) -> Result<StatusCode, ApiError> {
    let proof = match (body.password, body.code) {
        (Some(password), None) => Proof::Password(Password::for_login(password)),
        (None, Some(code)) => Proof::Code(code),
        _ => {
            return Err(ApiError::invalid(InvalidInput::new(
                "password",
                "give either `password` or `code`",
            )))
        }
    };
    state
        .accounts
        .reauthenticate(&principal, proof, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// End the session this request authenticates with.
#[utoipa::path(
    post, path = "/auth/v1/logout", tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Session ended"),
        (status = 400, description = "The credential is an API token, not a session", body = super::Problem),
        (status = 401, description = "No valid credential", body = super::Problem),
    )
)]
pub async fn logout(
    State(state): State<AppState>,
    Credential(principal, _): Authenticated,
) -> Result<StatusCode, ApiError> {
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

//! The caller's TOTP second factor: status, enrolment (secret and QR code shown once),
//! confirmation with a first code (ten recovery codes shown once), turning it off, new
//! recovery codes. Reading the status needs `user:read` on oneself, every change
//! `user:update`; the core checks both, and the rules (codes, replays, throttling) are its own.

use accounts::second_factor::{Enrolment, SecondFactorStatus};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiError, ApiJson, Authenticated};
use crate::http::auth::Client;
use crate::http::auth::Credential;
use crate::http::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct SecondFactorView {
    /// Logins need a one-time code.
    pub enabled: bool,
    /// An enrolment waits for its first code (`POST .../confirm`).
    pub pending: bool,
    /// Unused recovery codes.
    pub recovery_codes_left: u32,
}

impl From<SecondFactorStatus> for SecondFactorView {
    fn from(s: SecondFactorStatus) -> Self {
        Self {
            enabled: s.enabled,
            pending: s.pending,
            recovery_codes_left: s.recovery_codes_left,
        }
    }
}

/// A started enrolment. Shown once: the server never shows the secret again.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnrolmentView {
    /// The secret in base32, for typing into an authenticator app.
    pub secret: String,
    /// `otpauth://totp/...`, what the QR code holds.
    pub otpauth_uri: String,
    /// The URI as an SVG QR code, for scanning.
    pub qr_svg: String,
}

impl From<Enrolment> for EnrolmentView {
    fn from(e: Enrolment) -> Self {
        Self {
            secret: e.secret,
            otpauth_uri: e.otpauth_uri,
            qr_svg: e.qr_svg,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    /// A 6-digit code from the authenticator app (where allowed, or a recovery code).
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Ten single-use codes, each standing in for one one-time code. Shown once.
    pub recovery_codes: Vec<String>,
}

/// Whether the caller's logins need a one-time code.
#[utoipa::path(
    get, path = "/auth/v1/me/second-factor", tag = "second factor",
    security(("bearer" = [])),
    responses(
        (status = 200, body = SecondFactorView),
        (status = 401, body = super::Problem),
        (status = 403, description = "The caller's roles do not include `user:read` on themselves", body = super::Problem),
    )
)]
pub async fn status(
    State(state): State<AppState>,
    Credential(principal, _): Authenticated,
) -> Result<axum::Json<SecondFactorView>, ApiError> {
    let status = state
        .accounts
        .second_factor(&(&principal).into(), principal.user_id)
        .await?;
    Ok(axum::Json(status.into()))
}

/// Start an enrolment: a new secret (replacing an unconfirmed one), shown once.
#[utoipa::path(
    post, path = "/auth/v1/me/second-factor", tag = "second factor",
    security(("bearer" = [])),
    responses(
        (status = 200, body = EnrolmentView),
        (status = 401, body = super::Problem),
        (status = 403, description = "`session_required`: an API token never changes the second factor; `reauthentication_required`: the session proved its password or a code more than 10 minutes ago (POST /auth/v1/session/reauthenticate); or the caller's roles do not include `user:update` on themselves", body = super::Problem),
        (status = 409, description = "`second_factor_enabled`: turn it off first", body = super::Problem),
    )
)]
pub async fn begin(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(principal, _): Authenticated,
) -> Result<axum::Json<EnrolmentView>, ApiError> {
    let enrolment = state.accounts.begin_totp(&principal, &client).await?;
    Ok(axum::Json(enrolment.into()))
}

/// Confirm the enrolment with a first code; logins need a code from now on.
#[utoipa::path(
    post, path = "/auth/v1/me/second-factor/confirm", tag = "second factor",
    security(("bearer" = [])),
    request_body = CodeBody,
    responses(
        (status = 200, description = "On; the recovery codes are shown once", body = RecoveryCodes),
        (status = 400, description = "`invalid_code`", body = super::Problem),
        (status = 401, body = super::Problem),
        (status = 403, description = "`session_required`: an API token never changes the second factor; `reauthentication_required`: the session proved its password or a code more than 10 minutes ago (POST /auth/v1/session/reauthenticate); or the caller's roles do not include `user:update` on themselves", body = super::Problem),
        (status = 409, description = "`no_enrolment_pending`: start one first", body = super::Problem),
        (status = 429, body = super::Problem),
    )
)]
pub async fn confirm(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(principal, _): Authenticated,
    ApiJson(body): ApiJson<CodeBody>,
) -> Result<axum::Json<RecoveryCodes>, ApiError> {
    let recovery_codes = state
        .accounts
        .confirm_totp(&principal, &body.code, &client)
        .await?;
    Ok(axum::Json(RecoveryCodes { recovery_codes }))
}

/// Turn the second factor off, with a current code or an unused recovery code.
#[utoipa::path(
    delete, path = "/auth/v1/me/second-factor", tag = "second factor",
    security(("bearer" = [])),
    request_body = CodeBody,
    responses(
        (status = 204, description = "Off; logins need the password only"),
        (status = 400, description = "`invalid_code`", body = super::Problem),
        (status = 401, body = super::Problem),
        (status = 403, description = "`session_required`: an API token never changes the second factor; `reauthentication_required`: the session proved its password or a code more than 10 minutes ago (POST /auth/v1/session/reauthenticate); or the caller's roles do not include `user:update` on themselves", body = super::Problem),
        (status = 409, description = "`second_factor_not_enabled`", body = super::Problem),
        (status = 429, body = super::Problem),
    )
)]
pub async fn disable(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(principal, _): Authenticated,
    ApiJson(body): ApiJson<CodeBody>,
) -> Result<StatusCode, ApiError> {
    state
        .accounts
        .disable_totp(&principal, &body.code, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace the recovery codes (the old ones stop working), with a current code.
#[utoipa::path(
    post, path = "/auth/v1/me/second-factor/recovery-codes", tag = "second factor",
    security(("bearer" = [])),
    request_body = CodeBody,
    responses(
        (status = 200, description = "The new codes, shown once", body = RecoveryCodes),
        (status = 400, description = "`invalid_code` (a recovery code does not do here)", body = super::Problem),
        (status = 401, body = super::Problem),
        (status = 403, description = "`session_required`: an API token never changes the second factor; `reauthentication_required`: the session proved its password or a code more than 10 minutes ago (POST /auth/v1/session/reauthenticate); or the caller's roles do not include `user:update` on themselves", body = super::Problem),
        (status = 409, description = "`second_factor_not_enabled`", body = super::Problem),
        (status = 429, body = super::Problem),
    )
)]
pub async fn regenerate_recovery_codes(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(principal, _): Authenticated,
    ApiJson(body): ApiJson<CodeBody>,
) -> Result<axum::Json<RecoveryCodes>, ApiError> {
    let recovery_codes = state
        .accounts
        .regenerate_recovery_codes(&principal, &body.code, &client)
        .await?;
    Ok(axum::Json(RecoveryCodes { recovery_codes }))
}

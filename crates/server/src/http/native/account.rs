//! The account lifecycle on the native API: sign-up, e-mail verification, password reset and
//! change, sessions, and the admin audit log.
//!
//! Who may call what: sign-up, verification, forgotten-password and reset endpoints are
//! public (and throttled); password change and sessions need a credential and act on the
//! caller's account (the core checks the need); `/admin/audit` needs `audit:read`.

use accounts::audit::{AuditEvent, AuditFilter};
use accounts::lifecycle::Registration;
use accounts::store::SessionInfo;
use accounts::{Actor, EmailAddress, NewUsername, Password, Username};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::paging::{self, CursorKey, Page, PageQuery};
use super::{ApiError, ApiJson, ApiPath, Authenticated};
use crate::http::auth::Client;
use crate::http::auth::Credential;
use crate::http::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    pub username: String,
    pub email: String,
    pub password: String,
}

/// The same answer whatever happened to the request, so it reveals no account.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    pub status: &'static str,
    pub detail: &'static str,
}

pub(super) fn accepted(detail: &'static str) -> Response {
    (
        StatusCode::ACCEPTED,
        axum::Json(Accepted {
            status: "accepted",
            detail,
        }),
    )
        .into_response()
}

const CHECK_MAIL: &str =
    "if the address can receive it, a message with a code and a link is on its way";

/// Register an account; it stays pending until the e-mail address is verified.
#[utoipa::path(
    post, path = "/auth/v1/signup", tag = "lifecycle",
    request_body = SignupRequest,
    responses(
        (status = 202, description = "Same answer whether or not the name or address is taken", body = Accepted),
        (status = 400, description = "Invalid username, e-mail or weak password", body = super::Problem),
        (status = 403, description = "Sign-up closed, or the domain is not allowed", body = super::Problem),
        (status = 429, description = "Too many sign-ups from this address", body = super::Problem),
    )
)]
pub async fn signup(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<SignupRequest>,
) -> Result<Response, ApiError> {
    let username = Username::parse(&body.username).map_err(ApiError::invalid)?;
    let email = EmailAddress::parse(&body.email).map_err(ApiError::invalid)?;
    state
        .accounts
        .register(
            Registration {
                username: NewUsername::Chosen(username),
                email,
                password: body.password,
                application: None,
                profile: accounts::domain::ProfileChange::default(),
            },
            client,
        )
        .await?;
    Ok(accepted(CHECK_MAIL))
}

/// Either a typed code with its address, or a link token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged, deny_unknown_fields)]
pub enum CodeOrLink {
    Code { email: String, code: String },
    Link { token: String },
}

/// Verify an e-mail address with the code or the link token from the message.
#[utoipa::path(
    post, path = "/auth/v1/verify-email", tag = "lifecycle",
    request_body = CodeOrLink,
    responses(
        (status = 204, description = "Verified; the account is active"),
        (status = 400, description = "Wrong, expired, used or exhausted code", body = super::Problem),
        (status = 429, body = super::Problem),
    )
)]
pub async fn verify_email(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<CodeOrLink>,
) -> Result<StatusCode, ApiError> {
    match body {
        CodeOrLink::Code { email, code } => {
            state
                .accounts
                .verify_email_code(&email, &code, client, accounts::CodeScope::Native)
                .await?
        }
        CodeOrLink::Link { token } => state.accounts.verify_email_link(&token, client).await?,
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailRequest {
    pub email: String,
}

/// Send a new verification code to a pending address.
#[utoipa::path(
    post, path = "/auth/v1/verify-email/resend", tag = "lifecycle",
    request_body = EmailRequest,
    responses((status = 202, body = Accepted), (status = 429, body = super::Problem))
)]
pub async fn resend_verification(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<EmailRequest>,
) -> Result<Response, ApiError> {
    state
        .accounts
        .resend_verification(&body.email, client, accounts::CodeScope::Native)
        .await?;
    Ok(accepted(CHECK_MAIL))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotRequest {
    /// Username or e-mail address.
    pub login: String,
}

/// Ask for a password reset code and link. The answer never says whether the account exists.
#[utoipa::path(
    post, path = "/auth/v1/password/forgot", tag = "lifecycle",
    request_body = ForgotRequest,
    responses((status = 202, body = Accepted), (status = 429, body = super::Problem))
)]
pub async fn forgot_password(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<ForgotRequest>,
) -> Result<Response, ApiError> {
    state
        .accounts
        .request_password_reset(&body.login, client, accounts::CodeScope::Native)
        .await?;
    Ok(accepted(CHECK_MAIL))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged, deny_unknown_fields)]
pub enum ResetRequest {
    Code {
        email: String,
        code: String,
        new_password: String,
    },
    Link {
        token: String,
        new_password: String,
    },
}

/// Set a new password with a reset code or link token; every session ends.
#[utoipa::path(
    post, path = "/auth/v1/password/reset", tag = "lifecycle",
    request_body = ResetRequest,
    responses(
        (status = 204, description = "Password set; all sessions ended"),
        (status = 400, description = "Invalid code, or weak password", body = super::Problem),
        (status = 429, body = super::Problem),
    )
)]
pub async fn reset_password(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<ResetRequest>,
) -> Result<StatusCode, ApiError> {
    match body {
        ResetRequest::Code {
            email,
            code,
            new_password,
        } => {
            state
                .accounts
                .reset_password_with_code(
                    &email,
                    &code,
                    new_password,
                    client,
                    accounts::CodeScope::Native,
                )
                .await?
        }
        ResetRequest::Link {
            token,
            new_password,
        } => {
            state
                .accounts
                .reset_password_with_link(&token, new_password, client)
                .await?
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
    /// End every other session (default false).
    #[serde(default)]
    pub end_other_sessions: bool,
}

/// Change the caller's password.
#[utoipa::path(
    post, path = "/auth/v1/password/change", tag = "lifecycle",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed"),
        (status = 400, description = "Wrong current password, or weak new password", body = super::Problem),
        (status = 401, body = super::Problem),
        (status = 403, description = "The caller's roles do not include `user:update` on themselves", body = super::Problem),
        (status = 429, body = super::Problem),
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(principal, _): Authenticated,
    ApiJson(body): ApiJson<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .accounts
        .change_password(
            &principal,
            Password::for_login(body.current_password),
            body.new_password,
            body.end_other_sessions,
            client,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: Uuid,
    #[serde(serialize_with = "super::timestamp::millis")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "super::timestamp::millis")]
    pub last_seen_at: DateTime<Utc>,
    #[serde(serialize_with = "super::timestamp::millis")]
    pub expires_at: DateTime<Utc>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// The session this request authenticated with.
    pub current: bool,
}

impl SessionView {
    fn new(s: SessionInfo, current: Uuid) -> Self {
        Self {
            current: s.id == current,
            id: s.id,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
            client_ip: s.client_ip,
            user_agent: s.user_agent,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionPage {
    /// At most `limit`, newest first.
    pub sessions: Vec<SessionView>,
    /// The cursor of the next (older) page, for `after`; `null` on the last page.
    pub next: Option<String>,
    /// The cursor of the previous (newer) page, for `before`; `null` on the first page.
    pub prev: Option<String>,
    /// How many live sessions the caller has in all.
    pub total: u64,
}

/// The caller's live sessions, newest first, a page at a time.
#[utoipa::path(
    get, path = "/auth/v1/sessions", tag = "lifecycle",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, body = SessionPage),
        (status = 400, description = "`invalid_query`: `limit` outside 1 to 200, a cursor that is not one of this list, or both `after` and `before`", body = super::Problem),
        (status = 401, body = super::Problem),
        (status = 403, description = "The caller's roles do not allow this on their own sessions", body = super::Problem),
    )
)]
pub async fn list_sessions(
    State(state): State<AppState>,
    Credential(principal, _): Authenticated,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<SessionPage>, ApiError> {
    let Query(q) = query?;
    let request = q.request("sessions")?;
    let mut sessions = state.accounts.sessions(&principal).await?;
    let key = |s: &SessionInfo| (s.created_at, s.id);
    sessions.sort_by_key(|s| std::cmp::Reverse(key(s)));
    let total = sessions.len() as u64;
    let page = Page::of_all(sessions, key, true, &request);
    let (next, prev) = page.cursors("sessions", |s| key(s).to_text());
    Ok(axum::Json(SessionPage {
        sessions: page
            .items
            .into_iter()
            .map(|s| SessionView::new(s, principal.credential_id))
            .collect(),
        next,
        prev,
        total,
    }))
}

/// End one of the caller's sessions.
#[utoipa::path(
    delete, path = "/auth/v1/sessions/{id}", tag = "lifecycle",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 401, body = super::Problem), (status = 403, description = "The caller's roles do not allow this on their own sessions", body = super::Problem), (status = 404, body = super::Problem))
)]
pub async fn end_session(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(principal, _): Authenticated,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.accounts.end_session(&principal, id, client).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Ended {
    pub ended: usize,
}

/// End every session of the caller except the current one.
#[utoipa::path(
    post, path = "/auth/v1/sessions/end-others", tag = "lifecycle",
    security(("bearer" = [])),
    responses((status = 200, body = Ended), (status = 401, body = super::Problem), (status = 403, description = "The caller's roles do not allow this on their own sessions", body = super::Problem))
)]
pub async fn end_other_sessions(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(principal, _): Authenticated,
) -> Result<axum::Json<Ended>, ApiError> {
    let ended = state
        .accounts
        .end_sessions(&principal, false, client)
        .await?;
    Ok(axum::Json(Ended { ended }))
}

/// End every session of the caller, the current one included.
#[utoipa::path(
    delete, path = "/auth/v1/sessions", tag = "lifecycle",
    security(("bearer" = [])),
    responses((status = 200, body = Ended), (status = 401, body = super::Problem), (status = 403, description = "The caller's roles do not allow this on their own sessions", body = super::Problem))
)]
pub async fn end_all_sessions(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(principal, _): Authenticated,
) -> Result<axum::Json<Ended>, ApiError> {
    let ended = state
        .accounts
        .end_sessions(&principal, true, client)
        .await?;
    Ok(axum::Json(Ended { ended }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Events where this user acted or was acted on.
    pub user: Option<Uuid>,
    pub action: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next` of a page, unchanged: the older events after it.
    pub after: Option<String>,
    /// `prev` of a page, unchanged: the newer events before it.
    pub before: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// At most `limit`, newest first.
    pub events: Vec<AuditView>,
    /// The cursor of the next (older) page, for `after`; `null` on the last page.
    pub next: Option<String>,
    /// The cursor of the previous (newer) page, for `before`; `null` on the first page.
    pub prev: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub id: Uuid,
    #[serde(serialize_with = "super::timestamp::millis")]
    pub at: DateTime<Utc>,
    pub action: String,
    pub actor: Option<Uuid>,
    pub subject: Option<Uuid>,
    /// `success` or `failure`.
    pub outcome: &'static str,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Option<String>,
}

impl From<AuditEvent> for AuditView {
    fn from(e: AuditEvent) -> Self {
        Self {
            id: e.id,
            at: e.at,
            action: e.action,
            actor: e.actor.map(|u| u.0),
            subject: e.subject.map(|u| u.0),
            outcome: e.outcome.as_str(),
            client_ip: e.client_ip,
            user_agent: e.user_agent,
            detail: e.detail,
        }
    }
}

/// The audit log, newest first, a page at a time (admins only).
#[utoipa::path(
    get, path = "/auth/v1/admin/audit", tag = "admin",
    security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, body = AuditPage),
        (status = 400, description = "`invalid_query`: a parameter does not parse, `limit` outside 1 to 200, a cursor that is not one of this list, or both `after` and `before`", body = super::Problem),
        (status = 401, body = super::Problem),
        (status = 403, description = "Not an admin", body = super::Problem),
    )
)]
pub async fn audit_log(
    State(state): State<AppState>,
    Credential(principal, _): Authenticated,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<AuditPage>, ApiError> {
    let Query(q) = query?;
    let request =
        paging::request::<Uuid>("audit", q.limit, q.after.as_deref(), q.before.as_deref())?;
    // The log is newest first: the page after a cursor holds older events (smaller ids).
    let (older_than, newer_than) = match &request.from {
        paging::From::Start => (None, None),
        paging::From::After(id) => (Some(*id), None),
        paging::From::Before(id) => (None, Some(*id)),
    };
    let filter = AuditFilter {
        user: q.user.map(accounts::UserId),
        action: q.action,
        since: q.since,
        until: q.until,
        before: older_than,
        after: newer_than,
        // One more than asked tells whether the log goes on.
        limit: request.limit + 1,
    };
    let events = state
        .accounts
        .audit_log(&Actor::from(&principal), &filter)
        .await?;
    let page = Page::cut(events, &request);
    let (next, prev) = page.cursors("audit", |e| e.id.to_text());
    Ok(axum::Json(AuditPage {
        events: page.items.into_iter().map(AuditView::from).collect(),
        next,
        prev,
    }))
}

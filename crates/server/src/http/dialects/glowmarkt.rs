//! Glowmarkt `UserApi` (python_glowmarkt, swagger 1.0.5) and the two `AuthApi` calls that
//! obtain a token, at `/api/v0-1/...`.
//!
//! Wire facts and mapping decisions are in `docs/glowmarkt.md`. In short: an application is
//! an organisation (`applicationId` = its UUID); admin-style calls take HTTP basic (an
//! administrator's username or e-mail and password) or the `token` header; every request may
//! carry `Content-Type: application/json` and a `{}` or empty body, which are tolerated;
//! errors are `{"error": "<text>"}`. This module only maps shapes: who may do what is decided
//! by the core calls each handler makes.

use crate::http::dialects::UNAVAILABLE;
use accounts::access::{Action, Entity, Need, OrgId};
use accounts::lifecycle::{CodeScope, Registration};
use accounts::reach::UserRef;
use accounts::{
    AccountSpec, AccountUpdate, Actor, AdminError, AuthError, CredentialKind, EmailAddress,
    NewUsername, Password, Patch, Principal, ProfileUpdate, User, UserId, UserStatus, Username,
};
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::http::auth::{basic, record_user, Client};
use crate::http::problem::{renders_failures, status_of};
use crate::http::AppState;
use accounts::failure::Kind;
use accounts::Failure;

/// The spec's base path. The seed-era client host ended in `/`, which doubles the slash
/// (`/api/v0-1//register`); every route is mounted under both prefixes.
const PREFIXES: [&str; 2] = ["/api/v0-1", "/api/v0-1/"];

// What each endpoint needs. Admin-style endpoints go through the core's org-aware check on
// the target user (`authorize_user`, inside `get_user`, `update_user`, `delete_user`) or
// the organisation (`create_users`); self-service endpoints check the caller's own account.
/// `GET /user?username=`, `GET /user/{userId}`.
const READ_USER: Need = Need::new(Entity::User, Action::Read);

pub fn routes(_state: &AppState) -> Router<AppState> {
    PREFIXES.into_iter().fold(Router::new(), mount)
}

fn mount(router: Router<AppState>, prefix: &str) -> Router<AppState> {
    let at = |path: &str| format!("{prefix}{path}");
    router
        // Public (throttled by the core): self-registration into an application.
        .route(&at("/register"), post(register))
        // POST: `user:create` in the application (org admin) or for the instance.
        // GET: READ_USER on the user found by username or e-mail; a name that matches
        // nobody is 404 only to callers who may list every user (core `list_users`), else 401.
        .route(&at("/user"), post(create_user).get(get_user_by_username))
        // Public (throttled, no enumeration): request a code / redeem it with a new password.
        .route(
            &at("/user/resetpassword"),
            post(request_reset).put(reset_password),
        )
        // Password-holders only: resend a verification code / redeem it.
        .route(&at("/user/verify"), post(resend_verification).put(verify))
        // GET: READ_USER; DELETE: `user:delete` on the user (core `delete_user`).
        .route(
            &at("/user/{user_id}"),
            get(get_user_by_id).delete(delete_user),
        )
        // `user:update` on the user (core `update_user`): the user themself or an admin.
        .route(&at("/user/{user_id}/username"), put(update_username))
        // POST: public password login into an application; GET: `user:read` on oneself.
        .route(&at("/auth"), post(auth).get(check_auth))
}

// ------------------------------------------------------------------ errors

/// Glowmarkt's error: a status and `{"error": "<text>"}` (`Retry-After` on 429).
#[derive(Debug)]
pub struct GlowmarktError {
    status: StatusCode,
    message: String,
    retry_after: Option<i64>,
}

#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

impl GlowmarktError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Glowmarkt's `MissingElementsError` / `IncorrectElementsError`.
    fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// Glowmarkt's `AccessDeniedError`.
    fn denied(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "user not found")
    }

    fn missing(field: &str) -> Self {
        Self::bad(format!("missing element: {field}"))
    }
}

impl IntoResponse for GlowmarktError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(ErrorBody {
                error: &self.message,
            }),
        )
            .into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        response
    }
}

renders_failures!(GlowmarktError);

/// Glowmarkt's rendering: its `AccessDeniedError` (401) for every refused caller, 400 for
/// every refusal of input, plus its quirks.
impl From<Failure> for GlowmarktError {
    fn from(f: Failure) -> Self {
        let retry_after = f.wait().map(|t| t.retry_after_seconds());
        let error = match (f.kind, f.code) {
            // Glowmarkt's auth has no second step: the password alone never opens an account
            // with a second factor (its challenge, if one was issued, just expires).
            (_, "second_factor_required") => Self::denied(
                "this account needs its one-time code: use a client that supports two-factor \
                 sign-in (POST /auth/v1/login)",
            ),
            (_, "invalid_code") => Self::bad("the token is invalid or has expired"),
            (_, "unknown_application") => Self::bad("unknown applicationId"),
            (_, "signup_closed") => Self::new(StatusCode::FORBIDDEN, f.detail),
            (_, "domain_not_allowed") => Self::bad(f.detail),
            (_, "forbidden") => Self::denied("access denied"),
            // An ended session is a credential that no longer works.
            (_, "session_not_found") => Self::denied(AuthError::Invalid.to_string()),
            (_, "token_not_found") => Self::denied(f.detail),
            (Kind::Unauthenticated | Kind::Forbidden, _) => Self::denied(f.detail),
            (Kind::NotFound, _) => Self::not_found(),
            (Kind::Throttled(_) | Kind::TooLarge, _) => Self::new(status_of(f.kind), f.detail),
            (Kind::Unavailable, _) => Self::new(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
            (Kind::Internal, _) => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; it is logged with this request's id",
            ),
            (Kind::Conflict | Kind::Invalid | Kind::WeakPassword, _) => Self::bad(f.detail),
        };
        Self {
            retry_after,
            ..error
        }
    }
}

// ------------------------------------------------------------------ extraction

/// A JSON body, as the generated client sends it: `Content-Type` is not required, and an
/// empty body reads as `{}`. Unknown keys are ignored; bad JSON and wrong types are 400.
#[derive(Debug)]
pub struct Body<T>(T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = GlowmarktError;

    async fn from_request(req: Request, state: &S) -> Result<Self, GlowmarktError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|r| GlowmarktError::new(r.status(), r.body_text()))?;
        let json: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(json)
            .map(Self)
            .map_err(|e| GlowmarktError::bad(format!("incorrect elements: {e}")))
    }
}

/// 415 unless the request declares a JSON body: the unauthenticated calls that send mail
/// must not be made by a cross-site form (`crate::http::declares_json`).
fn json_only(headers: &axum::http::HeaderMap) -> Result<(), GlowmarktError> {
    if crate::http::declares_json(headers) {
        Ok(())
    } else {
        Err(GlowmarktError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        ))
    }
}

/// The `applicationId` header, when sent (400 when it is not a UUID).
#[derive(Debug, Clone, Copy)]
pub struct AppHeader(Option<OrgId>);

impl<S: Send + Sync> FromRequestParts<S> for AppHeader {
    type Rejection = GlowmarktError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, GlowmarktError> {
        match parts.headers.get("applicationid") {
            None => Ok(Self(None)),
            Some(value) => {
                let raw = value
                    .to_str()
                    .map_err(|_| GlowmarktError::bad("applicationId must be a UUID"))?;
                parse_app(raw).map(|app| Self(Some(app)))
            }
        }
    }
}

fn parse_app(raw: &str) -> Result<OrgId, GlowmarktError> {
    raw.parse()
        .map_err(|_| GlowmarktError::bad("applicationId must be a UUID"))
}

impl AppHeader {
    /// The application named by the header or the body (they must agree); required.
    fn with_body(self, body: Option<&str>) -> Result<OrgId, GlowmarktError> {
        let body = body.map(str::trim).filter(|s| !s.is_empty());
        match (self.0, body.map(parse_app).transpose()?) {
            (Some(h), Some(b)) if h != b => Err(GlowmarktError::bad(
                "the applicationId header and body field differ",
            )),
            (Some(app), _) | (None, Some(app)) => Ok(app),
            (None, None) => Err(GlowmarktError::missing("applicationId")),
        }
    }

    fn required(self) -> Result<OrgId, GlowmarktError> {
        self.with_body(None)
    }
}

/// The caller of an admin-style or token call: HTTP basic (username or e-mail and password,
/// checked on this request) or the `token` header (a Gatehouse session or API token).
#[derive(Debug, Clone)]
pub struct Caller(Actor);

impl FromRequestParts<AppState> for Caller {
    type Rejection = GlowmarktError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, GlowmarktError> {
        let Client(client) = Client::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|never| match never {});
        if let Some(credentials) = basic(&parts.headers) {
            let (login, password) =
                credentials.ok_or_else(|| GlowmarktError::denied("malformed basic credentials"))?;
            let user = state
                .accounts
                .verify_credentials(&login, &Password::for_login(password), &client)
                .await?;
            crate::http::access::note_user(user.id);
            return Ok(Self(Actor::user(user.id).with_client(&client)));
        }
        let principal = token_principal(&parts.headers, state).await?;
        Ok(Self(Actor::from(&principal).with_client(&client)))
    }
}

/// The principal of the `token` header.
async fn token_principal(
    headers: &HeaderMap,
    state: &AppState,
) -> Result<Principal, GlowmarktError> {
    let secret = headers
        .get("token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if secret.trim().is_empty() {
        return Err(GlowmarktError::denied(
            "send HTTP basic credentials or a token header",
        ));
    }
    let principal = state.accounts.authenticate(secret).await?;
    record_user(&principal);
    Ok(principal)
}

/// A required string field: missing, `null` and blank are all "missing".
fn required(value: Option<String>, field: &str) -> Result<String, GlowmarktError> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| GlowmarktError::missing(field))
}

fn user_id(raw: &str) -> Result<UserId, GlowmarktError> {
    raw.trim()
        .parse()
        .map_err(|_| GlowmarktError::bad("userId must be a UUID"))
}

// ------------------------------------------------------------------ shapes

/// `AddUserRes` / `CreateUserRes`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRes {
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    active: bool,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_at: Option<String>,
    applications: Vec<ApplicationRes>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationRes {
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<String>,
    active: bool,
    application_id: String,
}

fn status_out(status: UserStatus) -> &'static str {
    match status {
        UserStatus::Pending => "unverified",
        UserStatus::Active => "active",
        UserStatus::Disabled => "disabled",
    }
}

fn status_in(raw: &str) -> Result<UserStatus, GlowmarktError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "unverified" | "pending" => Ok(UserStatus::Pending),
        "active" => Ok(UserStatus::Active),
        "disabled" | "inactive" => Ok(UserStatus::Disabled),
        other => Err(GlowmarktError::bad(format!(
            "unknown status {other:?} (active, unverified or disabled)"
        ))),
    }
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The user as `AddUserRes`. Only the applications the caller may read are listed (the
/// core's `visible_memberships`: an application's admin does not learn the user's other
/// applications); with an application named, only that one of them.
async fn user_res(
    state: &AppState,
    actor: &Actor,
    user: &User,
    app: Option<OrgId>,
) -> Result<UserRes, GlowmarktError> {
    let apps: Vec<OrgId> = state
        .accounts
        .visible_memberships(actor, user.id)
        .await?
        .into_iter()
        .map(|m| m.org_id)
        .filter(|org| app.is_none_or(|app| app == *org))
        .collect();
    Ok(UserRes {
        user_id: Some(user.id.to_string()),
        active: user.status == UserStatus::Active,
        status: status_out(user.status),
        created_at: Some(time(user.created_at)),
        updated_at: Some(time(user.updated_at)),
        applications: apps
            .into_iter()
            .map(|org| ApplicationRes {
                account_id: Some(user.id.to_string()),
                active: true,
                application_id: org.to_string(),
            })
            .collect(),
    })
}

#[derive(Debug, Serialize)]
pub struct Valid {
    valid: bool,
}

const VALID: Json<Valid> = Json(Valid { valid: true });

// ------------------------------------------------------------------ handlers

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddUserReq {
    name: Option<String>,
    username: Option<String>,
    email: Option<String>,
    password: Option<String>,
    #[allow(dead_code)] // Accepted and ignored: Gatehouse has one directory.
    directory_id: Option<String>,
    application_id: Option<String>,
}

/// `POST /register`: self-registration into an application. The answer never says whether
/// the account already existed: for a taken address it has the same shape and fields, with
/// an id the core never stored (it leads nowhere), after the same work.
async fn register(
    State(state): State<AppState>,
    Client(client): Client,
    header_app: AppHeader,
    headers: axum::http::HeaderMap,
    Body(req): Body<AddUserReq>,
) -> Result<Json<UserRes>, GlowmarktError> {
    json_only(&headers)?;
    let app = header_app.with_body(req.application_id.as_deref())?;
    let given_username = required(req.username, "username")?;
    let email = EmailAddress::parse(&required(req.email, "email")?)?;
    let password = required(req.password, "password")?;
    let username = if given_username.contains('@') {
        if EmailAddress::parse(&given_username)? != email {
            return Err(GlowmarktError::bad(
                "username: an e-mail address as username must be the same as email",
            ));
        }
        NewUsername::FromEmail
    } else {
        NewUsername::Chosen(Username::parse(&given_username)?)
    };
    let profile = ProfileUpdate {
        name: req.name.map_or(Patch::Keep, Patch::Set),
        ..ProfileUpdate::default()
    }
    .validate()?;
    let registered = state
        .accounts
        .register(
            Registration {
                username,
                email,
                password,
                application: Some(app),
                profile,
            },
            client,
        )
        .await?;
    let id = registered.id.to_string();
    let at = time(registered.created_at);
    Ok(Json(UserRes {
        user_id: Some(id.clone()),
        active: false,
        status: status_out(UserStatus::Pending),
        created_at: Some(at.clone()),
        updated_at: Some(at),
        applications: vec![ApplicationRes {
            account_id: Some(id),
            active: true,
            application_id: app.to_string(),
        }],
    }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateUserReq {
    username: Option<String>,
    #[allow(dead_code)] // Accepted and ignored: Gatehouse has one directory.
    directory_id: Option<String>,
}

/// `POST /user`: an administrator creates an active account without a password in the
/// application; its owner sets one with the reset flow.
async fn create_user(
    State(state): State<AppState>,
    Caller(actor): Caller,
    AppHeader(app): AppHeader,
    Body(req): Body<CreateUserReq>,
) -> Result<Json<UserRes>, GlowmarktError> {
    let given = required(req.username, "username")?;
    let email = EmailAddress::parse(&given)
        .map_err(|_| GlowmarktError::bad("username must be an e-mail address"))?;
    let spec = AccountSpec {
        username: NewUsername::FromEmail,
        email,
        password: None,
        status: UserStatus::Active,
        email_verified: false,
        roles: Vec::new(),
        profile: ProfileUpdate::default(),
    };
    let created = state
        .accounts
        .create_users(&actor, vec![spec], app)
        .await
        .map_err(|e| match e {
            // Only reached by callers allowed to create users there.
            AdminError::NotFound => GlowmarktError::bad("unknown applicationId"),
            other => other.into(),
        })?;
    let Some(user) = created.into_iter().next() else {
        return Err(GlowmarktError::not_found()); // the core returns one user per spec
    };
    Ok(Json(user_res(&state, &actor, &user, app).await?))
}

#[derive(Debug, Deserialize)]
struct UsernameQuery {
    username: Option<String>,
}

/// `GET /user?username=`: by Glowmarkt username (an e-mail) or core username.
async fn get_user_by_username(
    State(state): State<AppState>,
    Caller(actor): Caller,
    AppHeader(app): AppHeader,
    query: Result<Query<UsernameQuery>, QueryRejection>,
) -> Result<Json<UserRes>, GlowmarktError> {
    let Query(query) = query.map_err(|r| GlowmarktError::bad(r.body_text()))?;
    let login = required(query.username, "username")?;
    // As for an unknown id: 404 only to those who may read every user (the core's rule).
    let user = state
        .accounts
        .user_as(&actor, READ_USER, UserRef::Login(&login))
        .await?;
    Ok(Json(user_res(&state, &actor, &user, app).await?))
}

/// `GET /user/{userId}`.
async fn get_user_by_id(
    State(state): State<AppState>,
    Caller(actor): Caller,
    AppHeader(app): AppHeader,
    Path(id): Path<String>,
) -> Result<Json<UserRes>, GlowmarktError> {
    let id = user_id(&id)?;
    let user = state.accounts.get_user(&actor, id).await?;
    Ok(Json(user_res(&state, &actor, &user, app).await?))
}

/// `DELETE /user/{userId}`: the whole account goes (it is one person in every application).
async fn delete_user(
    State(state): State<AppState>,
    Caller(actor): Caller,
    AppHeader(_): AppHeader,
    Path(id): Path<String>,
    Body(_): Body<serde_json::Value>,
) -> Result<Json<Valid>, GlowmarktError> {
    let id = user_id(&id)?;
    state.accounts.delete_user(&actor, id).await?;
    Ok(VALID)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResetRequestReq {
    username: Option<String>,
    application_id: Option<String>,
}

/// `POST /user/resetpassword`: mails a 4-digit code to the member of the application with
/// this username or e-mail, if there is one; the answer is the same either way.
async fn request_reset(
    State(state): State<AppState>,
    Client(client): Client,
    header_app: AppHeader,
    headers: axum::http::HeaderMap,
    Body(req): Body<ResetRequestReq>,
) -> Result<Json<Valid>, GlowmarktError> {
    json_only(&headers)?;
    let app = header_app.with_body(req.application_id.as_deref())?;
    let login = required(req.username, "username")?;
    state
        .accounts
        .request_password_reset(&login, client, CodeScope::Application(app))
        .await?;
    Ok(VALID)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResetReq {
    username: Option<String>,
    application_id: Option<String>,
    token: Option<String>,
    new_password: Option<String>,
}

/// `PUT /user/resetpassword`: redeems the code with a new password; every session ends.
async fn reset_password(
    State(state): State<AppState>,
    Client(client): Client,
    header_app: AppHeader,
    Body(req): Body<ResetReq>,
) -> Result<Json<Valid>, GlowmarktError> {
    let app = header_app.with_body(req.application_id.as_deref())?;
    let login = required(req.username, "username")?;
    let code = required(req.token, "token")?;
    let new_password = required(req.new_password, "newPassword")?;
    state
        .accounts
        .reset_password_with_code(
            &login,
            &code,
            new_password,
            client,
            CodeScope::Application(app),
        )
        .await?;
    Ok(VALID)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerifyReq {
    token: Option<String>,
    username: Option<String>,
    password: Option<String>,
    application_id: Option<String>,
}

/// The account whose username-or-e-mail and password the body carries (401 otherwise).
async fn password_holder(
    state: &AppState,
    client: &accounts::ClientInfo,
    username: Option<String>,
    password: Option<String>,
) -> Result<User, GlowmarktError> {
    let login = required(username, "username")?;
    let password = Password::for_login(required(password, "password")?);
    // Pending accounts pass here: these are the calls that verify the address.
    Ok(state
        .accounts
        .verify_password_only(&login, &password, client)
        .await?)
}

/// `POST /user/verify`: a new 4-digit verification code for an unverified member who
/// knows their password.
async fn resend_verification(
    State(state): State<AppState>,
    Client(client): Client,
    header_app: AppHeader,
    headers: axum::http::HeaderMap,
    Body(req): Body<VerifyReq>,
) -> Result<Json<Valid>, GlowmarktError> {
    json_only(&headers)?;
    let app = header_app.with_body(req.application_id.as_deref())?;
    let user = password_holder(&state, &client, req.username, req.password).await?;
    state
        .accounts
        .resend_verification(user.email.as_str(), client, CodeScope::Application(app))
        .await?;
    Ok(VALID)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verified {
    valid: bool,
    user_id: String,
    status: &'static str,
}

/// `PUT /user/verify`: redeems the verification code; the account becomes active.
async fn verify(
    State(state): State<AppState>,
    Client(client): Client,
    header_app: AppHeader,
    Body(req): Body<VerifyReq>,
) -> Result<Json<Verified>, GlowmarktError> {
    let app = header_app.with_body(req.application_id.as_deref())?;
    let code = required(req.token, "token")?;
    let user = password_holder(&state, &client, req.username, req.password).await?;
    state
        .accounts
        .verify_email_code(
            user.email.as_str(),
            &code,
            client,
            CodeScope::Application(app),
        )
        .await?;
    Ok(Json(Verified {
        valid: true,
        user_id: user.id.to_string(),
        status: status_out(UserStatus::Active),
    }))
}

#[derive(Debug, Deserialize)]
struct UsernameBody {
    username: Option<String>,
    status: Option<String>,
}

/// `PUT /user/{userId}/username`: the user themself or an administrator renames the
/// account. An e-mail-shaped name is the account's e-mail address: the same address
/// changes nothing; another one is an e-mail change, which only an administrator makes.
/// `status` is applied only when it differs from the current one, which only an
/// administrator may do.
async fn update_username(
    State(state): State<AppState>,
    Caller(actor): Caller,
    AppHeader(_): AppHeader,
    Path(id): Path<String>,
    Body(req): Body<UsernameBody>,
) -> Result<Json<Valid>, GlowmarktError> {
    let id = user_id(&id)?;
    let given = required(req.username, "username")?;
    let wanted_status = req.status.as_deref().map(status_in).transpose()?;
    let current = state.accounts.get_user(&actor, id).await?;
    let mut update = AccountUpdate::default();
    if given.contains('@') {
        let email = EmailAddress::parse(&given)?;
        if email != current.email {
            update.email = Some(email);
        }
    } else {
        let username = Username::parse(&given)?;
        if username != current.username {
            update.username = Some(username);
        }
    }
    update.status = wanted_status.filter(|s| *s != current.status);
    let admin_only = update.email.is_some() || update.status.is_some();
    state
        .accounts
        .update_user(&actor, id, update)
        .await
        .map_err(|e| match e {
            AdminError::Forbidden if admin_only && actor.user_id() == Some(id) => {
                GlowmarktError::bad(
                    "only an administrator may change the e-mail address or the status",
                )
            }
            other => other.into(),
        })?;
    Ok(VALID)
}

#[derive(Debug, Deserialize)]
struct AuthReq {
    username: Option<String>,
    password: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthRes {
    valid: bool,
    token: String,
    exp: i64,
    account_id: String,
    application_id: String,
    name: String,
}

/// `POST /auth`: password login into an application. Members of the application and
/// instance admins get a session; anyone else is answered like a wrong password.
async fn auth(
    State(state): State<AppState>,
    Client(client): Client,
    header_app: AppHeader,
    Body(req): Body<AuthReq>,
) -> Result<Json<AuthRes>, GlowmarktError> {
    let app = header_app.required()?;
    let login = required(req.username, "username")?;
    let password = Password::for_login(required(req.password, "password")?);
    // Non-members are refused by the core like a wrong password, before anything else
    // about the account (unverified, second factor) shows.
    let session = state
        .accounts
        .login_to(Some(app), &login, password, client)
        .await?;
    let user = session.user;
    Ok(Json(AuthRes {
        valid: true,
        token: session.secret.expose().to_owned(),
        exp: session.expires_at.timestamp(),
        account_id: user.id.to_string(),
        application_id: app.to_string(),
        name: user
            .profile
            .name
            .clone()
            .unwrap_or_else(|| user.username.to_string()),
    }))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckRes {
    valid: bool,
    account_id: String,
    application_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
}

/// `GET /auth`: whether the `token` header is valid for the application, and until when
/// (`exp` is absent for an API token without expiry).
async fn check_auth(
    State(state): State<AppState>,
    header_app: AppHeader,
    headers: HeaderMap,
) -> Result<Json<CheckRes>, GlowmarktError> {
    let app = header_app.required()?;
    let principal = token_principal(&headers, &state).await?;
    let user = state
        .accounts
        .get_user(&(&principal).into(), principal.user_id)
        .await?;
    if !state.accounts.may_use_application(app, &user).await? {
        return Err(GlowmarktError::denied(
            "the token is not valid for this application",
        ));
    }
    let expires_at = match principal.kind {
        CredentialKind::Session => state
            .accounts
            .sessions(&principal)
            .await?
            .into_iter()
            .find(|s| s.id == principal.credential_id)
            .map(|s| s.expires_at),
        CredentialKind::ApiToken => state
            .accounts
            .list_tokens(&(&principal).into(), principal.user_id)
            .await?
            .into_iter()
            .find(|t| t.id.0 == principal.credential_id)
            .and_then(|t| t.expires_at),
    };
    Ok(Json(CheckRes {
        valid: true,
        account_id: user.id.to_string(),
        application_id: app.to_string(),
        exp: expires_at.map(|at| at.timestamp()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_come_from_the_local_part() {
        let base = |e: &str| Username::stem_of(&EmailAddress::parse(e).unwrap());
        assert_eq!(base("Dana.Scully@example.com"), "dana.scully");
        assert_eq!(base("j+tag@example.com"), "j-tag");
        assert_eq!(base("jo@example.com"), "jo-user");
        assert_eq!(base("+@example.com"), "user");
        assert_eq!(base("_x_@example.com"), "x_-user");
        for e in [
            "Dana.Scully@example.com",
            "+@example.com",
            "_x_@example.com",
        ] {
            assert!(Username::parse(&base(e)).is_ok(), "{e}");
        }
    }

    #[tokio::test]
    async fn an_unavailable_database_is_a_503_in_glowmarkt_shape_and_says_nothing_inside() {
        let cause = std::io::Error::other("connection refused by 10.0.0.7");
        let wrapped = accounts::LoginError::Store(accounts::StoreError::unavailable(cause));
        for response in [
            GlowmarktError::from(accounts::StoreError::unavailable(std::io::Error::other(
                "down",
            )))
            .into_response(),
            GlowmarktError::from(wrapped).into_response(),
        ] {
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            let body = axum::body::to_bytes(response.into_body(), 4096)
                .await
                .unwrap();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let error = body["error"].as_str().unwrap();
            assert!(error.contains("try again"), "{error}");
            assert!(
                !error.contains("10.0.0.7") && !error.contains("down"),
                "{error}"
            );
        }
    }
}

//! FreeChat account API (`freechat-sdk` 0.1.0) at `/api/v1/account/...`.
//!
//! Wire facts (see `docs/api.md`): `Authorization: Bearer`; tokens and picture URLs come
//! back as unquoted `text/plain`; `tokens` is a JSON array of strings (masked forms of the
//! caller's usable tokens), and `token/{token}` takes the full token or a masked form;
//! errors are a status with a short `text/plain` reason (the SDK ignores bodies). Every
//! endpoint needs a bearer credential and acts on the caller's own account, except `basic`,
//! which shows any user's public name and picture to any authenticated caller.

use accounts::token::TokenRef;
use accounts::Patch;
use accounts::{ProfileUpdate, User, Username};
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, NaiveDateTime, SecondsFormat};
use serde::{Deserialize, Serialize};

use accounts::failure::Kind;
use accounts::Failure;

use crate::http::auth::{bearer, Client, Credential, SecretSource};
use crate::http::problem::{renders_failures, status_of};
use crate::http::AppState;

pub fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/account/token", post(create_token))
        // One route for `{duration}` (POST) and `{token}` (PUT, DELETE): the router cannot
        // hold two parameter names at one position.
        .route(
            "/api/v1/account/token/{token}",
            post(create_token_with_duration)
                .put(disable_token)
                .delete(delete_token),
        )
        .route("/api/v1/account/tokens", get(list_tokens))
        .route("/api/v1/account/basic", get(get_own_basic))
        .route("/api/v1/account/basic/{username}", get(get_user_basic))
        .route(
            "/api/v1/account/details",
            get(get_user_details).put(update_user_info),
        )
        .route(
            "/api/v1/account/picture",
            post(upload_user_picture).layer(DefaultBodyLimit::max(state.max_upload_body)),
        )
}

/// FreeChat's error: a status and a one-line `text/plain` reason.
#[derive(Debug)]
pub struct FreeChatError(StatusCode, String);

impl FreeChatError {
    fn new(status: StatusCode, reason: impl Into<String>) -> Self {
        Self(status, reason.into())
    }
}

impl IntoResponse for FreeChatError {
    fn into_response(self) -> Response {
        let mut response = text(self.1);
        *response.status_mut() = self.0;
        if self.0 == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                "Bearer".parse().expect("static header"),
            );
        }
        response
    }
}

renders_failures!(FreeChatError);

/// FreeChat's rendering: the kind's status and the failure's sentence, plus its quirks.
impl From<Failure> for FreeChatError {
    fn from(f: Failure) -> Self {
        let status = status_of(f.kind);
        match (f.kind, f.code) {
            // FreeChat answers 403 for a token that is unknown or someone else's.
            (_, "token_not_found") => Self::new(StatusCode::FORBIDDEN, "Token not found."),
            (_, "user_not_found") => Self::new(status, "User not found."),
            (_, "token_limit_reached") => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "Too many tokens.")
            }
            // A refused permission check, and its not-found: FreeChat says one thing.
            (Kind::Forbidden | Kind::NotFound, _) => {
                Self::new(StatusCode::FORBIDDEN, "Permission denied.")
            }
            (Kind::Unavailable, _) => Self::new(status, "Service unavailable, try again shortly."),
            (Kind::Internal, _) => Self::new(status, "Internal error."),
            _ => Self::new(status, f.detail),
        }
    }
}

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// Where FreeChat finds the secret: `Authorization: Bearer`.
#[derive(Debug)]
pub struct FreeChatBearer;

impl SecretSource for FreeChatBearer {
    type Rejection = FreeChatError;

    fn secret(headers: &HeaderMap) -> &str {
        bearer(headers).unwrap_or_default()
    }
}

/// The caller of a FreeChat endpoint.
pub type Caller = Credential<FreeChatBearer>;

fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserBasicInfo {
    request_id: Option<String>,
    username: String,
    nickname: Option<String>,
    picture: Option<String>,
}

impl UserBasicInfo {
    fn new(user: User, request_id: Option<String>) -> Self {
        Self {
            request_id,
            username: user.username.to_string(),
            nickname: user.profile.nickname,
            picture: user.profile.picture,
        }
    }
}

/// `UserDetailsDTO`. `birthdate` and `updatedAt` are date-times on this wire.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserDetails {
    request_id: Option<String>,
    username: String,
    nickname: Option<String>,
    given_name: Option<String>,
    middle_name: Option<String>,
    family_name: Option<String>,
    preferred_username: Option<String>,
    profile: Option<String>,
    picture: Option<String>,
    website: Option<String>,
    email: String,
    gender: Option<String>,
    birthdate: Option<String>,
    zoneinfo: Option<String>,
    locale: Option<String>,
    phone_number: Option<String>,
    updated_at: String,
    platform: Option<String>,
    enabled: bool,
    locked: bool,
    expires_at: Option<String>,
    password_expires_at: Option<String>,
    address: Option<String>,
}

/// `YYYY-MM-DD` (or `YYYY`) as the date-time FreeChat's model expects.
fn birthdate_out(date: &str) -> String {
    if date.len() == 4 {
        format!("{date}-01-01T00:00:00Z")
    } else {
        format!("{date}T00:00:00Z")
    }
}

impl UserDetails {
    fn new(user: User, request_id: Option<String>) -> Self {
        let enabled = user.can_authenticate();
        let p = user.profile;
        Self {
            request_id,
            username: user.username.to_string(),
            nickname: p.nickname,
            given_name: p.given_name,
            middle_name: p.middle_name,
            family_name: p.family_name,
            preferred_username: p.preferred_username,
            profile: p.profile,
            picture: p.picture,
            website: p.website,
            email: user.email.to_string(),
            gender: p.gender,
            birthdate: p.birthdate.as_deref().map(birthdate_out),
            zoneinfo: p.zoneinfo,
            locale: p.locale,
            phone_number: p.phone_number,
            updated_at: user.updated_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            platform: None,
            enabled,
            locked: !enabled,
            expires_at: None,
            password_expires_at: None,
            address: p.address,
        }
    }
}

/// What `update_user_info` may change. The SDK sends only non-null fields, so `null` and a
/// missing key both leave a claim alone; read-only fields (`username`, `email`, `enabled`,
/// ...) and unknown keys are ignored, as the SDK merges extra properties into the body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DetailsUpdate {
    nickname: Option<String>,
    given_name: Option<String>,
    middle_name: Option<String>,
    family_name: Option<String>,
    preferred_username: Option<String>,
    profile: Option<String>,
    picture: Option<String>,
    website: Option<String>,
    gender: Option<String>,
    birthdate: Option<String>,
    zoneinfo: Option<String>,
    locale: Option<String>,
    phone_number: Option<String>,
    address: Option<String>,
}

/// A date-time (`1990-05-01T00:00:00+00:00`) read as its calendar date; anything else is
/// passed on for the core to judge.
fn birthdate_in(raw: String) -> String {
    if let Ok(dt) = DateTime::parse_from_rfc3339(&raw) {
        return dt.date_naive().to_string();
    }
    if let Ok(dt) = NaiveDateTime::parse_from_str(&raw, "%Y-%m-%dT%H:%M:%S%.f") {
        return dt.date().to_string();
    }
    raw
}

fn set(value: Option<String>) -> Patch<String> {
    value.map_or(Patch::Keep, Patch::Set)
}

impl From<DetailsUpdate> for ProfileUpdate {
    fn from(d: DetailsUpdate) -> Self {
        Self {
            nickname: set(d.nickname),
            given_name: set(d.given_name),
            middle_name: set(d.middle_name),
            family_name: set(d.family_name),
            preferred_username: set(d.preferred_username),
            profile: set(d.profile),
            picture: set(d.picture),
            website: set(d.website),
            gender: set(d.gender),
            birthdate: set(d.birthdate.map(birthdate_in)),
            zoneinfo: set(d.zoneinfo),
            locale: set(d.locale),
            phone_number: set(d.phone_number),
            address: set(d.address),
            ..ProfileUpdate::default()
        }
    }
}

/// `POST /api/v1/account/token`: a new token without expiry, as `text/plain`.
async fn create_token(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(me, _): Caller,
) -> Result<Response, FreeChatError> {
    let (_, secret) = state
        .accounts
        .create_token(
            &me.actor(&client),
            me.user_id,
            Some("freechat".into()),
            None,
        )
        .await?;
    Ok(text(secret.expose().to_owned()))
}

/// `POST /api/v1/account/token/{duration}`: a timed token, `duration` in seconds.
async fn create_token_with_duration(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(me, _): Caller,
    Path(duration): Path<String>,
) -> Result<Response, FreeChatError> {
    // The core checks the range (and answers 400 naming it); a number that is not even an
    // i64 is out of that range too.
    let seconds = duration.parse::<i64>().map_err(|_| {
        FreeChatError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "duration must be a number of seconds between 1 and {}",
                state.accounts.config().max_token_lifetime.num_seconds()
            ),
        )
    })?;
    let (_, secret) = state
        .accounts
        .create_token(
            &me.actor(&client),
            me.user_id,
            Some("freechat".into()),
            Some(seconds),
        )
        .await?;
    Ok(text(secret.expose().to_owned()))
}

fn token_ref(raw: &str) -> Result<TokenRef, FreeChatError> {
    TokenRef::parse(raw)
        .ok_or_else(|| FreeChatError::new(StatusCode::FORBIDDEN, "Token not found."))
}

/// `PUT /api/v1/account/token/{token}`: disable; answers the token as given.
async fn disable_token(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(me, _): Caller,
    Path(token): Path<String>,
) -> Result<Response, FreeChatError> {
    state
        .accounts
        .set_token_disabled(&me.actor(&client), me.user_id, &token_ref(&token)?, true)
        .await?;
    Ok(text(token))
}

/// `DELETE /api/v1/account/token/{token}`: delete; answers the token as given.
async fn delete_token(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(me, _): Caller,
    Path(token): Path<String>,
) -> Result<Response, FreeChatError> {
    state
        .accounts
        .delete_token(&me.actor(&client), me.user_id, &token_ref(&token)?)
        .await?;
    Ok(text(token))
}

/// `GET /api/v1/account/tokens`: masked forms of the caller's usable tokens.
async fn list_tokens(
    State(state): State<AppState>,
    Credential(me, _): Caller,
) -> Result<Json<Vec<String>>, FreeChatError> {
    let now = state.accounts.now();
    let tokens = state
        .accounts
        .list_tokens(&(&me).into(), me.user_id)
        .await?;
    Ok(Json(
        tokens
            .into_iter()
            .filter(|t| t.is_usable(now))
            .map(|t| t.mask)
            .collect(),
    ))
}

/// `GET /api/v1/account/basic` (FreeChat 1.x): the caller's own basic info.
async fn get_own_basic(
    State(state): State<AppState>,
    Credential(me, _): Caller,
    headers: HeaderMap,
) -> Result<Json<UserBasicInfo>, FreeChatError> {
    let user = state.accounts.get_user(&(&me).into(), me.user_id).await?;
    Ok(Json(UserBasicInfo::new(user, request_id(&headers))))
}

/// `GET /api/v1/account/basic/{username}`.
async fn get_user_basic(
    State(state): State<AppState>,
    Credential(me, _): Caller,
    Path(username): Path<String>,
    headers: HeaderMap,
) -> Result<Json<UserBasicInfo>, FreeChatError> {
    // Public name and picture: the core decides who may look.
    let not_found = || FreeChatError::new(StatusCode::NOT_FOUND, "User not found.");
    let username = Username::parse(&username).map_err(|_| not_found())?;
    let user = state
        .accounts
        .user_named(&me, &username)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(UserBasicInfo::new(user, request_id(&headers))))
}

/// `GET /api/v1/account/details`.
async fn get_user_details(
    State(state): State<AppState>,
    Credential(me, _): Caller,
    headers: HeaderMap,
) -> Result<Json<UserDetails>, FreeChatError> {
    let user = state.accounts.get_user(&(&me).into(), me.user_id).await?;
    Ok(Json(UserDetails::new(user, request_id(&headers))))
}

/// `PUT /api/v1/account/details`: answers the JSON literal `true`.
async fn update_user_info(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(me, _): Caller,
    body: Result<Json<DetailsUpdate>, JsonRejection>,
) -> Result<Json<bool>, FreeChatError> {
    let Json(update) = body.map_err(|r| FreeChatError::new(r.status(), r.body_text()))?;
    state
        .accounts
        .update_profile(&me.actor(&client), me.user_id, update.into())
        .await?;
    Ok(Json(true))
}

/// `POST /api/v1/account/picture`: multipart part `file`; answers the picture URL.
async fn upload_user_picture(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(me, _): Caller,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, FreeChatError> {
    let multipart =
        multipart.map_err(|r| FreeChatError::new(StatusCode::BAD_REQUEST, r.body_text()))?;
    let bytes = crate::http::upload::read_file_part(multipart)
        .await
        .map_err(|e| FreeChatError::new(e.status, e.detail))?;
    let url = state
        .accounts
        .set_picture(&me.actor(&client), me.user_id, bytes)
        .await?;
    Ok(text(url))
}

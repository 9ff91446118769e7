//! Trieve `UserApi` (trieve-python-client 1.0.0) at `/api/user...`.
//!
//! Wire facts and mapping decisions are in `docs/trieve.md`. In short: the credential is
//! the raw value of `Authorization` (any Gatehouse API token or session secret; `Bearer
//! <key>` is accepted too); `TR-Organization`, when sent, names an organisation the caller
//! may read (a member, or an instance administrator) and scopes role changes; errors are
//! `{"message": "<text>"}` (Trieve's `DefaultError`); timestamps are `NaiveDateTime`
//! strings without a timezone. Request bodies are read as JSON whatever their
//! `Content-Type`, an empty body reads as `{}`, and unknown keys are ignored. This module
//! only maps shapes; every permission is checked by the core.

use crate::http::dialects::UNAVAILABLE;
use std::collections::HashMap;

use accounts::access::{OrgId, OrgRole, Organization};
use accounts::content::ChunkPage;
use accounts::store::{ChunkRecord, FileRecord};
use accounts::{
    AccountUpdate, Actor, AdminError, ApiToken, ContentError, Patch, Principal, ProfileUpdate,
    TokenRef, User, UserId, Username,
};
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::http::auth::{record_user, Client};
use crate::http::problem::{renders_failures, status_of};
use crate::http::AppState;
use accounts::failure::Kind;
use accounts::Failure;

/// The header naming the organisation a request acts in.
pub const ORGANIZATION_HEADER: &str = "tr-organization";

/// Gatehouse has no datasets; every file reports this one (the nil UUID).
pub const DATASET_ID: &str = "00000000-0000-0000-0000-000000000000";

/// The routes, each with the permission the core checks for it.
pub fn routes(_state: &AppState) -> Router<AppState> {
    Router::new()
        // Own account: `user:update` (core `update_user`) for the fields sent; another
        // user's: `user:update` on them and, for `role`, `organization:update` on their
        // membership of the TR-Organization (core `set_member`).
        .route("/api/user", put(update_user))
        // `token:create` on oneself (core `create_token`).
        .route("/api/user/set_api_key", post(set_api_key))
        // `token:delete` on oneself (core `delete_token`).
        .route("/api/user/delete_api_key", delete(delete_api_key))
        // `file:read` on the owner (core `list_files`).
        .route("/api/user/files/{user_id}", get(user_files))
        // `chunk:read` (core `list_chunks`) and `user:read` (core `get_user`) on the user.
        .route("/api/user/{user_id}/{page}", get(user_with_chunks))
}

// ------------------------------------------------------------------ errors

/// Trieve's `DefaultError`: a status and `{"message": "<text>"}`.
#[derive(Debug)]
pub struct TrieveError {
    status: StatusCode,
    message: String,
}

#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    message: &'a str,
}

impl TrieveError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

impl IntoResponse for TrieveError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            message: &self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

renders_failures!(TrieveError);

/// Trieve's rendering: its `DefaultError` with the kind's status, 400 for every refusal of
/// input (a taken name included), plus its quirks.
impl From<Failure> for TrieveError {
    fn from(f: Failure) -> Self {
        match (f.kind, f.code) {
            (_, "credential_missing") => {
                Self::unauthorized("send the API key as the Authorization header")
            }
            (_, "token_not_found") => Self::not_found("no such API key"),
            (Kind::Unavailable, _) => Self::new(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
            (Kind::Internal, _) => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; it is logged with this request's id",
            ),
            (Kind::Conflict | Kind::Invalid | Kind::WeakPassword | Kind::TooLarge, _) => {
                Self::bad(f.detail)
            }
            (kind, _) => Self::new(status_of(kind), f.detail),
        }
    }
}

// ------------------------------------------------------------------ extraction

/// The caller: the principal of the `Authorization` key, and the organisation of the
/// `TR-Organization` header when one was sent.
#[derive(Debug)]
pub struct Caller {
    principal: Principal,
    org: Option<Organization>,
    client: accounts::service::ClientInfo,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = TrieveError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, TrieveError> {
        let principal = state.accounts.authenticate(api_key(&parts.headers)).await?;
        record_user(&principal);
        let org = match organization_header(&parts.headers)? {
            None => None,
            Some(id) => Some(
                state
                    .accounts
                    .org(&Actor::from(&principal), id)
                    .await
                    .map_err(|e| match e {
                        AdminError::Forbidden => TrieveError::forbidden(
                            "the TR-Organization header names an organisation you do not belong to",
                        ),
                        AdminError::NotFound => TrieveError::not_found("no such organisation"),
                        other => other.into(),
                    })?,
            ),
        };
        let Client(client) = Client::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|never| match never {});
        Ok(Self {
            principal,
            org,
            client,
        })
    }
}

impl Caller {
    fn actor(&self) -> Actor {
        Actor::from(&self.principal).with_client(&self.client)
    }
}

/// The key: the whole `Authorization` value, or what follows `Bearer `.
fn api_key(headers: &HeaderMap) -> &str {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim();
    match value.split_once(' ') {
        Some((scheme, key)) if scheme.eq_ignore_ascii_case("bearer") => key.trim(),
        _ => value,
    }
}

/// `TR-Organization`: `None` when absent; 400 when it is not a UUID.
fn organization_header(headers: &HeaderMap) -> Result<Option<OrgId>, TrieveError> {
    let Some(value) = headers.get(ORGANIZATION_HEADER) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|raw| raw.parse().ok())
        .map(Some)
        .ok_or_else(|| TrieveError::bad("TR-Organization must be an organisation id (a UUID)"))
}

/// A JSON body, read whatever the `Content-Type` says; an empty body reads as `{}`.
/// Malformed JSON, wrong types and missing required fields are 400; unknown keys are
/// ignored.
#[derive(Debug)]
pub struct Body<T>(T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = TrieveError;

    async fn from_request(req: Request, state: &S) -> Result<Self, TrieveError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|r| TrieveError::new(r.status(), r.body_text()))?;
        let json: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(json)
            .map(Self)
            .map_err(|e| TrieveError::bad(format!("invalid JSON body: {e}")))
    }
}

fn path<T>(extracted: Result<Path<T>, PathRejection>) -> Result<T, TrieveError> {
    extracted
        .map(|Path(p)| p)
        .map_err(|r| TrieveError::bad(r.body_text()))
}

fn user_id(raw: &str) -> Result<UserId, TrieveError> {
    raw.trim()
        .parse()
        .map_err(|_| TrieveError::bad("user_id must be a user id (a UUID)"))
}

/// A page number: 1, 2, ... (400 for 0, negatives and anything else).
fn page(raw: &str) -> Result<u64, TrieveError> {
    raw.trim()
        .parse::<u64>()
        .ok()
        .filter(|p| *p >= 1)
        .ok_or_else(|| TrieveError::bad("page must be a whole number from 1"))
}

/// Trieve's roles: 0 user, 1 admin, 2 owner.
fn org_role(raw: i64) -> Result<OrgRole, TrieveError> {
    match raw {
        0 => Ok(OrgRole::Member),
        1 => Ok(OrgRole::Admin),
        2 => Ok(OrgRole::Owner),
        _ => Err(TrieveError::bad(
            "role must be 0 (user), 1 (admin) or 2 (owner)",
        )),
    }
}

fn role_number(role: OrgRole) -> i64 {
    match role {
        OrgRole::Member => 0,
        OrgRole::Admin => 1,
        OrgRole::Owner => 2,
    }
}

// ------------------------------------------------------------------ wire shapes

/// Trieve's timestamps are chrono `NaiveDateTime`s: UTC, no timezone, microseconds.
fn naive(at: DateTime<Utc>) -> String {
    at.naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

/// A stable id for a membership (the core keeps none): a version 8 UUID made from the
/// organisation's and the user's ids.
fn membership_id(org: OrgId, user: UserId) -> String {
    let (a, b) = (org.0.as_bytes(), user.0.as_bytes());
    let mut bytes = [0u8; 16];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = a[i] ^ b[i].rotate_left(3);
    }
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// `SetUserApiKeyRequest`.
#[derive(Debug, Deserialize)]
struct SetApiKeyRequest {
    name: String,
}

/// `SetUserApiKeyResponse`.
#[derive(Debug, Serialize)]
pub struct SetApiKeyResponse {
    api_key: String,
}

/// `DeleteUserApiKeyRequest`.
#[derive(Debug, Deserialize)]
struct DeleteApiKeyRequest {
    api_key_id: String,
}

/// `ApiKeyDTO`.
#[derive(Debug, Serialize)]
pub struct ApiKeyDto {
    id: String,
    name: String,
    user_id: String,
    created_at: String,
    updated_at: String,
}

impl From<ApiToken> for ApiKeyDto {
    fn from(t: ApiToken) -> Self {
        Self {
            id: t.id.to_string(),
            name: t.name,
            user_id: t.user_id.to_string(),
            created_at: naive(t.created_at),
            // The last change to a key is its rotation, if any.
            updated_at: naive(t.rotated_at.unwrap_or(t.created_at)),
        }
    }
}

/// `UpdateUserData`: every field optional; `null` is the same as leaving a key out.
#[derive(Debug, Default, Deserialize)]
struct UpdateUserData {
    name: Option<String>,
    role: Option<i64>,
    user_id: Option<String>,
    username: Option<String>,
    /// Whether others see the user's address (the core's `User::email_visible`).
    visible_email: Option<bool>,
    website: Option<String>,
}

/// `SlimUser`.
#[derive(Debug, Serialize)]
pub struct SlimUser {
    id: String,
    email: String,
    name: Option<String>,
    username: Option<String>,
    website: Option<String>,
    visible_email: bool,
    orgs: Vec<OrganizationOut>,
    user_orgs: Vec<UserOrganization>,
}

/// `Organization`.
#[derive(Debug, Serialize)]
pub struct OrganizationOut {
    id: String,
    name: String,
    created_at: String,
    updated_at: String,
    registerable: Option<bool>,
}

impl From<&Organization> for OrganizationOut {
    fn from(org: &Organization) -> Self {
        Self {
            id: org.id.to_string(),
            name: org.name.clone(),
            created_at: naive(org.created_at),
            // The core keeps no change time for organisations.
            updated_at: naive(org.created_at),
            registerable: None,
        }
    }
}

/// `UserOrganization`.
#[derive(Debug, Serialize)]
pub struct UserOrganization {
    id: String,
    user_id: String,
    organization_id: String,
    role: i64,
    created_at: String,
    updated_at: String,
}

/// `File`.
#[derive(Debug, Serialize)]
pub struct FileOut {
    id: String,
    dataset_id: &'static str,
    file_name: String,
    user_id: String,
    size: u64,
    created_at: String,
    updated_at: String,
    link: Option<String>,
    metadata: Option<serde_json::Value>,
    tag_set: Option<String>,
    time_stamp: Option<String>,
}

impl From<FileRecord> for FileOut {
    fn from(f: FileRecord) -> Self {
        Self {
            id: f.id.to_string(),
            dataset_id: DATASET_ID,
            file_name: f.name,
            user_id: f.owner_id.to_string(),
            size: f.size,
            created_at: naive(f.created_at),
            // Files are never changed after upload.
            updated_at: naive(f.created_at),
            link: f.link,
            metadata: f.metadata,
            tag_set: f.tag_set,
            time_stamp: None,
        }
    }
}

/// `UserDTO`: a chunk's author.
#[derive(Debug, Clone, Serialize)]
pub struct UserDto {
    id: String,
    created_at: String,
    visible_email: bool,
    email: Option<String>,
    username: Option<String>,
    website: Option<String>,
}

/// The address as `viewer` may see it: always their own; another user's only while that
/// user lets others see it (`visible_email`).
fn shown_email(user: &User, viewer: UserId) -> Option<String> {
    (user.id == viewer || user.email_visible).then(|| user.email.to_string())
}

impl UserDto {
    fn shown_to(u: &User, viewer: UserId) -> Self {
        Self {
            id: u.id.to_string(),
            created_at: naive(u.created_at),
            visible_email: u.email_visible,
            email: shown_email(u, viewer),
            username: Some(u.username.to_string()),
            website: u.profile.website.clone(),
        }
    }
}

/// `UserDTOWithChunks`.
#[derive(Debug, Serialize)]
pub struct UserWithChunks {
    #[serde(flatten)]
    user: UserDto,
    total_chunks_created: u64,
    chunks: Vec<ChunkOut>,
}

/// `ChunkMetadataWithFileData`.
#[derive(Debug, Serialize)]
pub struct ChunkOut {
    id: String,
    content: String,
    /// Gatehouse has no vector index; the chunk's own id.
    qdrant_point_id: String,
    created_at: String,
    updated_at: String,
    weight: f64,
    chunk_html: Option<String>,
    file_id: Option<String>,
    file_name: Option<String>,
    link: Option<String>,
    metadata: Option<serde_json::Value>,
    tag_set: Option<String>,
    time_stamp: Option<String>,
    tracking_id: Option<String>,
    author: UserDto,
}

impl ChunkOut {
    fn new(c: ChunkRecord, author: &UserDto, file_names: &HashMap<String, String>) -> Self {
        let file_id = c.file_id.map(|f| f.to_string());
        Self {
            id: c.id.to_string(),
            content: c.content,
            qdrant_point_id: c.id.to_string(),
            created_at: naive(c.created_at),
            updated_at: naive(c.updated_at),
            weight: c.weight,
            chunk_html: c.html,
            file_name: file_id.as_ref().and_then(|f| file_names.get(f).cloned()),
            file_id,
            link: c.link,
            metadata: c.metadata,
            tag_set: c.tag_set,
            time_stamp: None,
            tracking_id: c.tracking_id,
            author: author.clone(),
        }
    }
}

// ------------------------------------------------------------------ helpers

/// `user` as `SlimUser`, with the organisations the caller may see them in (the core's
/// `memberships_seen_by`: all of one's own; another user's only in the TR-Organization).
async fn slim_user(state: &AppState, caller: &Caller, user: User) -> Result<SlimUser, TrieveError> {
    let within = caller.org.as_ref().map(|o| o.id);
    let seen = state
        .accounts
        .memberships_seen_by(&caller.actor(), user.id, within)
        .await?;
    let mut out_orgs = Vec::new();
    let mut user_orgs = Vec::new();
    for (org, membership) in seen {
        user_orgs.push(UserOrganization {
            id: membership_id(org.id, user.id),
            user_id: user.id.to_string(),
            organization_id: org.id.to_string(),
            role: role_number(membership.role),
            created_at: naive(membership.created_at),
            // The core keeps when a membership began, not when its role last changed.
            updated_at: naive(membership.created_at),
        });
        out_orgs.push(OrganizationOut::from(&org));
    }
    Ok(SlimUser {
        id: user.id.to_string(),
        // `SlimUser.email` is a required string: a hidden address is the empty one.
        email: shown_email(&user, caller.principal.user_id).unwrap_or_default(),
        name: user.profile.name,
        username: Some(user.username.to_string()),
        website: user.profile.website,
        visible_email: user.email_visible,
        orgs: out_orgs,
        user_orgs,
    })
}

/// A profile field from `UpdateUserData`: missing or `null` keeps it (Trieve's "if not
/// provided, the current value will be used"), a blank string clears it, anything else
/// sets it.
fn set(value: Option<String>) -> Patch<String> {
    match value {
        None => Patch::Keep,
        Some(v) if v.trim().is_empty() => Patch::Clear,
        Some(v) => Patch::Set(v),
    }
}

// ------------------------------------------------------------------ handlers

/// `POST /api/user/set_api_key`: a new key without expiry, named `name`; the key itself
/// is in the answer, once.
async fn set_api_key(
    State(state): State<AppState>,
    Client(client): Client,
    caller: Caller,
    Body(body): Body<SetApiKeyRequest>,
) -> Result<Json<SetApiKeyResponse>, TrieveError> {
    let me = &caller.principal;
    let (_, secret) = state
        .accounts
        .create_token(&me.actor(&client), me.user_id, Some(body.name), None)
        .await?;
    Ok(Json(SetApiKeyResponse {
        api_key: secret.expose().to_owned(),
    }))
}

/// `DELETE /api/user/delete_api_key`: deletes one of the caller's keys, named by id,
/// masked form or the key itself; answers the keys that remain.
async fn delete_api_key(
    State(state): State<AppState>,
    Client(client): Client,
    caller: Caller,
    Body(body): Body<DeleteApiKeyRequest>,
) -> Result<Json<Vec<ApiKeyDto>>, TrieveError> {
    let me = &caller.principal;
    let by = TokenRef::parse(body.api_key_id.trim()).ok_or_else(|| {
        TrieveError::bad("api_key_id must be an API key's id, its masked form or the key")
    })?;
    state
        .accounts
        .delete_token(&me.actor(&client), me.user_id, &by)
        .await?;
    let remaining = state.accounts.list_tokens(&me.into(), me.user_id).await?;
    Ok(Json(remaining.into_iter().map(Into::into).collect()))
}

/// `PUT /api/user`: changes the caller (or, with `user_id`, another user) and answers the
/// user as `SlimUser`. `role` sets the user's role in the TR-Organization, which must then
/// be sent and which the user must already belong to. One core use case changes both
/// (`update_member_and_account`); inputs are checked before either.
async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<UpdateUserData>,
) -> Result<Json<SlimUser>, TrieveError> {
    let actor = caller.actor();
    let me = caller.principal.user_id;
    let target = match body.user_id.as_deref() {
        Some(raw) => user_id(raw)?,
        None => me,
    };
    let role = body.role.map(org_role).transpose()?;
    let username = body.username.as_deref().map(Username::parse).transpose()?;
    let profile = ProfileUpdate {
        name: set(body.name),
        website: set(body.website),
        ..ProfileUpdate::default()
    };
    // Refuse bad input before the role changes.
    let changes_account = username.is_some()
        || body.visible_email.is_some()
        || !profile.clone().validate()?.is_empty();
    let role = match role {
        None => None,
        Some(role) => {
            let org = caller.org.as_ref().ok_or_else(|| {
                TrieveError::bad("role needs the TR-Organization header naming the organisation")
            })?;
            Some((org.id, role))
        }
    };
    let update = changes_account.then(|| AccountUpdate {
        username,
        profile,
        email_visible: body.visible_email,
        ..AccountUpdate::default()
    });
    let user = state
        .accounts
        .update_member_and_account(&actor, target, role, update)
        .await?;
    Ok(Json(slim_user(&state, &caller, user).await?))
}

/// `GET /api/user/files/{user_id}`: the user's files, newest first.
async fn user_files(
    State(state): State<AppState>,
    caller: Caller,
    raw: Result<Path<String>, PathRejection>,
) -> Result<Json<Vec<FileOut>>, TrieveError> {
    let owner = user_id(&path(raw)?)?;
    let files = state.accounts.list_files(&caller.actor(), owner).await?;
    Ok(Json(files.into_iter().map(Into::into).collect()))
}

/// `GET /api/user/{user_id}/{page}`: the user and page `page` of their chunks (10 a page,
/// newest first); a page past the end has no chunks.
async fn user_with_chunks(
    State(state): State<AppState>,
    caller: Caller,
    raw: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<UserWithChunks>, TrieveError> {
    let (raw_user, raw_page) = path(raw)?;
    let owner = user_id(&raw_user)?;
    let page = page(&raw_page)?;
    let actor = caller.actor();
    let ChunkPage { chunks, total } = state.accounts.list_chunks(&actor, owner, page).await?;
    let user = state.accounts.get_user(&actor, owner).await?;
    let file_names = if chunks.iter().any(|c| c.file_id.is_some()) {
        match state.accounts.list_files(&actor, owner).await {
            Ok(files) => files
                .into_iter()
                .map(|f| (f.id.to_string(), f.name))
                .collect(),
            // Chunks may be readable where files are not: then no names.
            Err(ContentError::Forbidden) => HashMap::new(),
            Err(e) => return Err(e.into()),
        }
    } else {
        HashMap::new()
    };
    let author = UserDto::shown_to(&user, caller.principal.user_id);
    let chunks = chunks
        .into_iter()
        .map(|c| ChunkOut::new(c, &author, &file_names))
        .collect();
    Ok(Json(UserWithChunks {
        user: author,
        total_chunks_created: total,
        chunks,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use uuid::Uuid;

    #[test]
    fn timestamps_are_naive_with_microseconds() {
        let at = Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap()
            + chrono::Duration::microseconds(123_456);
        assert_eq!(naive(at), "2024-01-01T12:00:00.123456");
        let whole = Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap();
        assert_eq!(naive(whole), "2024-01-01T12:00:00.000000");
    }

    #[test]
    fn roles_are_0_1_2() {
        for (n, role) in [
            (0, OrgRole::Member),
            (1, OrgRole::Admin),
            (2, OrgRole::Owner),
        ] {
            assert_eq!(org_role(n).unwrap(), role);
            assert_eq!(role_number(role), n);
        }
        assert!(org_role(3).is_err());
        assert!(org_role(-1).is_err());
    }

    #[test]
    fn keys_come_raw_or_as_bearer() {
        let mut h = HeaderMap::new();
        assert_eq!(api_key(&h), "");
        h.insert(header::AUTHORIZATION, "gh_abc".parse().unwrap());
        assert_eq!(api_key(&h), "gh_abc");
        h.insert(header::AUTHORIZATION, "Bearer  gh_abc ".parse().unwrap());
        assert_eq!(api_key(&h), "gh_abc");
        h.insert(header::AUTHORIZATION, "bearer gh_abc".parse().unwrap());
        assert_eq!(api_key(&h), "gh_abc");
    }

    #[test]
    fn pages_start_at_one() {
        assert_eq!(page("1").unwrap(), 1);
        assert_eq!(page("3").unwrap(), 3);
        for bad in ["0", "-1", "x", "", "1.5"] {
            assert!(page(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn membership_ids_are_stable_uuids() {
        let (org, user) = (OrgId::new(), UserId::new());
        let id = membership_id(org, user);
        assert_eq!(id, membership_id(org, user));
        assert_ne!(id, membership_id(OrgId::new(), user));
        assert!(Uuid::parse_str(&id).is_ok());
    }

    #[test]
    fn update_tolerates_nulls_and_unknown_keys() {
        let body: UpdateUserData =
            serde_json::from_str(r#"{"name": null, "role": 1, "extra": true}"#).unwrap();
        assert_eq!(body.name, None);
        assert_eq!(body.role, Some(1));
        assert!(serde_json::from_str::<UpdateUserData>(r#"{"role": "1"}"#).is_err());
    }
}

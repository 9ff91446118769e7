//! Alsid `UserApi` (swagger client `ad`; pyTenable `tenable.ie`) at `/api/login`,
//! `/api/logout` and `/api/users...`.
//!
//! Wire facts and mapping decisions are in `docs/alsid.md`. In short: the credential is the
//! `x-api-key` header (any Gatehouse API token or session secret); ids are users' public
//! numbers and role ids; errors are JSON `{"error": <code>, "message": <text>}`; the three
//! endpoints the seed client types as `Object` answer the JSON literal `null`. Request bodies
//! are read as JSON whatever their `Content-Type`, unknown keys are ignored, and bodies sent
//! where none is expected (`{}` on DELETE and logout, nothing but a `Content-Type` on GET)
//! are never read. This module only maps shapes; every permission is checked by the core.

use crate::http::dialects::UNAVAILABLE;

use accounts::access::{Action, Entity, Need, Permission, Role, RoleId, Scope};
use accounts::reach::UserRef;
use accounts::store::{UserCursor, UserQuery};
use accounts::{
    AccountSpec, AccountUpdate, Actor, EmailAddress, Failure, NewUsername, Password, Patch,
    Principal, ProfileUpdate, User, UserId, UserStatus,
};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

use crate::http::auth::{record_user, Client};
use crate::http::problem::{renders_failures, status_of};
use crate::http::AppState;

/// The header holding the key (header names are case-insensitive: pyTenable sends
/// `X-API-Key`).
pub const API_KEY_HEADER: &str = "x-api-key";

/// `GET /api/users` returns at most this many users (200 per store page).
pub const MAX_LISTED_USERS: usize = 10_000;

/// What Alsid calls the identity provider of accounts it manages itself; the seed client
/// accepts only `alsid`, `ldap` and `saml`.
const PROVIDER: &str = "alsid";

/// Gatehouse has no end-user licence; the field is required, so a constant.
const EULA_VERSION: i64 = 1;

/// Reading a user: `GET /api/users/{id}`, `GET /api/users/whoami` (and, via `list_users`,
/// `GET /api/users` on the whole collection).
const READ_USER: Need = Need::new(Entity::User, Action::Read);
/// `PATCH /api/users/{id}`, `PUT /api/users/{id}/roles`.
const UPDATE_USER: Need = Need::new(Entity::User, Action::Update);
/// `DELETE /api/users/{id}`.
const DELETE_USER: Need = Need::new(Entity::User, Action::Delete);

/// The routes, each with the permission the core checks for it.
pub fn routes(_state: &AppState) -> Router<AppState> {
    Router::new()
        // none: the password is the proof
        .route("/api/login", post(login))
        // any valid key; ends the session it is (an API token stays)
        .route("/api/logout", post(logout))
        // GET: READ_USER on every user (`list_users`); POST: `user:create` (`create_users`)
        .route("/api/users", get(list_users).post(create_users))
        // READ_USER on oneself (`get_user`)
        .route("/api/users/whoami", get(whoami))
        // any valid key; own account only, current password required (`change_password`)
        .route("/api/users/password", patch(change_password))
        // none: answers alike whether or not the account exists
        .route("/api/users/forgotten-password", post(forgotten_password))
        // none: the e-mailed link token is the proof
        .route("/api/users/retrieve-password", post(retrieve_password))
        // GET: READ_USER (`get_user`); PATCH: UPDATE_USER (`update_user`);
        // DELETE: DELETE_USER (`delete_user`)
        .route(
            "/api/users/{id}",
            get(get_user).patch(update_user).delete(delete_user),
        )
        // UPDATE_USER on the user, and role:update on each role granted or taken away
        // (`set_user_roles`)
        .route("/api/users/{id}/roles", put(set_user_roles))
}

// ------------------------------------------------------------------ errors

/// Alsid's error: a status and `{"error": <stable code>, "message": <text>}`. The clients
/// ignore error bodies; the code is for people and scripts reading them.
#[derive(Debug)]
pub struct AlsidError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// Seconds, for `Retry-After` on 429.
    retry_after: Option<i64>,
}

#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
}

impl AlsidError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such user")
    }
}

impl IntoResponse for AlsidError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code,
            message: &self.message,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        response
    }
}

renders_failures!(AlsidError);

/// Alsid's rendering: the failure's kind and stable code, plus its quirks.
impl From<Failure> for AlsidError {
    fn from(f: Failure) -> Self {
        let status = status_of(f.kind);
        let retry_after = f.wait().map(|t| t.retry_after_seconds());
        let (code, message) = match f.code {
            "credential_missing" => ("unauthorized", "send the `x-api-key` header".into()),
            "credential_invalid" => ("unauthorized", f.detail),
            // Alsid's login has no second step: the password alone never opens an account
            // with a second factor (its challenge, if one was issued, just expires).
            "second_factor_required" => (
                "second_factor_required",
                "this account needs its one-time code: use a client that supports \
                 two-factor sign-in (POST /auth/v1/login)"
                    .into(),
            ),
            // The code of a password-reset mail.
            "invalid_code" => ("invalid_token", f.detail),
            "unavailable" => ("unavailable", UNAVAILABLE.into()),
            code => (code, f.detail),
        };
        Self {
            status,
            code,
            message,
            retry_after,
        }
    }
}

// ------------------------------------------------------------------ extractors

/// The caller, authenticated by `x-api-key` (an API token or a session secret).
#[derive(Debug)]
pub struct ApiKey(Principal);

impl FromRequestParts<AppState> for ApiKey {
    type Rejection = AlsidError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AlsidError> {
        let secret = parts
            .headers
            .get(API_KEY_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let principal = state.accounts.authenticate(secret).await?;
        record_user(&principal);
        Ok(Self(principal))
    }
}

/// A JSON body, read whatever the `Content-Type` says (or whether it says anything).
/// Malformed JSON, wrong types and missing required fields are 400; unknown keys are
/// ignored (pyTenable's schema lets callers add keys the seed models lack).
#[derive(Debug)]
pub struct Body<T>(T);

impl<T: DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = AlsidError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, AlsidError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|r: BytesRejection| {
                AlsidError::new(r.status(), "invalid_body", r.body_text())
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(AlsidError::bad_request(
                "invalid_body",
                "the request needs a JSON body",
            ));
        }
        serde_json::from_slice(&bytes)
            .map(Self)
            .map_err(|e| AlsidError::bad_request("invalid_body", e.to_string()))
    }
}

/// Missing key → `None`; `null` → `Some(None)`; a value → `Some(Some(v))`.
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

// ------------------------------------------------------------------ wire shapes

/// `InlineResponse20043`: a user as `GET /api/users/{id}` shows them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserById {
    id: i64,
    surname: Option<String>,
    name: String,
    email: String,
    department: Option<String>,
    biography: Option<String>,
    active: bool,
    /// Alsid pictures are arrays of numbers; Gatehouse keeps pictures as URLs, so none.
    picture: Option<Vec<i64>>,
    roles: Vec<i64>,
}

impl UserById {
    fn new(user: User, roles: &[RoleId]) -> Self {
        let name = display_name(&user);
        Self {
            id: user.number,
            surname: user.profile.family_name,
            name,
            email: user.email.to_string(),
            department: user.profile.department,
            biography: user.profile.biography,
            active: user.status == UserStatus::Active,
            picture: None,
            roles: roles.iter().map(|r| r.0).collect(),
        }
    }
}

/// `InlineResponse20041`: a user as listed, created and updated.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlsidUser {
    #[serde(flatten)]
    user: UserById,
    identifier: String,
    provider: &'static str,
    eula_version: i64,
}

impl AlsidUser {
    fn new(user: User, roles: &[RoleId]) -> Self {
        let identifier = user.username.to_string();
        Self {
            user: UserById::new(user, roles),
            identifier,
            provider: PROVIDER,
            eula_version: EULA_VERSION,
        }
    }
}

/// `name` is required and never null: the given name, or the username without one.
fn display_name(user: &User) -> String {
    user.profile
        .given_name
        .clone()
        .unwrap_or_else(|| user.username.to_string())
}

/// `InlineResponse20042`: the caller, with their roles spelled out.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WhoAmI {
    id: i64,
    name: String,
    email: String,
    provider: &'static str,
    department: Option<String>,
    roles: Vec<RoleOut>,
    eula_version: i64,
    internal: bool,
    active: bool,
}

/// `InlineResponse20033`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleOut {
    id: i64,
    name: String,
    description: String,
    permissions: Vec<PermissionOut>,
}

/// `ApirolesPermissions`: `*` for "any" entity or action; `Scope::All` is an empty
/// `entityIds` (never `null`: the seed client fails on it), listed ids are `entityIds`, and
/// "own" is `dynamicId: "self-user-id"`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionOut {
    entity_name: &'static str,
    action: &'static str,
    entity_ids: Vec<i64>,
    dynamic_id: Option<&'static str>,
}

impl From<Role> for RoleOut {
    fn from(role: Role) -> Self {
        Self {
            id: role.id.0,
            name: role.name,
            description: role.description,
            permissions: role.permissions.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<Permission> for PermissionOut {
    fn from(p: Permission) -> Self {
        let (entity_ids, dynamic_id) = match p.scope {
            Scope::All => (Vec::new(), None),
            Scope::Users(ids) => (ids, None),
            Scope::Roles(ids) => (ids.into_iter().map(|r| r.0).collect(), None),
            Scope::Own => (Vec::new(), Some("self-user-id")),
        };
        Self {
            entity_name: p.entity.map_or("*", Entity::as_str),
            action: p.action.map_or("*", Action::as_str),
            entity_ids,
            dynamic_id,
        }
    }
}

/// `ApiLoginBody`.
#[derive(Debug, Deserialize)]
struct LoginBody {
    email: String,
    password: String,
}

/// `InlineResponse20044`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AuthToken {
    auth_token: String,
}

/// `ApiUsersBody`. `active` is read but not obeyed (see [`create_users`]).
#[derive(Debug, Deserialize)]
struct NewUserBody {
    name: String,
    email: String,
    password: String,
    surname: Option<String>,
    department: Option<String>,
    biography: Option<String>,
    #[allow(dead_code)]
    active: Option<bool>,
    picture: Option<Vec<f64>>,
}

/// `UsersIdBody`: every field optional. For the nullable ones (`surname`, `department`,
/// `biography`) `null` clears; for the others `null` is the same as leaving the key out.
#[derive(Debug, Deserialize)]
struct UserPatchBody {
    name: Option<String>,
    email: Option<String>,
    password: Option<String>,
    active: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    surname: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    department: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    biography: Option<Option<String>>,
    picture: Option<Vec<f64>>,
}

/// `IdRolesBody` and `InlineResponse20045`.
#[derive(Debug, Serialize, Deserialize)]
struct RolesBody {
    roles: Vec<i64>,
}

/// `UsersPasswordBody`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PasswordChangeBody {
    old_password: String,
    new_password: String,
}

/// `UsersForgottenpasswordBody`.
#[derive(Debug, Deserialize)]
struct ForgottenPasswordBody {
    email: String,
}

/// `UsersRetrievepasswordBody`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RetrievePasswordBody {
    token: String,
    new_password: String,
}

/// Pictures are not kept in Alsid's form; an empty or missing one is fine.
fn no_picture(picture: Option<&Vec<f64>>) -> Result<(), AlsidError> {
    match picture {
        Some(p) if !p.is_empty() => Err(AlsidError::bad_request(
            "unsupported_field",
            "picture: pictures are not supported on this API",
        )),
        _ => Ok(()),
    }
}

fn set(value: Option<String>) -> Patch<String> {
    value.map_or(Patch::Keep, Patch::Set)
}

fn email(raw: &str) -> Result<EmailAddress, AlsidError> {
    EmailAddress::parse(raw).map_err(|e| AlsidError::bad_request("invalid_input", e.to_string()))
}

/// The answer of the three endpoints the seed client declares as `Object`: it can read
/// only the JSON literal `null`.
fn null() -> Json<()> {
    Json(())
}

// ------------------------------------------------------------------ helpers

/// Resolves `{id}` (a user's public number) to the account. A number that names nobody is
/// 404 for callers who could `need` any user, and 403 otherwise, exactly like an existing
/// user they may not touch (no probing). Something that is not a number is 404.
async fn resolve(
    state: &AppState,
    actor: &Actor,
    raw: &str,
    need: Need,
) -> Result<UserId, AlsidError> {
    let Ok(number) = raw.trim().parse::<i64>() else {
        return Err(AlsidError::not_found());
    };
    let user = state
        .accounts
        .user_as(actor, need, UserRef::Number(number))
        .await?;
    Ok(user.id)
}

async fn role_ids(state: &AppState, user: UserId) -> Result<Vec<RoleId>, AlsidError> {
    Ok(state
        .accounts
        .roles_of(user)
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect())
}

async fn render(state: &AppState, user: User) -> Result<AlsidUser, AlsidError> {
    Ok(render_all(state, vec![user]).await?.remove(0))
}

/// Users as Alsid shows them, their roles read in one query.
async fn render_all(state: &AppState, users: Vec<User>) -> Result<Vec<AlsidUser>, AlsidError> {
    let ids: Vec<UserId> = users.iter().map(|u| u.id).collect();
    let mut roles = state.accounts.role_ids_of(&ids).await?;
    Ok(users
        .into_iter()
        .map(|user| {
            let held = roles.remove(&user.id).unwrap_or_default();
            AlsidUser::new(user, &held)
        })
        .collect())
}

// ------------------------------------------------------------------ handlers

/// `POST /api/login`: a session whose secret is the `authToken` (and works as `x-api-key`).
async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    Body(body): Body<LoginBody>,
) -> Result<Json<AuthToken>, AlsidError> {
    let session = state
        .accounts
        .login(&body.email, Password::for_login(body.password), client)
        .await?;
    Ok(Json(AuthToken {
        auth_token: session.secret.expose().to_owned(),
    }))
}

/// `POST /api/logout`: ends the session used; with an API token nothing ends (tokens are
/// deleted, not logged out) and the answer is the same. The `{}` body is not read.
async fn logout(
    State(state): State<AppState>,
    ApiKey(me): ApiKey,
) -> Result<Json<&'static str>, AlsidError> {
    state.accounts.logout(&me).await?;
    Ok(Json("ok"))
}

/// `GET /api/users`: every user the caller may list, up to [`MAX_LISTED_USERS`].
async fn list_users(
    State(state): State<AppState>,
    Client(client): Client,
    ApiKey(me): ApiKey,
) -> Result<Json<Vec<AlsidUser>>, AlsidError> {
    let actor = Actor::from(&me).with_client(&client);
    let page = accounts::admin::MAX_PAGE;
    let mut users = Vec::new();
    let mut after = None;
    loop {
        let query = UserQuery {
            after,
            limit: page,
            ..UserQuery::default()
        };
        let batch = state.accounts.list_users(&actor, query).await?;
        let full = batch.len() >= page as usize;
        after = batch.last().map(|u| UserCursor::Id(u.id));
        users.extend(batch);
        if !full || users.len() >= MAX_LISTED_USERS {
            break;
        }
    }
    if users.len() > MAX_LISTED_USERS {
        users.truncate(MAX_LISTED_USERS);
    }
    Ok(Json(render_all(&state, users).await?))
}

/// `POST /api/users`: a JSON array of accounts, created all or none, answered in the same
/// order. Alsid has no username, so one is derived from the e-mail address. The accounts
/// are active and their addresses count as verified (an administrator vouches for them).
/// `active` is not obeyed: the seed client sends `"active": false` whenever the caller did
/// not set it, so obeying it would create unusable accounts; `PATCH` with
/// `{"active": false}` disables one.
async fn create_users(
    State(state): State<AppState>,
    Client(client): Client,
    ApiKey(me): ApiKey,
    Body(body): Body<Vec<NewUserBody>>,
) -> Result<Json<Vec<AlsidUser>>, AlsidError> {
    let actor = Actor::from(&me).with_client(&client);
    let mut parsed = Vec::with_capacity(body.len());
    for user in body {
        no_picture(user.picture.as_ref())?;
        parsed.push((email(&user.email)?, user));
    }
    let specs = parsed
        .into_iter()
        .map(|(email, user)| AccountSpec {
            // Alsid has no username: the core derives one from the address (one rule).
            username: NewUsername::FromEmail,
            email,
            password: Some(user.password),
            status: UserStatus::Active,
            email_verified: true,
            roles: Vec::new(),
            profile: ProfileUpdate {
                given_name: Patch::Set(user.name),
                family_name: set(user.surname),
                department: set(user.department),
                biography: set(user.biography),
                ..ProfileUpdate::default()
            },
        })
        .collect();
    let created = state.accounts.create_users(&actor, specs, None).await?;
    // The core answers in the order asked.
    Ok(Json(render_all(&state, created).await?))
}

/// `GET /api/users/whoami`: the caller, with their roles and permissions.
async fn whoami(
    State(state): State<AppState>,
    Client(client): Client,
    ApiKey(me): ApiKey,
) -> Result<Json<WhoAmI>, AlsidError> {
    let actor = Actor::from(&me).with_client(&client);
    let user = state.accounts.get_user(&actor, me.user_id).await?;
    let roles = state.accounts.roles_of(user.id).await?;
    let name = display_name(&user);
    Ok(Json(WhoAmI {
        id: user.number,
        name,
        email: user.email.to_string(),
        provider: PROVIDER,
        department: user.profile.department,
        roles: roles.into_iter().map(Into::into).collect(),
        eula_version: EULA_VERSION,
        internal: false,
        active: user.status == UserStatus::Active,
    }))
}

/// `GET /api/users/{id}`.
async fn get_user(
    State(state): State<AppState>,
    Client(client): Client,
    ApiKey(me): ApiKey,
    Path(id): Path<String>,
) -> Result<Json<UserById>, AlsidError> {
    let actor = Actor::from(&me).with_client(&client);
    let id = resolve(&state, &actor, &id, READ_USER).await?;
    let user = state.accounts.get_user(&actor, id).await?;
    let roles = role_ids(&state, user.id).await?;
    Ok(Json(UserById::new(user, &roles)))
}

/// `PATCH /api/users/{id}`: only the fields sent change. `name` and `surname` are the
/// given and family names, `active` is the account's status (active or disabled).
async fn update_user(
    State(state): State<AppState>,
    Client(client): Client,
    ApiKey(me): ApiKey,
    Path(id): Path<String>,
    Body(body): Body<UserPatchBody>,
) -> Result<Json<AlsidUser>, AlsidError> {
    let actor = Actor::from(&me).with_client(&client);
    no_picture(body.picture.as_ref())?;
    let email = body.email.as_deref().map(email).transpose()?;
    let id = resolve(&state, &actor, &id, UPDATE_USER).await?;
    let update = AccountUpdate {
        email,
        status: body.active.map(|active| {
            if active {
                UserStatus::Active
            } else {
                UserStatus::Disabled
            }
        }),
        password: body.password,
        profile: ProfileUpdate {
            given_name: set(body.name),
            family_name: Patch::from_option(body.surname),
            department: Patch::from_option(body.department),
            biography: Patch::from_option(body.biography),
            ..ProfileUpdate::default()
        },
        ..AccountUpdate::default()
    };
    let user = state.accounts.update_user(&actor, id, update).await?;
    Ok(Json(render(&state, user).await?))
}

/// `DELETE /api/users/{id}`: answers `{}` (the `{}` the client sends is not read).
async fn delete_user(
    State(state): State<AppState>,
    Client(client): Client,
    ApiKey(me): ApiKey,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, AlsidError> {
    let actor = Actor::from(&me).with_client(&client);
    let id = resolve(&state, &actor, &id, DELETE_USER).await?;
    state.accounts.delete_user(&actor, id).await?;
    Ok(Json(serde_json::json!({})))
}

/// `PUT /api/users/{id}/roles`: replaces the user's roles; answers the roles they now hold.
async fn set_user_roles(
    State(state): State<AppState>,
    Client(client): Client,
    ApiKey(me): ApiKey,
    Path(id): Path<String>,
    Body(body): Body<RolesBody>,
) -> Result<Json<RolesBody>, AlsidError> {
    let actor = Actor::from(&me).with_client(&client);
    let id = resolve(&state, &actor, &id, UPDATE_USER).await?;
    let roles = body.roles.into_iter().map(RoleId).collect();
    let held = state.accounts.set_user_roles(&actor, id, roles).await?;
    Ok(Json(RolesBody {
        roles: held.into_iter().map(|r| r.0).collect(),
    }))
}

/// `PATCH /api/users/password`: the caller's own password, after checking the current one;
/// their other sessions and tokens keep working.
async fn change_password(
    State(state): State<AppState>,
    Client(client): Client,
    ApiKey(me): ApiKey,
    Body(body): Body<PasswordChangeBody>,
) -> Result<Json<()>, AlsidError> {
    state
        .accounts
        .change_password(
            &me,
            Password::for_login(body.old_password),
            body.new_password,
            false,
            client,
        )
        .await?;
    Ok(null())
}

/// `POST /api/users/forgotten-password`: mails a reset link (and code) when the address
/// belongs to an account; the answer is the same either way.
async fn forgotten_password(
    State(state): State<AppState>,
    Client(client): Client,
    headers: axum::http::HeaderMap,
    Body(body): Body<ForgottenPasswordBody>,
) -> Result<Json<()>, AlsidError> {
    // A cross-site form must not make us mail someone (`crate::http::declares_json`).
    if !crate::http::declares_json(&headers) {
        return Err(AlsidError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Content-Type must be application/json",
        ));
    }
    state
        .accounts
        .request_password_reset(&body.email, client, accounts::CodeScope::Native)
        .await?;
    Ok(null())
}

/// `POST /api/users/retrieve-password`: `token` is the link token from the reset e-mail;
/// every session of the account ends.
async fn retrieve_password(
    State(state): State<AppState>,
    Client(client): Client,
    Body(body): Body<RetrievePasswordBody>,
) -> Result<Json<()>, AlsidError> {
    state
        .accounts
        .reset_password_with_link(&body.token, body.new_password, client)
        .await?;
    Ok(null())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_use_stars_empty_lists_and_self() {
        let out = PermissionOut::from(Permission {
            entity: None,
            action: None,
            scope: Scope::All,
        });
        let json = serde_json::to_value(out).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"entityName": "*", "action": "*", "entityIds": [], "dynamicId": null})
        );
        let out = PermissionOut::from(Permission::new(Entity::User, Action::Read, Scope::Own));
        let json = serde_json::to_value(out).unwrap();
        assert_eq!(json["entityName"], "user");
        assert_eq!(json["action"], "read");
        assert_eq!(json["dynamicId"], "self-user-id");
        let out = PermissionOut::from(Permission::new(
            Entity::User,
            Action::Update,
            Scope::Users(vec![7, 8]),
        ));
        assert_eq!(
            serde_json::to_value(out).unwrap()["entityIds"],
            serde_json::json!([7, 8])
        );
    }

    #[test]
    fn patch_tells_null_from_missing() {
        let body: UserPatchBody =
            serde_json::from_str(r#"{"surname": null, "name": "A", "x": 1}"#).unwrap();
        assert_eq!(body.surname, Some(None));
        assert_eq!(body.department, None);
        assert_eq!(body.name.as_deref(), Some("A"));
    }
}

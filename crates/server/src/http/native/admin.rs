//! User and role administration: `/auth/v1/admin/users...` and `/auth/v1/admin/roles...`.
//!
//! Who may call what is decided by the core, never here: each handler calls one admin use
//! case with the caller as `Actor`. Instance admins may do everything; a custom role grants
//! actions on every user, on listed users, or on the holder's own account; an organisation's
//! admins manage the accounts of its plain members (`?org=` on the list and on create). A
//! caller without any such right gets 403 `forbidden`, whether or not the target exists.

use std::collections::BTreeMap;

use accounts::access::{Action, Entity, OrgId, Permission, Role, RoleId, RoleSpec, Scope};
use accounts::store::{UserCursor, UserOrder, UserQuery};
use accounts::{
    AccountSpec, AccountUpdate, Actor, EmailAddress, InvalidInput, NewUsername, User, UserId,
    UserStatus, Username,
};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::account::{accepted, Ended};
use super::me::{ProfilePatch, UserView};
use super::paging::{self, Page, PageQuery};
use super::{ApiError, ApiJson, ApiPath, Authenticated};
use crate::http::auth::Client;
use crate::http::AppState;

// ------------------------------------------------------------------ shapes

/// An account's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusName {
    /// Registered, address not verified yet: cannot sign in.
    Pending,
    Active,
    /// Switched off: no login, no credential works.
    Disabled,
}

impl From<StatusName> for UserStatus {
    fn from(s: StatusName) -> Self {
        match s {
            StatusName::Pending => Self::Pending,
            StatusName::Active => Self::Active,
            StatusName::Disabled => Self::Disabled,
        }
    }
}

/// A user as administrators see them: the account, its profile claims, its public number
/// and its instance roles.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserView {
    #[serde(flatten)]
    pub user: UserView,
    /// The public numeric id integer-id dialects show (random, so it reveals no order).
    pub number: i64,
    /// Ids of the user's instance roles (`1` admin, `2` user, others custom).
    pub roles: Vec<i64>,
}

impl AdminUserView {
    async fn of(state: &AppState, user: User) -> Result<Self, ApiError> {
        Ok(Self::all(state, vec![user]).await?.remove(0))
    }

    /// Views of a page of users, their roles read in one query.
    async fn all(state: &AppState, users: Vec<User>) -> Result<Vec<Self>, ApiError> {
        let ids: Vec<_> = users.iter().map(|u| u.id).collect();
        let mut roles = state.accounts.role_ids_of(&ids).await?;
        Ok(users
            .into_iter()
            .map(|user| Self {
                number: user.number,
                roles: roles
                    .remove(&user.id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|r| r.0)
                    .collect(),
                user: user.into(),
            })
            .collect())
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// A prefix of the username, or of the e-mail address when it contains `@`
    /// (case-insensitive). It also sets the order: by username, by e-mail, or (without `q`)
    /// by creation.
    pub q: Option<String>,
    #[param(inline)]
    pub status: Option<StatusName>,
    /// Only holders of this role id.
    pub role: Option<i64>,
    /// Only members of this organisation (its admins may list them).
    pub org: Option<Uuid>,
    /// 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next` of a page, unchanged, with the same `q`: the page that follows it.
    pub after: Option<String>,
    /// `prev` of a page, unchanged, with the same `q`: the page that precedes it.
    pub before: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    /// At most `limit`, in the order `q` sets.
    pub users: Vec<AdminUserView>,
    /// The cursor of the next page, for `after`; `null` on the last page.
    pub next: Option<String>,
    /// The cursor of the previous page, for `before`; `null` on the first page.
    pub prev: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RolePage {
    /// At most `limit`, by id.
    pub roles: Vec<RoleView>,
    /// The cursor of the next page, for `after`; `null` on the last page.
    pub next: Option<String>,
    /// The cursor of the previous page, for `before`; `null` on the first page.
    pub prev: Option<String>,
    /// How many roles there are in this list in all.
    pub total: u64,
}

impl RolePage {
    /// A page of roles held whole, by id (the user's roles; every role).
    fn of(list: &str, mut roles: Vec<Role>, request: &paging::PageRequest<i64>) -> Self {
        roles.sort_by_key(|r| r.id.0);
        let total = roles.len() as u64;
        let page = Page::of_all(roles, |r| r.id.0, false, request);
        let (next, prev) = page.cursors(list, |r| r.id.0.to_string());
        Self {
            roles: page.items.into_iter().map(Into::into).collect(),
            next,
            prev,
            total,
        }
    }
}

/// A new account. Profile claims (`name`, `locale`, ...) may be given at the top level as
/// on `PATCH /auth/v1/me`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewAccount {
    pub username: String,
    pub email: String,
    /// Checked against the password policy. Omitted: the account has no password until a
    /// reset gives it one.
    pub password: Option<String>,
    /// Default `active`.
    #[schema(inline)]
    pub status: Option<StatusName>,
    /// Default `false`.
    #[serde(default)]
    pub email_verified: bool,
    /// Instance role ids; default `[2]`, the built-in `user` role. Granting a role needs
    /// the right to change that role.
    #[serde(default)]
    pub roles: Vec<i64>,
    #[serde(flatten)]
    pub claims: ProfilePatch,
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, serde_json::Value>,
}

/// One account, or an array of them created all or none.
#[derive(Debug, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // describes the body for the OpenAPI document; parsed by hand
pub enum NewAccounts {
    One(Box<NewAccount>),
    Many(Vec<NewAccount>),
}

/// What `POST /auth/v1/admin/users` answers: the same shape as it was sent.
#[derive(Debug, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // describes the answer for the OpenAPI document
pub enum CreatedUsers {
    One(Box<AdminUserView>),
    Many(Vec<AdminUserView>),
}

/// An administrator's change to an account: missing = keep. Profile claims as on
/// `PATCH /auth/v1/me` (`null` clears one).
#[derive(Debug, Deserialize, ToSchema)]
pub struct AccountPatch {
    pub username: Option<String>,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    #[schema(inline)]
    pub status: Option<StatusName>,
    /// A new password (policy-checked); every session of the user ends.
    pub password: Option<String>,
    #[serde(flatten)]
    pub claims: ProfilePatch,
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleIds {
    /// Role ids.
    pub roles: Vec<i64>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    /// Set this password (every session ends). Omitted: the user is mailed a reset code
    /// and link.
    pub password: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    pub revoked: usize,
}

/// The kinds of things a permission is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntityName {
    User,
    Role,
    Organization,
    Token,
    Session,
    Audit,
    Mail,
    /// Files users upload (the avatar is one of them).
    File,
    /// Users' chunks (short text records).
    Chunk,
}

impl From<EntityName> for Entity {
    fn from(e: EntityName) -> Self {
        match e {
            EntityName::User => Self::User,
            EntityName::Role => Self::Role,
            EntityName::Organization => Self::Organization,
            EntityName::Token => Self::Token,
            EntityName::Session => Self::Session,
            EntityName::Audit => Self::Audit,
            EntityName::Mail => Self::Mail,
            EntityName::File => Self::File,
            EntityName::Chunk => Self::Chunk,
        }
    }
}

impl From<Entity> for EntityName {
    fn from(e: Entity) -> Self {
        match e {
            Entity::User => Self::User,
            Entity::Role => Self::Role,
            Entity::Organization => Self::Organization,
            Entity::Token => Self::Token,
            Entity::Session => Self::Session,
            Entity::Audit => Self::Audit,
            Entity::Mail => Self::Mail,
            Entity::File => Self::File,
            Entity::Chunk => Self::Chunk,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionName {
    Read,
    Create,
    Update,
    Delete,
}

impl From<ActionName> for Action {
    fn from(a: ActionName) -> Self {
        match a {
            ActionName::Read => Self::Read,
            ActionName::Create => Self::Create,
            ActionName::Update => Self::Update,
            ActionName::Delete => Self::Delete,
        }
    }
}

impl From<Action> for ActionName {
    fn from(a: Action) -> Self {
        match a {
            Action::Read => Self::Read,
            Action::Create => Self::Create,
            Action::Update => Self::Update,
            Action::Delete => Self::Delete,
        }
    }
}

/// Which entities of its kind a permission covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScopeName {
    /// Every entity of the kind (and the collection: list, create).
    All,
    /// Only those listed in `ids`: roles by id with `entity: "role"`, otherwise users by
    /// their `number` (and what they own).
    Ids,
    /// Only the holder's own account and what it owns (their tokens, sessions).
    Own,
}

/// One grant: `action` on `entity`, within `scope`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionView {
    /// `null` or absent: every kind.
    #[serde(default)]
    pub entity: Option<EntityName>,
    /// `null` or absent: every action.
    #[serde(default)]
    pub action: Option<ActionName>,
    pub scope: ScopeName,
    /// With `scope: "ids"` (and only then): roles' ids with `entity: "role"`, users'
    /// numbers with every other entity and with none (never both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<i64>>,
}

impl From<Permission> for PermissionView {
    fn from(p: Permission) -> Self {
        let (scope, ids) = match (&p.scope, p.scope.ids()) {
            (_, Some(ids)) => (ScopeName::Ids, Some(ids)),
            (Scope::Own, None) => (ScopeName::Own, None),
            (_, None) => (ScopeName::All, None),
        };
        Self {
            entity: p.entity.map(Into::into),
            action: p.action.map(Into::into),
            scope,
            ids,
        }
    }
}

impl PermissionView {
    fn parse(self, index: usize) -> Result<Permission, ApiError> {
        let entity = self.entity.map(Into::into);
        let scope = match (self.scope, self.ids) {
            (ScopeName::All, None) => Scope::All,
            (ScopeName::Own, None) => Scope::Own,
            (ScopeName::Ids, Some(ids)) => Scope::ids_for(entity, ids),
            (ScopeName::Ids, None) => {
                return Err(invalid_field(
                    format!("permissions[{index}].ids"),
                    "`scope: \"ids\"` needs `ids`, the list of numbers it covers",
                ))
            }
            (_, Some(_)) => {
                return Err(invalid_field(
                    format!("permissions[{index}].ids"),
                    "`ids` goes only with `scope: \"ids\"`",
                ))
            }
        };
        Ok(Permission {
            entity,
            action: self.action.map(Into::into),
            scope,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleView {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// `admin` (1) and `user` (2): never changed nor deleted.
    pub builtin: bool,
    pub permissions: Vec<PermissionView>,
}

impl From<Role> for RoleView {
    fn from(r: Role) -> Self {
        Self {
            id: r.id.0,
            name: r.name,
            description: r.description,
            builtin: r.builtin,
            permissions: r.permissions.into_iter().map(Into::into).collect(),
        }
    }
}

/// A custom role: a name and its permissions.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    /// 1 to 64 characters, unique.
    pub name: String,
    /// At most 500 characters.
    #[serde(default)]
    pub description: String,
    /// At most 100.
    pub permissions: Vec<PermissionView>,
}

impl RoleBody {
    fn parse(self) -> Result<RoleSpec, ApiError> {
        let permissions = self
            .permissions
            .into_iter()
            .enumerate()
            .map(|(i, p)| p.parse(i))
            .collect::<Result<_, _>>()?;
        Ok(RoleSpec {
            name: self.name,
            description: self.description,
            permissions,
        })
    }
}

// ------------------------------------------------------------------ parsing helpers

fn invalid_field(field: String, detail: &str) -> ApiError {
    ApiError {
        field: Some(field),
        ..ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", detail)
    }
}

/// Where item `index` of a bulk body is, as a prefix for field names and details.
fn at(index: Option<usize>) -> String {
    index.map(|i| format!("[{i}].")).unwrap_or_default()
}

/// A body field that breaks a rule; in a bulk body, `field` names the item (`[3].email`).
fn invalid_at(index: Option<usize>, input: InvalidInput) -> ApiError {
    let mut error = ApiError::invalid(input);
    if let Some(field) = &mut error.field {
        *field = format!("{}{field}", at(index));
    }
    error
}

/// The shapes with flattened profile claims cannot use `deny_unknown_fields`; this refuses
/// what the claims did not take, like every other native body does (422).
fn refuse_unknown(
    index: Option<usize>,
    unknown: &BTreeMap<String, serde_json::Value>,
) -> Result<(), ApiError> {
    match unknown.keys().next() {
        None => Ok(()),
        Some(key) => Err(ApiError {
            field: Some(format!("{}{key}", at(index))),
            ..ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "malformed_body",
                format!("{}unknown field `{key}`", at(index)),
            )
        }),
    }
}

fn malformed_at(index: Option<usize>, e: serde_json::Error) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "malformed_body",
        format!("{}{e}", at(index)),
    )
}

impl NewAccount {
    fn parse(self, index: Option<usize>) -> Result<AccountSpec, ApiError> {
        refuse_unknown(index, &self.unknown)?;
        Ok(AccountSpec {
            username: NewUsername::Chosen(
                Username::parse(&self.username).map_err(|e| invalid_at(index, e))?,
            ),
            email: EmailAddress::parse(&self.email).map_err(|e| invalid_at(index, e))?,
            password: self.password,
            status: self.status.map_or(UserStatus::Active, Into::into),
            email_verified: self.email_verified,
            roles: self.roles.into_iter().map(RoleId).collect(),
            profile: self.claims.into(),
        })
    }
}

impl AccountPatch {
    fn parse(self) -> Result<AccountUpdate, ApiError> {
        refuse_unknown(None, &self.unknown)?;
        Ok(AccountUpdate {
            username: self
                .username
                .as_deref()
                .map(Username::parse)
                .transpose()
                .map_err(ApiError::invalid)?,
            email: self
                .email
                .as_deref()
                .map(EmailAddress::parse)
                .transpose()
                .map_err(ApiError::invalid)?,
            email_verified: self.email_verified,
            status: self.status.map(Into::into),
            profile: self.claims.into(),
            // Trieve's setting; the native API shows the address to whoever may read the user.
            email_visible: None,
            password: self.password,
        })
    }
}

// ------------------------------------------------------------------ the cursor

/// The user cursor a listing's key text names. One that belongs to another order (the
/// client changed `q`) is refused rather than silently restarting the listing.
fn user_cursor(text: &str, order: UserOrder, field: &str) -> Result<UserCursor, ApiError> {
    if let Some(cursor) = UserCursor::from_text(text, order) {
        return Ok(cursor);
    }
    let other_order = [UserOrder::Id, UserOrder::Username, UserOrder::Email]
        .into_iter()
        .any(|o| UserCursor::from_text(text, o).is_some());
    Err(paging::invalid_query(
        field,
        if other_order {
            format!("`{field}` belongs to a listing with another `q`; start again without it")
        } else {
            format!("`{field}` is not a cursor of this list; pass `next` as `after` and `prev` as `before`, unchanged")
        },
    ))
}

// ------------------------------------------------------------------ users

/// A page of users, filtered and ordered by the query.
#[utoipa::path(
    get, path = "/auth/v1/admin/users", tag = "admin",
    security(("bearer" = [])),
    params(UserListQuery),
    responses(
        (status = 200, body = UserPage),
        (status = 400, description = "A parameter does not parse, or `after` is not a cursor of this listing", body = super::Problem),
        (status = 401, body = super::Problem),
        (status = 403, description = "Needs `user:read` on all users, or `org` naming an organisation the caller administers", body = super::Problem),
    )
)]
pub async fn list_users(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    query: Result<Query<UserListQuery>, QueryRejection>,
) -> Result<axum::Json<UserPage>, ApiError> {
    let Query(q) = query?;
    let text =
        q.q.as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_lowercase);
    let order = UserOrder::of(text.as_deref());
    let request =
        paging::request::<String>("users", q.limit, q.after.as_deref(), q.before.as_deref())?;
    let (after, before) = match &request.from {
        paging::From::Start => (None, None),
        paging::From::After(key) => (Some(user_cursor(key, order, "after")?), None),
        paging::From::Before(key) => (None, Some(user_cursor(key, order, "before")?)),
    };
    let query = UserQuery {
        text,
        status: q.status.map(Into::into),
        role: q.role.map(RoleId),
        org: q.org.map(OrgId),
        after,
        before,
        // One more than asked tells whether the listing goes on.
        limit: request.limit + 1,
    };
    let users = state
        .accounts
        .list_users(&Actor::from(&principal).with_client(&client), query)
        .await?;
    let page = Page::cut(users, &request);
    let (next, prev) = page.cursors("users", |u| order.cursor_after(u).to_text());
    let users = page.items;
    let views = AdminUserView::all(&state, users).await?;
    Ok(axum::Json(UserPage {
        users: views,
        next,
        prev,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CreateQuery {
    /// Make the new accounts members of this organisation; its admins may create them.
    pub org: Option<Uuid>,
}

/// Create one account, or several all or none.
#[utoipa::path(
    post, path = "/auth/v1/admin/users", tag = "admin",
    security(("bearer" = [])),
    params(CreateQuery),
    request_body = NewAccounts,
    responses(
        (status = 201, description = "Created: an object for an object, an array for an array", body = CreatedUsers),
        (status = 400, description = "A field breaks a rule (`field` names it; `[i].` the item), or a weak password", body = super::Problem),
        (status = 401, body = super::Problem),
        (status = 403, description = "Needs `user:create`, or admin of `org`; granting a role needs `role:update` on it", body = super::Problem),
        (status = 404, description = "No such organisation", body = super::Problem),
        (status = 409, description = "A username or address is taken (also twice in one body); nothing was created", body = super::Problem),
        (status = 422, body = super::Problem),
    )
)]
pub async fn create_users(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    query: Result<Query<CreateQuery>, QueryRejection>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let Query(q) = query?;
    let (items, many) = match body {
        serde_json::Value::Array(items) => (items, true),
        one => (vec![one], false),
    };
    let mut specs = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let index = many.then_some(i);
        let account: NewAccount =
            serde_json::from_value(item).map_err(|e| malformed_at(index, e))?;
        specs.push(account.parse(index)?);
    }
    let users = state
        .accounts
        .create_users(
            &Actor::from(&principal).with_client(&client),
            specs,
            q.org.map(OrgId),
        )
        .await?;
    let mut views = AdminUserView::all(&state, users).await?;
    let body = if many {
        axum::Json(views).into_response()
    } else {
        match views.pop() {
            Some(view) => axum::Json(view).into_response(),
            None => return Err(ApiError::internal()),
        }
    };
    Ok((StatusCode::CREATED, body).into_response())
}

/// One user.
#[utoipa::path(
    get, path = "/auth/v1/admin/users/{id}", tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = AdminUserView),
        (status = 401, body = super::Problem),
        (status = 403, description = "Needs `user:read` on this user", body = super::Problem),
        (status = 404, body = super::Problem),
    )
)]
pub async fn get_user(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<AdminUserView>, ApiError> {
    let user = state
        .accounts
        .get_user(&Actor::from(&principal).with_client(&client), UserId(id))
        .await?;
    Ok(axum::Json(AdminUserView::of(&state, user).await?))
}

/// Change an account: username, address, verification, status, password, claims.
#[utoipa::path(
    patch, path = "/auth/v1/admin/users/{id}", tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = AccountPatch,
    responses(
        (status = 200, body = AdminUserView),
        (status = 400, body = super::Problem),
        (status = 401, body = super::Problem),
        (status = 403, description = "Needs `user:update` on this user; on oneself only claims and username", body = super::Problem),
        (status = 404, body = super::Problem),
        (status = 409, description = "Username or address taken", body = super::Problem),
        (status = 422, body = super::Problem),
    )
)]
pub async fn update_user(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AccountPatch>,
) -> Result<axum::Json<AdminUserView>, ApiError> {
    let update = body.parse()?;
    let user = state
        .accounts
        .update_user(
            &Actor::from(&principal).with_client(&client),
            UserId(id),
            update,
        )
        .await?;
    Ok(axum::Json(AdminUserView::of(&state, user).await?))
}

/// Delete an account and everything it owns (tokens, sessions, files, memberships).
#[utoipa::path(
    delete, path = "/auth/v1/admin/users/{id}", tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = super::Problem),
        (status = 403, description = "Needs `user:delete` on this user", body = super::Problem),
        (status = 404, body = super::Problem),
    )
)]
pub async fn delete_user(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state
        .accounts
        .delete_user(&Actor::from(&principal).with_client(&client), UserId(id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_enabled(
    state: AppState,
    actor: Actor,
    id: Uuid,
    enabled: bool,
) -> Result<axum::Json<AdminUserView>, ApiError> {
    let user = state
        .accounts
        .set_user_enabled(&actor, UserId(id), enabled)
        .await?;
    Ok(axum::Json(AdminUserView::of(&state, user).await?))
}

/// Disable an account: no login, every credential stops working, sessions end.
#[utoipa::path(
    post, path = "/auth/v1/admin/users/{id}/disable", tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = AdminUserView),
        (status = 401, body = super::Problem),
        (status = 403, description = "Needs `user:update` on this user; never on oneself", body = super::Problem),
        (status = 404, body = super::Problem),
    )
)]
pub async fn disable_user(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<AdminUserView>, ApiError> {
    let actor = Actor::from(&principal).with_client(&client);
    set_enabled(state, actor, id, false).await
}

/// Enable a disabled account (its tokens work again; ended sessions stay ended).
#[utoipa::path(
    post, path = "/auth/v1/admin/users/{id}/enable", tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = AdminUserView),
        (status = 401, body = super::Problem),
        (status = 403, description = "Needs `user:update` on this user; never on oneself", body = super::Problem),
        (status = 404, body = super::Problem),
    )
)]
pub async fn enable_user(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<AdminUserView>, ApiError> {
    let actor = Actor::from(&principal).with_client(&client);
    set_enabled(state, actor, id, true).await
}

/// The user's instance roles, with their permissions, by id, a page at a time.
#[utoipa::path(
    get, path = "/auth/v1/admin/users/{id}/roles", tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path), PageQuery),
    responses(
        (status = 200, body = RolePage),
        (status = 400, description = "`invalid_query`: `limit` outside 1 to 200, a cursor that is not one of this list, or both `after` and `before`", body = super::Problem),
        (status = 401, body = super::Problem),
        (status = 403, description = "Needs `user:read` on this user", body = super::Problem),
        (status = 404, body = super::Problem),
    )
)]
pub async fn user_roles(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<Uuid>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<axum::Json<RolePage>, ApiError> {
    let Query(q) = query?;
    let request = q.request("user-roles")?;
    // `roles_of` takes no actor: reading the user is the check.
    let user = state
        .accounts
        .get_user(&Actor::from(&principal).with_client(&client), UserId(id))
        .await?;
    let roles = state.accounts.roles_of(user.id).await?;
    Ok(axum::Json(RolePage::of("user-roles", roles, &request)))
}

/// Replace the user's instance roles.
#[utoipa::path(
    put, path = "/auth/v1/admin/users/{id}/roles", tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = RoleIds,
    responses(
        (status = 200, description = "The roles now held", body = RoleIds),
        (status = 400, description = "No role has one of the ids", body = super::Problem),
        (status = 401, body = super::Problem),
        (status = 403, description = "Needs `user:update` on this user and `role:update` on every role granted or taken away", body = super::Problem),
        (status = 404, body = super::Problem),
    )
)]
pub async fn set_user_roles(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<RoleIds>,
) -> Result<axum::Json<RoleIds>, ApiError> {
    let roles = state
        .accounts
        .set_user_roles(
            &Actor::from(&principal).with_client(&client),
            UserId(id),
            body.roles.into_iter().map(RoleId).collect(),
        )
        .await?;
    Ok(axum::Json(RoleIds {
        roles: roles.into_iter().map(|r| r.0).collect(),
    }))
}

/// Reset a user's password: set it (every session ends), or mail them a reset code and link.
#[utoipa::path(
    post, path = "/auth/v1/admin/users/{id}/reset-password", tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = ResetRequest,
    responses(
        (status = 202, description = "A reset code and link are on their way to the user", body = super::account::Accepted),
        (status = 204, description = "Password set; the user's sessions ended"),
        (status = 400, description = "Weak password", body = super::Problem),
        (status = 401, body = super::Problem),
        (status = 403, description = "Needs `user:update` on this user", body = super::Problem),
        (status = 404, body = super::Problem),
    )
)]
pub async fn reset_password(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ResetRequest>,
) -> Result<Response, ApiError> {
    let mailing = body.password.is_none();
    state
        .accounts
        .admin_reset_password(
            &Actor::from(&principal).with_client(&client),
            UserId(id),
            body.password,
        )
        .await?;
    Ok(if mailing {
        accepted("a reset code and link are on their way to the user's address")
    } else {
        StatusCode::NO_CONTENT.into_response()
    })
}

/// Turn a user's second factor off (a lost phone and lost recovery codes); they sign in
/// with the password alone until they enrol again.
#[utoipa::path(
    post, path = "/auth/v1/admin/users/{id}/reset-second-factor", tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Off (also when it was not on)"),
        (status = 401, body = super::Problem),
        (status = 403, description = "Needs `user:update` on this user; on oneself only an instance admin", body = super::Problem),
        (status = 404, body = super::Problem),
    )
)]
pub async fn reset_second_factor(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state
        .accounts
        .admin_reset_second_factor(&Actor::from(&principal).with_client(&client), UserId(id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// End every session of the user.
#[utoipa::path(
    delete, path = "/auth/v1/admin/users/{id}/sessions", tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Ended),
        (status = 401, body = super::Problem),
        (status = 403, description = "Needs `session:delete` on this user", body = super::Problem),
        (status = 404, body = super::Problem),
    )
)]
pub async fn end_sessions(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<Ended>, ApiError> {
    let ended = state
        .accounts
        .end_user_sessions(&Actor::from(&principal).with_client(&client), UserId(id))
        .await?;
    Ok(axum::Json(Ended { ended }))
}

/// Delete every API token of the user.
#[utoipa::path(
    delete, path = "/auth/v1/admin/users/{id}/tokens", tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Revoked),
        (status = 401, body = super::Problem),
        (status = 403, description = "Needs `token:delete` on this user", body = super::Problem),
        (status = 404, body = super::Problem),
    )
)]
pub async fn revoke_tokens(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<Revoked>, ApiError> {
    let revoked = state
        .accounts
        .revoke_user_tokens(&Actor::from(&principal).with_client(&client), UserId(id))
        .await?;
    Ok(axum::Json(Revoked { revoked }))
}

// ------------------------------------------------------------------ roles

/// Every role, with its permissions, by id, a page at a time.
#[utoipa::path(
    get, path = "/auth/v1/admin/roles", tag = "admin",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, body = RolePage),
        (status = 400, description = "`invalid_query`: `limit` outside 1 to 200, a cursor that is not one of this list, or both `after` and `before`", body = super::Problem),
        (status = 401, body = super::Problem),
        (status = 403, description = "Needs `role:read`", body = super::Problem),
    )
)]
pub async fn list_roles(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<axum::Json<RolePage>, ApiError> {
    let Query(q) = query?;
    let request = q.request("roles")?;
    let roles = state
        .accounts
        .list_roles(&Actor::from(&principal).with_client(&client))
        .await?;
    Ok(axum::Json(RolePage::of("roles", roles, &request)))
}

/// Create a custom role.
#[utoipa::path(
    post, path = "/auth/v1/admin/roles", tag = "admin",
    security(("bearer" = [])),
    request_body = RoleBody,
    responses(
        (status = 201, body = RoleView),
        (status = 400, body = super::Problem),
        (status = 401, body = super::Problem),
        (status = 403, description = "Needs `role:create`", body = super::Problem),
        (status = 409, description = "The name is taken", body = super::Problem),
        (status = 422, body = super::Problem),
    )
)]
pub async fn create_role(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<RoleBody>,
) -> Result<Response, ApiError> {
    let role = state
        .accounts
        .create_role(&Actor::from(&principal).with_client(&client), body.parse()?)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(RoleView::from(role))).into_response())
}

/// Replace a custom role's name, description and permissions.
#[utoipa::path(
    put, path = "/auth/v1/admin/roles/{id}", tag = "admin",
    security(("bearer" = [])),
    params(("id" = i64, Path)),
    request_body = RoleBody,
    responses(
        (status = 200, body = RoleView),
        (status = 400, body = super::Problem),
        (status = 401, body = super::Problem),
        (status = 403, description = "Needs `role:update` on this role", body = super::Problem),
        (status = 404, body = super::Problem),
        (status = 409, description = "A built-in role, or the name is taken", body = super::Problem),
        (status = 422, body = super::Problem),
    )
)]
pub async fn update_role(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<RoleBody>,
) -> Result<axum::Json<RoleView>, ApiError> {
    let role = state
        .accounts
        .update_role(
            &Actor::from(&principal).with_client(&client),
            RoleId(id),
            body.parse()?,
        )
        .await?;
    Ok(axum::Json(role.into()))
}

/// Delete a custom role; its holders lose it.
#[utoipa::path(
    delete, path = "/auth/v1/admin/roles/{id}", tag = "admin",
    security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = super::Problem),
        (status = 403, description = "Needs `role:delete` on this role", body = super::Problem),
        (status = 404, body = super::Problem),
        (status = 409, description = "A built-in role", body = super::Problem),
    )
)]
pub async fn delete_role(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    state
        .accounts
        .delete_role(&Actor::from(&principal).with_client(&client), RoleId(id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

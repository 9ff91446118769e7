//! User administration handlers: `/auth/v1/admin/users...`.

use super::*;
use crate::http::auth::Credential;

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
    Credential(principal, _): Authenticated,
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
    Credential(principal, _): Authenticated,
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
    Credential(principal, _): Authenticated,
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
    Credential(principal, _): Authenticated,
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
    Credential(principal, _): Authenticated,
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
    Credential(principal, _): Authenticated,
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
    Credential(principal, _): Authenticated,
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
    Credential(principal, _): Authenticated,
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
    Credential(principal, _): Authenticated,
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
    Credential(principal, _): Authenticated,
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
    Credential(principal, _): Authenticated,
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
    Credential(principal, _): Authenticated,
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
    Credential(principal, _): Authenticated,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<Revoked>, ApiError> {
    let revoked = state
        .accounts
        .revoke_user_tokens(&Actor::from(&principal).with_client(&client), UserId(id))
        .await?;
    Ok(axum::Json(Revoked { revoked }))
}

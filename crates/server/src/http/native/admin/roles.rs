//! Role administration handlers: `/auth/v1/admin/roles...`.

use super::*;
use crate::http::auth::Credential;

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
    Credential(principal, _): Authenticated,
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
    Credential(principal, _): Authenticated,
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
    Credential(principal, _): Authenticated,
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
    Credential(principal, _): Authenticated,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    state
        .accounts
        .delete_role(&Actor::from(&principal).with_client(&client), RoleId(id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

//! Organisations (tenants; Glowmarkt's applications, Trieve's organisations) and their
//! members: `/auth/v1/orgs...`.
//!
//! Who may call what is decided by the core: anyone with the `user` role may create an
//! organisation and becomes its owner; members read it and its member list; its admins and
//! owners rename it and manage members (only owners make or unmake owners, and only owners
//! delete it); instance admins may do everything.

use accounts::access::{Membership, OrgId, OrgRole, Organization};
use accounts::{Actor, UserId};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::paging::{Page, PageQuery};
use super::{ApiError, ApiJson, ApiPath, Authenticated};
use crate::http::auth::Client;
use crate::http::auth::Credential;
use crate::http::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct OrgView {
    /// The organisation's id (Glowmarkt clients send it as `applicationId`).
    pub id: Uuid,
    pub name: String,
    #[serde(serialize_with = "super::timestamp::millis")]
    pub created_at: DateTime<Utc>,
    /// Its application flows mail the seed's 4-digit password-reset codes (a weaker
    /// setting an instance admin chooses); otherwise 8 digits, as everywhere.
    pub short_reset_codes: bool,
}

impl From<Organization> for OrgView {
    fn from(o: Organization) -> Self {
        Self {
            id: o.id.0,
            name: o.name,
            created_at: o.created_at,
            short_reset_codes: o.short_reset_codes,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShortResetCodes {
    pub enabled: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgName {
    /// 1 to 100 characters.
    pub name: String,
}

/// A member's role inside one organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrgRoleName {
    Owner,
    Admin,
    Member,
}

impl From<OrgRoleName> for OrgRole {
    fn from(r: OrgRoleName) -> Self {
        match r {
            OrgRoleName::Owner => Self::Owner,
            OrgRoleName::Admin => Self::Admin,
            OrgRoleName::Member => Self::Member,
        }
    }
}

impl From<OrgRole> for OrgRoleName {
    fn from(r: OrgRole) -> Self {
        match r {
            OrgRole::Owner => Self::Owner,
            OrgRole::Admin => Self::Admin,
            OrgRole::Member => Self::Member,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    pub user_id: Uuid,
    pub role: OrgRoleName,
    /// When they joined.
    #[serde(serialize_with = "super::timestamp::millis")]
    pub created_at: DateTime<Utc>,
}

impl From<Membership> for MemberView {
    fn from(m: Membership) -> Self {
        Self {
            user_id: m.user_id.0,
            role: m.role.into(),
            created_at: m.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberRole {
    pub role: OrgRoleName,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrgPage {
    /// At most `limit`, by id.
    pub organizations: Vec<OrgView>,
    /// The cursor of the next page, for `after`; `null` on the last page.
    pub next: Option<String>,
    /// The cursor of the previous page, for `before`; `null` on the first page.
    pub prev: Option<String>,
    /// How many organisations the caller may see in all.
    pub total: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberPage {
    /// At most `limit`, by user id.
    pub members: Vec<MemberView>,
    /// The cursor of the next page, for `after`; `null` on the last page.
    pub next: Option<String>,
    /// The cursor of the previous page, for `before`; `null` on the first page.
    pub prev: Option<String>,
    /// How many members the organisation has in all.
    pub total: u64,
}

/// The organisations the caller may see (all of them for instance admins, else their
/// own), by id, a page at a time.
#[utoipa::path(
    get, path = "/auth/v1/orgs", tag = "organizations",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, body = OrgPage),
        (status = 400, description = "`invalid_query`: `limit` outside 1 to 200, a cursor that is not one of this list, or both `after` and `before`", body = super::Problem),
        (status = 401, body = super::Problem),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(principal, _): Authenticated,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<axum::Json<OrgPage>, ApiError> {
    let Query(q) = query?;
    let request = q.request("orgs")?;
    let mut orgs = state
        .accounts
        .list_orgs(&Actor::from(&principal).with_client(&client))
        .await?;
    orgs.sort_by_key(|o| o.id.0);
    let total = orgs.len() as u64;
    let page = Page::of_all(orgs, |o| o.id.0, false, &request);
    let (next, prev) = page.cursors("orgs", |o| o.id.0.to_string());
    Ok(axum::Json(OrgPage {
        organizations: page.items.into_iter().map(Into::into).collect(),
        next,
        prev,
        total,
    }))
}

/// Create an organisation; the caller becomes its owner.
#[utoipa::path(
    post, path = "/auth/v1/orgs", tag = "organizations",
    security(("bearer" = [])),
    request_body = OrgName,
    responses(
        (status = 201, body = OrgView),
        (status = 400, body = super::Problem),
        (status = 401, body = super::Problem),
        (status = 403, description = "Needs `organization:create` (the `user` role has it)", body = super::Problem),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(principal, _): Authenticated,
    ApiJson(body): ApiJson<OrgName>,
) -> Result<Response, ApiError> {
    let org = state
        .accounts
        .create_org(&Actor::from(&principal).with_client(&client), &body.name)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(OrgView::from(org))).into_response())
}

/// One organisation.
#[utoipa::path(
    get, path = "/auth/v1/orgs/{id}", tag = "organizations",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = OrgView),
        (status = 401, body = super::Problem),
        (status = 403, description = "Not a member", body = super::Problem),
        (status = 404, body = super::Problem),
    )
)]
pub async fn get_one(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(principal, _): Authenticated,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<OrgView>, ApiError> {
    let org = state
        .accounts
        .org(&Actor::from(&principal).with_client(&client), OrgId(id))
        .await?;
    Ok(axum::Json(org.into()))
}

/// Choose the seed's 4-digit password-reset codes for an application's flows (Glowmarkt),
/// or go back to 8 digits. Weaker: 20 guesses a day find a targeted account's code with odds
/// of 1 in 500 (docs/security.md). Instance admins only.
#[utoipa::path(
    put, path = "/auth/v1/orgs/{id}/short-reset-codes", tag = "organizations",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = ShortResetCodes,
    responses(
        (status = 200, body = OrgView),
        (status = 401, body = super::Problem),
        (status = 403, description = "Needs `organization:update` on every organisation (an instance grant); the organisation's own owners cannot weaken its codes", body = super::Problem),
        (status = 404, body = super::Problem),
        (status = 422, body = super::Problem),
    )
)]
pub async fn set_short_reset_codes(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(principal, _): Authenticated,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ShortResetCodes>,
) -> Result<axum::Json<OrgView>, ApiError> {
    let org = state
        .accounts
        .set_org_short_reset_codes(
            &Actor::from(&principal).with_client(&client),
            OrgId(id),
            body.enabled,
        )
        .await?;
    Ok(axum::Json(org.into()))
}

/// Rename an organisation.
#[utoipa::path(
    patch, path = "/auth/v1/orgs/{id}", tag = "organizations",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = OrgName,
    responses(
        (status = 200, body = OrgView),
        (status = 400, body = super::Problem),
        (status = 401, body = super::Problem),
        (status = 403, description = "Not an admin or owner of it", body = super::Problem),
        (status = 404, body = super::Problem),
    )
)]
pub async fn rename(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(principal, _): Authenticated,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<OrgName>,
) -> Result<axum::Json<OrgView>, ApiError> {
    let org = state
        .accounts
        .rename_org(
            &Actor::from(&principal).with_client(&client),
            OrgId(id),
            &body.name,
        )
        .await?;
    Ok(axum::Json(org.into()))
}

/// Delete an organisation and its memberships; the members' accounts stay.
#[utoipa::path(
    delete, path = "/auth/v1/orgs/{id}", tag = "organizations",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = super::Problem),
        (status = 403, description = "Not an owner of it", body = super::Problem),
        (status = 404, body = super::Problem),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(principal, _): Authenticated,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state
        .accounts
        .delete_org(&Actor::from(&principal).with_client(&client), OrgId(id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The organisation's members and their roles, by user id, a page at a time.
#[utoipa::path(
    get, path = "/auth/v1/orgs/{id}/members", tag = "organizations",
    security(("bearer" = [])),
    params(("id" = Uuid, Path), PageQuery),
    responses(
        (status = 200, body = MemberPage),
        (status = 400, description = "`invalid_query`: `limit` outside 1 to 200, a cursor that is not one of this list, or both `after` and `before`", body = super::Problem),
        (status = 401, body = super::Problem),
        (status = 403, description = "Not a member", body = super::Problem),
        (status = 404, body = super::Problem),
    )
)]
pub async fn members(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(principal, _): Authenticated,
    ApiPath(id): ApiPath<Uuid>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<axum::Json<MemberPage>, ApiError> {
    let Query(q) = query?;
    let request = q.request("members")?;
    let mut members = state
        .accounts
        .org_members(&Actor::from(&principal).with_client(&client), OrgId(id))
        .await?;
    members.sort_by_key(|m| m.user_id.0);
    let total = members.len() as u64;
    let page = Page::of_all(members, |m| m.user_id.0, false, &request);
    let (next, prev) = page.cursors("members", |m| m.user_id.0.to_string());
    Ok(axum::Json(MemberPage {
        members: page.items.into_iter().map(Into::into).collect(),
        next,
        prev,
        total,
    }))
}

/// Add a member, or change their role.
#[utoipa::path(
    put, path = "/auth/v1/orgs/{id}/members/{user_id}", tag = "organizations",
    security(("bearer" = [])),
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)),
    request_body = MemberRole,
    responses(
        (status = 204, description = "The user holds the role"),
        (status = 401, body = super::Problem),
        (status = 403, description = "Not an admin of it; owners are made and unmade by owners only", body = super::Problem),
        (status = 404, description = "No such organisation or user", body = super::Problem),
        (status = 422, body = super::Problem),
    )
)]
pub async fn set_member(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(principal, _): Authenticated,
    ApiPath((id, user_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<MemberRole>,
) -> Result<StatusCode, ApiError> {
    state
        .accounts
        .set_member(
            &Actor::from(&principal).with_client(&client),
            OrgId(id),
            UserId(user_id),
            body.role.into(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a member (members may remove themselves: leave).
#[utoipa::path(
    delete, path = "/auth/v1/orgs/{id}/members/{user_id}", tag = "organizations",
    security(("bearer" = [])),
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = super::Problem),
        (status = 403, description = "Not an admin of it (owners only by owners)", body = super::Problem),
        (status = 404, description = "Not a member", body = super::Problem),
    )
)]
pub async fn remove_member(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(principal, _): Authenticated,
    ApiPath((id, user_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    state
        .accounts
        .remove_member(
            &Actor::from(&principal).with_client(&client),
            OrgId(id),
            UserId(user_id),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

//! The current user's API tokens: create, list, get, disable, enable, rotate, delete. Each
//! use case checks its `token:*` need on the caller's own account.

use accounts::service::ClientInfo;
use accounts::token::{ApiToken, TokenRef};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::paging::{CursorKey, Page, PageQuery};
use super::{ApiError, ApiJson, ApiPath, Authenticated};
use crate::http::auth::Client;
use crate::http::auth::Credential;
use crate::http::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    pub id: Uuid,
    pub name: String,
    /// Identifies the token without revealing it, e.g. `gh_AbC123...wxYZ`.
    pub masked: String,
    #[serde(serialize_with = "super::timestamp::millis")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "super::timestamp::millis_opt")]
    pub expires_at: Option<DateTime<Utc>>,
    pub disabled: bool,
    /// Whether the token is past its expiry.
    pub expired: bool,
    #[serde(serialize_with = "super::timestamp::millis_opt")]
    pub last_used_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "super::timestamp::millis_opt")]
    pub rotated_at: Option<DateTime<Utc>>,
}

impl TokenView {
    fn new(t: ApiToken, now: DateTime<Utc>) -> Self {
        Self {
            id: t.id.0,
            expired: t.expires_at.is_some_and(|at| at <= now),
            name: t.name,
            masked: t.mask,
            created_at: t.created_at,
            expires_at: t.expires_at,
            disabled: t.disabled,
            last_used_at: t.last_used_at,
            rotated_at: t.rotated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenCreated {
    /// The secret. Shown only in this response; store it now.
    pub token: String,
    #[serde(flatten)]
    pub info: TokenView,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// A label for the token (default `token`).
    pub name: Option<String>,
    /// Seconds until the token stops working; omit for no expiry.
    pub expires_in: Option<i64>,
}

fn token_ref(raw: &str) -> Result<TokenRef, ApiError> {
    TokenRef::parse(raw)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "token_not_found", "no such token"))
}

/// Create an API token.
#[utoipa::path(
    post, path = "/auth/v1/tokens", tag = "tokens",
    security(("bearer" = [])),
    request_body = CreateToken,
    responses(
        (status = 201, body = TokenCreated),
        (status = 400, body = super::Problem),
        (status = 401, body = super::Problem),
        (status = 403, description = "The caller's roles do not allow this on their own tokens", body = super::Problem),
        (status = 409, description = "The per-user token limit is reached", body = super::Problem),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(principal, _): Authenticated,
    ApiJson(body): ApiJson<CreateToken>,
) -> Result<Response, ApiError> {
    let (token, secret) = state
        .accounts
        .create_token(
            &principal.actor(&client),
            principal.user_id,
            body.name,
            body.expires_in,
        )
        .await?;
    let created = TokenCreated {
        token: secret.expose().to_owned(),
        info: TokenView::new(token, state.accounts.now()),
    };
    Ok((StatusCode::CREATED, axum::Json(created)).into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPage {
    /// At most `limit`, newest first.
    pub tokens: Vec<TokenView>,
    /// The cursor of the next (older) page, for `after`; `null` on the last page.
    pub next: Option<String>,
    /// The cursor of the previous (newer) page, for `before`; `null` on the first page.
    pub prev: Option<String>,
    /// How many tokens the caller has in all.
    pub total: u64,
}

/// The caller's API tokens (never their secrets), newest first, a page at a time.
#[utoipa::path(
    get, path = "/auth/v1/tokens", tag = "tokens",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, body = TokenPage),
        (status = 400, description = "`invalid_query`: `limit` outside 1 to 200, a cursor that is not one of this list, or both `after` and `before`", body = super::Problem),
        (status = 401, body = super::Problem),
        (status = 403, description = "The caller's roles do not allow this on their own tokens", body = super::Problem),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Credential(principal, _): Authenticated,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<axum::Json<TokenPage>, ApiError> {
    let Query(q) = query?;
    let request = q.request("tokens")?;
    let now = state.accounts.now();
    let mut tokens = state
        .accounts
        .list_tokens(&(&principal).into(), principal.user_id)
        .await?;
    let key = |t: &ApiToken| (t.created_at, t.id.0);
    tokens.sort_by_key(|t| std::cmp::Reverse(key(t)));
    let total = tokens.len() as u64;
    let page = Page::of_all(tokens, key, true, &request);
    let (next, prev) = page.cursors("tokens", |t| key(t).to_text());
    Ok(axum::Json(TokenPage {
        tokens: page
            .items
            .into_iter()
            .map(|t| TokenView::new(t, now))
            .collect(),
        next,
        prev,
        total,
    }))
}

/// One of the caller's tokens, by id or masked form.
#[utoipa::path(
    get, path = "/auth/v1/tokens/{id}", tag = "tokens",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Token id or masked form")),
    responses((status = 200, body = TokenView), (status = 401, body = super::Problem), (status = 403, description = "The caller's roles do not allow this on their own tokens", body = super::Problem), (status = 404, body = super::Problem))
)]
pub async fn get_one(
    State(state): State<AppState>,
    Credential(principal, _): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::Json<TokenView>, ApiError> {
    let token = state
        .accounts
        .token(&(&principal).into(), principal.user_id, &token_ref(&id)?)
        .await?;
    Ok(axum::Json(TokenView::new(token, state.accounts.now())))
}

async fn set_disabled(
    state: AppState,
    principal: accounts::Principal,
    id: String,
    disabled: bool,
    client: ClientInfo,
) -> Result<axum::Json<TokenView>, ApiError> {
    let token = state
        .accounts
        .set_token_disabled(
            &principal.actor(&client),
            principal.user_id,
            &token_ref(&id)?,
            disabled,
        )
        .await?;
    Ok(axum::Json(TokenView::new(token, state.accounts.now())))
}

/// Disable a token: it stops working at once and can be enabled again.
#[utoipa::path(
    post, path = "/auth/v1/tokens/{id}/disable", tag = "tokens",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Token id or masked form")),
    responses((status = 200, body = TokenView), (status = 401, body = super::Problem), (status = 403, description = "The caller's roles do not allow this on their own tokens", body = super::Problem), (status = 404, body = super::Problem))
)]
pub async fn disable(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(principal, _): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::Json<TokenView>, ApiError> {
    set_disabled(state, principal, id, true, client).await
}

/// Enable a disabled token.
#[utoipa::path(
    post, path = "/auth/v1/tokens/{id}/enable", tag = "tokens",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Token id or masked form")),
    responses((status = 200, body = TokenView), (status = 401, body = super::Problem), (status = 403, description = "The caller's roles do not allow this on their own tokens", body = super::Problem), (status = 404, body = super::Problem))
)]
pub async fn enable(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(principal, _): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::Json<TokenView>, ApiError> {
    set_disabled(state, principal, id, false, client).await
}

/// Rotate a token: a new secret for the same token; the old secret stops working.
#[utoipa::path(
    post, path = "/auth/v1/tokens/{id}/rotate", tag = "tokens",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Token id or masked form")),
    responses((status = 200, body = TokenCreated), (status = 401, body = super::Problem), (status = 403, description = "The caller's roles do not allow this on their own tokens", body = super::Problem), (status = 404, body = super::Problem))
)]
pub async fn rotate(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(principal, _): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::Json<TokenCreated>, ApiError> {
    let (token, secret) = state
        .accounts
        .rotate_token(
            &principal.actor(&client),
            principal.user_id,
            &token_ref(&id)?,
        )
        .await?;
    Ok(axum::Json(TokenCreated {
        token: secret.expose().to_owned(),
        info: TokenView::new(token, state.accounts.now()),
    }))
}

/// Delete a token for good.
#[utoipa::path(
    delete, path = "/auth/v1/tokens/{id}", tag = "tokens",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Token id or masked form")),
    responses((status = 204, description = "Deleted"), (status = 401, body = super::Problem), (status = 403, description = "The caller's roles do not allow this on their own tokens", body = super::Problem), (status = 404, body = super::Problem))
)]
pub async fn delete(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(principal, _): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state
        .accounts
        .delete_token(
            &principal.actor(&client),
            principal.user_id,
            &token_ref(&id)?,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

//! The caller's chunks: short text records they write (content, optional HTML, link,
//! metadata, tags, weight, tracking id). Create, list by pages of 10, delete. Rules and
//! access are the core's: handlers pass the caller as `Actor` and their own id as owner.

use accounts::content::{NewChunk, CHUNK_PAGE};
use accounts::files::FileId;
use accounts::store::ChunkRecord;
use accounts::Actor;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{ApiError, ApiJson, ApiPath, Authenticated};
use crate::http::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct ChunkView {
    pub id: Uuid,
    pub content: String,
    pub chunk_html: Option<String>,
    pub link: Option<String>,
    pub metadata: Option<serde_json::Value>,
    /// Comma-separated tags.
    pub tag_set: Option<String>,
    pub weight: f64,
    /// The author's own id for the chunk, unique among their chunks.
    pub tracking_id: Option<String>,
    /// One of the author's files the chunk is about.
    pub file_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ChunkRecord> for ChunkView {
    fn from(c: ChunkRecord) -> Self {
        Self {
            id: c.id,
            content: c.content,
            chunk_html: c.html,
            link: c.link,
            metadata: c.metadata,
            tag_set: c.tag_set,
            weight: c.weight,
            tracking_id: c.tracking_id,
            file_id: c.file_id.map(|f| f.0),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A new chunk. `content` (or `chunk_html`) must not be empty.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateChunk {
    /// Up to 65536 characters.
    pub content: String,
    pub chunk_html: Option<String>,
    pub link: Option<String>,
    /// Any JSON.
    pub metadata: Option<serde_json::Value>,
    pub tag_set: Option<String>,
    /// Default 1.0.
    pub weight: Option<f64>,
    /// Unique among the caller's chunks (409 `tracking_id_taken`).
    pub tracking_id: Option<String>,
    /// One of the caller's files.
    pub file_id: Option<Uuid>,
}

impl From<CreateChunk> for NewChunk {
    fn from(c: CreateChunk) -> Self {
        Self {
            content: c.content,
            html: c.chunk_html,
            link: c.link,
            metadata: c.metadata,
            tag_set: c.tag_set,
            weight: c.weight,
            tracking_id: c.tracking_id,
            file_id: c.file_id.map(FileId),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChunkQuery {
    /// 1-based (default 1); a page past the end is empty.
    pub page: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChunkPageView {
    /// At most 10, newest first.
    pub chunks: Vec<ChunkView>,
    /// How many chunks the caller has in all.
    pub total: u64,
    pub page: u64,
    /// Chunks per page (10).
    pub page_size: u32,
}

/// Write a chunk.
#[utoipa::path(
    post, path = "/auth/v1/chunks", tag = "chunks",
    security(("bearer" = [])),
    request_body = CreateChunk,
    responses(
        (status = 201, body = ChunkView),
        (status = 400, description = "A field breaks a rule (`field`), e.g. empty content or a `file_id` not the caller's", body = super::Problem),
        (status = 401, body = super::Problem),
        (status = 403, description = "The caller's roles do not include `chunk:create` on themselves", body = super::Problem),
        (status = 409, description = "`tracking_id_taken`", body = super::Problem),
        (status = 422, body = super::Problem),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<CreateChunk>,
) -> Result<Response, ApiError> {
    let chunk = state
        .accounts
        .create_chunk(&Actor::from(&principal), principal.user_id, body.into())
        .await?;
    Ok((StatusCode::CREATED, axum::Json(ChunkView::from(chunk))).into_response())
}

/// One page of the caller's chunks, 10 a page, newest first.
#[utoipa::path(
    get, path = "/auth/v1/chunks", tag = "chunks",
    security(("bearer" = [])),
    params(ChunkQuery),
    responses(
        (status = 200, body = ChunkPageView),
        (status = 400, description = "`invalid_query`, or `invalid_input` for page 0", body = super::Problem),
        (status = 401, body = super::Problem),
        (status = 403, description = "The caller's roles do not include `chunk:read` on themselves", body = super::Problem),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    query: Result<Query<ChunkQuery>, QueryRejection>,
) -> Result<axum::Json<ChunkPageView>, ApiError> {
    let Query(q) = query?;
    let page = q.page.unwrap_or(1);
    let found = state
        .accounts
        .list_chunks(&Actor::from(&principal), principal.user_id, page)
        .await?;
    Ok(axum::Json(ChunkPageView {
        chunks: found.chunks.into_iter().map(Into::into).collect(),
        total: found.total,
        page,
        page_size: CHUNK_PAGE,
    }))
}

/// Delete one of the caller's chunks.
#[utoipa::path(
    delete, path = "/auth/v1/chunks/{id}", tag = "chunks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = super::Problem),
        (status = 403, description = "The caller's roles do not include `chunk:delete` on themselves", body = super::Problem),
        (status = 404, description = "No such chunk of the caller's", body = super::Problem),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state
        .accounts
        .delete_chunk(&Actor::from(&principal), principal.user_id, id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

//! The caller's chunks: short text records they write (content, optional HTML, link,
//! metadata, tags, weight, tracking id). Create, list a page at a time, delete. Rules and
//! access are the core's: handlers pass the caller as `Actor` and their own id as owner.

use accounts::content::{ChunkPageRequest, NewChunk};
use accounts::files::FileId;
use accounts::store::{ChunkCursor, ChunkRecord};
use accounts::{Actor, ContentError};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::paging::{self, PageQuery};
use super::{ApiError, ApiJson, ApiPath, Authenticated};
use crate::http::auth::Credential;
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
    #[serde(serialize_with = "super::timestamp::millis")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "super::timestamp::millis")]
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

#[derive(Debug, Serialize, ToSchema)]
pub struct ChunkPageView {
    /// At most `limit`, newest first.
    pub chunks: Vec<ChunkView>,
    /// The cursor of the next (older) page, for `after`; `null` on the last page.
    pub next: Option<String>,
    /// The cursor of the previous (newer) page, for `before`; `null` on the first page.
    pub prev: Option<String>,
    /// How many chunks the caller has in all.
    pub total: u64,
}

/// The core's cursor from a page request's key text (as for files: `after` must name an
/// after-cursor and `before` a before-cursor).
fn chunk_cursor(from: paging::From<String>) -> Result<Option<ChunkCursor>, ApiError> {
    let (text, field) = match &from {
        paging::From::Start => return Ok(None),
        paging::From::After(text) => (text, "after"),
        paging::From::Before(text) => (text, "before"),
    };
    ChunkCursor::from_text(text)
        .filter(|cursor| matches!(cursor, ChunkCursor::After { .. }) == (field == "after"))
        .map(Some)
        .ok_or_else(|| {
            paging::invalid_query(
                field,
                format!("`{field}` is not a cursor of this list; pass `next` as `after` and `prev` as `before`, unchanged"),
            )
        })
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
    Credential(principal, _): Authenticated,
    ApiJson(body): ApiJson<CreateChunk>,
) -> Result<Response, ApiError> {
    let chunk = state
        .accounts
        .create_chunk(&Actor::from(&principal), principal.user_id, body.into())
        .await?;
    Ok((StatusCode::CREATED, axum::Json(ChunkView::from(chunk))).into_response())
}

/// The caller's chunks, newest first, a page at a time.
#[utoipa::path(
    get, path = "/auth/v1/chunks", tag = "chunks",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, body = ChunkPageView),
        (status = 400, description = "`invalid_query`: `limit` outside 1 to 200, a cursor that is not one of this list, or both `after` and `before`", body = super::Problem),
        (status = 401, body = super::Problem),
        (status = 403, description = "The caller's roles do not include `chunk:read` on themselves", body = super::Problem),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Credential(principal, _): Authenticated,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<axum::Json<ChunkPageView>, ApiError> {
    let Query(q) = query?;
    let request = q.request::<String>("chunks")?;
    let request = ChunkPageRequest {
        limit: request.limit,
        from: chunk_cursor(request.from)?,
    };
    let page = state
        .accounts
        .list_chunks_page(&Actor::from(&principal), principal.user_id, request)
        .await
        .map_err(|e| match e {
            ContentError::Invalid(i) => paging::invalid_query(i.field, i.to_string()),
            other => other.into(),
        })?;
    let encode = |cursor: &ChunkCursor| paging::encode("chunks", &cursor.to_text());
    Ok(axum::Json(ChunkPageView {
        chunks: page.chunks.into_iter().map(Into::into).collect(),
        next: page.next.as_ref().map(encode),
        prev: page.prev.as_ref().map(encode),
        total: page.total,
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
    Credential(principal, _): Authenticated,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state
        .accounts
        .delete_chunk(&Actor::from(&principal), principal.user_id, id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

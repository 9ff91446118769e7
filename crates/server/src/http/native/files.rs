//! The caller's files: upload (multipart), list, download, delete. The profile picture is
//! one of them (`purpose: "avatar"`). The size limit, the per-user quota and who may act on
//! whose files are the core's: each handler passes the caller as `Actor` and their own id
//! as the owner, so another user's file is simply not found.

use accounts::content::{FilePageRequest, Upload};
use accounts::files::FileId;
use accounts::store::{FileCursor, FileRecord};
use accounts::{Actor, ContentError};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Multipart, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::paging::{self, PageQuery};
use super::{ApiError, ApiMultipart, ApiPath, Authenticated};
use crate::http::auth::Client;
use crate::http::auth::Credential;
use crate::http::upload::multipart_error;
use crate::http::AppState;

/// Longest text part (`link`, `tag_set`, `metadata`) read from an upload; the core's own
/// limits are lower, this only stops a huge part from being buffered as text.
const MAX_TEXT_PART: usize = 64 * 1024;

#[derive(Debug, Serialize, ToSchema)]
pub struct FileView {
    pub id: Uuid,
    /// The name it was uploaded with (the last path component only).
    pub name: String,
    /// As the uploader declared it; `application/octet-stream` when they did not.
    pub content_type: String,
    /// Bytes.
    pub size: u64,
    /// `upload` for files uploaded here, `avatar` for the profile picture.
    pub purpose: String,
    pub link: Option<String>,
    /// Whatever JSON the uploader attached.
    pub metadata: Option<serde_json::Value>,
    /// Comma-separated tags.
    pub tag_set: Option<String>,
    #[serde(serialize_with = "super::timestamp::millis")]
    pub created_at: DateTime<Utc>,
}

impl From<FileRecord> for FileView {
    fn from(f: FileRecord) -> Self {
        Self {
            id: f.id.0,
            name: f.name,
            content_type: f.content_type,
            size: f.size,
            purpose: f.purpose,
            link: f.link,
            metadata: f.metadata,
            tag_set: f.tag_set,
            created_at: f.created_at,
        }
    }
}

#[derive(Debug, ToSchema)]
#[allow(dead_code)] // describes the multipart body for the OpenAPI document
pub struct FileUpload {
    /// The file; its part's filename and `Content-Type` are kept with it.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// A URL to keep with the file.
    link: Option<String>,
    /// Comma-separated tags.
    tag_set: Option<String>,
    /// JSON text, e.g. `{"source": "scanner"}`.
    metadata: Option<String>,
}

fn malformed(field: &str, detail: impl Into<String>) -> ApiError {
    ApiError {
        field: Some(field.to_owned()),
        ..ApiError::new(StatusCode::BAD_REQUEST, "malformed_body", detail)
    }
}

/// Reads the upload's parts: `file` (required) and the optional text parts. Unknown parts
/// are refused, like unknown keys in JSON bodies.
async fn read_upload(mut multipart: Multipart) -> Result<Upload, ApiError> {
    let mut file: Option<(String, Option<String>, Vec<u8>)> = None;
    let mut link = None;
    let mut tag_set = None;
    let mut metadata = None;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "file" => {
                let file_name = field.file_name().unwrap_or_default().to_owned();
                let content_type = field.content_type().map(str::to_owned);
                let bytes = field.bytes().await.map_err(multipart_error)?;
                file = Some((file_name, content_type, bytes.to_vec()));
            }
            "link" | "tag_set" | "metadata" => {
                let bytes = field.bytes().await.map_err(multipart_error)?;
                if bytes.len() > MAX_TEXT_PART {
                    return Err(ApiError {
                        field: Some(name),
                        ..ApiError::new(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "too_large",
                            format!("text parts hold at most {MAX_TEXT_PART} bytes"),
                        )
                    });
                }
                let text = String::from_utf8(bytes.to_vec())
                    .map_err(|_| malformed(&name, format!("`{name}` is not UTF-8 text")))?;
                match name.as_str() {
                    "link" => link = Some(text),
                    "tag_set" => tag_set = Some(text),
                    _ => {
                        let value = serde_json::from_str(&text).map_err(|e| {
                            malformed("metadata", format!("`metadata` is not JSON: {e}"))
                        })?;
                        metadata = Some(value);
                    }
                }
            }
            other => {
                return Err(ApiError {
                    field: Some(other.to_owned()),
                    ..ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "malformed_body",
                        format!(
                            "unknown part `{other}`: expected `file`, `link`, `tag_set`, `metadata`"
                        ),
                    )
                })
            }
        }
    }
    let Some((name, content_type, bytes)) = file else {
        return Err(malformed(
            "file",
            "send the file as the multipart/form-data part named `file`",
        ));
    };
    Ok(Upload {
        name,
        content_type,
        bytes,
        link,
        metadata,
        tag_set,
    })
}

/// Upload a file (multipart part `file`, with its filename and content type).
#[utoipa::path(
    post, path = "/auth/v1/files", tag = "files",
    security(("bearer" = [])),
    request_body(content = FileUpload, content_type = "multipart/form-data"),
    responses(
        (status = 201, body = FileView),
        (status = 400, description = "No `file` part, no filename, `metadata` not JSON, or a part breaks a rule (`field`)", body = super::Problem),
        (status = 401, body = super::Problem),
        (status = 403, description = "The caller's roles do not include `file:create` on themselves", body = super::Problem),
        (status = 409, description = "`quota_exceeded`: the caller's files would pass their quota", body = super::Problem),
        (status = 413, description = "`too_large`: larger than the configured limit", body = super::Problem),
        (status = 422, description = "An unknown part", body = super::Problem),
    )
)]
pub async fn upload(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(principal, _): Authenticated,
    ApiMultipart(multipart): ApiMultipart,
) -> Result<Response, ApiError> {
    let upload = read_upload(multipart).await?;
    let record = state
        .accounts
        .upload_file(&Actor::from(&principal), principal.user_id, upload, &client)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(FileView::from(record))).into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FilePageView {
    /// At most `limit`, newest first.
    pub files: Vec<FileView>,
    /// The cursor of the next (older) page, for `after`; `null` on the last page.
    pub next: Option<String>,
    /// The cursor of the previous (newer) page, for `before`; `null` on the first page.
    pub prev: Option<String>,
    /// How many files the caller has in all.
    pub total: u64,
}

/// The core's cursor from a page request's key text: `after` must name an after-cursor and
/// `before` a before-cursor; anything else is refused rather than silently restarting.
fn file_cursor(from: paging::From<String>) -> Result<Option<FileCursor>, ApiError> {
    let (text, field) = match &from {
        paging::From::Start => return Ok(None),
        paging::From::After(text) => (text, "after"),
        paging::From::Before(text) => (text, "before"),
    };
    FileCursor::from_text(text)
        .filter(|cursor| matches!(cursor, FileCursor::After { .. }) == (field == "after"))
        .map(Some)
        .ok_or_else(|| {
            paging::invalid_query(
                field,
                format!("`{field}` is not a cursor of this list; pass `next` as `after` and `prev` as `before`, unchanged"),
            )
        })
}

/// The caller's files, newest first (the profile picture included), a page at a time.
#[utoipa::path(
    get, path = "/auth/v1/files", tag = "files",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, body = FilePageView),
        (status = 400, description = "`invalid_query`: `limit` outside 1 to 200, a cursor that is not one of this list, or both `after` and `before`", body = super::Problem),
        (status = 401, body = super::Problem),
        (status = 403, description = "The caller's roles do not include `file:read` on themselves", body = super::Problem),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Credential(principal, _): Authenticated,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<axum::Json<FilePageView>, ApiError> {
    let Query(q) = query?;
    let request = q.request::<String>("files")?;
    let request = FilePageRequest {
        limit: Some(request.limit),
        from: file_cursor(request.from)?,
    };
    let page = state
        .accounts
        .list_files_page(&Actor::from(&principal), principal.user_id, request)
        .await
        .map_err(|e| match e {
            ContentError::Invalid(i) => paging::invalid_query(i.field, i.to_string()),
            other => other.into(),
        })?;
    let encode = |cursor: &FileCursor| paging::encode("files", &cursor.to_text());
    Ok(axum::Json(FilePageView {
        files: page.files.into_iter().map(Into::into).collect(),
        next: page.next.as_ref().map(encode),
        prev: page.prev.as_ref().map(encode),
        total: page.total,
    }))
}

/// Download one of the caller's files, as an attachment.
#[utoipa::path(
    get, path = "/auth/v1/files/{id}", tag = "files",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "The bytes, with the declared `Content-Type` and `Content-Disposition: attachment`", content_type = "application/octet-stream"),
        (status = 401, body = super::Problem),
        (status = 403, description = "The caller's roles do not include `file:read` on themselves", body = super::Problem),
        (status = 404, description = "No such file of the caller's (another user's is not found either)", body = super::Problem),
    )
)]
pub async fn download(
    State(state): State<AppState>,
    Credential(principal, _): Authenticated,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    let (record, bytes) = state
        .accounts
        .download_file(&Actor::from(&principal), principal.user_id, FileId(id))
        .await?;
    let content_type = HeaderValue::from_str(&record.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    let disposition = HeaderValue::from_str(&content_disposition(&record.name))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, disposition),
            // Uploaded bytes are the uploader's: never sniffed, never run as a page.
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; sandbox"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-cache"),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// Delete one of the caller's files (the profile picture too: the `picture` claim clears).
#[utoipa::path(
    delete, path = "/auth/v1/files/{id}", tag = "files",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = super::Problem),
        (status = 403, description = "The caller's roles do not include `file:delete` on themselves", body = super::Problem),
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
        .delete_file(
            &Actor::from(&principal),
            principal.user_id,
            FileId(id),
            &client,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `attachment; filename="<ASCII stand-in>"; filename*=UTF-8''<percent-encoded>` (RFC 6266):
/// old clients read the first, everyone else the exact name from the second.
fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| match c {
            '"' | '\\' => '_',
            c if c.is_ascii_graphic() || c == ' ' => c,
            _ => '_',
        })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for b in name.bytes() {
        // RFC 8187 attr-char.
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::content_disposition;

    #[test]
    fn content_disposition_quotes_and_encodes() {
        assert_eq!(
            content_disposition("report.pdf"),
            "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
        );
        assert_eq!(
            content_disposition("a \"b\"\\ü.txt"),
            "attachment; filename=\"a _b___.txt\"; filename*=UTF-8''a%20%22b%22%5C%C3%BC.txt"
        );
    }
}

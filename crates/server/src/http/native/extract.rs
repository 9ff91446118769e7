//! Extractors whose failures answer in the native API's problem shape.

use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::extract::{Multipart, Request};
use axum::http::{HeaderMap, StatusCode};

use super::ApiError;
use crate::http::auth::{bearer, Credential, SecretSource};

/// `axum::Json` with problem+json rejections (400 malformed, 415 wrong type, 413 too big).
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        let code = match status {
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::PAYLOAD_TOO_LARGE => "too_large",
            _ => "malformed_body",
        };
        ApiError::new(status, code, rejection.body_text())
    }
}

/// `axum::extract::Path` with problem+json rejections.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_path",
            rejection.body_text(),
        )
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            rejection.body_text(),
        )
    }
}

/// `axum::extract::Multipart` with a problem+json rejection (400 `malformed_body`) for a body
/// that is not `multipart/form-data` with a boundary.
#[derive(Debug)]
pub struct ApiMultipart(pub Multipart);

impl<S: Send + Sync> FromRequest<S> for ApiMultipart {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        Ok(Self(Multipart::from_request(request, state).await?))
    }
}

impl From<MultipartRejection> for ApiError {
    fn from(rejection: MultipartRejection) -> Self {
        ApiError::new(
            rejection.status(),
            "malformed_body",
            format!(
                "send multipart/form-data with a boundary ({})",
                rejection.body_text()
            ),
        )
    }
}

/// Where the native API finds the secret: `Authorization: Bearer` (a session or an API
/// token).
#[derive(Debug)]
pub struct BearerHeader;

impl SecretSource for BearerHeader {
    type Rejection = ApiError;

    fn secret(headers: &HeaderMap) -> &str {
        bearer(headers).unwrap_or_default()
    }
}

/// The caller of a native endpoint.
pub type Authenticated = Credential<BearerHeader>;

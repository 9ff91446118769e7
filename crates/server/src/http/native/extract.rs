//! Extractors whose failures answer in the native API's problem shape.

use accounts::Principal;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::extract::{Multipart, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;

use super::ApiError;
use crate::http::auth::{bearer, record_user};
use crate::http::AppState;

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

/// The caller, authenticated by `Authorization: Bearer` (a session or an API token).
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let secret = bearer(&parts.headers).unwrap_or_default();
        let principal = state.accounts.authenticate(secret).await?;
        record_user(&principal);
        Ok(Self(principal))
    }
}

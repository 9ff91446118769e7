//! The error the native API, the pages' JSON fallbacks and the connection layer answer with:
//! RFC 9457 problem details with a stable `code`. Every core error maps here; internal
//! failures are logged once, here, and never described to the caller. It lives beside the
//! surfaces rather than in `native` so that pages and dialects never import `native`.

use accounts::failure::Kind;
use accounts::{Failure, InvalidInput};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:gatehouse:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code, e.g. `invalid_credentials`.
    pub code: String,
    /// The request field the problem is about, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub field: Option<String>,
    /// Seconds, for `Retry-After` on 429.
    pub retry_after: Option<i64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            field: None,
            retry_after: None,
        }
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed; the failure is logged with this request's id",
        )
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn invalid(input: InvalidInput) -> Self {
        Self {
            field: Some(input.field.to_owned()),
            ..Self::new(StatusCode::BAD_REQUEST, "invalid_input", input.to_string())
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            kind: format!("urn:gatehouse:problem:{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code.to_owned(),
            field: self.field,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        response
    }
}

/// Implements `From` for every use-case error of the core, through its [`Failure`], for a
/// surface's error type that implements `From<Failure>`: a surface renders kinds once and
/// never matches on a use case's error enum.
macro_rules! renders_failures {
    ($surface:ty) => {
        $crate::http::problem::renders_failures!(
            $surface: accounts::AdminError, accounts::AuthError, accounts::ChangePasswordError,
            accounts::CodeError, accounts::ContentError, accounts::CreateUserError,
            accounts::FileStoreError, accounts::InvalidInput, accounts::LoginError,
            accounts::PasswordPolicyError, accounts::PictureError, accounts::ProfileError,
            accounts::ReauthError, accounts::SecondFactorError, accounts::SessionError,
            accounts::SignupError, accounts::StoreError, accounts::Throttled,
            accounts::TokenError, accounts::UserError
        );
    };
    ($surface:ty: $($error:ty),+) => {
        $(impl From<$error> for $surface {
            fn from(e: $error) -> Self {
                accounts::Failure::from(e).into()
            }
        })+
    };
}
pub(crate) use renders_failures;

renders_failures!(ApiError);

/// The status a kind answers with where a surface has no quirk of its own.
pub(crate) fn status_of(kind: Kind) -> StatusCode {
    match kind {
        Kind::Unauthenticated => StatusCode::UNAUTHORIZED,
        Kind::Forbidden => StatusCode::FORBIDDEN,
        Kind::NotFound => StatusCode::NOT_FOUND,
        Kind::Conflict => StatusCode::CONFLICT,
        Kind::Invalid | Kind::WeakPassword => StatusCode::BAD_REQUEST,
        Kind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Kind::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
        Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The native API's rendering: RFC 9457 with the failure's own code and field.
impl From<Failure> for ApiError {
    fn from(f: Failure) -> Self {
        let status = status_of(f.kind);
        let retry_after = match f.kind {
            Kind::Throttled(t) => Some(t.retry_after_seconds()),
            Kind::Unavailable => Some(crate::http::RETRY_AFTER_UNAVAILABLE_SECONDS),
            _ => None,
        };
        // A bearer credential that is missing or bad is one code; the detail says which.
        let (code, detail) = match f.code {
            "credential_missing" => (
                "unauthorized",
                "send `Authorization: Bearer <token>`".into(),
            ),
            "credential_invalid" => ("unauthorized", f.detail),
            code => (code, f.detail),
        };
        Self {
            status,
            code,
            detail,
            field: f.field.map(str::to_owned),
            retry_after,
        }
    }
}

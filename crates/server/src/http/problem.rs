//! The error the native API, the pages' JSON fallbacks and the connection layer answer with:
//! RFC 9457 problem details with a stable `code`. Every core error maps here; internal
//! failures are logged once, here, and never described to the caller. It lives beside the
//! surfaces rather than in `native` so that pages and dialects never import `native`.

use accounts::{
    AdminError, AuthError, ChangePasswordError, CodeError, ContentError, CreateUserError,
    FileStoreError, InvalidInput, LoginError, PasswordPolicyError, PictureError, ProfileError,
    ReauthError, SecondFactorError, SessionError, SignupError, StoreError, Throttled, TokenError,
    UserError,
};
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

    fn logged(error: &(dyn std::error::Error + 'static)) -> Self {
        if accounts::is_unavailable(error) {
            tracing::warn!(error = %error, "request failed: the database is unavailable");
            return Self {
                retry_after: Some(crate::http::RETRY_AFTER_UNAVAILABLE_SECONDS),
                ..Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the service is briefly unavailable (its database does not answer); \
                     try again after the Retry-After seconds",
                )
            };
        }
        tracing::error!(error = %error, "request failed");
        Self::internal()
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

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::logged(&e)
    }
}

impl From<FileStoreError> for ApiError {
    fn from(e: FileStoreError) -> Self {
        Self::logged(&e)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Missing => Self::unauthorized("send `Authorization: Bearer <token>`"),
            AuthError::Invalid => Self::unauthorized(e.to_string()),
            AuthError::Store(e) => e.into(),
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::InvalidCredentials => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                e.to_string(),
            ),
            LoginError::AccountDisabled => {
                Self::new(StatusCode::FORBIDDEN, "account_disabled", e.to_string())
            }
            LoginError::EmailNotVerified => {
                Self::new(StatusCode::FORBIDDEN, "email_not_verified", e.to_string())
            }
            // `login` answers a challenge (202, see `session::login`) before this is reached;
            // without one the password alone is refused.
            LoginError::SecondFactorRequired(_) => Self::new(
                StatusCode::UNAUTHORIZED,
                "second_factor_required",
                e.to_string(),
            ),
            // Wrong, replayed or expired code, or a challenge that is dead: one answer.
            LoginError::InvalidCode => Self {
                field: Some("code".into()),
                ..Self::new(StatusCode::BAD_REQUEST, "invalid_code", e.to_string())
            },
            LoginError::Throttled(t) => t.into(),
            LoginError::Store(e) => e.into(),
        }
    }
}

impl From<UserError> for ApiError {
    fn from(e: UserError) -> Self {
        match e {
            UserError::NotFound => {
                Self::new(StatusCode::NOT_FOUND, "user_not_found", e.to_string())
            }
            UserError::Password(p) => p.into(),
            UserError::Store(e) => e.into(),
        }
    }
}

impl From<CreateUserError> for ApiError {
    fn from(e: CreateUserError) -> Self {
        match e {
            CreateUserError::UsernameTaken | CreateUserError::EmailTaken => {
                Self::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            CreateUserError::Store(e) => e.into(),
        }
    }
}

impl From<ProfileError> for ApiError {
    fn from(e: ProfileError) -> Self {
        match e {
            ProfileError::Invalid(input) => Self::invalid(input),
            ProfileError::NotFound => {
                Self::new(StatusCode::NOT_FOUND, "user_not_found", e.to_string())
            }
            ProfileError::Store(e) => e.into(),
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::NotFound => {
                Self::new(StatusCode::NOT_FOUND, "token_not_found", e.to_string())
            }
            TokenError::Invalid(input) => Self::invalid(input),
            TokenError::TooMany { .. } => {
                Self::new(StatusCode::CONFLICT, "token_limit_reached", e.to_string())
            }
            TokenError::Store(e) => e.into(),
        }
    }
}

impl From<PictureError> for ApiError {
    fn from(e: PictureError) -> Self {
        match e {
            PictureError::TooLarge { .. } => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string())
            }
            PictureError::TooBigToDecode { .. } => Self {
                field: Some("file".into()),
                ..Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string())
            },
            PictureError::QuotaExceeded { .. } => Self {
                field: Some("file".into()),
                ..Self::new(StatusCode::CONFLICT, "quota_exceeded", e.to_string())
            },
            PictureError::NotAnImage | PictureError::TooManyPixels { .. } => Self {
                field: Some("file".into()),
                ..Self::new(StatusCode::BAD_REQUEST, "not_an_image", e.to_string())
            },
            PictureError::NotFound => {
                Self::new(StatusCode::NOT_FOUND, "user_not_found", e.to_string())
            }
            PictureError::Store(e) => e.into(),
            PictureError::Files(e) => e.into(),
        }
    }
}

impl From<Throttled> for ApiError {
    fn from(t: Throttled) -> Self {
        Self {
            retry_after: Some(t.retry_after_seconds()),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "throttled", t.to_string())
        }
    }
}

impl From<PasswordPolicyError> for ApiError {
    fn from(p: PasswordPolicyError) -> Self {
        Self {
            field: Some("password".into()),
            ..Self::new(StatusCode::BAD_REQUEST, "weak_password", p.to_string())
        }
    }
}

impl From<SignupError> for ApiError {
    fn from(e: SignupError) -> Self {
        match e {
            SignupError::Closed => Self::new(StatusCode::FORBIDDEN, "signup_closed", e.to_string()),
            SignupError::UnknownApplication => Self {
                field: Some("application".into()),
                ..Self::new(
                    StatusCode::BAD_REQUEST,
                    "unknown_application",
                    e.to_string(),
                )
            },
            SignupError::DomainNotAllowed => Self {
                field: Some("email".into()),
                ..Self::new(StatusCode::FORBIDDEN, "domain_not_allowed", e.to_string())
            },
            SignupError::Password(p) => p.into(),
            SignupError::Throttled(t) => t.into(),
            SignupError::Store(e) => e.into(),
        }
    }
}

impl From<CodeError> for ApiError {
    fn from(e: CodeError) -> Self {
        match e {
            CodeError::Invalid => Self::new(StatusCode::BAD_REQUEST, "invalid_code", e.to_string()),
            CodeError::Password(p) => p.into(),
            CodeError::Throttled(t) => t.into(),
            CodeError::Store(e) => e.into(),
        }
    }
}

impl From<ChangePasswordError> for ApiError {
    fn from(e: ChangePasswordError) -> Self {
        match e {
            ChangePasswordError::WrongPassword => Self {
                field: Some("current_password".into()),
                ..Self::new(StatusCode::BAD_REQUEST, "wrong_password", e.to_string())
            },
            ChangePasswordError::Password(p) => Self {
                field: Some("new_password".into()),
                ..p.into()
            },
            ChangePasswordError::Throttled(t) => t.into(),
            ChangePasswordError::Store(e) => e.into(),
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::NotFound => {
                Self::new(StatusCode::NOT_FOUND, "session_not_found", e.to_string())
            }
            SessionError::Store(e) => e.into(),
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Forbidden => Self::new(StatusCode::FORBIDDEN, "forbidden", e.to_string()),
            AdminError::NotFound => Self::new(StatusCode::NOT_FOUND, "not_found", e.to_string()),
            AdminError::Invalid(i) => Self::invalid(i),
            AdminError::Password(p) => p.into(),
            AdminError::LastOwner => Self::new(StatusCode::CONFLICT, "last_owner", e.to_string()),
            AdminError::UsernameTaken => Self {
                field: Some("username".into()),
                ..Self::new(StatusCode::CONFLICT, "username_taken", e.to_string())
            },
            AdminError::EmailTaken => Self {
                field: Some("email".into()),
                ..Self::new(StatusCode::CONFLICT, "email_taken", e.to_string())
            },
            AdminError::RoleNameTaken => Self {
                field: Some("name".into()),
                ..Self::new(StatusCode::CONFLICT, "role_name_taken", e.to_string())
            },
            AdminError::BuiltinRole => {
                Self::new(StatusCode::CONFLICT, "builtin_role", e.to_string())
            }
            AdminError::Store(e) => e.into(),
        }
    }
}

impl From<SecondFactorError> for ApiError {
    fn from(e: SecondFactorError) -> Self {
        match e {
            SecondFactorError::AlreadyEnabled => {
                Self::new(StatusCode::CONFLICT, "second_factor_enabled", e.to_string())
            }
            SecondFactorError::NotEnabled => Self::new(
                StatusCode::CONFLICT,
                "second_factor_not_enabled",
                e.to_string(),
            ),
            SecondFactorError::NotPending => {
                Self::new(StatusCode::CONFLICT, "no_enrolment_pending", e.to_string())
            }
            SecondFactorError::InvalidCode => Self {
                field: Some("code".into()),
                ..Self::new(StatusCode::BAD_REQUEST, "invalid_code", e.to_string())
            },
            SecondFactorError::SessionRequired => {
                Self::new(StatusCode::FORBIDDEN, "session_required", e.to_string())
            }
            SecondFactorError::ReauthenticationRequired => Self::new(
                StatusCode::FORBIDDEN,
                "reauthentication_required",
                e.to_string(),
            ),
            SecondFactorError::Throttled(t) => t.into(),
            SecondFactorError::Store(e) => e.into(),
        }
    }
}

impl From<ReauthError> for ApiError {
    fn from(e: ReauthError) -> Self {
        match e {
            ReauthError::NotASession => {
                Self::new(StatusCode::BAD_REQUEST, "not_a_session", e.to_string())
            }
            ReauthError::WrongProof => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                e.to_string(),
            ),
            ReauthError::Throttled(t) => t.into(),
            ReauthError::Store(e) => e.into(),
        }
    }
}

impl From<ContentError> for ApiError {
    fn from(e: ContentError) -> Self {
        match e {
            ContentError::Forbidden => Self::new(StatusCode::FORBIDDEN, "forbidden", e.to_string()),
            ContentError::NotFound => Self::new(StatusCode::NOT_FOUND, "not_found", e.to_string()),
            ContentError::Invalid(i) => Self::invalid(i),
            ContentError::TooLarge { .. } => Self {
                field: Some("file".into()),
                ..Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string())
            },
            // 409, not 413: the same upload succeeds once other files are deleted.
            ContentError::QuotaExceeded { .. } => Self {
                field: Some("file".into()),
                ..Self::new(StatusCode::CONFLICT, "quota_exceeded", e.to_string())
            },
            ContentError::TooManyFiles { .. } => Self {
                field: Some("file".into()),
                ..Self::new(StatusCode::CONFLICT, "too_many_files", e.to_string())
            },
            ContentError::TooManyChunks { .. } => {
                Self::new(StatusCode::CONFLICT, "too_many_chunks", e.to_string())
            }
            ContentError::TrackingIdTaken => Self {
                field: Some("tracking_id".into()),
                ..Self::new(StatusCode::CONFLICT, "tracking_id_taken", e.to_string())
            },
            ContentError::Store(e) => e.into(),
            ContentError::Files(e) => e.into(),
        }
    }
}

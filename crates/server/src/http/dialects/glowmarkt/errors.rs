//! Glowmarkt's errors: `{"error"}` bodies and statuses, rendered from `Failure`.

use super::*;

/// Glowmarkt's error: a status and `{"error": "<text>"}` (`Retry-After` on 429).
#[derive(Debug)]
pub struct GlowmarktError {
    pub(super) status: StatusCode,
    message: String,
    retry_after: Option<i64>,
}

#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

impl GlowmarktError {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Glowmarkt's `MissingElementsError` / `IncorrectElementsError`.
    pub(super) fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// Glowmarkt's `AccessDeniedError`.
    pub(super) fn denied(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    pub(super) fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "user not found")
    }

    pub(super) fn missing(field: &str) -> Self {
        Self::bad(format!("missing element: {field}"))
    }
}

impl IntoResponse for GlowmarktError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(ErrorBody {
                error: &self.message,
            }),
        )
            .into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        response
    }
}

renders_failures!(GlowmarktError);

/// Glowmarkt's rendering: its `AccessDeniedError` (401) for every refused caller, 400 for
/// every refusal of input, plus its quirks.
impl From<Failure> for GlowmarktError {
    fn from(f: Failure) -> Self {
        let retry_after = f.wait().map(|t| t.retry_after_seconds());
        let error = match (f.kind, f.code) {
            // Glowmarkt's auth has no second step: the password alone never opens an account
            // with a second factor (its challenge, if one was issued, just expires).
            (_, "second_factor_required") => Self::denied(
                "this account needs its one-time code: use a client that supports two-factor \
                 sign-in (POST /auth/v1/login)",
            ),
            (_, "invalid_code") => Self::bad("the token is invalid or has expired"),
            (_, "unknown_application") => Self::bad("unknown applicationId"),
            (_, "signup_closed") => Self::new(StatusCode::FORBIDDEN, f.detail),
            (_, "domain_not_allowed") => Self::bad(f.detail),
            (_, "forbidden") => Self::denied("access denied"),
            // An ended session is a credential that no longer works.
            (_, "session_not_found") => Self::denied(AuthError::Invalid.to_string()),
            (_, "token_not_found") => Self::denied(f.detail),
            (Kind::Unauthenticated | Kind::Forbidden, _) => Self::denied(f.detail),
            (Kind::NotFound, _) => Self::not_found(),
            (Kind::Throttled(_) | Kind::TooLarge, _) => Self::new(status_of(f.kind), f.detail),
            (Kind::Unavailable, _) => Self::new(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
            (Kind::Internal, _) => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; it is logged with this request's id",
            ),
            (Kind::Conflict | Kind::Invalid | Kind::WeakPassword, _) => Self::bad(f.detail),
        };
        Self {
            retry_after,
            ..error
        }
    }
}

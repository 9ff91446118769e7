//! Alsid's errors: bodies and statuses, rendered from `Failure`.

use super::*;

/// Alsid's error: a status and `{"error": <stable code>, "message": <text>}`. The clients
/// ignore error bodies; the code is for people and scripts reading them.
#[derive(Debug)]
pub struct AlsidError {
    pub(super) status: StatusCode,
    pub(super) code: &'static str,
    pub(super) message: String,
    /// Seconds, for `Retry-After` on 429.
    retry_after: Option<i64>,
}

#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
}

impl AlsidError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub(super) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub(super) fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such user")
    }
}

impl IntoResponse for AlsidError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code,
            message: &self.message,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        response
    }
}

renders_failures!(AlsidError);

/// Alsid's rendering: the failure's kind and stable code, plus its quirks.
impl From<Failure> for AlsidError {
    fn from(f: Failure) -> Self {
        let status = status_of(f.kind);
        let retry_after = f.wait().map(|t| t.retry_after_seconds());
        let (code, message) = match f.code {
            "credential_missing" => ("unauthorized", "send the `x-api-key` header".into()),
            "credential_invalid" => ("unauthorized", f.detail),
            // Alsid's login has no second step: the password alone never opens an account
            // with a second factor (its challenge, if one was issued, just expires).
            "second_factor_required" => (
                "second_factor_required",
                "this account needs its one-time code: use a client that supports \
                 two-factor sign-in (POST /auth/v1/login)"
                    .into(),
            ),
            // The code of a password-reset mail.
            "invalid_code" => ("invalid_token", f.detail),
            "unavailable" => ("unavailable", UNAVAILABLE.into()),
            code => (code, f.detail),
        };
        Self {
            status,
            code,
            message,
            retry_after,
        }
    }
}

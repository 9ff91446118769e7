//! Trieve's errors: `{"message"}` bodies and statuses, rendered from `Failure`.

use super::*;

/// Trieve's `DefaultError`: a status and `{"message": "<text>"}`.
#[derive(Debug)]
pub struct TrieveError {
    pub(super) status: StatusCode,
    pub(super) message: String,
}

#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    message: &'a str,
}

impl TrieveError {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub(super) fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    pub(super) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    pub(super) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

impl IntoResponse for TrieveError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            message: &self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

renders_failures!(TrieveError);

/// Trieve's rendering: its `DefaultError` with the kind's status, 400 for every refusal of
/// input (a taken name included), plus its quirks.
impl From<Failure> for TrieveError {
    fn from(f: Failure) -> Self {
        match (f.kind, f.code) {
            (_, "credential_missing") => {
                Self::unauthorized("send the API key as the Authorization header")
            }
            (_, "token_not_found") => Self::not_found("no such API key"),
            (Kind::Unavailable, _) => Self::new(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
            (Kind::Internal, _) => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; it is logged with this request's id",
            ),
            (Kind::Conflict | Kind::Invalid | Kind::WeakPassword | Kind::TooLarge, _) => {
                Self::bad(f.detail)
            }
            (kind, _) => Self::new(status_of(kind), f.detail),
        }
    }
}

//! Cloudsmith's errors: `{"detail"}` bodies and statuses, rendered from `Failure`.

use super::*;

/// Cloudsmith's error: a status and `{"detail": <text>}`, with `"fields": {name: [text]}`
/// for bad input (the CLI prints both), and `Retry-After` on 429.
#[derive(Debug)]
pub struct CloudsmithError {
    pub(super) status: StatusCode,
    pub(super) detail: String,
    pub(super) fields: Option<BTreeMap<String, Vec<String>>>,
    retry_after: Option<i64>,
}

#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<&'a BTreeMap<String, Vec<String>>>,
}

impl CloudsmithError {
    pub(super) fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            fields: None,
            retry_after: None,
        }
    }

    pub(super) fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }

    pub(super) fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found.")
    }

    pub(super) fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 400 with one message per offending field.
    pub(super) fn invalid(fields: BTreeMap<String, Vec<String>>) -> Self {
        Self {
            fields: Some(fields),
            ..Self::bad_request("Invalid input.")
        }
    }

    pub(super) fn field(name: &str, message: &str) -> Self {
        Self::invalid(BTreeMap::from([(
            name.to_owned(),
            vec![message.to_owned()],
        )]))
    }

    pub(super) fn no_credentials() -> Self {
        Self::unauthorized(
            "Authentication credentials were not provided: send an API key in X-Api-Key, \
             or HTTP basic credentials.",
        )
    }
}

impl IntoResponse for CloudsmithError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            detail: &self.detail,
            fields: self.fields.as_ref(),
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

renders_failures!(CloudsmithError);

/// Cloudsmith's rendering: Django REST framework's sentences where the CLI knows them, 400
/// for every refusal of input, plus its quirks.
impl From<Failure> for CloudsmithError {
    fn from(f: Failure) -> Self {
        let wait = f.wait();
        let error = match (f.kind, f.code) {
            (Kind::Throttled(t), _) => {
                let seconds = t.retry_after_seconds();
                Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("Request was throttled. Expected available in {seconds} seconds."),
                )
            }
            (_, "credential_missing") => Self::no_credentials(),
            (_, "credential_invalid") => {
                Self::unauthorized("Invalid API key: it is unknown, expired or revoked.")
            }
            (_, "invalid_credentials") => Self::unauthorized("Invalid email/password."),
            (_, "account_disabled") => Self::unauthorized("User inactive or deleted."),
            (_, "email_not_verified") => {
                Self::unauthorized("The e-mail address is not verified yet.")
            }
            // Only reached where a password alone was offered as the credential (HTTP
            // basic): `POST /user/token/` answers the challenge itself.
            (_, "second_factor_required") => Self::unauthorized(
                "This account uses two-factor authentication, so a password alone is not \
                 enough: send an API key in X-Api-Key (POST /user/token/ issues one).",
            ),
            // 400 on the field, not 401: the CLI's hint for a 401 on login blames the
            // password, which was right.
            (_, "invalid_code") => Self {
                detail: "Invalid two-factor code.".into(),
                ..Self::field(
                    "totp_token",
                    "The code is wrong or already used, or the sign-in attempt has expired \
                     (log in again).",
                )
            },
            (_, "token_limit_reached") => Self::bad_request(format!(
                "{}; delete one through another Gatehouse surface (e.g. DELETE \
                 /auth/v1/tokens/{{id}}).",
                f.detail
            )),
            (Kind::Forbidden, _) => Self::new(
                StatusCode::FORBIDDEN,
                "You do not have permission to perform this action.",
            ),
            (Kind::NotFound, _) => Self::not_found(),
            (Kind::Unavailable, _) => Self::new(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
            (Kind::Internal, _) => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "A server error occurred; it is logged with this request's id.",
            ),
            (Kind::TooLarge, _) => Self::new(StatusCode::PAYLOAD_TOO_LARGE, f.detail),
            _ => Self::bad_request(f.detail),
        };
        Self {
            retry_after: wait.map(|t| t.retry_after_seconds()),
            ..error
        }
    }
}

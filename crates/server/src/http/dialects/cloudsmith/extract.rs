//! Cloudsmith's request extraction: the `X-Api-Key` or basic caller, token requests,
//! paging.

use super::*;
use crate::http::auth::authenticated;

/// The caller, if the request carries a credential: `X-Api-Key` (an API token or session
/// secret) or HTTP basic (username or e-mail and password, checked on this request). When
/// both are sent the key is used. An invalid credential is 401 even where anonymous
/// callers are welcome.
#[derive(Debug)]
pub struct MaybeCaller(pub(super) Option<Caller>);

/// An authenticated caller: the actor the core checks, and whose account it is.
#[derive(Debug)]
pub struct Caller {
    pub(super) actor: Actor,
    pub(super) user: UserId,
}

impl FromRequestParts<AppState> for MaybeCaller {
    type Rejection = CloudsmithError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, CloudsmithError> {
        let key = parts
            .headers
            .get(API_KEY_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .unwrap_or_default()
            .to_owned();
        let Client(client) = Client::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|never| match never {});
        if !key.is_empty() {
            let principal = authenticated(state, &key).await?;
            return Ok(Self(Some(Caller {
                user: principal.user_id,
                actor: Actor::from(&principal).with_client(&client),
            })));
        }
        let Some(credentials) = basic(&parts.headers) else {
            return Ok(Self(None));
        };
        let (login, password) = credentials.ok_or_else(|| {
            CloudsmithError::unauthorized(
                "Invalid basic header: the credentials are not base64-encoded `login:password`.",
            )
        })?;
        let user = state
            .accounts
            .verify_credentials(&login, &Password::for_login(password), &client)
            .await?;
        crate::http::access::note_user(user.id);
        Ok(Self(Some(Caller {
            actor: Actor::user(user.id).with_client(&client),
            user: user.id,
        })))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = CloudsmithError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, CloudsmithError> {
        MaybeCaller::from_request_parts(parts, state)
            .await?
            .0
            .ok_or_else(CloudsmithError::no_credentials)
    }
}

/// A request body that is read (so the connection can be reused) and ignored: the SDK
/// sends `{}` on bodyless POST and PUT, the CLI nothing at all.
#[derive(Debug)]
pub struct Ignored;

impl<S: Send + Sync> FromRequest<S> for Ignored {
    type Rejection = CloudsmithError;

    async fn from_request(req: Request, state: &S) -> Result<Self, CloudsmithError> {
        Bytes::from_request(req, state)
            .await
            .map_err(|r| CloudsmithError::new(r.status(), r.body_text()))?;
        Ok(Self)
    }
}

/// `UserAuthTokenRequest`, plus the `two_factor_token` the CLI sends back after a 422.
/// Read whatever the `Content-Type`; an empty body is `{}`; unknown keys are ignored;
/// `null` is the same as a missing key; a blank or non-string value is a field error.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TokenRequest {
    pub(super) email: Option<String>,
    pub(super) password: Option<String>,
    pub(super) totp_token: Option<String>,
    pub(super) two_factor_token: Option<String>,
}

impl TokenRequest {
    pub(super) fn parse(bytes: &[u8]) -> Result<Self, CloudsmithError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| CloudsmithError::bad_request(format!("JSON parse error - {e}")))?;
        let Value::Object(mut object) = value else {
            return Err(CloudsmithError::bad_request(format!(
                "Invalid data. Expected a dictionary, but got {}.",
                json_type(&value)
            )));
        };
        let mut errors = BTreeMap::new();
        let mut take = |name: &str| match object.remove(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => {
                errors.insert(name.to_owned(), vec!["This field may not be blank.".into()]);
                None
            }
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                errors.insert(name.to_owned(), vec!["Not a valid string.".into()]);
                None
            }
        };
        let request = Self {
            email: take("email"),
            password: take("password"),
            totp_token: take("totp_token"),
            two_factor_token: take("two_factor_token"),
        };
        if errors.is_empty() {
            Ok(request)
        } else {
            Err(CloudsmithError::invalid(errors))
        }
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

impl<S: Send + Sync> FromRequest<S> for TokenRequest {
    type Rejection = CloudsmithError;

    async fn from_request(req: Request, state: &S) -> Result<Self, CloudsmithError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|r| CloudsmithError::new(r.status(), r.body_text()))?;
        Self::parse(&bytes)
    }
}

/// `?page=&page_size=`, read leniently: a `page` that is not a positive number is
/// "Invalid page." (404, as Django REST framework answers); a bad `page_size` is ignored.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    pub(super) page: Option<String>,
    pub(super) page_size: Option<String>,
}

/// The path prefix a request came in under (`/v1`, ``, `/v1/` or `/`), for the URLs an
/// answer carries.
pub(super) fn prefix_of<'a>(matched: &'a MatchedPath, route: &str) -> &'a str {
    matched.as_str().strip_suffix(route).unwrap_or_default()
}

pub(super) fn public_url(state: &AppState, prefix: &str, path: &str) -> String {
    let base = state.accounts.config().public_url.trim_end_matches('/');
    format!("{base}{prefix}{path}")
}

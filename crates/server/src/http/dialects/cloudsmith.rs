//! Cloudsmith `UserApi` (cloudsmith-api 2.0.x; cloudsmith-cli 1.30.0) at `/v1/user/...` and
//! the same paths without `/v1`.
//!
//! Wire facts and mapping decisions are in `docs/cloudsmith.md`. In short: the credential is
//! the `X-Api-Key` header (any Gatehouse API token or session secret) or HTTP basic (username
//! or e-mail and password, refused for accounts with a second factor); paths end in `/`
//! exactly as the clients send them; errors are `{"detail": <text>}` (plus `"fields"` for
//! bad input); `POST /user/token/` trades a password (and, for accounts with TOTP, a code
//! after a 422 challenge) for a new API token named [`KEY_NAME`]. Bodies are read whatever
//! their `Content-Type`; an empty body is `{}`. No `X-RateLimit-*` header is ever sent (the
//! CLI sleeps for `X-RateLimit-Interval`). This module only maps shapes: who may do what is
//! decided by the core calls each handler makes.

use crate::http::dialects::UNAVAILABLE;
use std::collections::BTreeMap;

use accounts::token::{ApiToken, TokenRef};
use accounts::{Actor, ClientInfo, LoginError, LoginSession, Password, UserId};
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::auth::{basic, record_user, Client};
use crate::http::problem::renders_failures;
use crate::http::AppState;
use accounts::failure::Kind;
use accounts::Failure;

/// The header holding the key (header names are case-insensitive).
pub const API_KEY_HEADER: &str = "x-api-key";

/// The name of the API tokens this surface creates: `POST /user/token/` makes a new one per
/// login, `POST /user/tokens/` makes one only while the user holds no usable token of this
/// name (Cloudsmith's one-key-per-user rule).
pub const KEY_NAME: &str = "cloudsmith";

/// The text the CLI looks for (`User has already created an API key`) to offer a refresh.
pub const ALREADY_CREATED: &str = "User has already created an API key for this user.";

/// `GET /user/tokens/` without `page_size`.
pub const DEFAULT_PAGE_SIZE: usize = 30;
/// The largest `page_size` honoured; larger values are cut to it.
pub const MAX_PAGE_SIZE: usize = 100;

/// The prefixes every route is mounted under. The SDK's default host is the bare origin
/// (no `/v1`); a host written with a trailing slash makes the client double it
/// (`/v1//user/self/`, `//user/self/`), which is answered too.
const PREFIXES: [&str; 4] = ["/v1", "", "/v1/", "/"];

/// The routes under every prefix, each with the permission the core checks for it.
pub fn routes(_state: &AppState) -> Router<AppState> {
    PREFIXES.into_iter().fold(Router::new(), mount)
}

fn mount(router: Router<AppState>, prefix: &str) -> Router<AppState> {
    let at = |path: &str| format!("{prefix}{path}");
    router
        // anyone; `user:read` on oneself when a credential is sent (core `get_user`)
        .route(&at("/user/self/"), get(user_self))
        // none: the password (and code) are the proof; then `token:create` on the account
        // (core `trade_session_for_token`)
        .route(&at("/user/token/"), post(user_token_create))
        // GET: `token:read`; POST: `token:create`, on oneself (core `list_tokens`,
        // `create_token`)
        .route(
            &at("/user/tokens/"),
            get(user_tokens_list).post(user_tokens_create),
        )
        // `token:update` on oneself (core `rotate_token`)
        .route(
            &at("/user/tokens/{slug_perm}/refresh/"),
            put(user_tokens_refresh),
        )
}

// ------------------------------------------------------------------ errors

/// Cloudsmith's error: a status and `{"detail": <text>}`, with `"fields": {name: [text]}`
/// for bad input (the CLI prints both), and `Retry-After` on 429.
#[derive(Debug)]
pub struct CloudsmithError {
    status: StatusCode,
    detail: String,
    fields: Option<BTreeMap<String, Vec<String>>>,
    retry_after: Option<i64>,
}

#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<&'a BTreeMap<String, Vec<String>>>,
}

impl CloudsmithError {
    fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            fields: None,
            retry_after: None,
        }
    }

    fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }

    fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found.")
    }

    fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 400 with one message per offending field.
    fn invalid(fields: BTreeMap<String, Vec<String>>) -> Self {
        Self {
            fields: Some(fields),
            ..Self::bad_request("Invalid input.")
        }
    }

    fn field(name: &str, message: &str) -> Self {
        Self::invalid(BTreeMap::from([(
            name.to_owned(),
            vec![message.to_owned()],
        )]))
    }

    fn no_credentials() -> Self {
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

// ------------------------------------------------------------------ extraction

/// The caller, if the request carries a credential: `X-Api-Key` (an API token or session
/// secret) or HTTP basic (username or e-mail and password, checked on this request). When
/// both are sent the key is used. An invalid credential is 401 even where anonymous
/// callers are welcome.
#[derive(Debug)]
pub struct MaybeCaller(Option<Caller>);

/// An authenticated caller: the actor the core checks, and whose account it is.
#[derive(Debug)]
pub struct Caller {
    actor: Actor,
    user: UserId,
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
            let principal = state.accounts.authenticate(&key).await?;
            record_user(&principal);
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
    email: Option<String>,
    password: Option<String>,
    totp_token: Option<String>,
    two_factor_token: Option<String>,
}

impl TokenRequest {
    fn parse(bytes: &[u8]) -> Result<Self, CloudsmithError> {
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
    page: Option<String>,
    page_size: Option<String>,
}

/// The path prefix a request came in under (`/v1`, ``, `/v1/` or `/`), for the URLs an
/// answer carries.
fn prefix_of<'a>(matched: &'a MatchedPath, route: &str) -> &'a str {
    matched.as_str().strip_suffix(route).unwrap_or_default()
}

fn public_url(state: &AppState, prefix: &str, path: &str) -> String {
    let base = state.accounts.config().public_url.trim_end_matches('/');
    format!("{base}{prefix}{path}")
}

// ------------------------------------------------------------------ wire shapes

/// `UserBrief`. Anonymous callers get `authenticated: false` and `null` everywhere else.
#[derive(Debug, Default, Serialize)]
pub struct UserBrief {
    authenticated: bool,
    email: Option<String>,
    /// Never `""` (the SDK rejects it): the profile's name, or the username.
    name: Option<String>,
    /// The profile's `profile` URL (OIDC), when the user set one.
    profile_url: Option<String>,
    /// This resource, under the prefix the caller used.
    self_url: Option<String>,
    /// The username.
    slug: Option<String>,
    /// The user id without dashes: never changes, even when the username does.
    slug_perm: Option<String>,
}

/// `UserAuthToken`.
#[derive(Debug, Serialize)]
pub struct UserAuthToken {
    token: String,
}

/// The 422 answer of `POST /user/token/` for an account with a second factor.
#[derive(Debug, Serialize)]
pub struct TwoFactorRequired {
    detail: &'static str,
    two_factor_required: bool,
    two_factor_token: String,
}

/// `UserAuthenticationToken`: `key` is the full secret only in the answer that creates or
/// refreshes it, masked everywhere else.
#[derive(Debug, Serialize)]
pub struct UserAuthenticationToken {
    /// When the current secret was made (the last refresh, or the creation).
    created: String,
    key: String,
    /// The token id without dashes.
    slug_perm: String,
}

impl UserAuthenticationToken {
    fn new(token: &ApiToken, key: String) -> Self {
        let created = token.rotated_at.unwrap_or(token.created_at);
        Self {
            created: time(created),
            key,
            slug_perm: token.id.0.simple().to_string(),
        }
    }
}

/// `InlineResponse2004` (2.0.30+; `InlineResponse2001` in the seed): Django REST
/// framework's page.
#[derive(Debug, Serialize)]
pub struct TokenPage {
    count: usize,
    next: Option<String>,
    previous: Option<String>,
    results: Vec<UserAuthenticationToken>,
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

// ------------------------------------------------------------------ handlers

/// `GET /user/self/`: the caller, or `authenticated: false` for anonymous callers.
async fn user_self(
    State(state): State<AppState>,
    matched: MatchedPath,
    MaybeCaller(caller): MaybeCaller,
) -> Result<Json<UserBrief>, CloudsmithError> {
    let Some(caller) = caller else {
        return Ok(Json(UserBrief::default()));
    };
    let user = state.accounts.get_user(&caller.actor, caller.user).await?;
    let prefix = prefix_of(&matched, "/user/self/");
    let name = user
        .profile
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| user.username.to_string());
    Ok(Json(UserBrief {
        authenticated: true,
        email: Some(user.email.to_string()),
        name: Some(name),
        profile_url: user.profile.profile.clone().filter(|u| !u.is_empty()),
        self_url: Some(public_url(&state, prefix, "/user/self/")),
        slug: Some(user.username.to_string()),
        slug_perm: Some(user.id.0.simple().to_string()),
    }))
}

/// `POST /user/token/`: e-mail (or username) and password, in the body or as HTTP basic,
/// for a new API token. An account with a second factor is answered 422 with a challenge
/// (`two_factor_token`); the code then comes back with it (`totp_token`). A `totp_token`
/// sent with the password does both steps in one request.
async fn user_token_create(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    request: TokenRequest,
) -> Result<Response, CloudsmithError> {
    let session = if let Some(challenge) = request.two_factor_token {
        let code = request
            .totp_token
            .ok_or_else(|| CloudsmithError::field("totp_token", "This field is required."))?;
        state
            .accounts
            .login_second_factor(&challenge, &code, client.clone())
            .await?
    } else {
        let (login, password) = login_of(request.email, request.password, &headers)?;
        let first = state
            .accounts
            .login(&login, Password::for_login(password), client.clone())
            .await;
        match (first, request.totp_token) {
            (Ok(session), _) => session,
            (Err(LoginError::SecondFactorRequired(Some(challenge))), Some(code)) => {
                state
                    .accounts
                    .login_second_factor(&challenge.token, &code, client.clone())
                    .await?
            }
            (Err(LoginError::SecondFactorRequired(Some(challenge))), None) => {
                let body = TwoFactorRequired {
                    detail: "Two-factor authentication is required: send totp_token with \
                             this two_factor_token.",
                    two_factor_required: true,
                    two_factor_token: challenge.token,
                };
                return Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response());
            }
            (Err(e), _) => return Err(e.into()),
        }
    };
    let token = key_for_session(&state, session, &client).await?;
    Ok(Json(UserAuthToken { token }).into_response())
}

/// The login and password of `POST /user/token/`: from the body when it names either,
/// else from HTTP basic.
fn login_of(
    email: Option<String>,
    password: Option<String>,
    headers: &HeaderMap,
) -> Result<(String, String), CloudsmithError> {
    match (email, password) {
        (Some(email), Some(password)) => Ok((email, password)),
        (None, None) => match basic(headers) {
            Some(Some(pair)) => Ok(pair),
            Some(None) => Err(CloudsmithError::unauthorized(
                "Invalid basic header: the credentials are not base64-encoded `login:password`.",
            )),
            None => Err(CloudsmithError::no_credentials()),
        },
        (email, _) => {
            let missing = if email.is_none() { "email" } else { "password" };
            Err(CloudsmithError::field(missing, "This field is required."))
        }
    }
}

/// Turns a login that just succeeded into a new API token named [`KEY_NAME`] (what the CLI
/// stores as its key): the session the login made is ended either way.
async fn key_for_session(
    state: &AppState,
    session: LoginSession,
    client: &ClientInfo,
) -> Result<String, CloudsmithError> {
    crate::http::access::note_user(session.user.id);
    let (_, secret) = state
        .accounts
        .trade_session_for_token(session, KEY_NAME, client)
        .await?;
    Ok(secret.expose().to_owned())
}

/// `GET /user/tokens/`: the caller's usable API tokens from every surface, keys masked.
/// The newest [`KEY_NAME`] token comes first (the CLI refreshes "the first" when told the
/// user already has a key), then the rest, newest first.
async fn user_tokens_list(
    State(state): State<AppState>,
    matched: MatchedPath,
    caller: Caller,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<TokenPage>, CloudsmithError> {
    let Query(query) = query.map_err(|r| CloudsmithError::bad_request(r.body_text()))?;
    let page = match query.page.as_deref().map(str::trim) {
        None | Some("") => 1,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|&p| p >= 1)
            .ok_or_else(invalid_page)?,
    };
    let page_size = query
        .page_size
        .as_deref()
        .and_then(|raw| raw.trim().parse::<usize>().ok())
        .filter(|&n| n >= 1)
        .map_or(DEFAULT_PAGE_SIZE, |n| n.min(MAX_PAGE_SIZE));

    let now = state.accounts.now();
    let mut tokens: Vec<ApiToken> = state
        .accounts
        .list_tokens(&caller.actor, caller.user)
        .await?
        .into_iter()
        .filter(|t| t.is_usable(now))
        .collect();
    tokens.sort_by_key(|t| t.name != KEY_NAME); // stable: newest first within each group

    let count = tokens.len();
    let pages = count.div_ceil(page_size).max(1);
    if page > pages {
        return Err(invalid_page());
    }
    let prefix = prefix_of(&matched, "/user/tokens/");
    let link = |n: usize| {
        public_url(
            &state,
            prefix,
            &format!("/user/tokens/?page={n}&page_size={page_size}"),
        )
    };
    let results = tokens
        .iter()
        .skip((page - 1) * page_size)
        .take(page_size)
        .map(|t| UserAuthenticationToken::new(t, t.mask.clone()))
        .collect();
    Ok(Json(TokenPage {
        count,
        next: (page < pages).then(|| link(page + 1)),
        previous: (page > 1).then(|| link(page - 1)),
        results,
    }))
}

fn invalid_page() -> CloudsmithError {
    CloudsmithError::new(StatusCode::NOT_FOUND, "Invalid page.")
}

/// `POST /user/tokens/`: a new API token named [`KEY_NAME`], full key shown once (201).
/// While the user holds a usable one already: 400 [`ALREADY_CREATED`], on which the CLI
/// offers to refresh the first listed token instead.
async fn user_tokens_create(
    State(state): State<AppState>,
    Client(client): Client,
    caller: Caller,
    _body: Ignored,
) -> Result<Response, CloudsmithError> {
    let actor = caller.actor.clone().with_client(&client);
    let now = state.accounts.now();
    let tokens = state.accounts.list_tokens(&actor, caller.user).await?;
    if tokens
        .iter()
        .any(|t| t.name == KEY_NAME && t.is_usable(now))
    {
        return Err(CloudsmithError::bad_request(ALREADY_CREATED));
    }
    let (token, secret) = state
        .accounts
        .create_token(&actor, caller.user, Some(KEY_NAME.into()), None)
        .await?;
    let body = UserAuthenticationToken::new(&token, secret.expose().to_owned());
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `PUT /user/tokens/{slug_perm}/refresh/`: a new secret for one of the caller's usable
/// tokens (any surface's; named by `slug_perm`, the dashed id or the masked key); the old
/// secret stops working at once.
async fn user_tokens_refresh(
    State(state): State<AppState>,
    Client(client): Client,
    caller: Caller,
    Path(slug_perm): Path<String>,
    _body: Ignored,
) -> Result<Json<UserAuthenticationToken>, CloudsmithError> {
    let actor = caller.actor.clone().with_client(&client);
    let by = TokenRef::parse(slug_perm.trim()).ok_or_else(CloudsmithError::not_found)?;
    let token = state.accounts.token(&actor, caller.user, &by).await?;
    if !token.is_usable(state.accounts.now()) {
        return Err(CloudsmithError::not_found());
    }
    let (token, secret) = state
        .accounts
        .rotate_token(&actor, caller.user, &TokenRef::Id(token.id))
        .await?;
    Ok(Json(UserAuthenticationToken::new(
        &token,
        secret.expose().to_owned(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_requests_are_lenient_about_absence_and_strict_about_types() {
        assert_eq!(TokenRequest::parse(b"").unwrap(), TokenRequest::default());
        assert_eq!(
            TokenRequest::parse(b" {} ").unwrap(),
            TokenRequest::default()
        );
        let r = TokenRequest::parse(
            br#"{"email": "a@b.c", "password": "pw", "x": 1, "totp_token": null}"#,
        )
        .unwrap();
        assert_eq!(r.email.as_deref(), Some("a@b.c"));
        assert_eq!(r.password.as_deref(), Some("pw"));
        assert_eq!(r.totp_token, None);

        let e = TokenRequest::parse(br#"{"email": 5, "password": " "}"#).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let fields = e.fields.unwrap();
        assert_eq!(fields["email"], vec!["Not a valid string."]);
        assert_eq!(fields["password"], vec!["This field may not be blank."]);

        let e = TokenRequest::parse(b"[1]").unwrap_err();
        assert!(e.detail.contains("got list"), "{}", e.detail);
        let e = TokenRequest::parse(b"{nope").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn anonymous_brief_has_nulls() {
        let json = serde_json::to_value(UserBrief::default()).unwrap();
        assert_eq!(json["authenticated"], false);
        for field in [
            "email",
            "name",
            "profile_url",
            "self_url",
            "slug",
            "slug_perm",
        ] {
            assert!(json[field].is_null(), "{field}");
            assert!(json.as_object().unwrap().contains_key(field), "{field}");
        }
    }
}

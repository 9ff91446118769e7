//! Glowmarkt's request extraction: JSON bodies, the `applicationId` header, the
//! `token` header or HTTP basic caller, path ids.

use super::*;
use crate::http::auth::authenticated;

/// A JSON body, as the generated client sends it: `Content-Type` is not required, and an
/// empty body reads as `{}`. Unknown keys are ignored; bad JSON and wrong types are 400.
#[derive(Debug)]
pub struct Body<T>(pub(super) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = GlowmarktError;

    async fn from_request(req: Request, state: &S) -> Result<Self, GlowmarktError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|r| GlowmarktError::new(r.status(), r.body_text()))?;
        let json: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(json)
            .map(Self)
            .map_err(|e| GlowmarktError::bad(format!("incorrect elements: {e}")))
    }
}

/// 415 unless the request declares a JSON body: the unauthenticated calls that send mail
/// must not be made by a cross-site form (`crate::http::declares_json`).
pub(super) fn json_only(headers: &axum::http::HeaderMap) -> Result<(), GlowmarktError> {
    if crate::http::declares_json(headers) {
        Ok(())
    } else {
        Err(GlowmarktError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        ))
    }
}

/// The `applicationId` header, when sent (400 when it is not a UUID).
#[derive(Debug, Clone, Copy)]
pub struct AppHeader(pub(super) Option<OrgId>);

impl<S: Send + Sync> FromRequestParts<S> for AppHeader {
    type Rejection = GlowmarktError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, GlowmarktError> {
        match parts.headers.get("applicationid") {
            None => Ok(Self(None)),
            Some(value) => {
                let raw = value
                    .to_str()
                    .map_err(|_| GlowmarktError::bad("applicationId must be a UUID"))?;
                parse_app(raw).map(|app| Self(Some(app)))
            }
        }
    }
}

fn parse_app(raw: &str) -> Result<OrgId, GlowmarktError> {
    raw.parse()
        .map_err(|_| GlowmarktError::bad("applicationId must be a UUID"))
}

impl AppHeader {
    /// The application named by the header or the body (they must agree); required.
    pub(super) fn with_body(self, body: Option<&str>) -> Result<OrgId, GlowmarktError> {
        let body = body.map(str::trim).filter(|s| !s.is_empty());
        match (self.0, body.map(parse_app).transpose()?) {
            (Some(h), Some(b)) if h != b => Err(GlowmarktError::bad(
                "the applicationId header and body field differ",
            )),
            (Some(app), _) | (None, Some(app)) => Ok(app),
            (None, None) => Err(GlowmarktError::missing("applicationId")),
        }
    }

    pub(super) fn required(self) -> Result<OrgId, GlowmarktError> {
        self.with_body(None)
    }
}

/// The caller of an admin-style or token call: HTTP basic (username or e-mail and password,
/// checked on this request) or the `token` header (a Gatehouse session or API token).
#[derive(Debug, Clone)]
pub struct Caller(pub(super) Actor);

impl FromRequestParts<AppState> for Caller {
    type Rejection = GlowmarktError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, GlowmarktError> {
        let Client(client) = Client::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|never| match never {});
        if let Some(credentials) = basic(&parts.headers) {
            let (login, password) =
                credentials.ok_or_else(|| GlowmarktError::denied("malformed basic credentials"))?;
            let user = state
                .accounts
                .verify_credentials(&login, &Password::for_login(password), &client)
                .await?;
            crate::http::access::note_user(user.id);
            return Ok(Self(Actor::user(user.id).with_client(&client)));
        }
        let principal = token_principal(&parts.headers, state).await?;
        Ok(Self(Actor::from(&principal).with_client(&client)))
    }
}

/// The principal of the `token` header.
pub(super) async fn token_principal(
    headers: &HeaderMap,
    state: &AppState,
) -> Result<Principal, GlowmarktError> {
    let secret = headers
        .get("token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if secret.trim().is_empty() {
        return Err(GlowmarktError::denied(
            "send HTTP basic credentials or a token header",
        ));
    }
    let principal = authenticated(state, secret).await?;
    Ok(principal)
}

/// A required string field: missing, `null` and blank are all "missing".
pub(super) fn required(value: Option<String>, field: &str) -> Result<String, GlowmarktError> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| GlowmarktError::missing(field))
}

pub(super) fn user_id(raw: &str) -> Result<UserId, GlowmarktError> {
    raw.trim()
        .parse()
        .map_err(|_| GlowmarktError::bad("userId must be a UUID"))
}

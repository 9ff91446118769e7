//! Trieve's request extraction: the raw key caller, `TR-Organization`, bodies and path
//! values.

use super::*;
use crate::http::auth::authenticated;

/// The caller: the principal of the `Authorization` key, and the organisation of the
/// `TR-Organization` header when one was sent.
#[derive(Debug)]
pub struct Caller {
    pub(super) principal: Principal,
    pub(super) org: Option<Organization>,
    pub(super) client: accounts::service::ClientInfo,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = TrieveError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, TrieveError> {
        let principal = authenticated(state, api_key(&parts.headers)).await?;
        let org = match organization_header(&parts.headers)? {
            None => None,
            Some(id) => Some(
                state
                    .accounts
                    .org(&Actor::from(&principal), id)
                    .await
                    .map_err(|e| match e {
                        AdminError::Forbidden => TrieveError::forbidden(
                            "the TR-Organization header names an organisation you do not belong to",
                        ),
                        AdminError::NotFound => TrieveError::not_found("no such organisation"),
                        other => other.into(),
                    })?,
            ),
        };
        let Client(client) = Client::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|never| match never {});
        Ok(Self {
            principal,
            org,
            client,
        })
    }
}

impl Caller {
    pub(super) fn actor(&self) -> Actor {
        Actor::from(&self.principal).with_client(&self.client)
    }
}

/// The key: the whole `Authorization` value, or what follows `Bearer `.
pub(super) fn api_key(headers: &HeaderMap) -> &str {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim();
    match value.split_once(' ') {
        Some((scheme, key)) if scheme.eq_ignore_ascii_case("bearer") => key.trim(),
        _ => value,
    }
}

/// `TR-Organization`: `None` when absent; 400 when it is not a UUID.
fn organization_header(headers: &HeaderMap) -> Result<Option<OrgId>, TrieveError> {
    let Some(value) = headers.get(ORGANIZATION_HEADER) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|raw| raw.parse().ok())
        .map(Some)
        .ok_or_else(|| TrieveError::bad("TR-Organization must be an organisation id (a UUID)"))
}

/// A JSON body, read whatever the `Content-Type` says; an empty body reads as `{}`.
/// Malformed JSON, wrong types and missing required fields are 400; unknown keys are
/// ignored.
#[derive(Debug)]
pub struct Body<T>(pub(super) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = TrieveError;

    async fn from_request(req: Request, state: &S) -> Result<Self, TrieveError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|r| TrieveError::new(r.status(), r.body_text()))?;
        let json: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(json)
            .map(Self)
            .map_err(|e| TrieveError::bad(format!("invalid JSON body: {e}")))
    }
}

pub(super) fn path<T>(extracted: Result<Path<T>, PathRejection>) -> Result<T, TrieveError> {
    extracted
        .map(|Path(p)| p)
        .map_err(|r| TrieveError::bad(r.body_text()))
}

pub(super) fn user_id(raw: &str) -> Result<UserId, TrieveError> {
    raw.trim()
        .parse()
        .map_err(|_| TrieveError::bad("user_id must be a user id (a UUID)"))
}

/// A page number: 1, 2, ... (400 for 0, negatives and anything else).
pub(super) fn page(raw: &str) -> Result<u64, TrieveError> {
    raw.trim()
        .parse::<u64>()
        .ok()
        .filter(|p| *p >= 1)
        .ok_or_else(|| TrieveError::bad("page must be a whole number from 1"))
}

/// Trieve's roles: 0 user, 1 admin, 2 owner.
pub(super) fn org_role(raw: i64) -> Result<OrgRole, TrieveError> {
    match raw {
        0 => Ok(OrgRole::Member),
        1 => Ok(OrgRole::Admin),
        2 => Ok(OrgRole::Owner),
        _ => Err(TrieveError::bad(
            "role must be 0 (user), 1 (admin) or 2 (owner)",
        )),
    }
}

pub(super) fn role_number(role: OrgRole) -> i64 {
    match role {
        OrgRole::Member => 0,
        OrgRole::Admin => 1,
        OrgRole::Owner => 2,
    }
}

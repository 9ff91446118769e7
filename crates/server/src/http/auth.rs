//! Credential parsing shared by the surfaces: where each dialect finds the secret differs,
//! what is done with it (`Accounts::authenticate`) does not. [`Credential`] is the one
//! credential extractor, generic over the [`SecretSource`] a surface names.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::net::SocketAddr;

use accounts::service::ClientInfo;
use accounts::{Failure, Principal};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;

use crate::http::client_address::ClientAddress;
use crate::http::{ui, AppState};

/// Where a request came from (the client's address as `client_address` resolved it, user
/// agent), for throttling, sessions and audit.
#[derive(Debug, Clone)]
pub struct Client(pub ClientInfo);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        // The address `client_address` resolved (trusted proxies considered); the socket peer
        // when a router was built without that layer.
        let ip = match parts.extensions.get::<ClientAddress>() {
            Some(client) => Some(client.0.to_string()),
            None => parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| crate::http::client_address::canonical(c.0.ip()).to_string()),
        };
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(512).collect());
        // Either name: the extractor does not know whether the service is served over HTTPS;
        // the cookie is sealed for one account, so its name adds nothing to trust.
        let device = [ui::DEVICE_COOKIE_SECURE, ui::DEVICE_COOKIE]
            .iter()
            .find_map(|name| ui::cookie(&parts.headers, name))
            .map(str::to_owned);
        Ok(Self(ClientInfo {
            ip,
            user_agent,
            device,
        }))
    }
}

/// Where a surface finds the secret of a request, and the error it answers in.
pub trait SecretSource: Send + Sync + 'static {
    /// The surface's error, rendered from the core's `Failure`.
    type Rejection: From<Failure> + IntoResponse;

    /// The secret the request carries; empty when it carries none.
    fn secret(headers: &HeaderMap) -> &str;
}

/// The caller, authenticated by the core from the secret `S` finds: the one credential
/// extractor every surface uses (directly, or through [`authenticated`] where a surface also
/// accepts a password).
#[derive(Debug)]
pub struct Credential<S>(pub Principal, pub PhantomData<fn() -> S>);

impl<S: SecretSource> FromRequestParts<AppState> for Credential<S> {
    type Rejection = S::Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, S::Rejection> {
        let principal = authenticated(state, S::secret(&parts.headers)).await?;
        Ok(Self(principal, PhantomData))
    }
}

/// The core's check of a secret, with the user noted for the access log and the span.
pub async fn authenticated(state: &AppState, secret: &str) -> Result<Principal, Failure> {
    let principal = state.accounts.authenticate(secret).await?;
    record_user(&principal);
    Ok(principal)
}

/// The secret of an `Authorization: Bearer <secret>` header (scheme case-insensitive).
/// `None` when the header is missing or uses another scheme.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, secret) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| secret.trim())
        .filter(|s| !s.is_empty())
}

/// Records the authenticated user on the request's span, so every later log line has it.
fn record_user(principal: &accounts::Principal) {
    super::access::note_user(principal.user_id);
}

/// `Authorization: Basic` credentials (login, password): `None` without such a header,
/// `Some(None)` when it does not decode (base64, padding optional; UTF-8; a `:`).
pub fn basic(headers: &HeaderMap) -> Option<Option<(String, String)>> {
    use base64::Engine as _;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let encoded = encoded.trim().trim_end_matches('=');
    let decoded = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(encoded)
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    Some(decoded.and_then(|pair| {
        let (login, password) = pair.split_once(':')?;
        Some((login.to_owned(), password.to_owned()))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_reads_login_and_password() {
        let mut h = HeaderMap::new();
        assert_eq!(basic(&h), None);
        h.insert(header::AUTHORIZATION, "Basic YWxpY2U6cDpx".parse().unwrap());
        assert_eq!(basic(&h), Some(Some(("alice".into(), "p:q".into()))));
        h.insert(header::AUTHORIZATION, "basic YWxpY2U6cHc=".parse().unwrap());
        assert_eq!(basic(&h), Some(Some(("alice".into(), "pw".into()))));
        h.insert(header::AUTHORIZATION, "Basic YWxpY2U6cHc".parse().unwrap());
        assert_eq!(basic(&h), Some(Some(("alice".into(), "pw".into()))));
        h.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert_eq!(basic(&h), Some(None));
        h.insert(header::AUTHORIZATION, "Basic YWxpY2U".parse().unwrap());
        assert_eq!(basic(&h), Some(None), "no colon");
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(basic(&h), None);
    }

    #[test]
    fn reads_bearer_only() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "bearer   abc ".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer ".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }
}

//! The signed-in browser: the `SignedIn` session-cookie extractor.

use super::*;

/// A browser with a live session cookie. Pages that need one take this; without one the
/// browser is sent to the sign-in page and brought back afterwards.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub principal: Principal,
    pub user: User,
    /// Where the request came from, for the audit of what the user does.
    pub client: accounts::service::ClientInfo,
    /// Whether the console link shows: the caller holds some instance-level permission
    /// beyond their own account, or administers an organisation.
    pub console: bool,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let back = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let to_signin = || {
            let next = if parts.method == Method::GET {
                back.clone()
            } else {
                "/".to_owned()
            };
            Redirect::to(&format!("/signin?next={}", urlencode(&next))).into_response()
        };
        let Some(secret) = cookie(&parts.headers, Cookies::for_state(state).session_name()) else {
            return Err(to_signin());
        };
        // The pages take a session cookie only: an API token there signs nobody in.
        let principal = match crate::http::auth::authenticated(state, secret).await {
            Ok(p) if p.kind == CredentialKind::Session => p,
            Ok(_) => return Err(to_signin()),
            Err(f) if f.kind == accounts::failure::Kind::Unauthenticated => return Err(to_signin()),
            Err(f) => return Err(failure_page(ApiError::from(f))),
        };
        let user = state
            .accounts
            .user(principal.user_id)
            .await
            .map_err(|e| failure_page(ApiError::from(e)))?;
        let console = state
            .accounts
            .sees_console(&accounts::Actor::from(&principal))
            .await
            .map_err(|e| failure_page(ApiError::from(e)))?;
        let Ok(crate::http::auth::Client(client)) =
            crate::http::auth::Client::from_request_parts(parts, state).await;
        Ok(Self {
            principal,
            user,
            client,
            console,
        })
    }
}

impl SignedIn {
    pub fn actor(&self) -> accounts::Actor {
        accounts::Actor::from(&self.principal).with_client(&self.client)
    }

    pub fn chrome(&self, csrf: Csrf) -> Chrome {
        Chrome {
            csrf: csrf.0,
            username: Some(self.user.username.as_str().to_owned()),
            console: self.console,
        }
    }
}

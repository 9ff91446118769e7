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

use crate::http::auth::{basic, Client};
use crate::http::problem::renders_failures;
use crate::http::AppState;
use accounts::failure::Kind;
use accounts::Failure;

mod errors;
mod extract;
mod handlers;
mod shapes;
pub use errors::*;
pub use extract::*;
use handlers::*;
pub use shapes::*;

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

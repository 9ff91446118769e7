//! Glowmarkt `UserApi` (python_glowmarkt, swagger 1.0.5) and the two `AuthApi` calls that
//! obtain a token, at `/api/v0-1/...`.
//!
//! Wire facts and mapping decisions are in `docs/glowmarkt.md`. In short: an application is
//! an organisation (`applicationId` = its UUID); admin-style calls take HTTP basic (an
//! administrator's username or e-mail and password) or the `token` header; every request may
//! carry `Content-Type: application/json` and a `{}` or empty body, which are tolerated;
//! errors are `{"error": "<text>"}`. This module only maps shapes: who may do what is decided
//! by the core calls each handler makes.

use crate::http::dialects::UNAVAILABLE;
use accounts::access::{Action, Entity, Need, OrgId};
use accounts::lifecycle::{CodeScope, Registration};
use accounts::reach::UserRef;
use accounts::{
    AccountSpec, AccountUpdate, Actor, AdminError, AuthError, CredentialKind, EmailAddress,
    NewUsername, Password, Patch, Principal, ProfileUpdate, User, UserId, UserStatus, Username,
};
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::http::auth::{basic, Client};
use crate::http::problem::{renders_failures, status_of};
use crate::http::AppState;
use accounts::failure::Kind;
use accounts::Failure;

mod errors;
mod extract;
mod handlers;
mod shapes;
pub use errors::*;
pub use extract::*;
pub use handlers::*;
pub use shapes::*;

/// The spec's base path. The seed-era client host ended in `/`, which doubles the slash
/// (`/api/v0-1//register`); every route is mounted under both prefixes.
const PREFIXES: [&str; 2] = ["/api/v0-1", "/api/v0-1/"];

// What each endpoint needs. Admin-style endpoints go through the core's org-aware check on
// the target user (`authorize_user`, inside `get_user`, `update_user`, `delete_user`) or
// the organisation (`create_users`); self-service endpoints check the caller's own account.
/// `GET /user?username=`, `GET /user/{userId}`.
const READ_USER: Need = Need::new(Entity::User, Action::Read);

pub fn routes(_state: &AppState) -> Router<AppState> {
    PREFIXES.into_iter().fold(Router::new(), mount)
}

fn mount(router: Router<AppState>, prefix: &str) -> Router<AppState> {
    let at = |path: &str| format!("{prefix}{path}");
    router
        // Public (throttled by the core): self-registration into an application.
        .route(&at("/register"), post(register))
        // POST: `user:create` in the application (org admin) or for the instance.
        // GET: READ_USER on the user found by username or e-mail; a name that matches
        // nobody is 404 only to callers who may list every user (core `list_users`), else 401.
        .route(&at("/user"), post(create_user).get(get_user_by_username))
        // Public (throttled, no enumeration): request a code / redeem it with a new password.
        .route(
            &at("/user/resetpassword"),
            post(request_reset).put(reset_password),
        )
        // Password-holders only: resend a verification code / redeem it.
        .route(&at("/user/verify"), post(resend_verification).put(verify))
        // GET: READ_USER; DELETE: `user:delete` on the user (core `delete_user`).
        .route(
            &at("/user/{user_id}"),
            get(get_user_by_id).delete(delete_user),
        )
        // `user:update` on the user (core `update_user`): the user themself or an admin.
        .route(&at("/user/{user_id}/username"), put(update_username))
        // POST: public password login into an application; GET: `user:read` on oneself.
        .route(&at("/auth"), post(auth).get(check_auth))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_come_from_the_local_part() {
        let base = |e: &str| Username::stem_of(&EmailAddress::parse(e).unwrap());
        assert_eq!(base("Dana.Scully@example.com"), "dana.scully");
        assert_eq!(base("j+tag@example.com"), "j-tag");
        assert_eq!(base("jo@example.com"), "jo-user");
        assert_eq!(base("+@example.com"), "user");
        assert_eq!(base("_x_@example.com"), "x_-user");
        for e in [
            "Dana.Scully@example.com",
            "+@example.com",
            "_x_@example.com",
        ] {
            assert!(Username::parse(&base(e)).is_ok(), "{e}");
        }
    }

    #[tokio::test]
    async fn an_unavailable_database_is_a_503_in_glowmarkt_shape_and_says_nothing_inside() {
        let cause = std::io::Error::other("connection refused by 10.0.0.7");
        let wrapped = accounts::LoginError::Store(accounts::StoreError::unavailable(cause));
        for response in [
            GlowmarktError::from(accounts::StoreError::unavailable(std::io::Error::other(
                "down",
            )))
            .into_response(),
            GlowmarktError::from(wrapped).into_response(),
        ] {
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            let body = axum::body::to_bytes(response.into_body(), 4096)
                .await
                .unwrap();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let error = body["error"].as_str().unwrap();
            assert!(error.contains("try again"), "{error}");
            assert!(
                !error.contains("10.0.0.7") && !error.contains("down"),
                "{error}"
            );
        }
    }
}

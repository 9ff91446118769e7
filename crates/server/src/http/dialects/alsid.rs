//! Alsid `UserApi` (swagger client `ad`; pyTenable `tenable.ie`) at `/api/login`,
//! `/api/logout` and `/api/users...`.
//!
//! Wire facts and mapping decisions are in `docs/alsid.md`. In short: the credential is the
//! `x-api-key` header (any Gatehouse API token or session secret); ids are users' public
//! numbers and role ids; errors are JSON `{"error": <code>, "message": <text>}`; the three
//! endpoints the seed client types as `Object` answer the JSON literal `null`. Request bodies
//! are read as JSON whatever their `Content-Type`, unknown keys are ignored, and bodies sent
//! where none is expected (`{}` on DELETE and logout, nothing but a `Content-Type` on GET)
//! are never read. This module only maps shapes; every permission is checked by the core.

use crate::http::dialects::UNAVAILABLE;

use accounts::access::{Action, Entity, Need, Permission, Role, RoleId, Scope};
use accounts::reach::UserRef;
use accounts::store::{UserCursor, UserQuery};
use accounts::{
    AccountSpec, AccountUpdate, Actor, EmailAddress, Failure, NewUsername, Password, Patch,
    ProfileUpdate, User, UserId, UserStatus,
};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

use crate::http::auth::{Client, Credential, SecretSource};
use crate::http::problem::{renders_failures, status_of};
use crate::http::AppState;

mod errors;
mod extract;
mod handlers;
mod shapes;
pub use errors::*;
pub use extract::*;
use handlers::*;
pub use shapes::*;

/// The header holding the key (header names are case-insensitive: pyTenable sends
/// `X-API-Key`).
pub const API_KEY_HEADER: &str = "x-api-key";

/// `GET /api/users` returns at most this many users (200 per store page).
pub const MAX_LISTED_USERS: usize = 10_000;

/// What Alsid calls the identity provider of accounts it manages itself; the seed client
/// accepts only `alsid`, `ldap` and `saml`.
const PROVIDER: &str = "alsid";

/// Gatehouse has no end-user licence; the field is required, so a constant.
const EULA_VERSION: i64 = 1;

/// Reading a user: `GET /api/users/{id}`, `GET /api/users/whoami` (and, via `list_users`,
/// `GET /api/users` on the whole collection).
const READ_USER: Need = Need::new(Entity::User, Action::Read);
/// `PATCH /api/users/{id}`, `PUT /api/users/{id}/roles`.
const UPDATE_USER: Need = Need::new(Entity::User, Action::Update);
/// `DELETE /api/users/{id}`.
const DELETE_USER: Need = Need::new(Entity::User, Action::Delete);

/// The routes, each with the permission the core checks for it.
pub fn routes(_state: &AppState) -> Router<AppState> {
    Router::new()
        // none: the password is the proof
        .route("/api/login", post(login))
        // any valid key; ends the session it is (an API token stays)
        .route("/api/logout", post(logout))
        // GET: READ_USER on every user (`list_users`); POST: `user:create` (`create_users`)
        .route("/api/users", get(list_users).post(create_users))
        // READ_USER on oneself (`get_user`)
        .route("/api/users/whoami", get(whoami))
        // any valid key; own account only, current password required (`change_password`)
        .route("/api/users/password", patch(change_password))
        // none: answers alike whether or not the account exists
        .route("/api/users/forgotten-password", post(forgotten_password))
        // none: the e-mailed link token is the proof
        .route("/api/users/retrieve-password", post(retrieve_password))
        // GET: READ_USER (`get_user`); PATCH: UPDATE_USER (`update_user`);
        // DELETE: DELETE_USER (`delete_user`)
        .route(
            "/api/users/{id}",
            get(get_user).patch(update_user).delete(delete_user),
        )
        // UPDATE_USER on the user, and role:update on each role granted or taken away
        // (`set_user_roles`)
        .route("/api/users/{id}/roles", put(set_user_roles))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_use_stars_empty_lists_and_self() {
        let out = PermissionOut::from(Permission {
            entity: None,
            action: None,
            scope: Scope::All,
        });
        let json = serde_json::to_value(out).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"entityName": "*", "action": "*", "entityIds": [], "dynamicId": null})
        );
        let out = PermissionOut::from(Permission::new(Entity::User, Action::Read, Scope::Own));
        let json = serde_json::to_value(out).unwrap();
        assert_eq!(json["entityName"], "user");
        assert_eq!(json["action"], "read");
        assert_eq!(json["dynamicId"], "self-user-id");
        let out = PermissionOut::from(Permission::new(
            Entity::User,
            Action::Update,
            Scope::Users(vec![7, 8]),
        ));
        assert_eq!(
            serde_json::to_value(out).unwrap()["entityIds"],
            serde_json::json!([7, 8])
        );
    }

    #[test]
    fn patch_tells_null_from_missing() {
        let body: UserPatchBody =
            serde_json::from_str(r#"{"surname": null, "name": "A", "x": 1}"#).unwrap();
        assert_eq!(body.surname, Some(None));
        assert_eq!(body.department, None);
        assert_eq!(body.name.as_deref(), Some("A"));
    }
}

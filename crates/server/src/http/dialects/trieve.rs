//! Trieve `UserApi` (trieve-python-client 1.0.0) at `/api/user...`.
//!
//! Wire facts and mapping decisions are in `docs/trieve.md`. In short: the credential is
//! the raw value of `Authorization` (any Gatehouse API token or session secret; `Bearer
//! <key>` is accepted too); `TR-Organization`, when sent, names an organisation the caller
//! may read (a member, or an instance administrator) and scopes role changes; errors are
//! `{"message": "<text>"}` (Trieve's `DefaultError`); timestamps are `NaiveDateTime`
//! strings without a timezone. Request bodies are read as JSON whatever their
//! `Content-Type`, an empty body reads as `{}`, and unknown keys are ignored. This module
//! only maps shapes; every permission is checked by the core.

use crate::http::dialects::UNAVAILABLE;
use std::collections::HashMap;

use accounts::access::{OrgId, OrgRole, Organization};
use accounts::content::ChunkPage;
use accounts::store::{ChunkRecord, FileRecord};
use accounts::{
    AccountUpdate, Actor, AdminError, ApiToken, ContentError, Patch, Principal, ProfileUpdate,
    TokenRef, User, UserId, Username,
};
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::http::auth::Client;
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
use handlers::*;
pub use shapes::*;

/// The header naming the organisation a request acts in.
pub const ORGANIZATION_HEADER: &str = "tr-organization";

/// Gatehouse has no datasets; every file reports this one (the nil UUID).
pub const DATASET_ID: &str = "00000000-0000-0000-0000-000000000000";

/// The routes, each with the permission the core checks for it.
pub fn routes(_state: &AppState) -> Router<AppState> {
    Router::new()
        // Own account: `user:update` (core `update_user`) for the fields sent; another
        // user's: `user:update` on them and, for `role`, `organization:update` on their
        // membership of the TR-Organization (core `set_member`).
        .route("/api/user", put(update_user))
        // `token:create` on oneself (core `create_token`).
        .route("/api/user/set_api_key", post(set_api_key))
        // `token:delete` on oneself (core `delete_token`).
        .route("/api/user/delete_api_key", delete(delete_api_key))
        // `file:read` on the owner (core `list_files`).
        .route("/api/user/files/{user_id}", get(user_files))
        // `chunk:read` (core `list_chunks`) and `user:read` (core `get_user`) on the user.
        .route("/api/user/{user_id}/{page}", get(user_with_chunks))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use uuid::Uuid;

    #[test]
    fn timestamps_are_naive_with_microseconds() {
        let at = Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap()
            + chrono::Duration::microseconds(123_456);
        assert_eq!(naive(at), "2024-01-01T12:00:00.123456");
        let whole = Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap();
        assert_eq!(naive(whole), "2024-01-01T12:00:00.000000");
    }

    #[test]
    fn roles_are_0_1_2() {
        for (n, role) in [
            (0, OrgRole::Member),
            (1, OrgRole::Admin),
            (2, OrgRole::Owner),
        ] {
            assert_eq!(org_role(n).unwrap(), role);
            assert_eq!(role_number(role), n);
        }
        assert!(org_role(3).is_err());
        assert!(org_role(-1).is_err());
    }

    #[test]
    fn keys_come_raw_or_as_bearer() {
        let mut h = HeaderMap::new();
        assert_eq!(api_key(&h), "");
        h.insert(header::AUTHORIZATION, "gh_abc".parse().unwrap());
        assert_eq!(api_key(&h), "gh_abc");
        h.insert(header::AUTHORIZATION, "Bearer  gh_abc ".parse().unwrap());
        assert_eq!(api_key(&h), "gh_abc");
        h.insert(header::AUTHORIZATION, "bearer gh_abc".parse().unwrap());
        assert_eq!(api_key(&h), "gh_abc");
    }

    #[test]
    fn pages_start_at_one() {
        assert_eq!(page("1").unwrap(), 1);
        assert_eq!(page("3").unwrap(), 3);
        for bad in ["0", "-1", "x", "", "1.5"] {
            assert!(page(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn membership_ids_are_stable_uuids() {
        let (org, user) = (OrgId::new(), UserId::new());
        let id = membership_id(org, user);
        assert_eq!(id, membership_id(org, user));
        assert_ne!(id, membership_id(OrgId::new(), user));
        assert!(Uuid::parse_str(&id).is_ok());
    }

    #[test]
    fn update_tolerates_nulls_and_unknown_keys() {
        let body: UpdateUserData =
            serde_json::from_str(r#"{"name": null, "role": 1, "extra": true}"#).unwrap();
        assert_eq!(body.name, None);
        assert_eq!(body.role, Some(1));
        assert!(serde_json::from_str::<UpdateUserData>(r#"{"role": "1"}"#).is_err());
    }
}

//! The admin console at `/admin`: users, roles, organisations, the audit log and the mail
//! outbox, as server-rendered pages with plain forms.
//!
//! Every handler calls the core function the native API calls, with the signed-in user as
//! the actor, so the core decides who may do what. The console itself refuses only browsers
//! whose user has no console at all (`SignedIn::console`); it never checks roles.

use std::collections::HashMap;

use accounts::access::{
    Action, Entity, Need, OrgId, OrgRole, Organization, Permission, Role, RoleId, RoleSpec, Scope,
};
use accounts::audit::{AuditEvent, AuditFilter};
use accounts::reach::UserRef;
use accounts::store::{UserCursor, UserOrder, UserQuery};
use accounts::{AdminError, UserError, UserId, UserStatus};
use askama::Template;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    done, failure_in, note_text, render, Chrome, Csrf, Errors, MessagePage, SignedIn, UiForm,
};
use crate::http::problem::ApiError;
use crate::http::AppState;

mod audit;
mod mail;
mod orgs;
mod roles;
mod users;
use audit::*;
use mail::*;
use orgs::*;
use roles::*;
use users::*;

/// Rows on one page of users or audit events.
const PAGE: u32 = 50;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(home))
        .route("/admin/users", get(users_page))
        .route("/admin/users/{id}", get(user_page))
        .route("/admin/users/{id}/disable", post(disable_user))
        .route("/admin/users/{id}/enable", post(enable_user))
        .route("/admin/users/{id}/end-sessions", post(end_sessions))
        .route("/admin/users/{id}/revoke-tokens", post(revoke_tokens))
        .route("/admin/users/{id}/reset-password", post(reset_password))
        .route(
            "/admin/users/{id}/reset-second-factor",
            post(reset_second_factor),
        )
        .route("/admin/users/{id}/roles", post(save_user_roles))
        .route("/admin/users/{id}/delete", post(delete_user))
        .route("/admin/roles", get(roles_page).post(create_role))
        .route("/admin/roles/{id}", get(role_page).post(update_role))
        .route("/admin/roles/{id}/delete", post(delete_role))
        .route("/admin/orgs", get(orgs_page).post(create_org))
        .route("/admin/orgs/{id}", get(org_page))
        .route("/admin/orgs/{id}/members", post(add_member))
        .route(
            "/admin/orgs/{id}/members/{user}/remove",
            post(remove_member),
        )
        .route("/admin/audit", get(audit_page))
        .route("/admin/mail", get(mail_page))
}

// ------------------------------------------------------------ the console's browser

/// A signed-in browser whose user has a console: anyone else gets a 403 page (and a browser
/// without a session goes to the sign-in page first).
#[derive(Debug)]
struct Console {
    signed: SignedIn,
    chrome: Chrome,
}

impl FromRequestParts<AppState> for Console {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let signed = SignedIn::from_request_parts(parts, state).await?;
        let Ok(csrf) = Csrf::from_request_parts(parts, state).await;
        let chrome = signed.chrome(csrf);
        if !signed.console {
            let page = MessagePage {
                chrome,
                title: "Not allowed".to_owned(),
                message: "Your account has no access to the admin console.".to_owned(),
                link: Some(("/account".to_owned(), "Back to your account".to_owned())),
            };
            return Err(render(StatusCode::FORBIDDEN, &page));
        }
        Ok(Self { signed, chrome })
    }
}

impl Console {
    fn actor(&self) -> accounts::Actor {
        self.signed.actor()
    }

    /// A refusal or failure as a page inside the console, with a way back.
    fn failure(&self, error: impl Into<ApiError>, back: &str) -> Response {
        failure_in(self.chrome.clone(), error.into(), (back, "Back"))
    }

    fn not_found(&self, what: &str, back: &str) -> Response {
        self.failure(
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("No such {what}."),
            ),
            back,
        )
    }

    /// After a form: back to `path` with a note, or the core's refusal as a page.
    fn finish<T, E>(&self, result: Result<T, E>, path: &str, note: &str) -> Response
    where
        ApiError: From<E>,
    {
        match result {
            Ok(_) => done(path, note),
            Err(e) => self.failure(ApiError::from(e), path),
        }
    }
}

/// The users list for callers who may read every user; the organisations for those who
/// administer one (they list their members from there).
async fn home(State(state): State<AppState>, console: Console) -> Redirect {
    let everyone = state
        .accounts
        .reads_every_user(&console.actor())
        .await
        .unwrap_or(false);
    Redirect::to(if everyone {
        "/admin/users"
    } else {
        "/admin/orgs"
    })
}

#[derive(Debug, Default, Deserialize)]
struct NoteQuery {
    done: Option<String>,
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A query string (without `?`) of the non-empty pairs.
fn query_string(pairs: &[(&str, &str)]) -> String {
    let pairs: Vec<_> = pairs.iter().filter(|(_, v)| !v.is_empty()).collect();
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

fn blank(value: &Option<String>) -> &str {
    value.as_deref().map_or("", str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_read_back_as_written() {
        let text = "user:read:all\ntoken:*:own\n\n*:*:all\nuser:update:ids=12,34";
        let parsed = parse_permissions(text).unwrap();
        assert_eq!(parsed.len(), 4);
        assert_eq!(parsed[3].scope, Scope::Users(vec![12, 34]));
        let roles = parse_permissions("role:update:ids=3\n*:update:ids=1").unwrap();
        assert_eq!(roles[0].scope, Scope::Roles(vec![RoleId(3)]));
        assert_eq!(
            roles[1].scope,
            Scope::Users(vec![1]),
            "ids are users' numbers"
        );
        let written: Vec<_> = parsed.iter().map(permission_text).collect();
        assert_eq!(written.join("\n"), text.replace("\n\n", "\n"));
    }

    #[test]
    fn bad_permission_lines_are_named() {
        let error = parse_permissions("user:read:all\nuser:fly:all").unwrap_err();
        assert!(error.starts_with("Line 2:"), "{error}");
        assert!(parse_permissions("user:read").is_err());
        assert!(parse_permissions("user:read:ids=a").is_err());
        assert!(parse_permissions("user:read:some").is_err());
    }
}

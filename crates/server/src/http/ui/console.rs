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

// ------------------------------------------------------------ users

#[derive(Debug, Default, Deserialize)]
struct UserSearch {
    q: Option<String>,
    status: Option<String>,
    role: Option<String>,
    org: Option<String>,
    after: Option<String>,
    done: Option<String>,
}

#[derive(Debug)]
struct UserRow {
    id: String,
    username: String,
    email: String,
    status: &'static str,
    created: String,
}

#[derive(Debug)]
struct RoleOption {
    id: i64,
    name: String,
    selected: bool,
}

#[derive(Debug, Template)]
#[template(path = "ui/console_users.html")]
struct UsersPage {
    chrome: Chrome,
    section: &'static str,
    note: &'static str,
    q: String,
    status: String,
    org: String,
    roles: Vec<RoleOption>,
    users: Vec<UserRow>,
    /// The next page's query string, when this page is full.
    next: Option<String>,
    errors: Errors,
}

async fn users_page(
    State(state): State<AppState>,
    console: Console,
    Query(search): Query<UserSearch>,
) -> Response {
    let actor = console.actor();
    let mut errors = Errors::default();
    let text = Some(blank(&search.q).to_lowercase()).filter(|t| !t.is_empty());
    let status = match blank(&search.status) {
        "" | "any" => None,
        s => match s.parse::<UserStatus>() {
            Ok(status) => Some(status),
            Err(_) => {
                errors.set("status", "Choose pending, active or disabled.");
                None
            }
        },
    };
    let role = match blank(&search.role) {
        "" | "any" => None,
        r => match r.parse::<i64>() {
            Ok(id) => Some(RoleId(id)),
            Err(_) => {
                errors.set("role", "Choose a role from the list.");
                None
            }
        },
    };
    let org = match blank(&search.org) {
        "" => None,
        o => match o.parse::<OrgId>() {
            Ok(id) => Some(id),
            Err(_) => {
                errors.set("org", "Not an organisation id (a UUID).");
                None
            }
        },
    };
    let order = UserOrder::of(text.as_deref());
    let after = match blank(&search.after) {
        "" => None,
        raw => match UserCursor::from_text(raw, order) {
            Some(cursor) => Some(cursor),
            None => {
                errors.set(
                    "form",
                    "The page link belongs to another search; this is the first page.",
                );
                None
            }
        },
    };
    let query = UserQuery {
        text: text.clone(),
        status,
        role,
        org,
        after,
        before: None,
        limit: PAGE,
    };
    let users = match state.accounts.list_users(&actor, query).await {
        Ok(users) => users,
        Err(e) => return console.failure(e, "/admin"),
    };
    // The role filter lists the roles for those who may read them.
    let roles = match state.accounts.list_roles(&actor).await {
        Ok(roles) => roles,
        Err(AdminError::Forbidden) => Vec::new(),
        Err(e) => return console.failure(e, "/admin"),
    };
    let next = match users.last() {
        Some(last) if users.len() >= PAGE as usize => Some(query_string(&[
            ("q", blank(&search.q)),
            ("status", blank(&search.status)),
            ("role", blank(&search.role)),
            ("org", blank(&search.org)),
            ("after", &order.cursor_after(last).to_text()),
        ])),
        _ => None,
    };
    let page = UsersPage {
        chrome: console.chrome.clone(),
        section: "users",
        note: note_text(search.done.as_deref()),
        q: blank(&search.q).to_owned(),
        status: blank(&search.status).to_owned(),
        org: blank(&search.org).to_owned(),
        roles: roles
            .into_iter()
            .map(|r| RoleOption {
                selected: Some(r.id) == role,
                id: r.id.0,
                name: r.name,
            })
            .collect(),
        users: users
            .into_iter()
            .map(|u| UserRow {
                id: u.id.to_string(),
                username: u.username.as_str().to_owned(),
                email: u.email.as_str().to_owned(),
                status: u.status.as_str(),
                created: when(u.created_at),
            })
            .collect(),
        next,
        errors,
    };
    render(StatusCode::OK, &page)
}

#[derive(Debug)]
struct RoleBox {
    id: i64,
    name: String,
    held: bool,
}

#[derive(Debug, Template)]
#[template(path = "ui/console_user.html")]
struct UserPage {
    chrome: Chrome,
    section: &'static str,
    note: &'static str,
    id: String,
    username: String,
    email: String,
    verified: bool,
    status: &'static str,
    disabled: bool,
    number: i64,
    created: String,
    name: String,
    roles: Vec<RoleBox>,
}

fn user_path(id: UserId) -> String {
    format!("/admin/users/{id}")
}

async fn user_page(
    State(state): State<AppState>,
    console: Console,
    Path(raw): Path<String>,
    Query(q): Query<NoteQuery>,
) -> Response {
    let Ok(id) = raw.parse::<UserId>() else {
        return console.not_found("account", "/admin/users");
    };
    let actor = console.actor();
    let user = match state.accounts.get_user(&actor, id).await {
        Ok(user) => user,
        Err(e) => return console.failure(e, "/admin/users"),
    };
    // `roles_of` takes no actor: reading the user was the check.
    let held = match state.accounts.roles_of(user.id).await {
        Ok(roles) => roles,
        Err(e) => return console.failure(e, "/admin/users"),
    };
    // Every role to choose from, for those who may read them; otherwise the held ones.
    let all = match state.accounts.list_roles(&actor).await {
        Ok(roles) => roles,
        Err(AdminError::Forbidden) => held.clone(),
        Err(e) => return console.failure(e, "/admin/users"),
    };
    let page = UserPage {
        chrome: console.chrome.clone(),
        section: "users",
        note: note_text(q.done.as_deref()),
        id: user.id.to_string(),
        username: user.username.as_str().to_owned(),
        email: user.email.as_str().to_owned(),
        verified: user.email_verified,
        status: user.status.as_str(),
        disabled: user.status == UserStatus::Disabled,
        number: user.number,
        created: when(user.created_at),
        name: user.profile.name.clone().unwrap_or_default(),
        roles: all
            .into_iter()
            .map(|r| RoleBox {
                held: held.iter().any(|h| h.id == r.id),
                id: r.id.0,
                name: r.name,
            })
            .collect(),
    };
    render(StatusCode::OK, &page)
}

async fn disable_user(
    State(state): State<AppState>,
    console: Console,
    Path(raw): Path<String>,
) -> Response {
    let Ok(id) = raw.parse::<UserId>() else {
        return console.not_found("account", "/admin/users");
    };
    let result = state
        .accounts
        .set_user_enabled(&console.actor(), id, false)
        .await;
    console.finish(result, &user_path(id), "user-disabled")
}

async fn enable_user(
    State(state): State<AppState>,
    console: Console,
    Path(raw): Path<String>,
) -> Response {
    let Ok(id) = raw.parse::<UserId>() else {
        return console.not_found("account", "/admin/users");
    };
    let result = state
        .accounts
        .set_user_enabled(&console.actor(), id, true)
        .await;
    console.finish(result, &user_path(id), "user-enabled")
}

async fn end_sessions(
    State(state): State<AppState>,
    console: Console,
    Path(raw): Path<String>,
) -> Response {
    let Ok(id) = raw.parse::<UserId>() else {
        return console.not_found("account", "/admin/users");
    };
    let result = state.accounts.end_user_sessions(&console.actor(), id).await;
    console.finish(result, &user_path(id), "sessions-revoked")
}

async fn revoke_tokens(
    State(state): State<AppState>,
    console: Console,
    Path(raw): Path<String>,
) -> Response {
    let Ok(id) = raw.parse::<UserId>() else {
        return console.not_found("account", "/admin/users");
    };
    let result = state
        .accounts
        .revoke_user_tokens(&console.actor(), id)
        .await;
    console.finish(result, &user_path(id), "tokens-revoked")
}

/// Mails the user a reset code and link (the console never sets a password).
async fn reset_password(
    State(state): State<AppState>,
    console: Console,
    Path(raw): Path<String>,
) -> Response {
    let Ok(id) = raw.parse::<UserId>() else {
        return console.not_found("account", "/admin/users");
    };
    let result = state
        .accounts
        .admin_reset_password(&console.actor(), id, None)
        .await;
    console.finish(result, &user_path(id), "reset-sent")
}

async fn reset_second_factor(
    State(state): State<AppState>,
    console: Console,
    Path(raw): Path<String>,
) -> Response {
    let Ok(id) = raw.parse::<UserId>() else {
        return console.not_found("account", "/admin/users");
    };
    let result = state
        .accounts
        .admin_reset_second_factor(&console.actor(), id)
        .await;
    console.finish(result, &user_path(id), "second-factor-reset")
}

/// The roles form: one `role` pair per ticked box (urlencoded forms repeat the key).
async fn save_user_roles(
    State(state): State<AppState>,
    console: Console,
    Path(raw): Path<String>,
    UiForm(pairs): UiForm<Vec<(String, String)>>,
) -> Response {
    let Ok(id) = raw.parse::<UserId>() else {
        return console.not_found("account", "/admin/users");
    };
    let mut roles = Vec::new();
    for (key, value) in pairs {
        if key == "role" {
            match value.trim().parse::<i64>() {
                Ok(role) => roles.push(RoleId(role)),
                Err(_) => {
                    let error = ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_form",
                        format!("{value:?} is not a role id."),
                    );
                    return console.failure(error, &user_path(id));
                }
            }
        }
    }
    let result = state
        .accounts
        .set_user_roles(&console.actor(), id, roles)
        .await;
    console.finish(result, &user_path(id), "roles")
}

#[derive(Debug, Deserialize)]
struct DeleteForm {
    confirm: Option<String>,
}

async fn delete_user(
    State(state): State<AppState>,
    console: Console,
    Path(raw): Path<String>,
    UiForm(form): UiForm<DeleteForm>,
) -> Response {
    let Ok(id) = raw.parse::<UserId>() else {
        return console.not_found("account", "/admin/users");
    };
    if form.confirm.is_none() {
        let error = ApiError::new(
            StatusCode::BAD_REQUEST,
            "not_confirmed",
            "Tick the box to confirm that the account is to be deleted.",
        );
        return console.failure(error, &user_path(id));
    }
    match state.accounts.delete_user(&console.actor(), id).await {
        Ok(()) => done("/admin/users", "user-deleted"),
        Err(e) => console.failure(e, &user_path(id)),
    }
}

// ------------------------------------------------------------ roles

/// A permission in the console's text form: `entity:action:scope`, where `entity` and
/// `action` may be `*` (any) and `scope` is `all`, `own` or `ids=1,2,3` (roles' ids with
/// the `role` entity, users' numbers otherwise: `Scope::ids_for`).
fn permission_text(p: &Permission) -> String {
    let entity = p.entity.map_or("*", Entity::as_str);
    let action = p.action.map_or("*", Action::as_str);
    let scope = match (&p.scope, p.scope.ids()) {
        (_, Some(ids)) => format!(
            "ids={}",
            ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
        ),
        (Scope::Own, None) => "own".to_owned(),
        (_, None) => "all".to_owned(),
    };
    format!("{entity}:{action}:{scope}")
}

fn parse_permission(line: &str) -> Result<Permission, String> {
    let parts: Vec<&str> = line.split(':').map(str::trim).collect();
    let [entity, action, scope] = parts[..] else {
        return Err("write entity:action:scope, e.g. user:read:all".to_owned());
    };
    let entity = match entity {
        "*" => None,
        e => Some(e.parse::<Entity>().map_err(|e| e.to_string())?),
    };
    let action = match action {
        "*" => None,
        a => Some(a.parse::<Action>().map_err(|e| e.to_string())?),
    };
    let scope = match scope {
        "all" => Scope::All,
        "own" => Scope::Own,
        s => match s.strip_prefix("ids=") {
            Some(list) => Scope::ids_for(
                entity,
                list.split(',')
                    .map(|id| id.trim().parse::<i64>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| "ids= takes numbers separated by commas".to_owned())?,
            ),
            None => return Err(format!("unknown scope {s:?} (all, own or ids=1,2)")),
        },
    };
    Ok(Permission {
        entity,
        action,
        scope,
    })
}

/// The permissions textarea, one per line; blank lines are skipped.
fn parse_permissions(text: &str) -> Result<Vec<Permission>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| parse_permission(line).map_err(|e| format!("Line {}: {e}", i + 1)))
        .collect()
}

#[derive(Debug, Default, Deserialize)]
struct RoleForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    permissions: String,
}

impl RoleForm {
    fn of(role: &Role) -> Self {
        Self {
            name: role.name.clone(),
            description: role.description.clone(),
            permissions: role
                .permissions
                .iter()
                .map(permission_text)
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    fn parse(&self) -> Result<RoleSpec, Errors> {
        let permissions = parse_permissions(&self.permissions).map_err(|e| {
            let mut errors = Errors::default();
            errors.set("permissions", e);
            errors
        })?;
        Ok(RoleSpec {
            name: self.name.clone(),
            description: self.description.clone(),
            permissions,
        })
    }
}

#[derive(Debug)]
struct RoleRow {
    id: i64,
    name: String,
    description: String,
    permissions: Vec<String>,
    builtin: bool,
}

#[derive(Debug, Template)]
#[template(path = "ui/console_roles.html")]
struct RolesPage {
    chrome: Chrome,
    section: &'static str,
    note: &'static str,
    roles: Vec<RoleRow>,
    form: RoleForm,
    errors: Errors,
}

#[derive(Debug, Template)]
#[template(path = "ui/console_role.html")]
struct RolePage {
    chrome: Chrome,
    section: &'static str,
    note: &'static str,
    id: i64,
    builtin: bool,
    form: RoleForm,
    errors: Errors,
}

async fn roles_page(
    State(state): State<AppState>,
    console: Console,
    Query(q): Query<NoteQuery>,
) -> Response {
    let note = note_text(q.done.as_deref());
    roles_with(
        &state,
        &console,
        note,
        RoleForm::default(),
        Errors::default(),
    )
    .await
}

async fn roles_with(
    state: &AppState,
    console: &Console,
    note: &'static str,
    form: RoleForm,
    errors: Errors,
) -> Response {
    let roles = match state.accounts.list_roles(&console.actor()).await {
        Ok(roles) => roles,
        Err(e) => return console.failure(e, "/admin"),
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let page = RolesPage {
        chrome: console.chrome.clone(),
        section: "roles",
        note,
        roles: roles
            .into_iter()
            .map(|r| RoleRow {
                id: r.id.0,
                permissions: r.permissions.iter().map(permission_text).collect(),
                name: r.name,
                description: r.description,
                builtin: r.builtin,
            })
            .collect(),
        form,
        errors,
    };
    render(status, &page)
}

async fn create_role(
    State(state): State<AppState>,
    console: Console,
    UiForm(form): UiForm<RoleForm>,
) -> Response {
    let spec = match form.parse() {
        Ok(spec) => spec,
        Err(errors) => return roles_with(&state, &console, "", form, errors).await,
    };
    match state.accounts.create_role(&console.actor(), spec).await {
        Ok(_) => done("/admin/roles", "role-saved"),
        Err(e @ (AdminError::Invalid(_) | AdminError::RoleNameTaken)) => {
            let errors = Errors::from_api(&ApiError::from(e), &[]);
            roles_with(&state, &console, "", form, errors).await
        }
        Err(e) => console.failure(e, "/admin/roles"),
    }
}

async fn role_page(
    State(state): State<AppState>,
    console: Console,
    Path(raw): Path<String>,
    Query(q): Query<NoteQuery>,
) -> Response {
    let Ok(id) = raw.parse::<i64>().map(RoleId) else {
        return console.not_found("role", "/admin/roles");
    };
    let note = note_text(q.done.as_deref());
    role_with(&state, &console, id, note, None, Errors::default()).await
}

/// The edit page of role `id`; `form` is what was submitted (else the role as it is).
async fn role_with(
    state: &AppState,
    console: &Console,
    id: RoleId,
    note: &'static str,
    form: Option<RoleForm>,
    errors: Errors,
) -> Response {
    // The core has no single-role read: the list is small and cached.
    let role = match state.accounts.list_roles(&console.actor()).await {
        Ok(roles) => roles.into_iter().find(|r| r.id == id),
        Err(e) => return console.failure(e, "/admin/roles"),
    };
    let Some(role) = role else {
        return console.not_found("role", "/admin/roles");
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let page = RolePage {
        chrome: console.chrome.clone(),
        section: "roles",
        note,
        id: role.id.0,
        builtin: role.builtin,
        form: form.unwrap_or_else(|| RoleForm::of(&role)),
        errors,
    };
    render(status, &page)
}

async fn update_role(
    State(state): State<AppState>,
    console: Console,
    Path(raw): Path<String>,
    UiForm(form): UiForm<RoleForm>,
) -> Response {
    let Ok(id) = raw.parse::<i64>().map(RoleId) else {
        return console.not_found("role", "/admin/roles");
    };
    let spec = match form.parse() {
        Ok(spec) => spec,
        Err(errors) => return role_with(&state, &console, id, "", Some(form), errors).await,
    };
    match state.accounts.update_role(&console.actor(), id, spec).await {
        Ok(_) => done(&format!("/admin/roles/{id}"), "role-saved"),
        Err(e @ (AdminError::Invalid(_) | AdminError::RoleNameTaken)) => {
            let errors = Errors::from_api(&ApiError::from(e), &[]);
            role_with(&state, &console, id, "", Some(form), errors).await
        }
        Err(e) => console.failure(e, &format!("/admin/roles/{id}")),
    }
}

async fn delete_role(
    State(state): State<AppState>,
    console: Console,
    Path(raw): Path<String>,
) -> Response {
    let Ok(id) = raw.parse::<i64>().map(RoleId) else {
        return console.not_found("role", "/admin/roles");
    };
    let result = state.accounts.delete_role(&console.actor(), id).await;
    console.finish(result, "/admin/roles", "role-deleted")
}

// ------------------------------------------------------------ organisations

#[derive(Debug)]
struct OrgRow {
    id: String,
    name: String,
    created: String,
}

impl From<Organization> for OrgRow {
    fn from(o: Organization) -> Self {
        Self {
            id: o.id.to_string(),
            name: o.name,
            created: when(o.created_at),
        }
    }
}

#[derive(Debug, Template)]
#[template(path = "ui/console_orgs.html")]
struct OrgsPage {
    chrome: Chrome,
    section: &'static str,
    note: &'static str,
    orgs: Vec<OrgRow>,
    /// The form as submitted (not `name`: the field macro has a parameter of that name).
    org_name: String,
    errors: Errors,
}

#[derive(Debug, Default, Deserialize)]
struct OrgForm {
    #[serde(default)]
    name: String,
}

async fn orgs_page(
    State(state): State<AppState>,
    console: Console,
    Query(q): Query<NoteQuery>,
) -> Response {
    let note = note_text(q.done.as_deref());
    orgs_with(&state, &console, note, String::new(), Errors::default()).await
}

async fn orgs_with(
    state: &AppState,
    console: &Console,
    note: &'static str,
    name: String,
    errors: Errors,
) -> Response {
    let orgs = match state.accounts.list_orgs(&console.actor()).await {
        Ok(orgs) => orgs,
        Err(e) => return console.failure(e, "/admin"),
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let page = OrgsPage {
        chrome: console.chrome.clone(),
        section: "orgs",
        note,
        orgs: orgs.into_iter().map(Into::into).collect(),
        org_name: name,
        errors,
    };
    render(status, &page)
}

async fn create_org(
    State(state): State<AppState>,
    console: Console,
    UiForm(form): UiForm<OrgForm>,
) -> Response {
    match state
        .accounts
        .create_org(&console.actor(), &form.name)
        .await
    {
        Ok(org) => done(&format!("/admin/orgs/{}", org.id), "org-saved"),
        Err(e @ AdminError::Invalid(_)) => {
            let errors = Errors::from_api(&ApiError::from(e), &[]);
            orgs_with(&state, &console, "", form.name, errors).await
        }
        Err(e) => console.failure(e, "/admin/orgs"),
    }
}

#[derive(Debug)]
struct MemberRow {
    user_id: String,
    /// The username; the id when the account cannot be read.
    username: String,
    role: &'static str,
    since: String,
}

#[derive(Debug, Template)]
#[template(path = "ui/console_org.html")]
struct OrgPage {
    chrome: Chrome,
    section: &'static str,
    note: &'static str,
    id: String,
    name: String,
    created: String,
    members: Vec<MemberRow>,
    /// The member form as submitted.
    user: String,
    role: String,
    errors: Errors,
}

#[derive(Debug, Default, Deserialize)]
struct MemberForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    role: String,
}

async fn org_page(
    State(state): State<AppState>,
    console: Console,
    Path(raw): Path<String>,
    Query(q): Query<NoteQuery>,
) -> Response {
    let Ok(id) = raw.parse::<OrgId>() else {
        return console.not_found("organisation", "/admin/orgs");
    };
    let note = note_text(q.done.as_deref());
    let form = MemberForm {
        user: String::new(),
        role: "member".to_owned(),
    };
    org_with(&state, &console, id, note, form, Errors::default()).await
}

async fn org_with(
    state: &AppState,
    console: &Console,
    id: OrgId,
    note: &'static str,
    form: MemberForm,
    errors: Errors,
) -> Response {
    let actor = console.actor();
    let org = match state.accounts.org(&actor, id).await {
        Ok(org) => org,
        Err(e) => return console.failure(e, "/admin/orgs"),
    };
    let members = match state.accounts.org_members(&actor, id).await {
        Ok(members) => members,
        Err(e) => return console.failure(e, "/admin/orgs"),
    };
    let mut rows = Vec::with_capacity(members.len());
    for m in members {
        // Reading the members was the check; user records come from the core's cache.
        let username = match state.accounts.user(m.user_id).await {
            Ok(user) => user.username.as_str().to_owned(),
            Err(UserError::Store(e)) => return console.failure(e, "/admin/orgs"),
            Err(_) => m.user_id.to_string(),
        };
        rows.push(MemberRow {
            user_id: m.user_id.to_string(),
            username,
            role: m.role.as_str(),
            since: when(m.created_at),
        });
    }
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let page = OrgPage {
        chrome: console.chrome.clone(),
        section: "orgs",
        note,
        id: org.id.to_string(),
        name: org.name,
        created: when(org.created_at),
        members: rows,
        user: form.user,
        role: form.role,
        errors,
    };
    render(status, &page)
}

async fn add_member(
    State(state): State<AppState>,
    console: Console,
    Path(raw): Path<String>,
    UiForm(form): UiForm<MemberForm>,
) -> Response {
    let Ok(org) = raw.parse::<OrgId>() else {
        return console.not_found("organisation", "/admin/orgs");
    };
    let role = match form.role.parse::<OrgRole>() {
        Ok(role) => role,
        Err(e) => {
            let errors = Errors::from_api(&ApiError::invalid(e), &[]);
            return org_with(&state, &console, org, "", form, errors).await;
        }
    };
    // An account nobody has goes to the core as an id nobody has: the core then answers
    // 403 to those who may not add members and 404 to those who may, so the form never
    // tells a caller without the right whether an account exists.
    let user = match state.accounts.find_user(form.user.trim()).await {
        Ok(user) => Some(user.id),
        Err(UserError::Store(e)) => return console.failure(e, "/admin/orgs"),
        Err(_) => None,
    };
    let target = user.unwrap_or(UserId(Uuid::nil()));
    match state
        .accounts
        .set_member(&console.actor(), org, target, role)
        .await
    {
        Ok(()) => done(&format!("/admin/orgs/{org}"), "member-saved"),
        Err(AdminError::NotFound) if user.is_none() => {
            let mut errors = Errors::default();
            errors.set(
                "user",
                "No account has this username, e-mail address or id.",
            );
            org_with(&state, &console, org, "", form, errors).await
        }
        Err(e) => console.failure(e, &format!("/admin/orgs/{org}")),
    }
}

async fn remove_member(
    State(state): State<AppState>,
    console: Console,
    Path((raw_org, raw_user)): Path<(String, String)>,
) -> Response {
    let Ok(org) = raw_org.parse::<OrgId>() else {
        return console.not_found("organisation", "/admin/orgs");
    };
    let Ok(user) = raw_user.parse::<UserId>() else {
        return console.not_found("member", &format!("/admin/orgs/{org}"));
    };
    let result = state
        .accounts
        .remove_member(&console.actor(), org, user)
        .await;
    console.finish(result, &format!("/admin/orgs/{org}"), "member-removed")
}

// ------------------------------------------------------------ audit log

#[derive(Debug, Default, Deserialize)]
struct AuditSearch {
    user: Option<String>,
    action: Option<String>,
    since: Option<String>,
    until: Option<String>,
    before: Option<String>,
}

#[derive(Debug)]
struct EventRow {
    at: String,
    action: String,
    outcome: &'static str,
    actor: String,
    subject: String,
    client_ip: String,
    detail: String,
}

#[derive(Debug, Template)]
#[template(path = "ui/console_audit.html")]
struct AuditPage {
    chrome: Chrome,
    section: &'static str,
    user: String,
    action: String,
    since: String,
    until: String,
    events: Vec<EventRow>,
    next: Option<String>,
    errors: Errors,
}

/// A `datetime-local` value (minutes, optionally seconds), read as UTC.
fn parse_local_time(raw: &str) -> Option<DateTime<Utc>> {
    [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(raw, f).ok())
    .map(|t| t.and_utc())
}

async fn audit_page(
    State(state): State<AppState>,
    console: Console,
    Query(search): Query<AuditSearch>,
) -> Response {
    let mut errors = Errors::default();
    let mut filter = AuditFilter {
        limit: PAGE,
        ..AuditFilter::default()
    };
    let user = blank(&search.user);
    if !user.is_empty() {
        // An account nobody has filters by an id nobody has: `audit_log` still decides
        // whether the caller may read the log before the page says anything about it.
        let read = Need::new(Entity::User, Action::Read);
        let named = UserRef::Login(user);
        filter.user = match state.accounts.user_as(&console.actor(), read, named).await {
            Ok(found) => Some(found.id),
            Err(AdminError::Store(e)) => return console.failure(e, "/admin"),
            // Only someone who may read every account learns that none has this name.
            Err(AdminError::NotFound) => {
                errors.set(
                    "user",
                    "No account has this username, e-mail address or id.",
                );
                Some(UserId(Uuid::nil()))
            }
            Err(_) => Some(UserId(Uuid::nil())),
        };
    }
    filter.action = Some(blank(&search.action).to_owned()).filter(|a| !a.is_empty());
    for (field, raw, slot) in [
        ("since", blank(&search.since), &mut filter.since),
        ("until", blank(&search.until), &mut filter.until),
    ] {
        if !raw.is_empty() {
            *slot = parse_local_time(raw);
            if slot.is_none() {
                errors.set(field, "Enter a date and time.");
            }
        }
    }
    let before = blank(&search.before);
    if !before.is_empty() {
        match before.parse::<Uuid>() {
            Ok(id) => filter.before = Some(id),
            Err(_) => errors.set("form", "The page link is broken; this is the first page."),
        }
    }
    let events = match state.accounts.audit_log(&console.actor(), &filter).await {
        Ok(events) => events,
        Err(e) => return console.failure(e, "/admin"),
    };
    // A filter that did not parse shows no events rather than events it did not ask for.
    let events = if errors.is_empty() {
        events
    } else {
        Vec::new()
    };
    let next = match events.last() {
        Some(last) if events.len() >= PAGE as usize => Some(query_string(&[
            ("user", user),
            ("action", blank(&search.action)),
            ("since", blank(&search.since)),
            ("until", blank(&search.until)),
            ("before", &last.id.to_string()),
        ])),
        _ => None,
    };
    let rows = match event_rows(&state, events).await {
        Ok(rows) => rows,
        Err(e) => return console.failure(e, "/admin"),
    };
    let page = AuditPage {
        chrome: console.chrome.clone(),
        section: "audit",
        user: user.to_owned(),
        action: blank(&search.action).to_owned(),
        since: blank(&search.since).to_owned(),
        until: blank(&search.until).to_owned(),
        events: rows,
        next,
        errors,
    };
    let status = if page.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    render(status, &page)
}

/// The events with usernames for the ids that still have an account (each distinct id read
/// once, from the core's user cache); deleted accounts show their id.
async fn event_rows(
    state: &AppState,
    events: Vec<AuditEvent>,
) -> Result<Vec<EventRow>, accounts::StoreError> {
    let mut names: HashMap<UserId, String> = HashMap::new();
    let ids: Vec<UserId> = events
        .iter()
        .flat_map(|e| [e.actor, e.subject])
        .flatten()
        .collect();
    for id in ids {
        if names.contains_key(&id) {
            continue;
        }
        let name = match state.accounts.user(id).await {
            Ok(user) => user.username.as_str().to_owned(),
            Err(UserError::Store(e)) => return Err(e),
            Err(_) => id.to_string(),
        };
        names.insert(id, name);
    }
    let name = |id: Option<UserId>| {
        id.and_then(|id| names.get(&id).cloned())
            .unwrap_or_default()
    };
    Ok(events
        .into_iter()
        .map(|e| EventRow {
            at: e.at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            outcome: e.outcome.as_str(),
            actor: name(e.actor),
            subject: name(e.subject),
            client_ip: e.client_ip.unwrap_or_default(),
            detail: e.detail.unwrap_or_default(),
            action: e.action,
        })
        .collect())
}

// ------------------------------------------------------------ mail

#[derive(Debug, Template)]
#[template(path = "ui/console_mail.html")]
struct MailPage {
    chrome: Chrome,
    section: &'static str,
    queued: u64,
    sent: u64,
    failed: u64,
}

async fn mail_page(State(state): State<AppState>, console: Console) -> Response {
    let counts = match state.accounts.outbox(&console.actor()).await {
        Ok(counts) => counts,
        Err(e) => return console.failure(e, "/admin"),
    };
    let page = MailPage {
        chrome: console.chrome.clone(),
        section: "mail",
        queued: counts.queued,
        sent: counts.sent,
        failed: counts.failed,
    };
    render(StatusCode::OK, &page)
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

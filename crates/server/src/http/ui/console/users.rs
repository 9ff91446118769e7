//! The console's user pages: search, one user, and the actions on them.

use super::*;

#[derive(Debug, Default, Deserialize)]
pub(super) struct UserSearch {
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

pub(super) async fn users_page(
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

pub(super) async fn user_page(
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

pub(super) async fn disable_user(
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

pub(super) async fn enable_user(
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

pub(super) async fn end_sessions(
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

pub(super) async fn revoke_tokens(
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
pub(super) async fn reset_password(
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

pub(super) async fn reset_second_factor(
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
pub(super) async fn save_user_roles(
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
pub(super) struct DeleteForm {
    confirm: Option<String>,
}

pub(super) async fn delete_user(
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

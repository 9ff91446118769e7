//! The console's role pages and the permission text they edit.

use super::*;

/// A permission in the console's text form: `entity:action:scope`, where `entity` and
/// `action` may be `*` (any) and `scope` is `all`, `own` or `ids=1,2,3` (roles' ids with
/// the `role` entity, users' numbers otherwise: `Scope::ids_for`).
pub(super) fn permission_text(p: &Permission) -> String {
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
pub(super) fn parse_permissions(text: &str) -> Result<Vec<Permission>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| parse_permission(line).map_err(|e| format!("Line {}: {e}", i + 1)))
        .collect()
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct RoleForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    permissions: String,
}

impl RoleForm {
    pub(super) fn of(role: &Role) -> Self {
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

    pub(super) fn parse(&self) -> Result<RoleSpec, Errors> {
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

pub(super) async fn roles_page(
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

pub(super) async fn create_role(
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

pub(super) async fn role_page(
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

pub(super) async fn update_role(
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

pub(super) async fn delete_role(
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

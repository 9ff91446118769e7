//! The console's organisation pages and their members.

use super::*;

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
pub(super) struct OrgForm {
    #[serde(default)]
    name: String,
}

pub(super) async fn orgs_page(
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

pub(super) async fn create_org(
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
pub(super) struct MemberForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    role: String,
}

pub(super) async fn org_page(
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

pub(super) async fn add_member(
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

pub(super) async fn remove_member(
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

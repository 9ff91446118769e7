//! The console's audit log page.

use super::*;

#[derive(Debug, Default, Deserialize)]
pub(super) struct AuditSearch {
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

pub(super) async fn audit_page(
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

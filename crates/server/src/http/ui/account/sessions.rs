//! The sessions page: one's signed-in browsers and devices, and ending them.

use super::*;

#[derive(Debug)]
struct SessionRow {
    id: Uuid,
    current: bool,
    created: String,
    last_seen: String,
    client_ip: String,
    user_agent: String,
}

#[derive(Debug, Template)]
#[template(path = "ui/account_sessions.html")]
struct SessionsPage {
    chrome: Chrome,
    sessions: Vec<SessionRow>,
    note: &'static str,
}

pub(super) async fn sessions_page(
    State(state): State<AppState>,
    signed: SignedIn,
    csrf: Csrf,
    Query(q): Query<NoteQuery>,
) -> Response {
    let sessions = match state.accounts.sessions(&signed.principal).await {
        Ok(sessions) => sessions,
        Err(e) => return refused(e),
    };
    let sessions = sessions
        .into_iter()
        .map(|s| SessionRow {
            current: s.id == signed.principal.credential_id,
            id: s.id,
            created: when(s.created_at),
            last_seen: when(s.last_seen_at),
            client_ip: s.client_ip.unwrap_or_default(),
            user_agent: s.user_agent.unwrap_or_default(),
        })
        .collect();
    render(
        StatusCode::OK,
        &SessionsPage {
            chrome: signed.chrome(csrf),
            sessions,
            note: note_text(q.done.as_deref()),
        },
    )
}

pub(super) async fn end_session(
    State(state): State<AppState>,
    Client(client): Client,
    signed: SignedIn,
    UiPath(id): UiPath<Uuid>,
) -> Response {
    match state
        .accounts
        .end_session(&signed.principal, id, client)
        .await
    {
        // Ending this browser's own session is signing out.
        Ok(()) if id == signed.principal.credential_id => (
            Cookies::for_state(&state).signed_out(),
            Redirect::to("/signin"),
        )
            .into_response(),
        Ok(()) => done("/account/sessions", "session-ended"),
        Err(e) => refused(e),
    }
}

pub(super) async fn end_other_sessions(
    State(state): State<AppState>,
    Client(client): Client,
    signed: SignedIn,
) -> Response {
    match state
        .accounts
        .end_sessions(&signed.principal, false, client)
        .await
    {
        Ok(_) => done("/account/sessions", "sessions-ended"),
        Err(e) => refused(e),
    }
}

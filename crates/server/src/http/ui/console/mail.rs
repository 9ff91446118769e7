//! The console's mail outbox page.

use super::*;

#[derive(Debug, Template)]
#[template(path = "ui/console_mail.html")]
struct MailPage {
    chrome: Chrome,
    section: &'static str,
    queued: u64,
    sent: u64,
    failed: u64,
}

pub(super) async fn mail_page(State(state): State<AppState>, console: Console) -> Response {
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

//! The password change page.

use super::*;

#[derive(Debug, Template)]
#[template(path = "ui/account_password.html")]
struct PasswordPage {
    chrome: Chrome,
    min_chars: usize,
    note: &'static str,
    errors: Errors,
}

#[derive(Debug, Deserialize)]
pub(super) struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    end_others: Option<String>,
}

pub(super) async fn password_page(
    signed: SignedIn,
    csrf: Csrf,
    Query(q): Query<NoteQuery>,
) -> Response {
    render(
        StatusCode::OK,
        &PasswordPage {
            chrome: signed.chrome(csrf),
            min_chars: Password::MIN_CHARS,
            note: note_text(q.done.as_deref()),
            errors: Errors::default(),
        },
    )
}

pub(super) async fn change_password(
    State(state): State<AppState>,
    Client(client): Client,
    signed: SignedIn,
    csrf: Csrf,
    UiForm(form): UiForm<PasswordForm>,
) -> Response {
    match state
        .accounts
        .change_password(
            &signed.principal,
            Password::for_login(form.current_password),
            form.new_password,
            form.end_others.is_some(),
            client,
        )
        .await
    {
        Ok(()) => done("/account/password", "password"),
        Err(e) => {
            let error = ApiError::from(e);
            let page = PasswordPage {
                chrome: signed.chrome(csrf),
                min_chars: Password::MIN_CHARS,
                note: "",
                errors: Errors::from_api(&error, &[]),
            };
            with_retry_after(render(error.status, &page), &error)
        }
    }
}

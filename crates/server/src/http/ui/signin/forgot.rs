//! The forgotten and reset password pages (code entry and the link's page).

use super::*;

#[derive(Template)]
#[template(path = "ui/forgot.html")]
struct ForgotPage {
    chrome: Chrome,
    login: String,
    errors: Errors,
}

pub(super) async fn forgot_page(Csrf(csrf): Csrf) -> Response {
    render(
        StatusCode::OK,
        &ForgotPage {
            chrome: Chrome::anonymous(csrf),
            login: String::new(),
            errors: Errors::default(),
        },
    )
}

pub(super) async fn forgot(
    State(state): State<AppState>,
    Client(client): Client,
    Csrf(csrf): Csrf,
    UiForm(form): UiForm<LoginOnlyForm>,
) -> Response {
    match state
        .accounts
        .request_password_reset(form.login.trim(), client, accounts::CodeScope::Native)
        .await
    {
        // The same answer whether or not the account exists.
        Ok(()) => Redirect::to(&format!(
            "/reset?login={}&sent=1",
            urlencode(form.login.trim())
        ))
        .into_response(),
        Err(e) => {
            let error = ApiError::from(e);
            let page = ForgotPage {
                chrome: Chrome::anonymous(csrf),
                login: form.login,
                errors: Errors::from_api(&error, &[]),
            };
            with_retry_after(render(error.status, &page), &error)
        }
    }
}

#[derive(Template)]
#[template(path = "ui/reset.html")]
struct ResetPage {
    chrome: Chrome,
    login: String,
    sent: bool,
    min_chars: usize,
    errors: Errors,
}

#[derive(Debug, Deserialize)]
pub(super) struct ResetForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    new_password: String,
}

pub(super) async fn reset_page(Csrf(csrf): Csrf, Query(q): Query<VerifyQuery>) -> Response {
    render(
        StatusCode::OK,
        &ResetPage {
            chrome: Chrome::anonymous(csrf),
            login: q.login.unwrap_or_default(),
            sent: q.sent.is_some(),
            min_chars: Password::MIN_CHARS,
            errors: Errors::default(),
        },
    )
}

pub(super) async fn reset(
    State(state): State<AppState>,
    Client(client): Client,
    Csrf(csrf): Csrf,
    UiForm(form): UiForm<ResetForm>,
) -> Response {
    match state
        .accounts
        .reset_password_with_code(
            form.login.trim(),
            form.code.trim(),
            form.new_password,
            client,
            accounts::CodeScope::Native,
        )
        .await
    {
        Ok(()) => done(
            &format!("/signin?login={}", urlencode(form.login.trim())),
            "reset",
        ),
        Err(e) => {
            let error = ApiError::from(e);
            let mut errors = Errors::from_api(&error, &[("password", "new_password")]);
            if error.code == "invalid_code" {
                errors = Errors::default();
                errors.set("code", error.detail.clone());
            }
            let page = ResetPage {
                chrome: Chrome::anonymous(csrf),
                login: form.login,
                sent: false,
                min_chars: Password::MIN_CHARS,
                errors,
            };
            with_retry_after(render(error.status, &page), &error)
        }
    }
}

#[derive(Template)]
#[template(path = "ui/reset_link.html")]
struct ResetLinkPage {
    chrome: Chrome,
    token: String,
    min_chars: usize,
    errors: Errors,
}

#[derive(Debug, Deserialize)]
pub(super) struct ResetLinkForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    new_password: String,
}

pub(super) async fn reset_link_page(Csrf(csrf): Csrf, Query(q): Query<TokenQuery>) -> Response {
    render(
        StatusCode::OK,
        &ResetLinkPage {
            chrome: Chrome::anonymous(csrf),
            token: q.token,
            min_chars: Password::MIN_CHARS,
            errors: Errors::default(),
        },
    )
}

pub(super) async fn reset_link(
    State(state): State<AppState>,
    Client(client): Client,
    Csrf(csrf): Csrf,
    UiForm(form): UiForm<ResetLinkForm>,
) -> Response {
    match state
        .accounts
        .reset_password_with_link(&form.token, form.new_password, client)
        .await
    {
        Ok(()) => done("/signin", "reset"),
        Err(e) => {
            let error = ApiError::from(e);
            if error.code == "weak_password" {
                let page = ResetLinkPage {
                    chrome: Chrome::anonymous(csrf),
                    token: form.token,
                    min_chars: Password::MIN_CHARS,
                    errors: Errors::from_api(&error, &[("password", "new_password")]),
                };
                return render(error.status, &page);
            }
            failure_page(error)
        }
    }
}

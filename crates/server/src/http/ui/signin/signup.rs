//! Signing up and verifying the address (code entry and the link's page).

use super::*;

/// The username and address typed into a form, each refusal put next to its field.
pub(super) fn parse_identity(
    username: &str,
    email: &str,
    errors: &mut Errors,
) -> (Option<Username>, Option<EmailAddress>) {
    let username = Username::parse(username)
        .map_err(|e| errors.set("username", e.to_string()))
        .ok();
    let email = EmailAddress::parse(email)
        .map_err(|e| errors.set("email", e.to_string()))
        .ok();
    (username, email)
}

#[derive(Template)]
#[template(path = "ui/signup.html")]
struct SignupPage {
    chrome: Chrome,
    username: String,
    email: String,
    display_name: String,
    errors: Errors,
}

#[derive(Debug, Deserialize)]
pub(super) struct SignupForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    name: String,
}

pub(super) async fn signup_page(Csrf(csrf): Csrf) -> Response {
    render(
        StatusCode::OK,
        &SignupPage {
            chrome: Chrome::anonymous(csrf),
            username: String::new(),
            email: String::new(),
            display_name: String::new(),
            errors: Errors::default(),
        },
    )
}

pub(super) async fn signup(
    State(state): State<AppState>,
    Client(client): Client,
    Csrf(csrf): Csrf,
    UiForm(form): UiForm<SignupForm>,
) -> Response {
    let again = |errors: Errors, status: StatusCode| {
        render(
            status,
            &SignupPage {
                chrome: Chrome::anonymous(csrf.clone()),
                username: form.username.clone(),
                email: form.email.clone(),
                display_name: form.name.clone(),
                errors,
            },
        )
    };
    let mut errors = Errors::default();
    let (username, email) = parse_identity(&form.username, &form.email, &mut errors);
    let profile = ProfileUpdate {
        name: Patch::Set(form.name.clone()),
        ..ProfileUpdate::default()
    }
    .validate()
    .map_err(|e| errors.set("name", e.to_string()))
    .ok();
    let (Some(username), Some(email), Some(profile)) = (username, email, profile) else {
        return again(errors, StatusCode::BAD_REQUEST);
    };
    let registration = Registration {
        username: NewUsername::Chosen(username),
        email: email.clone(),
        password: form.password.clone(),
        application: None,
        profile,
    };
    match state.accounts.register(registration, client).await {
        // The same answer whether or not the name or address was taken: the mail says.
        Ok(_) => Redirect::to(&format!(
            "/verify?login={}&sent=1",
            urlencode(email.as_str())
        ))
        .into_response(),
        Err(e) => {
            let error = ApiError::from(e);
            with_retry_after(again(Errors::from_api(&error, &[]), error.status), &error)
        }
    }
}

#[derive(Template)]
#[template(path = "ui/verify.html")]
struct VerifyPage {
    chrome: Chrome,
    login: String,
    sent: bool,
    errors: Errors,
}

#[derive(Debug, Deserialize)]
pub(super) struct VerifyQuery {
    pub(super) login: Option<String>,
    pub(super) sent: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct VerifyForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    code: String,
}

pub(super) async fn verify_page(Csrf(csrf): Csrf, Query(q): Query<VerifyQuery>) -> Response {
    render(
        StatusCode::OK,
        &VerifyPage {
            chrome: Chrome::anonymous(csrf),
            login: q.login.unwrap_or_default(),
            sent: q.sent.is_some(),
            errors: Errors::default(),
        },
    )
}

pub(super) async fn verify(
    State(state): State<AppState>,
    Client(client): Client,
    Csrf(csrf): Csrf,
    UiForm(form): UiForm<VerifyForm>,
) -> Response {
    match state
        .accounts
        .verify_email_code(
            form.login.trim(),
            form.code.trim(),
            client,
            accounts::CodeScope::Native,
        )
        .await
    {
        Ok(()) => done(
            &format!("/signin?login={}", urlencode(form.login.trim())),
            "verified",
        ),
        Err(e) => {
            let error = ApiError::from(e);
            let mut errors = Errors::from_api(&error, &[]);
            if error.code == "invalid_code" {
                errors = Errors::default();
                errors.set("code", error.detail.clone());
            }
            let page = VerifyPage {
                chrome: Chrome::anonymous(csrf),
                login: form.login,
                sent: false,
                errors,
            };
            with_retry_after(render(error.status, &page), &error)
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct LoginOnlyForm {
    #[serde(default)]
    pub(super) login: String,
}

pub(super) async fn resend(
    State(state): State<AppState>,
    Client(client): Client,
    Csrf(csrf): Csrf,
    UiForm(form): UiForm<LoginOnlyForm>,
) -> Response {
    match state
        .accounts
        .resend_verification(form.login.trim(), client, accounts::CodeScope::Native)
        .await
    {
        Ok(()) => Redirect::to(&format!(
            "/verify?login={}&sent=1",
            urlencode(form.login.trim())
        ))
        .into_response(),
        Err(e) => {
            let error = ApiError::from(e);
            let page = VerifyPage {
                chrome: Chrome::anonymous(csrf),
                login: form.login,
                sent: false,
                errors: Errors::from_api(&error, &[]),
            };
            with_retry_after(render(error.status, &page), &error)
        }
    }
}

#[derive(Template)]
#[template(path = "ui/verify_link.html")]
struct VerifyLinkPage {
    chrome: Chrome,
    token: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct TokenQuery {
    #[serde(default)]
    pub(super) token: String,
}

/// The page the e-mailed link opens: one button, so a mail scanner that follows the link
/// consumes nothing; only the person's click redeems the token.
pub(super) async fn verify_link_page(Csrf(csrf): Csrf, Query(q): Query<TokenQuery>) -> Response {
    render(
        StatusCode::OK,
        &VerifyLinkPage {
            chrome: Chrome::anonymous(csrf),
            token: q.token,
        },
    )
}

pub(super) async fn verify_link(
    State(state): State<AppState>,
    Client(client): Client,
    UiForm(form): UiForm<TokenQuery>,
) -> Response {
    match state.accounts.verify_email_link(&form.token, client).await {
        Ok(()) => done("/signin", "verified"),
        Err(e) => failure_page(e.into()),
    }
}

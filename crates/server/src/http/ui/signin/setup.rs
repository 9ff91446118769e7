//! The first-run setup page.

use super::*;

#[derive(Template)]
#[template(path = "ui/setup.html")]
struct SetupPage {
    chrome: Chrome,
    token: String,
    username: String,
    email: String,
    errors: Errors,
}

#[derive(Debug, Deserialize)]
pub(super) struct SetupForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

fn setup_closed() -> Response {
    failure_page(ApiError::new(
        StatusCode::NOT_FOUND,
        "setup_closed",
        "Setup is done: this instance has an administrator. Sign in instead.",
    ))
}

/// The page the start-up message points at while the instance has no administrator. It
/// needs the one-time token printed with that message, so only whoever reads the server's
/// output can claim the instance.
pub(super) async fn setup_page(
    State(state): State<AppState>,
    Csrf(csrf): Csrf,
    Query(q): Query<TokenQuery>,
) -> Response {
    if !state.setup.matches(&q.token)
        || !matches!(state.accounts.needs_first_admin().await, Ok(true))
    {
        return setup_closed();
    }
    render(
        StatusCode::OK,
        &SetupPage {
            chrome: Chrome::anonymous(csrf),
            token: q.token,
            username: "admin".to_owned(),
            email: String::new(),
            errors: Errors::default(),
        },
    )
}

pub(super) async fn setup(
    State(state): State<AppState>,
    Client(client): Client,
    Csrf(csrf): Csrf,
    headers: HeaderMap,
    UiForm(form): UiForm<SetupForm>,
) -> Response {
    let again = |errors: Errors, status: StatusCode| {
        render(
            status,
            &SetupPage {
                chrome: Chrome::anonymous(csrf.clone()),
                token: form.token.clone(),
                username: form.username.clone(),
                email: form.email.clone(),
                errors,
            },
        )
    };
    let mut errors = Errors::default();
    let (username, email) = parse_identity(&form.username, &form.email, &mut errors);
    let password = Password::new_for(
        form.password.clone(),
        &[form.username.as_str(), form.email.as_str()],
    )
    .map_err(|e| errors.set("password", e.to_string()))
    .ok();
    let (Some(username), Some(email), Some(password)) = (username, email, password) else {
        return again(errors, StatusCode::BAD_REQUEST);
    };
    // Taken, so two submissions cannot both create an administrator.
    let Some(token) = state.setup.take(&form.token) else {
        return setup_closed();
    };
    match state.accounts.needs_first_admin().await {
        Ok(true) => {}
        Ok(false) => return setup_closed(),
        Err(e) => {
            state.setup.restore(token);
            return failure_page(e.into());
        }
    }
    let created = state
        .accounts
        .create_user(NewUser {
            username: username.clone(),
            email,
            password: Some(password),
            is_admin: true,
            status: UserStatus::Active,
            email_verified: true,
        })
        .await;
    if let Err(e) = created {
        state.setup.restore(token);
        let error = ApiError::from(e);
        return again(Errors::from_api(&error, &[]), error.status);
    }
    match state
        .accounts
        .login(
            username.as_str(),
            Password::for_login(form.password.clone()),
            client,
        )
        .await
    {
        Ok(session) => start_session(&state, &headers, session, "/admin").await,
        Err(e) => failure_page(e.into()),
    }
}

//! The pages a visitor uses before and while signing in: sign up, verify the e-mail address
//! (the link's confirmation page and code entry), sign in (with the one-time-code step),
//! forgotten and reset password, sign out, and the first-run setup page. Each calls the core
//! function the native API calls, so throttling and the no-enumeration answers are the same.

use accounts::domain::{Patch, ProfileUpdate};
use accounts::{
    EmailAddress, LoginError, LoginSession, NewUser, NewUsername, Password, Registration,
    UserStatus, Username,
};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use super::{
    cookie, done, failure_page, local_path, note_text, render, urlencode, with_retry_after, Chrome,
    Cookies, Csrf, Errors, UiForm,
};
use crate::http::auth::Client;
use crate::http::problem::ApiError;
use crate::http::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/account") }))
        .route("/signin", get(signin_page).post(signin))
        .route("/signin/second-factor", post(signin_second_factor))
        .route("/signout", post(signout))
        .route("/signup", get(signup_page).post(signup))
        .route("/verify", get(verify_page).post(verify))
        .route("/verify/resend", post(resend))
        .route("/verify-email", get(verify_link_page).post(verify_link))
        .route("/forgot", get(forgot_page).post(forgot))
        .route("/reset", get(reset_page).post(reset))
        .route("/reset-password", get(reset_link_page).post(reset_link))
        .route("/setup", get(setup_page).post(setup))
}

// ------------------------------------------------------------ sign in

#[derive(Template)]
#[template(path = "ui/signin.html")]
struct SigninPage {
    chrome: Chrome,
    login: String,
    next: String,
    note: &'static str,
    errors: Errors,
}

#[derive(Template)]
#[template(path = "ui/second_factor.html")]
struct SecondFactorPage {
    chrome: Chrome,
    challenge: String,
    next: String,
    errors: Errors,
}

#[derive(Debug, Deserialize)]
struct SigninQuery {
    next: Option<String>,
    login: Option<String>,
    done: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SigninForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SecondFactorForm {
    #[serde(default)]
    challenge: String,
    #[serde(default)]
    code: String,
    next: Option<String>,
}

async fn signin_page(Csrf(csrf): Csrf, Query(q): Query<SigninQuery>) -> Response {
    render(
        StatusCode::OK,
        &SigninPage {
            chrome: Chrome::anonymous(csrf),
            login: q.login.unwrap_or_default(),
            next: local_path(q.next.as_deref()),
            note: note_text(q.done.as_deref()),
            errors: Errors::default(),
        },
    )
}

async fn signin(
    State(state): State<AppState>,
    Client(client): Client,
    Csrf(csrf): Csrf,
    headers: HeaderMap,
    UiForm(form): UiForm<SigninForm>,
) -> Response {
    let next = local_path(form.next.as_deref());
    let result = state
        .accounts
        .login(&form.login, Password::for_login(form.password), client)
        .await;
    match result {
        Ok(session) => start_session(&state, &headers, session, &next).await,
        Err(LoginError::SecondFactorRequired(Some(challenge))) => render(
            StatusCode::OK,
            &SecondFactorPage {
                chrome: Chrome::anonymous(csrf),
                challenge: challenge.token,
                next,
                errors: Errors::default(),
            },
        ),
        Err(e) => {
            let unverified = matches!(e, LoginError::EmailNotVerified);
            let error = ApiError::from(e);
            let mut errors = Errors::default();
            if unverified {
                errors.set(
                    "form",
                    "Your e-mail address is not confirmed yet: enter the code from the e-mail we sent (Verify e-mail below).",
                );
            } else {
                errors.set(
                    if error.status == StatusCode::UNAUTHORIZED {
                        "password"
                    } else {
                        "form"
                    },
                    error.detail.clone(),
                );
            }
            let page = SigninPage {
                chrome: Chrome::anonymous(csrf),
                login: form.login,
                next,
                note: "",
                errors,
            };
            with_retry_after(render(error.status, &page), &error)
        }
    }
}

async fn signin_second_factor(
    State(state): State<AppState>,
    Client(client): Client,
    Csrf(csrf): Csrf,
    headers: HeaderMap,
    UiForm(form): UiForm<SecondFactorForm>,
) -> Response {
    let next = local_path(form.next.as_deref());
    match state
        .accounts
        .login_second_factor(&form.challenge, &form.code, client)
        .await
    {
        Ok(session) => start_session(&state, &headers, session, &next).await,
        Err(e) => {
            let error = ApiError::from(e);
            let page = SecondFactorPage {
                chrome: Chrome::anonymous(csrf),
                challenge: form.challenge,
                next,
                errors: Errors::from_api(&error, &[]),
            };
            with_retry_after(render(error.status, &page), &error)
        }
    }
}

/// A new session: the browser's previous one (if any) ends, the cookie carries the new one,
/// and the CSRF token is replaced.
async fn start_session(
    state: &AppState,
    headers: &HeaderMap,
    session: LoginSession,
    next: &str,
) -> Response {
    let cookies = Cookies::for_state(state);
    end_browser_session(state, headers).await;
    let max_age = (session.expires_at - state.accounts.now())
        .num_seconds()
        .max(1);
    let target = if next == "/" { "/account" } else { next };
    let device = state.accounts.device_cookie(session.user.id);
    let device_max_age = state
        .accounts
        .config()
        .throttle
        .known_client_for
        .num_seconds();
    (
        cookies.signed_in(session.secret.expose(), max_age, &device, device_max_age),
        Redirect::to(target),
    )
        .into_response()
}

/// Ends the session the browser's cookie holds, if it is one.
async fn end_browser_session(state: &AppState, headers: &HeaderMap) {
    let Some(secret) = cookie(headers, Cookies::for_state(state).session_name()) else {
        return;
    };
    if let Ok(principal) = state.accounts.authenticate(secret).await {
        if let Err(e) = state.accounts.logout(&principal).await {
            tracing::warn!(error = %e, "could not end the browser's previous session");
        }
    }
}

async fn signout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    end_browser_session(&state, &headers).await;
    (
        Cookies::for_state(&state).signed_out(),
        Redirect::to("/signin"),
    )
        .into_response()
}

// ------------------------------------------------------------ sign up and verification

/// The username and address typed into a form, each refusal put next to its field.
fn parse_identity(
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
struct SignupForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    name: String,
}

async fn signup_page(Csrf(csrf): Csrf) -> Response {
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

async fn signup(
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
struct VerifyQuery {
    login: Option<String>,
    sent: Option<String>,
}

#[derive(Debug, Deserialize)]
struct VerifyForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    code: String,
}

async fn verify_page(Csrf(csrf): Csrf, Query(q): Query<VerifyQuery>) -> Response {
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

async fn verify(
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
struct LoginOnlyForm {
    #[serde(default)]
    login: String,
}

async fn resend(
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
struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// The page the e-mailed link opens: one button, so a mail scanner that follows the link
/// consumes nothing; only the person's click redeems the token.
async fn verify_link_page(Csrf(csrf): Csrf, Query(q): Query<TokenQuery>) -> Response {
    render(
        StatusCode::OK,
        &VerifyLinkPage {
            chrome: Chrome::anonymous(csrf),
            token: q.token,
        },
    )
}

async fn verify_link(
    State(state): State<AppState>,
    Client(client): Client,
    UiForm(form): UiForm<TokenQuery>,
) -> Response {
    match state.accounts.verify_email_link(&form.token, client).await {
        Ok(()) => done("/signin", "verified"),
        Err(e) => failure_page(e.into()),
    }
}

// ------------------------------------------------------------ forgotten password

#[derive(Template)]
#[template(path = "ui/forgot.html")]
struct ForgotPage {
    chrome: Chrome,
    login: String,
    errors: Errors,
}

async fn forgot_page(Csrf(csrf): Csrf) -> Response {
    render(
        StatusCode::OK,
        &ForgotPage {
            chrome: Chrome::anonymous(csrf),
            login: String::new(),
            errors: Errors::default(),
        },
    )
}

async fn forgot(
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
struct ResetForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    new_password: String,
}

async fn reset_page(Csrf(csrf): Csrf, Query(q): Query<VerifyQuery>) -> Response {
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

async fn reset(
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
struct ResetLinkForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    new_password: String,
}

async fn reset_link_page(Csrf(csrf): Csrf, Query(q): Query<TokenQuery>) -> Response {
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

async fn reset_link(
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

// ------------------------------------------------------------ first-run setup

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
struct SetupForm {
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
async fn setup_page(
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

async fn setup(
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

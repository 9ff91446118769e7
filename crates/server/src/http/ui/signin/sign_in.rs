//! Signing in (with the one-time-code step) and signing out.

use super::*;

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
pub(super) struct SigninQuery {
    next: Option<String>,
    login: Option<String>,
    done: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct SigninForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct SecondFactorForm {
    #[serde(default)]
    challenge: String,
    #[serde(default)]
    code: String,
    next: Option<String>,
}

pub(super) async fn signin_page(Csrf(csrf): Csrf, Query(q): Query<SigninQuery>) -> Response {
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

pub(super) async fn signin(
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

pub(super) async fn signin_second_factor(
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
pub(super) async fn start_session(
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
    if let Ok(principal) = crate::http::auth::authenticated(state, secret).await {
        if let Err(e) = state.accounts.logout(&principal).await {
            tracing::warn!(error = %e, "could not end the browser's previous session");
        }
    }
}

pub(super) async fn signout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    end_browser_session(&state, &headers).await;
    (
        Cookies::for_state(&state).signed_out(),
        Redirect::to("/signin"),
    )
        .into_response()
}

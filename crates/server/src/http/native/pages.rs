//! The two pages e-mailed links open. Each shows a form, so a mail scanner that follows the
//! link consumes nothing: only the person's click (a POST) redeems the token. Plain HTML, no
//! script, every value escaped.

use accounts::mail::escape_html;
use axum::extract::{Form, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::http::auth::Client;
use crate::http::AppState;

#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[derive(Debug, Deserialize)]
pub struct VerifyForm {
    token: String,
}

#[derive(Debug, Deserialize)]
pub struct ResetForm {
    token: String,
    new_password: String,
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Gatehouse</title></head>\
         <body style=\"font-family:sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem\">\
         <h1>{title}</h1>{body}</body></html>",
        title = escape_html(title)
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
            ),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

/// `GET /auth/v1/verify-email/confirm?token=...`: one button that confirms.
pub async fn verify_page(Query(q): Query<TokenQuery>) -> Response {
    page(
        StatusCode::OK,
        "Confirm your e-mail address",
        &format!(
            "<form method=\"post\" action=\"/auth/v1/verify-email/confirm\">\
             <input type=\"hidden\" name=\"token\" value=\"{}\">\
             <button type=\"submit\">Confirm my address</button></form>",
            escape_html(&q.token)
        ),
    )
}

/// `POST /auth/v1/verify-email/confirm`: the click.
pub async fn verify_submit(
    State(state): State<AppState>,
    Client(client): Client,
    Form(form): Form<VerifyForm>,
) -> Response {
    match state.accounts.verify_email_link(&form.token, client).await {
        Ok(()) => page(
            StatusCode::OK,
            "Address confirmed",
            "<p>Your e-mail address is confirmed. You can sign in now.</p>",
        ),
        Err(e) => failure(e),
    }
}

/// `GET /auth/v1/password/reset?token=...`: the new-password form.
pub async fn reset_page(Query(q): Query<TokenQuery>) -> Response {
    page(
        StatusCode::OK,
        "Choose a new password",
        &format!(
            "<form method=\"post\" action=\"/auth/v1/password/reset/confirm\">\
             <input type=\"hidden\" name=\"token\" value=\"{}\">\
             <label>New password <input type=\"password\" name=\"new_password\" minlength=\"{}\" \
             autocomplete=\"new-password\" required></label> \
             <button type=\"submit\">Set password</button></form>",
            escape_html(&q.token),
            accounts::Password::MIN_CHARS
        ),
    )
}

/// `POST /auth/v1/password/reset/confirm`.
pub async fn reset_submit(
    State(state): State<AppState>,
    Client(client): Client,
    Form(form): Form<ResetForm>,
) -> Response {
    match state
        .accounts
        .reset_password_with_link(&form.token, form.new_password, client)
        .await
    {
        Ok(()) => page(StatusCode::OK, "Password changed", "<p>Your password is changed and every session has ended. Sign in with the new password.</p>"),
        Err(e) => failure(e),
    }
}

fn failure(e: accounts::CodeError) -> Response {
    let api = super::ApiError::from(e);
    page(
        api.status,
        "That did not work",
        &format!("<p>{}</p>", escape_html(&api.detail)),
    )
}

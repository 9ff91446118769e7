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

mod forgot;
mod setup;
mod sign_in;
mod signup;
use forgot::*;
use setup::*;
use sign_in::*;
use signup::*;

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

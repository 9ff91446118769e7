//! The native API under `/auth/v1`: JSON in, JSON out, RFC 9457 problems for errors, and an
//! OpenAPI 3.1 document generated from these handlers at `/auth/v1/openapi.json`.
//!
//! Who may call what: `/login` and `/pictures/{id}` are public; everything else needs a
//! bearer credential (session or API token) and acts only on the caller's own account.

pub mod account;
mod error;
mod extract;
pub mod me;
mod pages;
pub mod session;
pub mod tokens;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

pub use error::{ApiError, Problem};
pub use extract::{ApiJson, ApiPath, Authenticated};

use crate::http::AppState;

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Gatehouse native API",
        description = "User accounts and API credentials. Errors are RFC 9457 problem documents.",
        version = "1"
    ),
    paths(
        session::login,
        session::logout,
        me::get_me,
        me::patch_me,
        me::put_picture,
        me::get_picture,
        tokens::create,
        tokens::list,
        tokens::get_one,
        tokens::disable,
        tokens::enable,
        tokens::rotate,
        tokens::delete,
        account::signup,
        account::verify_email,
        account::resend_verification,
        account::forgot_password,
        account::reset_password,
        account::change_password,
        account::list_sessions,
        account::end_session,
        account::end_other_sessions,
        account::end_all_sessions,
        account::audit_log,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "sessions", description = "Password login and logout"),
        (name = "profile", description = "The current user's claims and picture"),
        (name = "tokens", description = "The current user's API tokens"),
        (name = "lifecycle", description = "Sign-up, verification, password reset and change, sessions"),
        (name = "admin", description = "Administration (admin role)"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A session token (ghs_...) or an API token (gh_...)"))
                    .build(),
            ),
        );
    }
}

async fn openapi_json() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}

pub fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/auth/v1/openapi.json", get(openapi_json))
        .route("/auth/v1/login", post(session::login))
        .route("/auth/v1/logout", post(session::logout))
        .route("/auth/v1/me", get(me::get_me).patch(me::patch_me))
        .route(
            "/auth/v1/me/picture",
            put(me::put_picture).layer(DefaultBodyLimit::max(state.max_upload_body)),
        )
        .route("/auth/v1/pictures/{id}", get(me::get_picture))
        .route("/auth/v1/tokens", get(tokens::list).post(tokens::create))
        .route(
            "/auth/v1/tokens/{id}",
            get(tokens::get_one).delete(tokens::delete),
        )
        .route("/auth/v1/tokens/{id}/disable", post(tokens::disable))
        .route("/auth/v1/tokens/{id}/enable", post(tokens::enable))
        .route("/auth/v1/tokens/{id}/rotate", post(tokens::rotate))
        .route("/auth/v1/signup", post(account::signup))
        .route("/auth/v1/verify-email", post(account::verify_email))
        .route(
            "/auth/v1/verify-email/resend",
            post(account::resend_verification),
        )
        .route(
            "/auth/v1/verify-email/confirm",
            get(pages::verify_page).post(pages::verify_submit),
        )
        .route("/auth/v1/password/forgot", post(account::forgot_password))
        .route(
            "/auth/v1/password/reset",
            get(pages::reset_page).post(account::reset_password),
        )
        .route("/auth/v1/password/reset/confirm", post(pages::reset_submit))
        .route("/auth/v1/password/change", post(account::change_password))
        .route(
            "/auth/v1/sessions",
            get(account::list_sessions).delete(account::end_all_sessions),
        )
        .route(
            "/auth/v1/sessions/end-others",
            post(account::end_other_sessions),
        )
        .route("/auth/v1/sessions/{id}", delete(account::end_session))
        .route("/auth/v1/admin/audit", get(account::audit_log))
}

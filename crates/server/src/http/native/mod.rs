//! The native API under `/auth/v1`: JSON in, JSON out, RFC 9457 problems for errors, and an
//! OpenAPI 3.1 document generated from these handlers at `/auth/v1/openapi.json`.
//!
//! Who may call what: `/login` and `/pictures/{id}` are public; everything else needs a
//! bearer credential (session or API token) and acts only on the caller's own account.

mod error;
mod extract;
pub mod me;
pub mod session;
pub mod tokens;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
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
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "sessions", description = "Password login and logout"),
        (name = "profile", description = "The current user's claims and picture"),
        (name = "tokens", description = "The current user's API tokens"),
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
}

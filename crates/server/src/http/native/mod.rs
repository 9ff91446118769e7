//! The native API under `/auth/v1`: JSON in, JSON out, RFC 9457 problems for errors, and an
//! OpenAPI 3.1 document generated from these handlers at `/auth/v1/openapi.json`.
//!
//! Who may call what: `/login` (both steps), `/pictures/{id}` and the
//! sign-up/verification/reset endpoints are public; everything else needs a bearer credential (session or API token).
//! Every authenticated endpoint passes the caller to the core (an `Actor`, or the
//! authenticated `Principal` for the caller's own sessions and second factor) and the use
//! case checks the permission it needs (`Need`) itself: self-service, administration, files
//! and chunks alike. No handler decides or checks access itself.

pub mod account;
pub mod admin;
pub mod chunks;
mod extract;
pub mod files;
pub mod me;
pub mod orgs;
pub mod paging;
pub mod second_factor;
pub mod session;
mod timestamp;
pub mod tokens;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

pub use crate::http::problem::{ApiError, Problem};
pub use extract::{ApiJson, ApiMultipart, ApiPath, Authenticated};

use crate::http::AppState;

/// What an upload's body may carry beyond the file: multipart boundaries and part headers,
/// and the `link`, `tag_set` and `metadata` parts.
const UPLOAD_FRAMING: usize = 256 * 1024;

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Gatehouse native API",
        description = "User accounts and API credentials. Errors are RFC 9457 problem documents.",
        version = "1"
    ),
    paths(
        session::login,
        session::login_second_factor,
        session::logout,
        session::reauthenticate,
        me::get_me,
        me::patch_me,
        me::put_picture,
        me::get_picture,
        second_factor::status,
        second_factor::begin,
        second_factor::confirm,
        second_factor::disable,
        second_factor::regenerate_recovery_codes,
        files::upload,
        files::list,
        files::download,
        files::delete,
        chunks::create,
        chunks::list,
        chunks::delete,
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
        admin::list_users,
        admin::create_users,
        admin::get_user,
        admin::update_user,
        admin::delete_user,
        admin::disable_user,
        admin::enable_user,
        admin::user_roles,
        admin::set_user_roles,
        admin::reset_password,
        admin::reset_second_factor,
        admin::end_sessions,
        admin::revoke_tokens,
        admin::list_roles,
        admin::create_role,
        admin::update_role,
        admin::delete_role,
        orgs::list,
        orgs::create,
        orgs::get_one,
        orgs::rename,
        orgs::set_short_reset_codes,
        orgs::delete,
        orgs::members,
        orgs::set_member,
        orgs::remove_member,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "sessions", description = "Password login (and its second step) and logout"),
        (name = "profile", description = "The current user's claims and picture"),
        (name = "second factor", description = "The current user's TOTP second factor and recovery codes"),
        (name = "files", description = "The current user's files"),
        (name = "chunks", description = "The current user's chunks: short text records"),
        (name = "tokens", description = "The current user's API tokens"),
        (name = "lifecycle", description = "Sign-up, verification, password reset and change, sessions"),
        (name = "admin", description = "Administration of users and roles: instance permissions, or an organisation admin for its members"),
        (name = "organizations", description = "Organisations (tenants, applications) and their members"),
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
    axum::Json(document())
}

/// The OpenAPI document as served: error responses (4xx, 5xx) declared with the media type
/// they are sent with, `application/problem+json`, rather than utoipa's `application/json`;
/// every operation declares the 503 `unavailable` problem any of them answers while the
/// database does not (with `Retry-After`); operation ids made unique by their tag (utoipa
/// takes the handler's name, and several modules have a `list`).
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    let unavailable = unavailable_response();
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            if let (Some(tag), Some(id)) = (
                operation.tags.as_ref().and_then(|t| t.first()),
                operation.operation_id.as_ref(),
            ) {
                operation.operation_id = Some(format!("{tag}_{id}"));
            }
            operation
                .responses
                .responses
                .entry("503".to_owned())
                .or_insert_with(|| utoipa::openapi::RefOr::T(unavailable.clone()));
            for (status, response) in &mut operation.responses.responses {
                let is_error = status.starts_with('4') || status.starts_with('5');
                if let (true, utoipa::openapi::RefOr::T(response)) = (is_error, response) {
                    if let Some(content) = response.content.shift_remove("application/json") {
                        response
                            .content
                            .insert("application/problem+json".to_owned(), content);
                    }
                }
            }
        }
    }
    doc
}

/// What every operation answers while the database does not answer (`ApiError`'s mapping of
/// `StoreError::Unavailable`): 503 with the `unavailable` problem and `Retry-After`.
fn unavailable_response() -> utoipa::openapi::Response {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, ResponseBuilder};
    ResponseBuilder::new()
        .description(
            "The database does not answer (code `unavailable`); try again after the \
             `Retry-After` seconds",
        )
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::Integer))
                .description(Some("Seconds to wait before trying again"))
                .build(),
        )
        .build()
}

pub fn routes(state: &AppState) -> Router<AppState> {
    // The largest file plus room for the multipart framing and the small text parts.
    let max_file_body = state
        .accounts
        .config()
        .max_file_bytes
        .saturating_add(UPLOAD_FRAMING);
    Router::new()
        .route("/auth/v1/openapi.json", get(openapi_json))
        .route("/auth/v1/login", post(session::login))
        .route(
            "/auth/v1/login/second-factor",
            post(session::login_second_factor),
        )
        .route("/auth/v1/logout", post(session::logout))
        .route(
            "/auth/v1/session/reauthenticate",
            post(session::reauthenticate),
        )
        .route("/auth/v1/me", get(me::get_me).patch(me::patch_me))
        .route(
            "/auth/v1/me/picture",
            put(me::put_picture).layer(DefaultBodyLimit::max(state.max_upload_body)),
        )
        .route("/auth/v1/pictures/{id}", get(me::get_picture))
        .route(
            "/auth/v1/me/second-factor",
            get(second_factor::status)
                .post(second_factor::begin)
                .delete(second_factor::disable),
        )
        .route(
            "/auth/v1/me/second-factor/confirm",
            post(second_factor::confirm),
        )
        .route(
            "/auth/v1/me/second-factor/recovery-codes",
            post(second_factor::regenerate_recovery_codes),
        )
        .route(
            "/auth/v1/files",
            get(files::list)
                .post(files::upload)
                .layer(DefaultBodyLimit::max(max_file_body)),
        )
        .route(
            "/auth/v1/files/{id}",
            get(files::download).delete(files::delete),
        )
        .route("/auth/v1/chunks", get(chunks::list).post(chunks::create))
        .route("/auth/v1/chunks/{id}", delete(chunks::delete))
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
        .route("/auth/v1/password/forgot", post(account::forgot_password))
        .route("/auth/v1/password/reset", post(account::reset_password))
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
        .route(
            "/auth/v1/admin/users",
            get(admin::list_users).post(admin::create_users),
        )
        .route(
            "/auth/v1/admin/users/{id}",
            get(admin::get_user)
                .patch(admin::update_user)
                .delete(admin::delete_user),
        )
        .route(
            "/auth/v1/admin/users/{id}/disable",
            post(admin::disable_user),
        )
        .route("/auth/v1/admin/users/{id}/enable", post(admin::enable_user))
        .route(
            "/auth/v1/admin/users/{id}/roles",
            get(admin::user_roles).put(admin::set_user_roles),
        )
        .route(
            "/auth/v1/admin/users/{id}/reset-password",
            post(admin::reset_password),
        )
        .route(
            "/auth/v1/admin/users/{id}/reset-second-factor",
            post(admin::reset_second_factor),
        )
        .route(
            "/auth/v1/admin/users/{id}/sessions",
            delete(admin::end_sessions),
        )
        .route(
            "/auth/v1/admin/users/{id}/tokens",
            delete(admin::revoke_tokens),
        )
        .route(
            "/auth/v1/admin/roles",
            get(admin::list_roles).post(admin::create_role),
        )
        .route(
            "/auth/v1/admin/roles/{id}",
            put(admin::update_role).delete(admin::delete_role),
        )
        .route("/auth/v1/orgs", get(orgs::list).post(orgs::create))
        .route(
            "/auth/v1/orgs/{id}",
            get(orgs::get_one).patch(orgs::rename).delete(orgs::delete),
        )
        .route("/auth/v1/orgs/{id}/members", get(orgs::members))
        .route(
            "/auth/v1/orgs/{id}/short-reset-codes",
            put(orgs::set_short_reset_codes),
        )
        .route(
            "/auth/v1/orgs/{id}/members/{user_id}",
            put(orgs::set_member).delete(orgs::remove_member),
        )
}

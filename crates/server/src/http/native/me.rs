//! The current user's profile (the OIDC standard claims) and profile picture.

use accounts::files::FileId;
use accounts::{Patch, Profile, ProfileUpdate, User};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ApiError, ApiJson, ApiMultipart, ApiPath, Authenticated};
use crate::http::auth::Client;
use crate::http::auth::Credential;
use crate::http::upload::read_file_part;
use crate::http::AppState;

/// The OIDC standard claims; `null` when not set.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileClaims {
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub middle_name: Option<String>,
    pub nickname: Option<String>,
    pub preferred_username: Option<String>,
    pub profile: Option<String>,
    pub picture: Option<String>,
    pub website: Option<String>,
    pub gender: Option<String>,
    /// `YYYY-MM-DD` (or `YYYY`).
    pub birthdate: Option<String>,
    pub zoneinfo: Option<String>,
    pub locale: Option<String>,
    pub phone_number: Option<String>,
    /// The postal address, formatted.
    pub address: Option<String>,
    /// Not an OIDC claim: the department the user works in.
    pub department: Option<String>,
    /// Not an OIDC claim: a few words about the user.
    pub biography: Option<String>,
}

impl From<Profile> for ProfileClaims {
    fn from(p: Profile) -> Self {
        Self {
            name: p.name,
            given_name: p.given_name,
            family_name: p.family_name,
            middle_name: p.middle_name,
            nickname: p.nickname,
            preferred_username: p.preferred_username,
            profile: p.profile,
            picture: p.picture,
            website: p.website,
            gender: p.gender,
            birthdate: p.birthdate,
            zoneinfo: p.zoneinfo,
            locale: p.locale,
            phone_number: p.phone_number,
            address: p.address,
            department: p.department,
            biography: p.biography,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    /// `pending`, `active` or `disabled`.
    pub status: String,
    pub is_admin: bool,
    #[serde(serialize_with = "super::timestamp::millis")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "super::timestamp::millis")]
    pub updated_at: DateTime<Utc>,
    #[serde(flatten)]
    pub profile: ProfileClaims,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            id: u.id.0,
            username: u.username.to_string(),
            email: u.email.to_string(),
            email_verified: u.email_verified,
            status: u.status.as_str().to_owned(),
            is_admin: u.is_admin,
            created_at: u.created_at,
            updated_at: u.updated_at,
            profile: u.profile.into(),
        }
    }
}

/// Missing key = keep, `null` = clear, a string = set.
fn patch<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// A partial update of the claims (JSON merge-patch style). Unknown keys are refused.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub given_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub family_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub middle_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub nickname: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub preferred_username: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub profile: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub picture: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub website: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub gender: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub birthdate: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub zoneinfo: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub locale: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub phone_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub address: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub department: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub biography: Option<Option<String>>,
}

impl From<ProfilePatch> for ProfileUpdate {
    fn from(p: ProfilePatch) -> Self {
        Self {
            name: Patch::from_option(p.name),
            given_name: Patch::from_option(p.given_name),
            family_name: Patch::from_option(p.family_name),
            middle_name: Patch::from_option(p.middle_name),
            nickname: Patch::from_option(p.nickname),
            preferred_username: Patch::from_option(p.preferred_username),
            profile: Patch::from_option(p.profile),
            picture: Patch::from_option(p.picture),
            website: Patch::from_option(p.website),
            gender: Patch::from_option(p.gender),
            birthdate: Patch::from_option(p.birthdate),
            zoneinfo: Patch::from_option(p.zoneinfo),
            locale: Patch::from_option(p.locale),
            phone_number: Patch::from_option(p.phone_number),
            address: Patch::from_option(p.address),
            department: Patch::from_option(p.department),
            biography: Patch::from_option(p.biography),
        }
    }
}

/// The current user.
#[utoipa::path(
    get, path = "/auth/v1/me", tag = "profile",
    security(("bearer" = [])),
    responses(
        (status = 200, body = UserView),
        (status = 401, body = super::Problem),
        (status = 403, description = "The caller's roles do not include `user:read` on themselves", body = super::Problem),
    )
)]
pub async fn get_me(
    State(state): State<AppState>,
    Credential(principal, _): Authenticated,
) -> Result<axum::Json<UserView>, ApiError> {
    let user = state
        .accounts
        .get_user(&(&principal).into(), principal.user_id)
        .await?;
    Ok(axum::Json(user.into()))
}

/// Update the current user's claims.
#[utoipa::path(
    patch, path = "/auth/v1/me", tag = "profile",
    security(("bearer" = [])),
    request_body = ProfilePatch,
    responses(
        (status = 200, body = UserView),
        (status = 400, description = "A claim is invalid (see `field`), or the body is malformed", body = super::Problem),
        (status = 401, body = super::Problem),
        (status = 403, description = "The caller's roles do not include `user:update` on themselves", body = super::Problem),
    )
)]
pub async fn patch_me(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(principal, _): Authenticated,
    ApiJson(body): ApiJson<ProfilePatch>,
) -> Result<axum::Json<UserView>, ApiError> {
    let user = state
        .accounts
        .update_profile(&principal.actor(&client), principal.user_id, body.into())
        .await?;
    Ok(axum::Json(user.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PictureUploaded {
    /// The public URL of the re-encoded picture; also the new `picture` claim.
    pub picture: String,
}

#[derive(Debug, ToSchema)]
#[allow(dead_code)] // describes the multipart body for the OpenAPI document
pub struct PictureUpload {
    /// PNG, JPEG, GIF or WebP; the type is read from the content.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Upload a new profile picture (multipart part `file`).
#[utoipa::path(
    put, path = "/auth/v1/me/picture", tag = "profile",
    security(("bearer" = [])),
    request_body(content = PictureUpload, content_type = "multipart/form-data"),
    responses(
        (status = 200, body = PictureUploaded),
        (status = 400, description = "Not an image, or no `file` part", body = super::Problem),
        (status = 401, body = super::Problem),
        (status = 403, description = "The caller's roles do not include `user:update` on themselves", body = super::Problem),
        (status = 413, description = "Larger than the configured limit", body = super::Problem),
    )
)]
pub async fn put_picture(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(principal, _): Authenticated,
    ApiMultipart(multipart): ApiMultipart,
) -> Result<axum::Json<PictureUploaded>, ApiError> {
    let bytes = read_file_part(multipart).await?;
    let picture = state
        .accounts
        .set_picture(&principal.actor(&client), principal.user_id, bytes)
        .await?;
    Ok(axum::Json(PictureUploaded { picture }))
}

/// A profile picture. Public, like any avatar URL; the id is random and unguessable.
#[utoipa::path(
    get, path = "/auth/v1/pictures/{id}", tag = "profile",
    params(("id" = Uuid, Path, description = "Picture id, from the `picture` claim")),
    responses(
        (status = 200, description = "The image", content_type = "image/png"),
        (status = 404, body = super::Problem),
    )
)]
pub async fn get_picture(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    let Some(picture) = state.accounts.picture(FileId(id)).await? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such picture",
        ));
    };
    Ok((
        [
            (header::CONTENT_TYPE, picture.content_type),
            (
                header::CACHE_CONTROL,
                "public, max-age=86400, immutable".into(),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
        ],
        picture.bytes,
    )
        .into_response())
}

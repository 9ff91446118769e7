//! Trieve's wire shapes: users, organisations, API keys, files and chunks.

use super::*;

/// Trieve's timestamps are chrono `NaiveDateTime`s: UTC, no timezone, microseconds.
pub(super) fn naive(at: DateTime<Utc>) -> String {
    at.naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

/// A stable id for a membership (the core keeps none): a version 8 UUID made from the
/// organisation's and the user's ids.
pub(super) fn membership_id(org: OrgId, user: UserId) -> String {
    let (a, b) = (org.0.as_bytes(), user.0.as_bytes());
    let mut bytes = [0u8; 16];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = a[i] ^ b[i].rotate_left(3);
    }
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// `SetUserApiKeyRequest`.
#[derive(Debug, Deserialize)]
pub(super) struct SetApiKeyRequest {
    pub(super) name: String,
}

/// `SetUserApiKeyResponse`.
#[derive(Debug, Serialize)]
pub struct SetApiKeyResponse {
    pub(super) api_key: String,
}

/// `DeleteUserApiKeyRequest`.
#[derive(Debug, Deserialize)]
pub(super) struct DeleteApiKeyRequest {
    pub(super) api_key_id: String,
}

/// `ApiKeyDTO`.
#[derive(Debug, Serialize)]
pub struct ApiKeyDto {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) user_id: String,
    pub(super) created_at: String,
    pub(super) updated_at: String,
}

impl From<ApiToken> for ApiKeyDto {
    fn from(t: ApiToken) -> Self {
        Self {
            id: t.id.to_string(),
            name: t.name,
            user_id: t.user_id.to_string(),
            created_at: naive(t.created_at),
            // The last change to a key is its rotation, if any.
            updated_at: naive(t.rotated_at.unwrap_or(t.created_at)),
        }
    }
}

/// `UpdateUserData`: every field optional; `null` is the same as leaving a key out.
#[derive(Debug, Default, Deserialize)]
pub(super) struct UpdateUserData {
    pub(super) name: Option<String>,
    pub(super) role: Option<i64>,
    pub(super) user_id: Option<String>,
    pub(super) username: Option<String>,
    /// Whether others see the user's address (the core's `User::email_visible`).
    pub(super) visible_email: Option<bool>,
    pub(super) website: Option<String>,
}

/// `SlimUser`.
#[derive(Debug, Serialize)]
pub struct SlimUser {
    pub(super) id: String,
    pub(super) email: String,
    pub(super) name: Option<String>,
    pub(super) username: Option<String>,
    pub(super) website: Option<String>,
    pub(super) visible_email: bool,
    pub(super) orgs: Vec<OrganizationOut>,
    pub(super) user_orgs: Vec<UserOrganization>,
}

/// `Organization`.
#[derive(Debug, Serialize)]
pub struct OrganizationOut {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) created_at: String,
    pub(super) updated_at: String,
    registerable: Option<bool>,
}

impl From<&Organization> for OrganizationOut {
    fn from(org: &Organization) -> Self {
        Self {
            id: org.id.to_string(),
            name: org.name.clone(),
            created_at: naive(org.created_at),
            // The core keeps no change time for organisations.
            updated_at: naive(org.created_at),
            registerable: None,
        }
    }
}

/// `UserOrganization`.
#[derive(Debug, Serialize)]
pub struct UserOrganization {
    pub(super) id: String,
    pub(super) user_id: String,
    pub(super) organization_id: String,
    pub(super) role: i64,
    pub(super) created_at: String,
    pub(super) updated_at: String,
}

/// `File`.
#[derive(Debug, Serialize)]
pub struct FileOut {
    pub(super) id: String,
    dataset_id: &'static str,
    file_name: String,
    pub(super) user_id: String,
    size: u64,
    pub(super) created_at: String,
    pub(super) updated_at: String,
    link: Option<String>,
    metadata: Option<serde_json::Value>,
    tag_set: Option<String>,
    time_stamp: Option<String>,
}

impl From<FileRecord> for FileOut {
    fn from(f: FileRecord) -> Self {
        Self {
            id: f.id.to_string(),
            dataset_id: DATASET_ID,
            file_name: f.name,
            user_id: f.owner_id.to_string(),
            size: f.size,
            created_at: naive(f.created_at),
            // Files are never changed after upload.
            updated_at: naive(f.created_at),
            link: f.link,
            metadata: f.metadata,
            tag_set: f.tag_set,
            time_stamp: None,
        }
    }
}

/// `UserDTO`: a chunk's author.
#[derive(Debug, Clone, Serialize)]
pub struct UserDto {
    pub(super) id: String,
    pub(super) created_at: String,
    pub(super) visible_email: bool,
    pub(super) email: Option<String>,
    pub(super) username: Option<String>,
    pub(super) website: Option<String>,
}

/// The address as `viewer` may see it: always their own; another user's only while that
/// user lets others see it (`visible_email`).
pub(super) fn shown_email(user: &User, viewer: UserId) -> Option<String> {
    (user.id == viewer || user.email_visible).then(|| user.email.to_string())
}

impl UserDto {
    pub(super) fn shown_to(u: &User, viewer: UserId) -> Self {
        Self {
            id: u.id.to_string(),
            created_at: naive(u.created_at),
            visible_email: u.email_visible,
            email: shown_email(u, viewer),
            username: Some(u.username.to_string()),
            website: u.profile.website.clone(),
        }
    }
}

/// `UserDTOWithChunks`.
#[derive(Debug, Serialize)]
pub struct UserWithChunks {
    #[serde(flatten)]
    pub(super) user: UserDto,
    pub(super) total_chunks_created: u64,
    pub(super) chunks: Vec<ChunkOut>,
}

/// `ChunkMetadataWithFileData`.
#[derive(Debug, Serialize)]
pub struct ChunkOut {
    pub(super) id: String,
    pub(super) content: String,
    /// Gatehouse has no vector index; the chunk's own id.
    qdrant_point_id: String,
    pub(super) created_at: String,
    pub(super) updated_at: String,
    weight: f64,
    chunk_html: Option<String>,
    pub(super) file_id: Option<String>,
    file_name: Option<String>,
    link: Option<String>,
    metadata: Option<serde_json::Value>,
    tag_set: Option<String>,
    time_stamp: Option<String>,
    tracking_id: Option<String>,
    pub(super) author: UserDto,
}

impl ChunkOut {
    pub(super) fn new(
        c: ChunkRecord,
        author: &UserDto,
        file_names: &HashMap<String, String>,
    ) -> Self {
        let file_id = c.file_id.map(|f| f.to_string());
        Self {
            id: c.id.to_string(),
            content: c.content,
            qdrant_point_id: c.id.to_string(),
            created_at: naive(c.created_at),
            updated_at: naive(c.updated_at),
            weight: c.weight,
            chunk_html: c.html,
            file_name: file_id.as_ref().and_then(|f| file_names.get(f).cloned()),
            file_id,
            link: c.link,
            metadata: c.metadata,
            tag_set: c.tag_set,
            time_stamp: None,
            tracking_id: c.tracking_id,
            author: author.clone(),
        }
    }
}

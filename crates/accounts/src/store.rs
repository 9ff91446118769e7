//! The storage port. Methods are shaped by use case and each one is a single transaction,
//! so a backend never leaves half a change behind. Every backend must pass the contract
//! suite in `testkit`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::{EmailAddress, ProfileChange, User, UserId, UserStatus, Username};
use crate::files::FileId;
use crate::token::{ApiToken, CredentialKind, TokenHash, TokenId};

/// Which uniqueness rule a write broke. Backends map their own constraint errors to this
/// (SQLite reports no constraint names, so each backend maps by its own means).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unique {
    Username,
    Email,
    TokenHash,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unique constraint violated: {0:?}")]
    Conflict(Unique),
    #[error("a per-user limit was reached")]
    LimitReached,
    #[error("storage backend failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A new account as written by `insert_user`.
#[derive(Debug, Clone)]
pub struct NewUserRecord {
    pub id: UserId,
    pub username: Username,
    pub email: EmailAddress,
    pub email_verified: bool,
    pub status: UserStatus,
    pub is_admin: bool,
    pub password_hash: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A login session as stored (the secret only as its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: Uuid,
    pub user_id: UserId,
    pub secret_hash: TokenHash,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
}

/// What authentication needs to know about a secret's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRecord {
    pub kind: CredentialKind,
    /// The token's or the session's id.
    pub id: Uuid,
    pub user_id: UserId,
    pub expires_at: Option<DateTime<Utc>>,
    pub disabled: bool,
    pub user_status: UserStatus,
    pub user_is_admin: bool,
}

/// How `find_token` looks a token up, always within one user's tokens.
#[derive(Debug, Clone)]
pub enum TokenLookup {
    Id(TokenId),
    Hash(TokenHash),
    Mask(String),
}

/// A stored file's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    pub id: FileId,
    pub owner_id: UserId,
    pub purpose: String,
    pub content_type: String,
    pub size: u64,
    pub created_at: DateTime<Utc>,
}

#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Cheap round trip for readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;

    // ---- users ----
    /// Fails with `Conflict(Username)` or `Conflict(Email)`.
    async fn insert_user(&self, user: &NewUserRecord) -> Result<User, StoreError>;
    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError>;
    async fn user_by_username(&self, username: &Username) -> Result<Option<User>, StoreError>;
    async fn user_by_email(&self, email: &EmailAddress) -> Result<Option<User>, StoreError>;
    /// The user and their password hash, by username or e-mail (as typed at login).
    async fn login_lookup(&self, login: &str)
        -> Result<Option<(User, Option<String>)>, StoreError>;
    /// Replaces the password hash; with `end_sessions`, deletes all of the user's sessions in
    /// the same transaction. `false` when the user does not exist.
    async fn set_password_hash(
        &self,
        id: UserId,
        password_hash: &str,
        end_sessions: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Applies `change` to the stored profile atomically; `None` when the user does not exist.
    async fn update_profile(
        &self,
        id: UserId,
        change: &ProfileChange,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError>;
    /// Records `file` as the user's avatar and applies `change` (the new picture URL) in one
    /// transaction. Returns the previous avatar's id (its record is deleted), or `Ok(None)`
    /// with nothing written when the user does not exist: check with `user_by_id` first.
    async fn replace_avatar(
        &self,
        file: &FileRecord,
        change: &ProfileChange,
    ) -> Result<Option<FileId>, StoreError>;
    async fn file(&self, id: FileId) -> Result<Option<FileRecord>, StoreError>;

    // ---- sessions ----
    async fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError>;
    /// `false` when there was no such session.
    async fn delete_session(&self, id: Uuid) -> Result<bool, StoreError>;

    // ---- credentials (API tokens and sessions) ----
    async fn credential_by_hash(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<CredentialRecord>, StoreError>;
    /// Writes the batched last-used times; unknown ids are ignored.
    async fn record_credential_use(
        &self,
        uses: &[(CredentialKind, Uuid, DateTime<Utc>)],
    ) -> Result<(), StoreError>;

    // ---- API tokens ----
    /// Inserts unless the user already has `max_per_user` tokens (`LimitReached`); the count
    /// and the insert are one transaction, so parallel creations cannot pass the limit.
    async fn insert_token(
        &self,
        token: &ApiToken,
        hash: &TokenHash,
        max_per_user: usize,
    ) -> Result<(), StoreError>;
    /// All of a user's tokens, newest first.
    async fn list_tokens(&self, user: UserId) -> Result<Vec<ApiToken>, StoreError>;
    async fn find_token(
        &self,
        user: UserId,
        by: &TokenLookup,
    ) -> Result<Option<ApiToken>, StoreError>;
    /// `false` when the user has no such token.
    async fn set_token_disabled(
        &self,
        user: UserId,
        id: TokenId,
        disabled: bool,
    ) -> Result<bool, StoreError>;
    async fn delete_token(&self, user: UserId, id: TokenId) -> Result<bool, StoreError>;
    /// Replaces the secret (hash and mask), keeping id, name, expiry and state.
    async fn rotate_token(
        &self,
        user: UserId,
        id: TokenId,
        hash: &TokenHash,
        mask: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

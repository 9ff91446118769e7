//! `CredentialStore`: what authenticates a request (API tokens and login sessions, by the
//! hash of their secret) and when each was last used.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::StoreError;
use crate::domain::{UserId, UserStatus};
use crate::token::{ApiToken, CredentialKind, TokenHash, TokenId};

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

/// A login session as listed to its owner.
pub type SessionInfo = SessionRecord;

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
}

/// How `find_token` looks a token up, always within one user's tokens.
#[derive(Debug, Clone)]
pub enum TokenLookup {
    Id(TokenId),
    Hash(TokenHash),
    Mask(String),
}

/// Which sessions a password change ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndSessions {
    None,
    All,
    AllExcept(Uuid),
    /// A reset: every session, every API token and every pending sign-in challenge.
    Reset,
}

/// API tokens and sessions: resolved by hash, listed, rotated and ended.
#[async_trait]
pub trait CredentialStore: Send + Sync {
    async fn credential_by_hash(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<CredentialRecord>, StoreError>;

    /// Writes the batched last-used times; unknown ids are ignored.
    async fn record_credential_use(
        &self,
        uses: &[(CredentialKind, Uuid, DateTime<Utc>)],
    ) -> Result<(), StoreError>;

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

    /// Deletes every API token of the user; returns their ids.
    async fn delete_user_tokens(&self, user: UserId) -> Result<Vec<Uuid>, StoreError>;

    /// Inserts the session; its holder proved their password (or second factor) now, at
    /// `created_at`.
    async fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError>;

    /// When the session's holder last proved their password or second factor: at sign-in,
    /// or at the latest `mark_session_proved`. `None` for no such session (or one from
    /// before this was kept).
    async fn session_proved_at(&self, id: Uuid) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Records a fresh proof on the session; `false` when there is no such session.
    async fn mark_session_proved(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool, StoreError>;

    /// `false` when there was no such session.
    async fn delete_session(&self, id: Uuid) -> Result<bool, StoreError>;

    /// The user's unexpired sessions, newest first.
    async fn list_sessions(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionInfo>, StoreError>;

    /// Deletes one of the user's sessions; `false` when the user has no such session.
    async fn delete_user_session(&self, user: UserId, id: Uuid) -> Result<bool, StoreError>;

    /// Deletes the user's sessions, but `except`; returns the ids deleted.
    async fn delete_sessions(
        &self,
        user: UserId,
        except: Option<Uuid>,
    ) -> Result<Vec<Uuid>, StoreError>;
}

//! `SecondFactorStore`: TOTP secrets with their last used step, recovery codes (only
//! hashes), and the login challenges between the password and the code.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{SessionRecord, StoreError};
use crate::domain::UserId;
use crate::token::TokenHash;

/// The user's TOTP second factor as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpRecord {
    pub user_id: UserId,
    pub secret: Vec<u8>,
    /// Confirmed with a first code; only then does login ask for codes.
    pub confirmed: bool,
    /// The last step a code was accepted for; that step and earlier ones never pass again.
    pub last_step: Option<u64>,
    pub created_at: DateTime<Utc>,
}

/// The first step of a two-step login: proof of the password, waiting for a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeRecord {
    pub id: Uuid,
    pub user_id: UserId,
    pub secret_hash: TokenHash,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
}

/// TOTP enrolment and steps, recovery codes, login challenges.
#[async_trait]
pub trait SecondFactorStore: Send + Sync {
    async fn totp(&self, user: UserId) -> Result<Option<TotpRecord>, StoreError>;

    /// Starts (or restarts) an unconfirmed enrolment with `secret`; `false`, writing nothing,
    /// when a confirmed one exists.
    async fn begin_totp(
        &self,
        user: UserId,
        secret: &[u8],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Confirms the pending enrolment, records `step` as used and replaces the recovery
    /// codes, in one transaction; `false` when there is no unconfirmed enrolment.
    async fn confirm_totp(
        &self,
        user: UserId,
        step: u64,
        recovery: &[TokenHash],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Records `step` as used when it is later than the last used one (compare-and-set);
    /// `false` for a replay.
    async fn use_totp_step(&self, user: UserId, step: u64) -> Result<bool, StoreError>;

    /// One page of stored TOTP secrets as they are (sealed, or plaintext from before
    /// sealing), by user id after `after`; for sealing and key rotation.
    async fn totp_secrets(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<(UserId, Vec<u8>)>, StoreError>;

    /// Replaces the user's stored secret with `new` when it is still `old` (compare-and-set,
    /// so a re-enrolment in between is never overwritten); `false` otherwise.
    async fn replace_totp_secret(
        &self,
        user: UserId,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool, StoreError>;

    /// Deletes the TOTP secret and every recovery code; `false` when there was none.
    async fn delete_totp(&self, user: UserId) -> Result<bool, StoreError>;

    /// Replaces every recovery code of the user.
    async fn replace_recovery_codes(
        &self,
        user: UserId,
        hashes: &[TokenHash],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Marks the unused recovery code with this hash used; `false` when none matches.
    async fn use_recovery_code(
        &self,
        user: UserId,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// How many unused recovery codes the user has.
    async fn recovery_codes_left(&self, user: UserId) -> Result<u32, StoreError>;

    async fn insert_challenge(&self, challenge: &ChallengeRecord) -> Result<(), StoreError>;

    /// The challenge with this secret hash, when unexpired and under `max_attempts` wrong
    /// codes.
    async fn live_challenge(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
        max_attempts: u32,
    ) -> Result<Option<ChallengeRecord>, StoreError>;

    /// Counts one wrong code; returns the attempts left (0: the challenge is dead).
    async fn fail_challenge(&self, id: Uuid, max_attempts: u32) -> Result<u32, StoreError>;

    /// Consumes the challenge and inserts the session in one transaction; `false`, writing
    /// nothing, when the challenge was already consumed or is gone.
    async fn complete_challenge(
        &self,
        id: Uuid,
        session: &SessionRecord,
    ) -> Result<bool, StoreError>;
}

//! `LifecycleStore`: one-time codes (verification, reset) and the mail outbox they queue
//! into in the same transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::StoreError;
use crate::domain::UserId;
use crate::mail::{OutgoingMail, QueuedMail};
use crate::token::TokenHash;

/// What a one-time code is for; a code redeems only for its own purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodePurpose {
    VerifyEmail,
    ResetPassword,
}

impl CodePurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
        }
    }
}

/// A one-time code and its link token, both stored only as hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    pub id: Uuid,
    pub user_id: UserId,
    pub purpose: CodePurpose,
    pub code_hash: TokenHash,
    pub link_hash: TokenHash,
    pub created_at: DateTime<Utc>,
    pub code_expires_at: DateTime<Utc>,
    pub link_expires_at: DateTime<Utc>,
}

/// How a redemption names its code: a typed code for a known user, or a link token.
#[derive(Debug, Clone)]
pub enum CodeLookup {
    Code { user: UserId, hash: TokenHash },
    Link(TokenHash),
}

/// What redeeming a code does, in the same transaction that consumes it.
#[derive(Debug, Clone)]
pub enum CodeEffect {
    /// Marks the e-mail verified and a pending account active.
    VerifyEmail,
    /// Replaces the password hash and ends every session, API token and pending sign-in
    /// challenge (`EndSessions::Reset`).
    SetPassword(String),
}

/// The outcome of `redeem_code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption {
    /// Consumed; the effect is applied.
    Redeemed(UserId),
    /// A live code exists but this one is wrong; `attempts_left` more tries before it dies.
    Wrong { attempts_left: u32 },
    /// No live code: never issued, expired, used, superseded or out of attempts.
    NoCode,
}

/// The outbox at a glance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailCounts {
    pub queued: u64,
    pub sent: u64,
    pub failed: u64,
    /// When the oldest message still queued was queued (`None`: nothing queued).
    pub oldest_queued_at: Option<DateTime<Utc>>,
}

/// One-time codes and the mail outbox.
#[async_trait]
pub trait LifecycleStore: Send + Sync {
    /// Replaces the user's live codes of the same purpose with `code` and queues `mail`, in
    /// one transaction.
    async fn issue_code(&self, code: &CodeRecord, mail: &OutgoingMail) -> Result<(), StoreError>;

    /// Checks a code of `purpose` and, when it matches, consumes it and applies `effect`, all in
    /// one transaction; a wrong code spends one of `max_attempts`. Codes past their expiry, used,
    /// or out of attempts never redeem.
    async fn redeem_code(
        &self,
        purpose: CodePurpose,
        lookup: &CodeLookup,
        effect: &CodeEffect,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<Redemption, StoreError>;

    async fn enqueue_mail(
        &self,
        mail: &OutgoingMail,
        now: DateTime<Utc>,
    ) -> Result<Uuid, StoreError>;

    /// Leases up to `limit` queued messages that are due (`next_attempt_at <= now` and no live
    /// lease) until `lease_until`, so two workers never send the same message at once.
    async fn claim_mail(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, StoreError>;

    async fn mark_mail_sent(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Records a failed attempt; `retry_at: None` gives up (status failed).
    async fn mark_mail_failed(
        &self,
        id: Uuid,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;

    /// How many messages are queued, sent and failed (admin console, tests).
    async fn mail_counts(&self) -> Result<MailCounts, StoreError>;
}

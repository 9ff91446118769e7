//! `CountingStore`'s delegation of the roles that keep what users do and store: lifecycle,
//! second factor, content, throttling and audit (see `mod.rs` for the counting itself).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Access, CountingStore};
use crate::audit::{AuditEvent, AuditFilter};
use crate::domain::{ProfileChange, UserId};
use crate::files::FileId;
use crate::mail::{OutgoingMail, QueuedMail};
use crate::store::*;
use crate::token::TokenHash;

#[async_trait]
impl LifecycleStore for CountingStore {
    async fn issue_code(&self, code: &CodeRecord, mail: &OutgoingMail) -> Result<(), StoreError> {
        self.count("issue_code", Access::Write);
        self.inner.issue_code(code, mail).await
    }

    async fn redeem_code(
        &self,
        purpose: CodePurpose,
        lookup: &CodeLookup,
        effect: &CodeEffect,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<Redemption, StoreError> {
        self.count("redeem_code", Access::Write);
        self.inner
            .redeem_code(purpose, lookup, effect, max_attempts, now)
            .await
    }

    async fn enqueue_mail(
        &self,
        mail: &OutgoingMail,
        now: DateTime<Utc>,
    ) -> Result<Uuid, StoreError> {
        self.count("enqueue_mail", Access::Write);
        self.inner.enqueue_mail(mail, now).await
    }

    async fn claim_mail(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, StoreError> {
        self.count("claim_mail", Access::Write);
        self.inner.claim_mail(now, lease_until, limit).await
    }

    async fn mark_mail_sent(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.count("mark_mail_sent", Access::Write);
        self.inner.mark_mail_sent(id, now).await
    }

    async fn mark_mail_failed(
        &self,
        id: Uuid,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        self.count("mark_mail_failed", Access::Write);
        self.inner.mark_mail_failed(id, error, retry_at).await
    }

    async fn mail_counts(&self) -> Result<MailCounts, StoreError> {
        self.count("mail_counts", Access::Read);
        self.inner.mail_counts().await
    }
}

#[async_trait]
impl SecondFactorStore for CountingStore {
    async fn totp(&self, user: UserId) -> Result<Option<TotpRecord>, StoreError> {
        self.count("totp", Access::Read);
        self.inner.totp(user).await
    }

    async fn begin_totp(
        &self,
        user: UserId,
        secret: &[u8],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.count("begin_totp", Access::Write);
        self.inner.begin_totp(user, secret, now).await
    }

    async fn confirm_totp(
        &self,
        user: UserId,
        step: u64,
        recovery: &[TokenHash],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.count("confirm_totp", Access::Write);
        self.inner.confirm_totp(user, step, recovery, now).await
    }

    async fn use_totp_step(&self, user: UserId, step: u64) -> Result<bool, StoreError> {
        self.count("use_totp_step", Access::Write);
        self.inner.use_totp_step(user, step).await
    }

    async fn totp_secrets(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<(UserId, Vec<u8>)>, StoreError> {
        self.count("totp_secrets", Access::Read);
        self.inner.totp_secrets(after, limit).await
    }

    async fn replace_totp_secret(
        &self,
        user: UserId,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool, StoreError> {
        self.count("replace_totp_secret", Access::Write);
        self.inner.replace_totp_secret(user, old, new).await
    }

    async fn delete_totp(&self, user: UserId) -> Result<bool, StoreError> {
        self.count("delete_totp", Access::Write);
        self.inner.delete_totp(user).await
    }

    async fn replace_recovery_codes(
        &self,
        user: UserId,
        hashes: &[TokenHash],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.count("replace_recovery_codes", Access::Write);
        self.inner.replace_recovery_codes(user, hashes, now).await
    }

    async fn use_recovery_code(
        &self,
        user: UserId,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.count("use_recovery_code", Access::Write);
        self.inner.use_recovery_code(user, hash, now).await
    }

    async fn recovery_codes_left(&self, user: UserId) -> Result<u32, StoreError> {
        self.count("recovery_codes_left", Access::Read);
        self.inner.recovery_codes_left(user).await
    }

    async fn insert_challenge(&self, challenge: &ChallengeRecord) -> Result<(), StoreError> {
        self.count("insert_challenge", Access::Write);
        self.inner.insert_challenge(challenge).await
    }

    async fn live_challenge(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
        max_attempts: u32,
    ) -> Result<Option<ChallengeRecord>, StoreError> {
        self.count("live_challenge", Access::Read);
        self.inner.live_challenge(hash, now, max_attempts).await
    }

    async fn fail_challenge(&self, id: Uuid, max_attempts: u32) -> Result<u32, StoreError> {
        self.count("fail_challenge", Access::Write);
        self.inner.fail_challenge(id, max_attempts).await
    }

    async fn complete_challenge(
        &self,
        id: Uuid,
        session: &SessionRecord,
    ) -> Result<bool, StoreError> {
        self.count("complete_challenge", Access::Write);
        self.inner.complete_challenge(id, session).await
    }
}

#[async_trait]
impl ContentStore for CountingStore {
    async fn replace_avatar(
        &self,
        file: &FileRecord,
        change: &ProfileChange,
        limits: &ContentLimits,
    ) -> Result<Option<FileId>, StoreError> {
        self.count("replace_avatar", Access::Write);
        self.inner.replace_avatar(file, change, limits).await
    }

    async fn file(&self, id: FileId) -> Result<Option<FileRecord>, StoreError> {
        self.count("file", Access::Read);
        self.inner.file(id).await
    }

    async fn insert_file(
        &self,
        file: &FileRecord,
        limits: &ContentLimits,
    ) -> Result<(), StoreError> {
        self.count("insert_file", Access::Write);
        self.inner.insert_file(file, limits).await
    }

    async fn content_usage(&self, owner: UserId) -> Result<ContentUsage, StoreError> {
        self.count("content_usage", Access::Read);
        self.inner.content_usage(owner).await
    }

    async fn list_files(&self, owner: UserId) -> Result<Vec<FileRecord>, StoreError> {
        self.count("list_files", Access::Read);
        self.inner.list_files(owner).await
    }

    async fn list_files_page(
        &self,
        owner: UserId,
        from: Option<FileCursor>,
        limit: u32,
    ) -> Result<Vec<FileRecord>, StoreError> {
        self.count("list_files_page", Access::Read);
        self.inner.list_files_page(owner, from, limit).await
    }

    async fn delete_file(&self, owner: UserId, id: FileId) -> Result<bool, StoreError> {
        self.count("delete_file", Access::Write);
        self.inner.delete_file(owner, id).await
    }

    async fn insert_chunk(
        &self,
        chunk: &ChunkRecord,
        limits: &ContentLimits,
    ) -> Result<(), StoreError> {
        self.count("insert_chunk", Access::Write);
        self.inner.insert_chunk(chunk, limits).await
    }

    async fn list_chunks(
        &self,
        user: UserId,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<ChunkRecord>, u64), StoreError> {
        self.count("list_chunks", Access::Read);
        self.inner.list_chunks(user, offset, limit).await
    }

    async fn list_chunks_page(
        &self,
        user: UserId,
        from: Option<ChunkCursor>,
        limit: u32,
    ) -> Result<Vec<ChunkRecord>, StoreError> {
        self.count("list_chunks_page", Access::Read);
        self.inner.list_chunks_page(user, from, limit).await
    }

    async fn delete_chunk(&self, user: UserId, id: Uuid) -> Result<bool, StoreError> {
        self.count("delete_chunk", Access::Write);
        self.inner.delete_chunk(user, id).await
    }
}

#[async_trait]
impl ThrottleStore for CountingStore {
    async fn hit_rate_limits(
        &self,
        limits: &[RateLimit],
        now: DateTime<Utc>,
    ) -> Result<Option<Exhausted>, StoreError> {
        self.count("hit_rate_limits", Access::Write);
        self.inner.hit_rate_limits(limits, now).await
    }

    async fn clear_rate_limits(&self, keys: &[String]) -> Result<(), StoreError> {
        self.count("clear_rate_limits", Access::Write);
        self.inner.clear_rate_limits(keys).await
    }

    async fn refund_rate_limits(&self, keys: &[String]) -> Result<(), StoreError> {
        self.count("refund_rate_limits", Access::Write);
        self.inner.refund_rate_limits(keys).await
    }

    async fn prune_rate_limits(
        &self,
        now: DateTime<Utc>,
        keep_at_most: u64,
        known_cutoff: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.count("prune_rate_limits", Access::Write);
        self.inner
            .prune_rate_limits(now, keep_at_most, known_cutoff)
            .await
    }

    async fn note_known_address(
        &self,
        user: UserId,
        address: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.count("note_known_address", Access::Write);
        self.inner.note_known_address(user, address, at).await
    }

    async fn is_known_address(
        &self,
        user: UserId,
        address: &str,
        since: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.count("is_known_address", Access::Read);
        self.inner.is_known_address(user, address, since).await
    }
}

#[async_trait]
impl AuditStore for CountingStore {
    async fn insert_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.count("insert_audit", Access::Write);
        self.inner.insert_audit(event).await
    }

    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
        self.count("list_audit", Access::Read);
        self.inner.list_audit(filter).await
    }

    async fn prune_audit(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        self.count("prune_audit", Access::Write);
        self.inner.prune_audit(cutoff).await
    }
}

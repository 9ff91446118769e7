//! `CountingStore`: a `Store` that delegates every method to another one and counts the
//! calls, reads and writes apart, so a test can prove what a use case did not do (a
//! credential check never writes). Test-only (feature `testkit`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::access::{Membership, OrgId, OrgRole, Organization, Role, RoleId, RoleSpec};
use crate::audit::{AuditEvent, AuditFilter};
use crate::domain::{EmailAddress, ProfileChange, User, UserId, Username};
use crate::files::FileId;
use crate::mail::{OutgoingMail, QueuedMail};
use crate::store::*;
use crate::token::{ApiToken, CredentialKind, TokenHash, TokenId};

/// Whether a store method only reads, or may write (anything that is not plainly a lookup
/// counts as a write, publishing an invalidation and leasing mail included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Wraps a store; every call goes through to it and is counted by method name.
#[derive(Debug)]
pub struct CountingStore {
    inner: Arc<dyn Store>,
    calls: Mutex<BTreeMap<&'static str, (Access, u64)>>,
}

impl CountingStore {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            calls: Mutex::new(BTreeMap::new()),
        }
    }

    fn count(&self, method: &'static str, access: Access) {
        let mut calls = self.calls.lock().expect("counter lock poisoned");
        calls.entry(method).or_insert((access, 0)).1 += 1;
    }

    /// The write methods called since the last `reset`, with how many times each.
    pub fn writes(&self) -> Vec<(&'static str, u64)> {
        self.calls_of(Access::Write)
    }

    /// The read methods called since the last `reset`, with how many times each.
    pub fn reads(&self) -> Vec<(&'static str, u64)> {
        self.calls_of(Access::Read)
    }

    fn calls_of(&self, access: Access) -> Vec<(&'static str, u64)> {
        let calls = self.calls.lock().expect("counter lock poisoned");
        calls
            .iter()
            .filter(|(_, (a, _))| *a == access)
            .map(|(name, (_, n))| (*name, *n))
            .collect()
    }

    /// Forgets every count so far.
    pub fn reset(&self) {
        self.calls.lock().expect("counter lock poisoned").clear();
    }
}

#[async_trait]
impl Store for CountingStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.count("ping", Access::Read);
        self.inner.ping().await
    }

    async fn publish_invalidation(&self, what: Invalidation) -> Result<(), StoreError> {
        self.count("publish_invalidation", Access::Write);
        self.inner.publish_invalidation(what).await
    }

    async fn subscribe_invalidations(
        &self,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<Invalidation>>, StoreError> {
        self.count("subscribe_invalidations", Access::Read);
        self.inner.subscribe_invalidations().await
    }

    async fn insert_user(&self, user: &NewUserRecord) -> Result<User, StoreError> {
        self.count("insert_user", Access::Write);
        self.inner.insert_user(user).await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.count("user_by_id", Access::Read);
        self.inner.user_by_id(id).await
    }

    async fn user_by_username(&self, username: &Username) -> Result<Option<User>, StoreError> {
        self.count("user_by_username", Access::Read);
        self.inner.user_by_username(username).await
    }

    async fn user_by_email(&self, email: &EmailAddress) -> Result<Option<User>, StoreError> {
        self.count("user_by_email", Access::Read);
        self.inner.user_by_email(email).await
    }

    async fn login_lookup(
        &self,
        login: &str,
    ) -> Result<Option<(User, Option<String>)>, StoreError> {
        self.count("login_lookup", Access::Read);
        self.inner.login_lookup(login).await
    }

    async fn register_user(
        &self,
        user: &NewUserRecord,
        code: &CodeRecord,
        mail: &OutgoingMail,
    ) -> Result<User, StoreError> {
        self.count("register_user", Access::Write);
        self.inner.register_user(user, code, mail).await
    }

    async fn set_password_hash(
        &self,
        id: UserId,
        password_hash: &str,
        end_sessions: EndSessions,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.count("set_password_hash", Access::Write);
        self.inner
            .set_password_hash(id, password_hash, end_sessions, now)
            .await
    }

    async fn update_profile(
        &self,
        id: UserId,
        change: &ProfileChange,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError> {
        self.count("update_profile", Access::Write);
        self.inner.update_profile(id, change, now).await
    }

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

    async fn user_by_number(&self, number: i64) -> Result<Option<User>, StoreError> {
        self.count("user_by_number", Access::Read);
        self.inner.user_by_number(number).await
    }

    async fn list_users(&self, query: &UserQuery) -> Result<Vec<User>, StoreError> {
        self.count("list_users", Access::Read);
        self.inner.list_users(query).await
    }

    async fn update_user(
        &self,
        id: UserId,
        change: &UserChange,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError> {
        self.count("update_user", Access::Write);
        self.inner.update_user(id, change, now).await
    }

    async fn delete_user(&self, id: UserId) -> Result<Option<DeletedUser>, StoreError> {
        self.count("delete_user", Access::Write);
        self.inner.delete_user(id).await
    }

    async fn delete_user_tokens(&self, user: UserId) -> Result<Vec<Uuid>, StoreError> {
        self.count("delete_user_tokens", Access::Write);
        self.inner.delete_user_tokens(user).await
    }

    async fn export_users(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<UserExport>, StoreError> {
        self.count("export_users", Access::Read);
        self.inner.export_users(after, limit).await
    }

    async fn insert_users(&self, users: &[NewUserRecord]) -> Result<Vec<User>, StoreError> {
        self.count("insert_users", Access::Write);
        self.inner.insert_users(users).await
    }

    async fn upgrade_password_hash(
        &self,
        id: UserId,
        expected: &str,
        new_hash: &str,
    ) -> Result<bool, StoreError> {
        self.count("upgrade_password_hash", Access::Write);
        self.inner
            .upgrade_password_hash(id, expected, new_hash)
            .await
    }

    async fn list_roles(&self) -> Result<Vec<Role>, StoreError> {
        self.count("list_roles", Access::Read);
        self.inner.list_roles().await
    }

    async fn insert_role(&self, spec: &RoleSpec) -> Result<Role, StoreError> {
        self.count("insert_role", Access::Write);
        self.inner.insert_role(spec).await
    }

    async fn update_role(&self, id: RoleId, spec: &RoleSpec) -> Result<Option<Role>, StoreError> {
        self.count("update_role", Access::Write);
        self.inner.update_role(id, spec).await
    }

    async fn delete_role(&self, id: RoleId) -> Result<bool, StoreError> {
        self.count("delete_role", Access::Write);
        self.inner.delete_role(id).await
    }

    async fn user_roles(&self, user: UserId) -> Result<Vec<RoleId>, StoreError> {
        self.count("user_roles", Access::Read);
        self.inner.user_roles(user).await
    }

    async fn roles_of_users(&self, users: &[UserId]) -> Result<Vec<(UserId, RoleId)>, StoreError> {
        self.count("roles_of_users", Access::Read);
        self.inner.roles_of_users(users).await
    }

    async fn set_user_roles(&self, user: UserId, roles: &[RoleId]) -> Result<bool, StoreError> {
        self.count("set_user_roles", Access::Write);
        self.inner.set_user_roles(user, roles).await
    }

    async fn insert_org(
        &self,
        org: &Organization,
        owner: Option<UserId>,
    ) -> Result<(), StoreError> {
        self.count("insert_org", Access::Write);
        self.inner.insert_org(org, owner).await
    }

    async fn org(&self, id: OrgId) -> Result<Option<Organization>, StoreError> {
        self.count("org", Access::Read);
        self.inner.org(id).await
    }

    async fn list_orgs(&self, member: Option<UserId>) -> Result<Vec<Organization>, StoreError> {
        self.count("list_orgs", Access::Read);
        self.inner.list_orgs(member).await
    }

    async fn rename_org(&self, id: OrgId, name: &str) -> Result<bool, StoreError> {
        self.count("rename_org", Access::Write);
        self.inner.rename_org(id, name).await
    }

    async fn set_org_short_reset_codes(&self, id: OrgId, short: bool) -> Result<bool, StoreError> {
        self.count("set_org_short_reset_codes", Access::Write);
        self.inner.set_org_short_reset_codes(id, short).await
    }

    async fn delete_org(&self, id: OrgId) -> Result<bool, StoreError> {
        self.count("delete_org", Access::Write);
        self.inner.delete_org(id).await
    }

    async fn set_membership(
        &self,
        org: OrgId,
        user: UserId,
        role: OrgRole,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.count("set_membership", Access::Write);
        self.inner.set_membership(org, user, role, now).await
    }

    async fn remove_membership(&self, org: OrgId, user: UserId) -> Result<bool, StoreError> {
        self.count("remove_membership", Access::Write);
        self.inner.remove_membership(org, user).await
    }

    async fn org_members(&self, org: OrgId) -> Result<Vec<Membership>, StoreError> {
        self.count("org_members", Access::Read);
        self.inner.org_members(org).await
    }

    async fn user_memberships(&self, user: UserId) -> Result<Vec<Membership>, StoreError> {
        self.count("user_memberships", Access::Read);
        self.inner.user_memberships(user).await
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

    async fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        self.count("insert_session", Access::Write);
        self.inner.insert_session(session).await
    }

    async fn session_proved_at(&self, id: Uuid) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.count("session_proved_at", Access::Read);
        self.inner.session_proved_at(id).await
    }

    async fn mark_session_proved(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool, StoreError> {
        self.count("mark_session_proved", Access::Write);
        self.inner.mark_session_proved(id, at).await
    }

    async fn delete_session(&self, id: Uuid) -> Result<bool, StoreError> {
        self.count("delete_session", Access::Write);
        self.inner.delete_session(id).await
    }

    async fn list_sessions(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        self.count("list_sessions", Access::Read);
        self.inner.list_sessions(user, now).await
    }

    async fn delete_user_session(&self, user: UserId, id: Uuid) -> Result<bool, StoreError> {
        self.count("delete_user_session", Access::Write);
        self.inner.delete_user_session(user, id).await
    }

    async fn delete_sessions(
        &self,
        user: UserId,
        except: Option<Uuid>,
    ) -> Result<Vec<Uuid>, StoreError> {
        self.count("delete_sessions", Access::Write);
        self.inner.delete_sessions(user, except).await
    }

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

    async fn credential_by_hash(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<CredentialRecord>, StoreError> {
        self.count("credential_by_hash", Access::Read);
        self.inner.credential_by_hash(hash).await
    }

    async fn record_credential_use(
        &self,
        uses: &[(CredentialKind, Uuid, DateTime<Utc>)],
    ) -> Result<(), StoreError> {
        self.count("record_credential_use", Access::Write);
        self.inner.record_credential_use(uses).await
    }

    async fn insert_token(
        &self,
        token: &ApiToken,
        hash: &TokenHash,
        max_per_user: usize,
    ) -> Result<(), StoreError> {
        self.count("insert_token", Access::Write);
        self.inner.insert_token(token, hash, max_per_user).await
    }

    async fn list_tokens(&self, user: UserId) -> Result<Vec<ApiToken>, StoreError> {
        self.count("list_tokens", Access::Read);
        self.inner.list_tokens(user).await
    }

    async fn find_token(
        &self,
        user: UserId,
        by: &TokenLookup,
    ) -> Result<Option<ApiToken>, StoreError> {
        self.count("find_token", Access::Read);
        self.inner.find_token(user, by).await
    }

    async fn set_token_disabled(
        &self,
        user: UserId,
        id: TokenId,
        disabled: bool,
    ) -> Result<bool, StoreError> {
        self.count("set_token_disabled", Access::Write);
        self.inner.set_token_disabled(user, id, disabled).await
    }

    async fn delete_token(&self, user: UserId, id: TokenId) -> Result<bool, StoreError> {
        self.count("delete_token", Access::Write);
        self.inner.delete_token(user, id).await
    }

    async fn rotate_token(
        &self,
        user: UserId,
        id: TokenId,
        hash: &TokenHash,
        mask: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.count("rotate_token", Access::Write);
        self.inner.rotate_token(user, id, hash, mask, now).await
    }
}

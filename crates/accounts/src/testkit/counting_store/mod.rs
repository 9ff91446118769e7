//! `CountingStore`: a `Store` that delegates every method to another one and counts the
//! calls, reads and writes apart, so a test can prove what a use case did not do (a
//! credential check never writes). Test-only (feature `testkit`). One impl per role trait:
//! `BaseStore`, users, access and credentials here, the other roles in `records.rs`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

mod records;

use crate::access::{Membership, OrgId, OrgRole, Organization, Role, RoleId, RoleSpec};
use crate::domain::{EmailAddress, ProfileChange, User, UserId, Username};
use crate::mail::OutgoingMail;
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
impl BaseStore for CountingStore {
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
}

#[async_trait]
impl UserStore for CountingStore {
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
}

#[async_trait]
impl AccessStore for CountingStore {
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
}

#[async_trait]
impl CredentialStore for CountingStore {
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

    async fn delete_user_tokens(&self, user: UserId) -> Result<Vec<Uuid>, StoreError> {
        self.count("delete_user_tokens", Access::Write);
        self.inner.delete_user_tokens(user).await
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
}

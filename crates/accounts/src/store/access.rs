//! `AccessStore`: roles and users' grants of them, organisations and their members.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::access::{Membership, OrgId, OrgRole, Organization, Role, RoleId, RoleSpec};
use crate::domain::UserId;

/// Roles, role grants, organisations and memberships.
#[async_trait]
pub trait AccessStore: Send + Sync {
    /// All roles, by id.
    async fn list_roles(&self) -> Result<Vec<Role>, StoreError>;

    /// Fails with `Conflict(RoleName)`.
    async fn insert_role(&self, spec: &RoleSpec) -> Result<Role, StoreError>;

    /// Replaces a custom role's name, description and permissions; `None` when there is no
    /// such custom role (built-in roles are never changed). Fails with `Conflict(RoleName)`.
    async fn update_role(&self, id: RoleId, spec: &RoleSpec) -> Result<Option<Role>, StoreError>;

    /// Deletes a custom role and its grants; `false` when there is no such custom role.
    async fn delete_role(&self, id: RoleId) -> Result<bool, StoreError>;

    /// The user's roles, by id.
    async fn user_roles(&self, user: UserId) -> Result<Vec<RoleId>, StoreError>;

    /// The roles of many users at once (one page of a listing): `(user, role)` pairs.
    async fn roles_of_users(&self, users: &[UserId]) -> Result<Vec<(UserId, RoleId)>, StoreError>;

    /// Replaces the user's roles; `false` when the user does not exist. Unknown role ids
    /// are the caller's to refuse first; the store ignores them.
    async fn set_user_roles(&self, user: UserId, roles: &[RoleId]) -> Result<bool, StoreError>;

    /// Creates the organisation, and makes `owner` its owner, in one transaction.
    async fn insert_org(&self, org: &Organization, owner: Option<UserId>)
        -> Result<(), StoreError>;

    async fn org(&self, id: OrgId) -> Result<Option<Organization>, StoreError>;

    /// All organisations by id, or only those `member` belongs to.
    async fn list_orgs(&self, member: Option<UserId>) -> Result<Vec<Organization>, StoreError>;

    async fn rename_org(&self, id: OrgId, name: &str) -> Result<bool, StoreError>;

    /// Sets `Organization::short_reset_codes`; `false` when there is no such organisation.
    async fn set_org_short_reset_codes(&self, id: OrgId, short: bool) -> Result<bool, StoreError>;

    /// Deletes the organisation and its memberships (not the members' accounts).
    async fn delete_org(&self, id: OrgId) -> Result<bool, StoreError>;

    /// Adds the user to the organisation or changes their role there; `false` when the
    /// organisation or the user does not exist.
    async fn set_membership(
        &self,
        org: OrgId,
        user: UserId,
        role: OrgRole,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    async fn remove_membership(&self, org: OrgId, user: UserId) -> Result<bool, StoreError>;

    /// The organisation's members, by user id.
    async fn org_members(&self, org: OrgId) -> Result<Vec<Membership>, StoreError>;

    /// The user's memberships, by organisation id.
    async fn user_memberships(&self, user: UserId) -> Result<Vec<Membership>, StoreError>;
}

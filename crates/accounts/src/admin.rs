//! Administration: the authorisation check every surface calls, user management, roles and
//! organisations. Same `Accounts`, third file.

use crate::access::{builtin_permissions, Action, Entity, Grants, Need, Role, RoleId, Target};
use crate::audit::Outcome;
use crate::domain::{
    EmailAddress, InvalidInput, ProfileUpdate, User, UserId, UserStatus, Username,
};
use crate::error::AdminError;
use crate::service::{Accounts, ClientInfo, Principal};
use crate::store::{StoreError, Unique};
use crate::usernames::NewUsername;

/// Who is acting (a signed-in principal, a user who proved their password on this request,
/// or the operator at the command line, who holds every permission like the built-in admin
/// role), and from where: the audit log records the client with every administrative act.
#[derive(Debug, Clone)]
pub struct Actor {
    who: Who,
    client: ClientInfo,
}

#[derive(Debug, Clone)]
pub(crate) enum Who {
    Principal(Principal),
    User(UserId),
    Operator,
}

impl Actor {
    /// The operator at the command line.
    pub fn operator() -> Self {
        Self {
            who: Who::Operator,
            client: ClientInfo::default(),
        }
    }

    /// A user who proved their password on this very request (HTTP basic auth).
    pub fn user(id: UserId) -> Self {
        Self {
            who: Who::User(id),
            client: ClientInfo::default(),
        }
    }

    /// The same actor on a request from `client`.
    pub fn with_client(mut self, client: &ClientInfo) -> Self {
        self.client = client.clone();
        self
    }

    pub fn user_id(&self) -> Option<UserId> {
        match &self.who {
            Who::Principal(p) => Some(p.user_id),
            Who::User(id) => Some(*id),
            Who::Operator => None,
        }
    }

    /// Where the request came from (empty for the operator).
    pub fn client(&self) -> &ClientInfo {
        &self.client
    }
}

impl Principal {
    /// The holder of this credential, acting on a request from `client`.
    pub fn actor(&self, client: &ClientInfo) -> Actor {
        Actor::from(self).with_client(client)
    }
}

impl From<&Principal> for Actor {
    fn from(p: &Principal) -> Self {
        Self {
            who: Who::Principal(p.clone()),
            client: ClientInfo::default(),
        }
    }
}

/// A new account as an administrator describes it.
#[derive(Debug, Clone)]
pub struct AccountSpec {
    /// Chosen (taken: `AdminError::UsernameTaken`) or derived from the address by the one
    /// rule (`crate::usernames`).
    pub username: NewUsername,
    pub email: EmailAddress,
    /// Checked against the password policy; `None` leaves the account without a password
    /// (it can be given one by a reset).
    pub password: Option<String>,
    pub status: UserStatus,
    pub email_verified: bool,
    /// Instance roles; empty means the built-in `user` role.
    pub roles: Vec<RoleId>,
    pub profile: ProfileUpdate,
}

/// An administrator's change to an account; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct AccountUpdate {
    /// Whether others see the address where a surface shows the user to someone else.
    pub email_visible: Option<bool>,
    pub username: Option<Username>,
    pub email: Option<EmailAddress>,
    pub email_verified: Option<bool>,
    pub status: Option<UserStatus>,
    pub profile: ProfileUpdate,
    /// A new password (policy-checked); every session ends.
    pub password: Option<String>,
}

/// Pages are at most this long, whatever the caller asks; a surface may read one user more
/// to tell whether the listing goes on.
pub const MAX_PAGE: u32 = 200;

pub(crate) fn conflict(e: StoreError) -> AdminError {
    match e {
        StoreError::Conflict(Unique::Username) => AdminError::UsernameTaken,
        StoreError::Conflict(Unique::Email) => AdminError::EmailTaken,
        StoreError::Conflict(Unique::RoleName) => AdminError::RoleNameTaken,
        other => AdminError::Store(other),
    }
}

impl Accounts {
    // ------------------------------------------------------------ the check

    /// Everything the caller may do: their roles' permissions and their memberships.
    /// Cached like user records, and dropped with them.
    pub(crate) async fn grants(&self, actor: &Actor) -> Result<Grants, StoreError> {
        let Some(id) = actor.user_id() else {
            return Ok(Grants {
                user_id: None,
                permissions: builtin_permissions(RoleId::ADMIN).unwrap_or_default(),
                memberships: Vec::new(),
            });
        };
        let now = self.clock.now();
        if let Some(grants) = self.grants.get(&id, now, |_| true) {
            return Ok(grants);
        }
        let generation = self.grants.generation();
        let held = self.store.user_roles(id).await?;
        let roles = self.roles().await?;
        let permissions = roles
            .into_iter()
            .filter(|r| held.contains(&r.id))
            .flat_map(|r| r.permissions)
            .collect();
        let memberships = self
            .store
            .user_memberships(id)
            .await?
            .into_iter()
            .map(|m| (m.org_id, m.role))
            .collect();
        let grants = Grants {
            user_id: Some(id),
            permissions,
            memberships,
        };
        self.grants.insert(id, grants.clone(), now, generation);
        Ok(grants)
    }

    /// Whether the admin console has anything for the caller (`Grants::reaches_beyond_self`).
    pub async fn sees_console(&self, actor: &Actor) -> Result<bool, StoreError> {
        Ok(self.grants(actor).await?.reaches_beyond_self())
    }

    /// The one authorisation check: `Forbidden` unless the caller's grants allow `need`
    /// on `target`.
    pub(crate) async fn authorize(
        &self,
        actor: &Actor,
        need: Need,
        target: Target,
    ) -> Result<Grants, AdminError> {
        let grants = self.grants(actor).await?;
        if grants.allows(need, target) {
            Ok(grants)
        } else {
            Err(AdminError::Forbidden)
        }
    }

    /// The user `id`, when the caller may do `need` to them: by an instance permission, or
    /// by managing an organisation the user belongs to. A caller who could not act on any
    /// user gets `Forbidden` whether or not the user exists (no probing). Changes to
    /// someone's credentials, address, status, roles, second factor or existence go through
    /// `authorize_user_change` instead.
    pub(crate) async fn authorize_user(
        &self,
        actor: &Actor,
        need: Need,
        id: UserId,
    ) -> Result<User, AdminError> {
        let grants = self.grants(actor).await?;
        let user = match self.user(id).await {
            Ok(user) => user,
            Err(crate::error::UserError::Store(e)) => return Err(e.into()),
            Err(_) if grants.allows(need, Target::Any) => return Err(AdminError::NotFound),
            Err(_) => return Err(AdminError::Forbidden),
        };
        if !self.reaches_user(&grants, need, &user).await? {
            return Err(AdminError::Forbidden);
        }
        Ok(user)
    }

    /// `authorize_user` on the caller's own account: what every self-service use case that
    /// takes the authenticated `Principal` checks first.
    pub(crate) async fn authorize_own(
        &self,
        principal: &Principal,
        need: Need,
    ) -> Result<User, AdminError> {
        self.authorize_user(&Actor::from(principal), need, principal.user_id)
            .await
    }

    /// `authorize_user` for a change to someone else's credentials (password, tokens,
    /// sessions), e-mail address, status, roles, second factor or existence, with the
    /// covering rule (`Grants::covers`): the caller holds every permission and organisation
    /// role the user holds, or is an instance admin. Nobody administers someone more
    /// powerful than themselves.
    pub(crate) async fn authorize_user_change(
        &self,
        actor: &Actor,
        need: Need,
        id: UserId,
    ) -> Result<User, AdminError> {
        let user = self.authorize_user(actor, need, id).await?;
        self.authorize_covers(actor, id).await?;
        Ok(user)
    }

    /// The covering rule alone, for a caller already authorised to act on user `id`.
    pub(crate) async fn authorize_covers(
        &self,
        actor: &Actor,
        id: UserId,
    ) -> Result<(), AdminError> {
        if actor.user_id() == Some(id) {
            return Ok(());
        }
        let theirs = self.grants(&Actor::user(id)).await?;
        if self.grants(actor).await?.covers(&theirs) {
            Ok(())
        } else {
            Err(AdminError::Forbidden)
        }
    }

    /// Whether `grants` allow `need` on `user`, by an instance permission or through an
    /// organisation the user belongs to.
    pub(crate) async fn reaches_user(
        &self,
        grants: &Grants,
        need: Need,
        user: &User,
    ) -> Result<bool, StoreError> {
        let id = user.id;
        let target = Target::User {
            id,
            number: user.number,
        };
        if grants.allows(need, target) {
            return Ok(true);
        }
        // Organisation roles reach plain accounts only: an account holding any role beyond
        // `user` (an instance admin, a custom helpdesk role) is never managed through one.
        if !grants.memberships.is_empty()
            && self
                .store
                .user_roles(id)
                .await?
                .iter()
                .all(|r| *r == RoleId::USER)
        {
            // And an account that administers an organisation is reached only by whoever
            // reaches it in every organisation it administers: an admin of one organisation
            // never disables or deletes the owner of another.
            let memberships = self.store.user_memberships(id).await?;
            let reaches = |m: &&crate::access::Membership| {
                grants.allows(
                    need,
                    Target::Org {
                        id: m.org_id,
                        member: Some((id, m.role)),
                    },
                )
            };
            if memberships.iter().any(|m| reaches(&m))
                && memberships
                    .iter()
                    .filter(|m| m.role.manages())
                    .all(|m| reaches(&m))
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether the caller holds every permission of `role` (`Forbidden` otherwise): nobody
    /// writes, grants or takes away a permission they do not hold themselves.
    pub(crate) fn authorize_permissions(
        grants: &Grants,
        permissions: &[crate::access::Permission],
    ) -> Result<(), AdminError> {
        if permissions.iter().all(|p| grants.covers_permission(p)) {
            Ok(())
        } else {
            Err(AdminError::Forbidden)
        }
    }

    /// `users` with `is_admin` as the power they hold: whoever's roles together cover
    /// every permission is an instance admin, whatever the roles are called.
    pub(crate) async fn with_effective_admin(
        &self,
        mut users: Vec<User>,
    ) -> Result<Vec<User>, StoreError> {
        let ids: Vec<UserId> = users.iter().map(|u| u.id).collect();
        let held = self.role_ids_of(&ids).await?;
        let roles = self.roles().await?;
        for user in &mut users {
            let mine = held.get(&user.id).map(Vec::as_slice).unwrap_or_default();
            let grants = Grants {
                user_id: Some(user.id),
                permissions: roles
                    .iter()
                    .filter(|r| mine.contains(&r.id))
                    .flat_map(|r| r.permissions.iter().cloned())
                    .collect(),
                memberships: Vec::new(),
            };
            user.is_admin = grants.is_instance_admin();
        }
        Ok(users)
    }

    /// One user with `is_admin` as the power they hold (`with_effective_admin`).
    pub(crate) async fn with_effective_admin_one(&self, user: User) -> Result<User, StoreError> {
        let mut users = self.with_effective_admin(vec![user]).await?;
        Ok(users.remove(0))
    }

    /// Every role, the built-in ones with the permissions the core gives them.
    pub(crate) async fn roles(&self) -> Result<Vec<Role>, StoreError> {
        let now = self.clock.now();
        if let Some(roles) = self.roles.get(&(), now, |_| true) {
            return Ok(roles);
        }
        let generation = self.roles.generation();
        let mut roles = self.store.list_roles().await?;
        for role in &mut roles {
            if let Some(permissions) = builtin_permissions(role.id) {
                role.permissions = permissions;
                role.builtin = true;
            }
        }
        self.roles.insert((), roles.clone(), now, generation);
        Ok(roles)
    }

    pub(crate) async fn check_roles_exist(&self, wanted: &[RoleId]) -> Result<(), AdminError> {
        let known = self.roles().await?;
        match wanted.iter().find(|id| !known.iter().any(|r| r.id == **id)) {
            Some(id) => Err(AdminError::Invalid(InvalidInput::new(
                "roles",
                format!("no role has the id {id}"),
            ))),
            None => Ok(()),
        }
    }

    /// Granting or taking away a role needs `role:update` on that role and every
    /// permission it holds, so an organisation admin (or a custom role) can never make
    /// anyone more powerful than themselves; and nobody but an instance admin changes
    /// their own roles (`subject`: whose roles change, `None` for a new account).
    pub(crate) async fn authorize_role_changes(
        &self,
        actor: &Actor,
        subject: Option<UserId>,
        before: &[RoleId],
        after: &[RoleId],
    ) -> Result<(), AdminError> {
        let grants = self.grants(actor).await?;
        let changed: Vec<RoleId> = before
            .iter()
            .filter(|r| !after.contains(r))
            .chain(after.iter().filter(|r| !before.contains(r)))
            .copied()
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        if subject.is_some() && subject == actor.user_id() && !grants.is_instance_admin() {
            return Err(AdminError::Forbidden);
        }
        let roles = self.roles().await?;
        for role in changed {
            if !grants.allows(Need::new(Entity::Role, Action::Update), Target::Role(role)) {
                return Err(AdminError::Forbidden);
            }
            if let Some(role) = roles.iter().find(|r| r.id == role) {
                Self::authorize_permissions(&grants, &role.permissions)?;
            }
        }
        Ok(())
    }

    pub(crate) async fn audit_admin(
        &self,
        actor: &Actor,
        action: &str,
        subject: Option<UserId>,
        detail: Option<&str>,
    ) {
        self.audit(
            action,
            actor.user_id(),
            subject,
            Outcome::Success,
            actor.client(),
            detail,
        )
        .await;
    }
}

//! Administration: the authorisation check every surface calls, user management, roles and
//! organisations. Same `Accounts`, third file.

use crate::access::{
    builtin_permissions, org_name, Action, Entity, Grants, Membership, Need, OrgId, OrgRole,
    Organization, Role, RoleId, RoleSpec, Target,
};
use crate::audit::Outcome;
use crate::domain::{
    EmailAddress, InvalidInput, ProfileUpdate, User, UserId, UserStatus, Username,
};
use crate::error::AdminError;
use crate::password::Password;
use crate::service::{draw_user_number, Accounts, ClientInfo, Principal};
use crate::store::{NewUserRecord, StoreError, Unique, UserChange, UserQuery};
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
enum Who {
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

fn conflict(e: StoreError) -> AdminError {
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
    async fn authorize_covers(&self, actor: &Actor, id: UserId) -> Result<(), AdminError> {
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
    async fn reaches_user(
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
    fn authorize_permissions(
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
    async fn roles(&self) -> Result<Vec<Role>, StoreError> {
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

    async fn check_roles_exist(&self, wanted: &[RoleId]) -> Result<(), AdminError> {
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
    async fn authorize_role_changes(
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

    async fn audit_admin(
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

    // ------------------------------------------------------------ users

    /// One page of users. Instance permission `user:read`, or an admin of `query.org`
    /// listing that organisation's members.
    pub async fn list_users(
        &self,
        actor: &Actor,
        mut query: UserQuery,
    ) -> Result<Vec<User>, AdminError> {
        let grants = self.grants(actor).await?;
        let need = Need::new(Entity::User, Action::Read);
        let allowed = grants.allows(need, Target::Any)
            || query
                .org
                .is_some_and(|org| grants.org_role(org).is_some_and(OrgRole::manages));
        if !allowed {
            return Err(AdminError::Forbidden);
        }
        query.limit = query.limit.clamp(1, MAX_PAGE + 1);
        query.text = query
            .text
            .map(|t| t.trim().to_lowercase())
            .filter(|t| !t.is_empty());
        let users = self.store.list_users(&query).await?;
        Ok(self.with_effective_admin(users).await?)
    }

    /// Whether the instance has no administrator yet: the first-run setup page is open
    /// (behind the one-time token the server printed) until one exists.
    pub async fn needs_first_admin(&self) -> Result<bool, StoreError> {
        let query = UserQuery {
            role: Some(RoleId::ADMIN),
            limit: 1,
            ..UserQuery::default()
        };
        Ok(self.store.list_users(&query).await?.is_empty())
    }

    /// The user with this public number (integer-id dialects), without authorisation: the
    /// caller checks with `authorize_user` before showing anything.
    pub async fn user_by_number(&self, number: i64) -> Result<Option<User>, StoreError> {
        self.store.user_by_number(number).await
    }

    /// One user, when the caller may read them.
    pub async fn get_user(&self, actor: &Actor, id: UserId) -> Result<User, AdminError> {
        self.authorize_user(actor, Need::new(Entity::User, Action::Read), id)
            .await
    }

    /// Another user's public record by username, for a caller who may read their own
    /// account (`user:read` on themselves): what a surface shows of other people (name,
    /// picture) is theirs to decide; who may look is decided here. `None` for no such user.
    pub async fn user_named(
        &self,
        caller: &Principal,
        username: &Username,
    ) -> Result<Option<User>, AdminError> {
        self.authorize_own(caller, Need::new(Entity::User, Action::Read))
            .await?;
        Ok(self.user_by_username(username).await?)
    }

    /// The instance role ids of each of `users` (one query for a whole page), by role id.
    pub async fn role_ids_of(
        &self,
        users: &[UserId],
    ) -> Result<std::collections::HashMap<UserId, Vec<RoleId>>, StoreError> {
        let mut out: std::collections::HashMap<UserId, Vec<RoleId>> =
            users.iter().map(|u| (*u, Vec::new())).collect();
        for (user, role) in self.store.roles_of_users(users).await? {
            out.entry(user).or_default().push(role);
        }
        for roles in out.values_mut() {
            roles.sort();
        }
        Ok(out)
    }

    /// The user's instance roles, with their permissions.
    pub async fn roles_of(&self, user: UserId) -> Result<Vec<Role>, StoreError> {
        let held = self.store.user_roles(user).await?;
        Ok(self
            .roles()
            .await?
            .into_iter()
            .filter(|r| held.contains(&r.id))
            .collect())
    }

    /// Creates accounts, all or none. `user:create` for the instance; or, with `org`, an
    /// admin of that organisation creating its members.
    pub async fn create_users(
        &self,
        actor: &Actor,
        specs: Vec<AccountSpec>,
        org: Option<OrgId>,
    ) -> Result<Vec<User>, AdminError> {
        let grants = self.grants(actor).await?;
        let need = Need::new(Entity::User, Action::Create);
        let allowed = grants.allows(need, Target::Any)
            || org.is_some_and(|o| grants.org_role(o).is_some_and(OrgRole::manages));
        if !allowed {
            return Err(AdminError::Forbidden);
        }
        if let Some(org) = org {
            if self.store.org(org).await?.is_none() {
                return Err(AdminError::NotFound);
            }
        }
        if specs.len() > 1000 {
            return Err(AdminError::Invalid(InvalidInput::new(
                "users",
                "at most 1000 users at once",
            )));
        }
        // Only an instance-level grant vouches for an address; an organisation's admins
        // create accounts whose address still has to be proven.
        let vouches = grants.allows(need, Target::Any);
        if !vouches && specs.len() > 100 {
            return Err(AdminError::Invalid(InvalidInput::new(
                "users",
                "at most 100 users at once in an organisation",
            )));
        }
        let now = self.clock.now();
        let mut records = Vec::with_capacity(specs.len());
        let mut wanted = Vec::with_capacity(specs.len());
        for spec in specs {
            let roles = if spec.roles.is_empty() {
                vec![RoleId::USER]
            } else {
                spec.roles
            };
            self.check_roles_exist(&roles).await?;
            self.authorize_role_changes(actor, None, &[RoleId::USER], &roles)
                .await?;
            let greeting = spec.username.greeting(&spec.email);
            let password_hash =
                match spec.password {
                    // Choosing the password of an address one does not own is a pre-account
                    // takeover: only an instance-level grant does that; the address's owner sets
                    // one through the mailed link.
                    Some(_) if !vouches => return Err(AdminError::Invalid(InvalidInput::new(
                        "password",
                        "an organisation's admins do not choose passwords: the account's owner \
                         sets one through the link mailed to the address",
                    ))),
                    Some(raw) => {
                        let password =
                            Password::new_for(raw, &[greeting.as_str(), spec.email.as_str()])?;
                        Some(self.hasher.hash(&password).await)
                    }
                    None => None,
                };
            wanted.push(spec.username.candidates(&spec.email, false));
            records.push(NewUserRecord {
                id: UserId::new(),
                username: greeting,
                email: spec.email,
                email_verified: spec.email_verified && vouches,
                status: spec.status,
                number: draw_user_number(),
                roles,
                memberships: org.map(|o| vec![(o, OrgRole::Member)]).unwrap_or_default(),
                password_hash,
                profile: spec.profile.validate()?,
                created_at: now,
            });
        }
        // The names are picked by the one rule and settled by the insert, all or none; a
        // derived name another request took meanwhile is picked again.
        let derives = wanted.iter().any(|candidates| candidates.len() > 1);
        let mut races = 0;
        let users = loop {
            for (record, name) in records.iter_mut().zip(self.pick_usernames(&wanted).await?) {
                record.username = name;
            }
            match self.store.insert_users(&records).await {
                Err(StoreError::Conflict(Unique::Username)) if derives && races < 3 => races += 1,
                other => break other.map_err(conflict)?,
            }
        };
        let users = self.with_effective_admin(users).await?;
        for user in &users {
            if !vouches {
                // The owner of the address sets the password (and so takes the account).
                self.send_reset_code(user, crate::lifecycle::CodeScope::Native)
                    .await?;
            }
            self.audit_admin(actor, "user.create", Some(user.id), None)
                .await;
        }
        Ok(users)
    }

    /// Changes an account. Callers acting on themselves (the `user` role's `self`
    /// permission) may change their profile claims and username; e-mail address, status
    /// and password need an administrator (their own password changes go through
    /// `change_password`, which asks for the current one).
    pub async fn update_user(
        &self,
        actor: &Actor,
        id: UserId,
        update: AccountUpdate,
    ) -> Result<User, AdminError> {
        let user = self
            .authorize_user(actor, Need::new(Entity::User, Action::Update), id)
            .await?;
        let grants = self.grants(actor).await?;
        let only_profile = update.email.is_none()
            && update.email_verified.is_none()
            && update.status.is_none()
            && update.password.is_none();
        let acting_on_self = actor.user_id() == Some(id);
        if acting_on_self && !only_profile && !grants.is_instance_admin() {
            return Err(AdminError::Forbidden);
        }
        if !only_profile {
            self.authorize_covers(actor, id).await?;
        }
        // Nobody locks themselves out by accident, or lets themselves back in.
        if acting_on_self && update.status.is_some_and(|s| s != user.status) {
            return Err(AdminError::Forbidden);
        }
        // Choosing someone's password takes an instance-level grant; through an
        // organisation, members get a reset link instead (`admin_reset_password`).
        let vouches = grants.allows(Need::new(Entity::User, Action::Update), Target::Any);
        if update.password.is_some() && !vouches {
            return Err(AdminError::Forbidden);
        }
        let new_password = match update.password {
            Some(raw) => {
                let name = update.username.as_ref().unwrap_or(&user.username);
                let email = update.email.as_ref().unwrap_or(&user.email);
                let password = Password::new_for(raw, &[name.as_str(), email.as_str()])?;
                Some(self.hasher.hash(&password).await)
            }
            None => None,
        };
        // A new address, or the verified flag, is vouched for only by an instance-level
        // grant; through an organisation the new address must be proven again.
        let email_verified = match (&update.email, update.email_verified) {
            (_, Some(v)) if vouches => Some(v),
            (_, Some(_)) => return Err(AdminError::Forbidden),
            (Some(_), None) if !vouches => Some(false),
            (_, None) => None,
        };
        let change = UserChange {
            username: update.username,
            email: update.email,
            email_verified,
            status: update.status,
            profile: update.profile.validate()?,
            email_visible: update.email_visible,
        };
        let now = self.clock.now();
        let updated = self
            .store
            .update_user(id, &change, now)
            .await
            .map_err(conflict)?
            .ok_or(AdminError::NotFound)?;
        if let Some(hash) = new_password {
            self.store
                .set_password_hash(id, &hash, crate::store::EndSessions::Reset, now)
                .await?;
        }
        self.forget_user(id).await;
        let detail = match change.status {
            Some(UserStatus::Disabled) => Some("disabled"),
            Some(UserStatus::Active) if user.status == UserStatus::Disabled => Some("enabled"),
            _ => None,
        };
        self.audit_admin(actor, "user.update", Some(id), detail)
            .await;
        Ok(self.with_effective_admin_one(updated).await?)
    }

    /// Disables (no login, no credential works, sessions end) or re-enables an account.
    pub async fn set_user_enabled(
        &self,
        actor: &Actor,
        id: UserId,
        enabled: bool,
    ) -> Result<User, AdminError> {
        let status = if enabled {
            UserStatus::Active
        } else {
            UserStatus::Disabled
        };
        self.update_user(
            actor,
            id,
            AccountUpdate {
                status: Some(status),
                ..AccountUpdate::default()
            },
        )
        .await
    }

    /// Deletes the account and everything it owns, in one transaction; its files go after.
    pub async fn delete_user(&self, actor: &Actor, id: UserId) -> Result<(), AdminError> {
        self.authorize_user_change(actor, Need::new(Entity::User, Action::Delete), id)
            .await?;
        for m in self.store.user_memberships(id).await? {
            if m.role == OrgRole::Owner {
                self.keep_an_owner(m.org_id, id).await?;
            }
        }
        let deleted = self
            .store
            .delete_user(id)
            .await?
            .ok_or(AdminError::NotFound)?;
        self.forget_user(id).await;
        for credential in &deleted.credentials {
            self.forget_credential(*credential).await;
        }
        for file in deleted.files {
            if let Err(e) = self.files.delete(file).await {
                tracing::warn!(error = %e, %file, "could not delete a deleted user's file");
            }
        }
        self.audit_admin(actor, "user.delete", Some(id), None).await;
        Ok(())
    }

    /// Replaces the user's instance roles.
    pub async fn set_user_roles(
        &self,
        actor: &Actor,
        id: UserId,
        roles: Vec<RoleId>,
    ) -> Result<Vec<RoleId>, AdminError> {
        self.authorize_user_change(actor, Need::new(Entity::User, Action::Update), id)
            .await?;
        self.check_roles_exist(&roles).await?;
        let before = self.store.user_roles(id).await?;
        self.authorize_role_changes(actor, Some(id), &before, &roles)
            .await?;
        if !self.store.set_user_roles(id, &roles).await? {
            return Err(AdminError::NotFound);
        }
        self.forget_user(id).await;
        let detail = roles
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join(",");
        self.audit_admin(actor, "user.roles", Some(id), Some(&detail))
            .await;
        Ok(self.store.user_roles(id).await?)
    }

    /// Resets a user's password: to `new_password` when given (every session ends), or by
    /// mailing them a reset code and link.
    pub async fn admin_reset_password(
        &self,
        actor: &Actor,
        id: UserId,
        new_password: Option<String>,
    ) -> Result<(), AdminError> {
        let user = self
            .authorize_user_change(actor, Need::new(Entity::User, Action::Update), id)
            .await?;
        // Setting one's own password without the current one would let a stolen token take
        // the account over: callers on themselves use `change_password` or the public reset.
        if actor.user_id() == Some(id) && !self.grants(actor).await?.is_instance_admin() {
            return Err(AdminError::Forbidden);
        }
        match new_password {
            // Choosing someone's password takes an instance-level grant (an organisation's
            // admin could otherwise take over the account of a member they created).
            Some(_)
                if !self
                    .grants(actor)
                    .await?
                    .allows(Need::new(Entity::User, Action::Update), Target::Any) =>
            {
                return Err(AdminError::Forbidden);
            }
            Some(raw) => {
                let password =
                    Password::new_for(raw, &[user.username.as_str(), user.email.as_str()])?;
                let hash = self.hasher.hash(&password).await;
                self.store
                    .set_password_hash(
                        id,
                        &hash,
                        crate::store::EndSessions::Reset,
                        self.clock.now(),
                    )
                    .await?;
                self.forget_user(id).await;
                self.audit_admin(actor, "password.admin_set", Some(id), None)
                    .await;
            }
            None => {
                self.send_reset_code(&user, crate::lifecycle::CodeScope::Native)
                    .await?;
                self.audit_admin(actor, "password.admin_reset", Some(id), None)
                    .await;
            }
        }
        Ok(())
    }

    /// Ends every session of the user.
    pub async fn end_user_sessions(&self, actor: &Actor, id: UserId) -> Result<usize, AdminError> {
        self.authorize_user_change(actor, Need::new(Entity::Session, Action::Delete), id)
            .await?;
        let ended = self.store.delete_sessions(id, None).await?;
        for session in &ended {
            self.forget_credential(*session).await;
        }
        self.audit_admin(actor, "session.end_all", Some(id), None)
            .await;
        Ok(ended.len())
    }

    /// Deletes every API token of the user.
    pub async fn revoke_user_tokens(&self, actor: &Actor, id: UserId) -> Result<usize, AdminError> {
        self.authorize_user_change(actor, Need::new(Entity::Token, Action::Delete), id)
            .await?;
        let revoked = self.store.delete_user_tokens(id).await?;
        for token in &revoked {
            self.forget_credential(*token).await;
        }
        self.audit_admin(actor, "token.revoke_all", Some(id), None)
            .await;
        Ok(revoked.len())
    }

    // ------------------------------------------------------------ roles

    pub async fn list_roles(&self, actor: &Actor) -> Result<Vec<Role>, AdminError> {
        self.authorize(actor, Need::new(Entity::Role, Action::Read), Target::Any)
            .await?;
        Ok(self.roles().await?)
    }

    /// Creates a custom role holding only permissions the caller holds.
    pub async fn create_role(&self, actor: &Actor, spec: RoleSpec) -> Result<Role, AdminError> {
        let grants = self
            .authorize(actor, Need::new(Entity::Role, Action::Create), Target::Any)
            .await?;
        let spec = spec.validate()?;
        Self::authorize_permissions(&grants, &spec.permissions)?;
        let role = self.store.insert_role(&spec).await.map_err(conflict)?;
        self.roles_changed().await;
        self.audit_admin(actor, "role.create", None, Some(&role.name))
            .await;
        Ok(role)
    }

    /// Replaces a custom role; built-in roles cannot be changed. The caller holds every
    /// permission the role had and every one it gets: its other holders are never raised
    /// above the caller, and a role stronger than the caller is not theirs to edit.
    pub async fn update_role(
        &self,
        actor: &Actor,
        id: RoleId,
        spec: RoleSpec,
    ) -> Result<Role, AdminError> {
        let grants = self
            .authorize(
                actor,
                Need::new(Entity::Role, Action::Update),
                Target::Role(id),
            )
            .await?;
        self.authorize_existing_role(&grants, id).await?;
        if builtin_permissions(id).is_some() {
            return Err(AdminError::BuiltinRole);
        }
        let spec = spec.validate()?;
        Self::authorize_permissions(&grants, &spec.permissions)?;
        let role = self
            .store
            .update_role(id, &spec)
            .await
            .map_err(conflict)?
            .ok_or(AdminError::NotFound)?;
        self.roles_changed().await;
        self.audit_admin(actor, "role.update", None, Some(&role.name))
            .await;
        Ok(role)
    }

    /// Deletes a custom role whose permissions the caller all holds.
    pub async fn delete_role(&self, actor: &Actor, id: RoleId) -> Result<(), AdminError> {
        let grants = self
            .authorize(
                actor,
                Need::new(Entity::Role, Action::Delete),
                Target::Role(id),
            )
            .await?;
        self.authorize_existing_role(&grants, id).await?;
        if builtin_permissions(id).is_some() {
            return Err(AdminError::BuiltinRole);
        }
        if !self.store.delete_role(id).await? {
            return Err(AdminError::NotFound);
        }
        self.roles_changed().await;
        self.audit_admin(actor, "role.delete", None, Some(&id.to_string()))
            .await;
        Ok(())
    }

    /// `Forbidden` unless the caller holds every permission of role `id` (when it exists).
    async fn authorize_existing_role(&self, grants: &Grants, id: RoleId) -> Result<(), AdminError> {
        match self.roles().await?.into_iter().find(|r| r.id == id) {
            Some(role) => Self::authorize_permissions(grants, &role.permissions),
            None => Ok(()),
        }
    }

    /// Everyone's grants may have changed.
    async fn roles_changed(&self) {
        self.broadcast(crate::store::Invalidation::All).await;
    }

    // ------------------------------------------------------------ organisations

    /// Creates an organisation; a signed-in creator becomes its owner.
    pub async fn create_org(&self, actor: &Actor, name: &str) -> Result<Organization, AdminError> {
        self.authorize(
            actor,
            Need::new(Entity::Organization, Action::Create),
            Target::Any,
        )
        .await?;
        let org = Organization {
            id: OrgId::new(),
            name: org_name(name)?,
            created_at: self.clock.now(),
            short_reset_codes: false,
        };
        let owner = actor.user_id();
        self.store.insert_org(&org, owner).await?;
        if let Some(owner) = owner {
            self.forget_user(owner).await;
        }
        self.audit_admin(actor, "org.create", None, Some(&org.id.to_string()))
            .await;
        Ok(org)
    }

    fn org_target(id: OrgId) -> Target {
        Target::Org { id, member: None }
    }

    pub async fn org(&self, actor: &Actor, id: OrgId) -> Result<Organization, AdminError> {
        let found = self.store.org(id).await?;
        let grants = self.grants(actor).await?;
        let need = Need::new(Entity::Organization, Action::Read);
        if !grants.allows(need, Self::org_target(id)) {
            return Err(AdminError::Forbidden);
        }
        found.ok_or(AdminError::NotFound)
    }

    /// All organisations for those who may read them all; otherwise the caller's own.
    pub async fn list_orgs(&self, actor: &Actor) -> Result<Vec<Organization>, AdminError> {
        let grants = self.grants(actor).await?;
        let need = Need::new(Entity::Organization, Action::Read);
        let member = if grants.allows(need, Target::Any) {
            None
        } else {
            Some(actor.user_id().ok_or(AdminError::Forbidden)?)
        };
        Ok(self.store.list_orgs(member).await?)
    }

    pub async fn rename_org(
        &self,
        actor: &Actor,
        id: OrgId,
        name: &str,
    ) -> Result<Organization, AdminError> {
        self.authorize(
            actor,
            Need::new(Entity::Organization, Action::Update),
            Self::org_target(id),
        )
        .await?;
        let name = org_name(name)?;
        if !self.store.rename_org(id, &name).await? {
            return Err(AdminError::NotFound);
        }
        self.audit_admin(actor, "org.rename", None, Some(&id.to_string()))
            .await;
        self.store.org(id).await?.ok_or(AdminError::NotFound)
    }

    /// Turns the seed's 4-digit password-reset codes on or off for an application: a weaker
    /// setting (1 in 500 a day for a targeted account, docs/security.md) that only an
    /// instance-level grant chooses, never the organisation's own owners.
    pub async fn set_org_short_reset_codes(
        &self,
        actor: &Actor,
        id: OrgId,
        short: bool,
    ) -> Result<Organization, AdminError> {
        self.authorize(
            actor,
            Need::new(Entity::Organization, Action::Update),
            Target::Any,
        )
        .await?;
        if !self.store.set_org_short_reset_codes(id, short).await? {
            return Err(AdminError::NotFound);
        }
        let detail = format!("{id} short_reset_codes={short}");
        self.audit_admin(actor, "org.code_policy", None, Some(&detail))
            .await;
        self.store.org(id).await?.ok_or(AdminError::NotFound)
    }

    /// The memberships of `user` in organisations the caller may read (whose members it may
    /// list): an organisation's admin does not learn which other organisations
    /// (applications) its members belong to.
    pub async fn visible_memberships(
        &self,
        actor: &Actor,
        user: UserId,
    ) -> Result<Vec<Membership>, AdminError> {
        let grants = self.grants(actor).await?;
        let need = Need::new(Entity::Organization, Action::Read);
        Ok(self
            .store
            .user_memberships(user)
            .await?
            .into_iter()
            .filter(|m| grants.allows(need, Self::org_target(m.org_id)))
            .collect())
    }

    /// Deletes the organisation and its memberships; the members' accounts stay.
    pub async fn delete_org(&self, actor: &Actor, id: OrgId) -> Result<(), AdminError> {
        self.authorize(
            actor,
            Need::new(Entity::Organization, Action::Delete),
            Self::org_target(id),
        )
        .await?;
        let members = self.store.org_members(id).await?;
        if !self.store.delete_org(id).await? {
            return Err(AdminError::NotFound);
        }
        for m in members {
            self.forget_user(m.user_id).await;
        }
        self.audit_admin(actor, "org.delete", None, Some(&id.to_string()))
            .await;
        Ok(())
    }

    pub async fn org_members(
        &self,
        actor: &Actor,
        id: OrgId,
    ) -> Result<Vec<Membership>, AdminError> {
        self.org(actor, id).await?;
        Ok(self.store.org_members(id).await?)
    }

    /// Whether `user` may sign in to application `app`: its members, and instance admins
    /// (by the power they hold, whatever their roles are called).
    pub async fn may_use_application(&self, app: OrgId, user: &User) -> Result<bool, StoreError> {
        if self.membership(app, user.id).await?.is_some() {
            return Ok(true);
        }
        Ok(self
            .grants(&Actor::user(user.id))
            .await?
            .is_instance_admin())
    }

    /// The role `user` holds in `org`, if any.
    pub async fn membership(
        &self,
        org: OrgId,
        user: UserId,
    ) -> Result<Option<OrgRole>, StoreError> {
        Ok(self
            .store
            .user_memberships(user)
            .await?
            .into_iter()
            .find(|m| m.org_id == org)
            .map(|m| m.role))
    }

    /// Adds a member or changes their role. Adding an existing account needs an instance
    /// grant (members join by registering into the application, or are created by its
    /// admins); admins change plain members' roles; only owners change admins and owners.
    pub async fn set_member(
        &self,
        actor: &Actor,
        org: OrgId,
        user: UserId,
        role: OrgRole,
    ) -> Result<(), AdminError> {
        let current = self.membership(org, user).await?;
        if current.is_none() && !self.grants(actor).await?.is_instance_admin() {
            // Joining takes the person's own act (registering into the application) or an
            // instance admin's: an organisation admin manages its members' accounts, so
            // nobody else may pull someone's account into an organisation.
            return Err(AdminError::Forbidden);
        }
        let weight = current.map_or(role, |c| c.max(role));
        self.authorize(
            actor,
            Need::new(Entity::Organization, Action::Update),
            Target::Org {
                id: org,
                member: Some((user, weight)),
            },
        )
        .await?;
        if current == Some(OrgRole::Owner) && role != OrgRole::Owner {
            self.keep_an_owner(org, user).await?;
        }
        if !self
            .store
            .set_membership(org, user, role, self.clock.now())
            .await?
        {
            return Err(AdminError::NotFound);
        }
        self.forget_user(user).await;
        let detail = format!("{org} {}", role.as_str());
        self.audit_admin(actor, "org.member_set", Some(user), Some(&detail))
            .await;
        Ok(())
    }

    /// `LastOwner` when `leaving` is the only owner of `org`: demoting, removing or deleting
    /// them would leave nobody who can manage its admins or delete it. (Checked before the
    /// write, so two owners demoting each other at the same moment can still both succeed;
    /// an instance admin can always name a new owner.)
    async fn keep_an_owner(&self, org: OrgId, leaving: UserId) -> Result<(), AdminError> {
        let others = self
            .store
            .org_members(org)
            .await?
            .into_iter()
            .filter(|m| m.role == OrgRole::Owner && m.user_id != leaving)
            .count();
        if others == 0 {
            return Err(AdminError::LastOwner);
        }
        Ok(())
    }

    /// Removes a member (members may also leave by themselves).
    pub async fn remove_member(
        &self,
        actor: &Actor,
        org: OrgId,
        user: UserId,
    ) -> Result<(), AdminError> {
        let current = self.membership(org, user).await?;
        if actor.user_id() != Some(user) {
            self.authorize(
                actor,
                Need::new(Entity::Organization, Action::Update),
                Target::Org {
                    id: org,
                    member: Some((user, current.unwrap_or(OrgRole::Member))),
                },
            )
            .await?;
        }
        if current == Some(OrgRole::Owner) {
            self.keep_an_owner(org, user).await?;
        }
        if current.is_none() || !self.store.remove_membership(org, user).await? {
            return Err(AdminError::NotFound);
        }
        self.forget_user(user).await;
        self.audit_admin(
            actor,
            "org.member_remove",
            Some(user),
            Some(&org.to_string()),
        )
        .await;
        Ok(())
    }
}

//! Administering accounts: listing, creating (all or none), changing, enabling, deleting,
//! their roles, password resets, ending their sessions and revoking their tokens; each as
//! the caller, under the covering rule for changes to someone else.

use crate::access::{Action, Entity, Need, OrgId, OrgRole, Role, RoleId, Target};
use crate::admin::{conflict, AccountSpec, AccountUpdate, Actor, MAX_PAGE};
use crate::domain::{InvalidInput, User, UserId, UserStatus, Username};
use crate::error::AdminError;
use crate::password::Password;
use crate::service::{draw_user_number, Accounts, Principal};
use crate::store::{NewUserRecord, StoreError, Unique, UserChange, UserQuery};

impl Accounts {
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
}

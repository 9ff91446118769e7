//! Organisations (Glowmarkt's applications, Trieve's organisations) and their members: who
//! founds, renames, deletes them and who adds, changes and removes members.

use crate::access::{
    org_name, Action, Entity, Membership, Need, OrgId, OrgRole, Organization, Target,
};
use crate::admin::Actor;
use crate::domain::{User, UserId};
use crate::error::AdminError;
use crate::service::Accounts;
use crate::store::StoreError;

impl Accounts {
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

    pub(crate) fn org_target(id: OrgId) -> Target {
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
    pub(crate) async fn keep_an_owner(
        &self,
        org: OrgId,
        leaving: UserId,
    ) -> Result<(), AdminError> {
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

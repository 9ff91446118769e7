//! Instance roles: listing, creating, changing and deleting them, never with a permission
//! the caller lacks; the built-in roles stay as they are.

use crate::access::{
    builtin_permissions, Action, Entity, Grants, Need, Role, RoleId, RoleSpec, Target,
};
use crate::admin::{conflict, Actor};
use crate::error::AdminError;
use crate::service::Accounts;

impl Accounts {
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
    pub(crate) async fn authorize_existing_role(
        &self,
        grants: &Grants,
        id: RoleId,
    ) -> Result<(), AdminError> {
        match self.roles().await?.into_iter().find(|r| r.id == id) {
            Some(role) => Self::authorize_permissions(grants, &role.permissions),
            None => Ok(()),
        }
    }

    /// Everyone's grants may have changed.
    pub(crate) async fn roles_changed(&self) {
        self.broadcast(crate::store::Invalidation::All).await;
    }
}

//! What a caller can reach, decided as the caller: a user named by id, public number or
//! login under the one no-probe rule; whether the console's user list is theirs; the mail
//! outbox; a member's role and account changed together. Each of these was a policy a
//! façade built from raw lookups; here each is one use case that takes the caller.

use crate::access::{Action, Entity, Membership, Need, OrgId, OrgRole, Organization, Target};
use crate::admin::{AccountUpdate, Actor};
use crate::domain::{User, UserId};
use crate::error::{AdminError, UserError};
use crate::service::Accounts;
use crate::store::{MailCounts, StoreError};

/// How a request names a user.
#[derive(Debug, Clone, Copy)]
pub enum UserRef<'a> {
    Id(UserId),
    /// The public number (Alsid's ids).
    Number(i64),
    /// A username, an e-mail address or an id, as people type them.
    Login(&'a str),
}

const READ_USER: Need = Need::new(Entity::User, Action::Read);

impl Accounts {
    /// The user `by` names, when the caller may do `need` to them. Nobody learns whether an
    /// account exists unless they may act on every account: a name that names nobody is
    /// `NotFound` to them and `Forbidden` to everyone else, exactly like an existing user
    /// the caller may not reach.
    pub async fn user_as(
        &self,
        actor: &Actor,
        need: Need,
        by: UserRef<'_>,
    ) -> Result<User, AdminError> {
        let found = match by {
            UserRef::Id(id) => Some(id),
            UserRef::Number(number) => self.store.user_by_number(number).await?.map(|u| u.id),
            UserRef::Login(login) => match self.find_user(login.trim()).await {
                Ok(user) => Some(user.id),
                Err(UserError::Store(e)) => return Err(e.into()),
                Err(_) => None,
            },
        };
        match found {
            Some(id) => self.authorize_user(actor, need, id).await,
            None => {
                self.authorize(actor, need, Target::Any).await?;
                Err(AdminError::NotFound)
            }
        }
    }

    /// Whether the caller may read every account (the console opens on the user list for
    /// them, on their organisations for everyone else).
    pub async fn reads_every_user(&self, actor: &Actor) -> Result<bool, StoreError> {
        Ok(self.grants(actor).await?.allows(READ_USER, Target::Any))
    }

    /// The mail outbox's counts, for callers who may read mail (`mail:read`).
    pub async fn outbox(&self, actor: &Actor) -> Result<MailCounts, AdminError> {
        self.authorize(actor, Need::new(Entity::Mail, Action::Read), Target::Any)
            .await?;
        Ok(self.mail_counts().await?)
    }

    /// A member's role in an organisation and their account, changed by one request
    /// (Trieve's `PUT /api/user`). Everything the account change could refuse is checked
    /// before the role changes, so a refusal writes nothing (only a rename racing another
    /// for the same name is left); the role must be a membership the user already holds.
    /// Answers the account as it ends up (read under `user:read` when nothing changes).
    pub async fn update_member_and_account(
        &self,
        actor: &Actor,
        target: UserId,
        role: Option<(OrgId, OrgRole)>,
        update: Option<AccountUpdate>,
    ) -> Result<User, AdminError> {
        if let (Some(update), Some(_)) = (&update, role) {
            self.authorize_user(actor, Need::new(Entity::User, Action::Update), target)
                .await?;
            if let Some(name) = &update.username {
                let taken = self.user_by_username(name).await?;
                if taken.is_some_and(|u| u.id != target) {
                    return Err(AdminError::UsernameTaken);
                }
            }
        }
        if let Some((org, role)) = role {
            match self.membership(org, target).await? {
                None => return Err(AdminError::NotAMember),
                Some(current) if current == role => {}
                Some(_) => self.set_member(actor, org, target, role).await?,
            }
        }
        match update {
            Some(update) => self.update_user(actor, target, update).await,
            None => self.get_user(actor, target).await,
        }
    }

    /// The organisations `user` belongs to, as the caller may see them: all of their own;
    /// of someone else, only the membership in `within` (the organisation the request acts
    /// in), and only when the caller may list its members. An organisation's admin does not
    /// learn which other organisations its members belong to.
    pub async fn memberships_seen_by(
        &self,
        actor: &Actor,
        user: UserId,
        within: Option<OrgId>,
    ) -> Result<Vec<(Organization, Membership)>, AdminError> {
        let orgs: Vec<OrgId> = if actor.user_id() == Some(user) {
            let own = self.store.user_memberships(user).await?;
            own.into_iter().map(|m| m.org_id).collect()
        } else {
            within.into_iter().collect()
        };
        let mut seen = Vec::new();
        for id in orgs {
            let org = self.org(actor, id).await?;
            let members = self.org_members(actor, id).await?;
            if let Some(m) = members.into_iter().find(|m| m.user_id == user) {
                seen.push((org, m));
            }
        }
        Ok(seen)
    }
}

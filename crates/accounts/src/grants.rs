//! The one authorisation rule: what a caller asks (`Need`), on what (`Target`), and whether
//! their roles' permissions and memberships (`Grants`) allow it, or cover another's.

use crate::access::{Action, Entity, OrgId, OrgRole, Permission, RoleId, Scope};
use crate::domain::UserId;

/// What an endpoint asks to do, declared next to the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    pub entity: Entity,
    pub action: Action,
}

impl Need {
    pub const fn new(entity: Entity, action: Action) -> Self {
        Self { entity, action }
    }
}

/// What the action is applied to, as far as the check needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The whole collection (list, create): only unscoped permissions allow it.
    Any,
    /// One user's account, or something it owns (their tokens, sessions).
    User { id: UserId, number: i64 },
    /// One role.
    Role(RoleId),
    /// One organisation, or one of its members' accounts when `member` is set.
    Org {
        id: OrgId,
        member: Option<(UserId, OrgRole)>,
    },
}

/// Everything about the caller the check needs, gathered once per request by the core.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    pub user_id: Option<UserId>,
    pub permissions: Vec<Permission>,
    pub memberships: Vec<(OrgId, OrgRole)>,
}

impl Grants {
    /// Whether the caller's permissions together cover every action on every entity, for
    /// all: an instance administrator, whatever their roles are called.
    pub fn is_instance_admin(&self) -> bool {
        self.covers_permission(&Permission {
            entity: None,
            action: None,
            scope: Scope::All,
        })
    }

    /// Whether the caller holds at least `wanted`, possibly through several permissions
    /// (`user:read:all` and `user:update:all` together cover `user:read`+`update`; two
    /// lists of ids cover their union).
    pub fn covers_permission(&self, wanted: &Permission) -> bool {
        wanted.concrete().all(|one| {
            let single = |scope| Permission {
                scope,
                ..one.clone()
            };
            let held = |p: &Permission| self.permissions.iter().any(|mine| mine.covers(p));
            match &one.scope {
                Scope::Users(ids) => ids.iter().all(|id| held(&single(Scope::Users(vec![*id])))),
                Scope::Roles(ids) => ids.iter().all(|id| held(&single(Scope::Roles(vec![*id])))),
                Scope::All | Scope::Own => held(&one),
            }
        })
    }

    /// The covering rule: whether the caller holds everything `other` holds, their
    /// organisation roles included (the same or a higher role in each of their
    /// organisations, or instance permissions at least as wide). Nobody administers
    /// someone more powerful than themselves; an instance admin covers everyone.
    pub fn covers(&self, other: &Grants) -> bool {
        if self.is_instance_admin() {
            return true;
        }
        other.permissions.iter().all(|p| self.covers_permission(p))
            && other.memberships.iter().all(|(org, role)| {
                self.org_role(*org).is_some_and(|mine| mine >= *role)
                    || role
                        .instance_equivalent()
                        .iter()
                        .all(|p| self.covers_permission(p))
            })
    }

    /// Whether the caller may act beyond their own account: some permission not limited to
    /// themselves, or an organisation they administer. Decides whether the admin console is
    /// offered; every action in it is still checked on its own.
    pub fn reaches_beyond_self(&self) -> bool {
        self.permissions.iter().any(|p| p.scope != Scope::Own)
            || self.memberships.iter().any(|(_, role)| role.manages())
    }

    pub fn org_role(&self, org: OrgId) -> Option<OrgRole> {
        self.memberships
            .iter()
            .find(|(id, _)| *id == org)
            .map(|(_, role)| *role)
    }

    /// The single authorisation rule. Instance permissions first; then organisation roles:
    /// any member may read their organisation; its admins and owners may also update it,
    /// manage its members (but not owners, unless they are owners), and act on the accounts
    /// of its plain members; only owners delete it.
    pub fn allows(&self, need: Need, target: Target) -> bool {
        if self
            .permissions
            .iter()
            .any(|p| self.grants(p, need, target))
        {
            return true;
        }
        let Target::Org { id, member } = target else {
            return false;
        };
        let Some(mine) = self.org_role(id) else {
            return false;
        };
        match (need.entity, member) {
            (Entity::Organization, None) => match need.action {
                Action::Read => true,
                Action::Update | Action::Create => mine.manages(),
                Action::Delete => mine == OrgRole::Owner,
            },
            (Entity::Organization | Entity::User, Some((user, their_role))) => {
                if Some(user) == self.user_id && need.action == Action::Read {
                    return true;
                }
                mine.manages() && (their_role < OrgRole::Admin || mine == OrgRole::Owner)
            }
            _ => false,
        }
    }

    fn grants(&self, p: &Permission, need: Need, target: Target) -> bool {
        if p.entity.is_some_and(|e| e != need.entity) || p.action.is_some_and(|a| a != need.action)
        {
            return false;
        }
        match (&p.scope, target) {
            (Scope::All, _) => true,
            (Scope::Own, Target::User { id, .. }) => Some(id) == self.user_id,
            (Scope::Users(numbers), Target::User { number, .. }) => numbers.contains(&number),
            (Scope::Roles(ids), Target::Role(role)) => ids.contains(&role),
            _ => false,
        }
    }
}

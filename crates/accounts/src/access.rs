//! Who may do what: instance-wide roles made of permissions, organisations with their
//! members' roles, the one authorisation rule (`Grants::allows`, which every surface's
//! endpoints reach through `Accounts::authorize` / `authorize_user`), and the covering rule
//! (`Grants::covers`).
//!
//! A permission is an action on an entity kind, for every entity of that kind, for listed
//! ids only, or for the caller's own account only ("self"). Organisation roles add rights
//! inside one organisation: its owners and admins manage it and its members' accounts.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{InvalidInput, UserId};

pub use crate::grants::{Grants, Need, Target};

/// The kinds of things a permission is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    User,
    Role,
    Organization,
    Token,
    Session,
    Audit,
    Mail,
    /// Files users upload (the avatar is one of them).
    File,
    /// Short user-authored text records.
    Chunk,
}

impl Entity {
    pub const ALL: [Entity; 9] = [
        Self::User,
        Self::Role,
        Self::Organization,
        Self::Token,
        Self::Session,
        Self::Audit,
        Self::Mail,
        Self::File,
        Self::Chunk,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Role => "role",
            Self::Organization => "organization",
            Self::Token => "token",
            Self::Session => "session",
            Self::Audit => "audit",
            Self::Mail => "mail",
            Self::File => "file",
            Self::Chunk => "chunk",
        }
    }
}

impl FromStr for Entity {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| InvalidInput::new("entity", format!("unknown entity kind {s:?}")))
    }
}

/// What a permission lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Read,
    Create,
    Update,
    Delete,
}

impl Action {
    pub const ALL: [Action; 4] = [Self::Read, Self::Create, Self::Update, Self::Delete];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }
}

impl FromStr for Action {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| InvalidInput::new("action", format!("unknown action {s:?}")))
    }
}

/// Which entities of its kind a permission covers. Listed ids are typed: a user's number
/// never reads as a role id (hardening issue 13, point 3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Every entity of the kind.
    All,
    /// Only these users' accounts and what they own (tokens, sessions, files, chunks), by
    /// their public number.
    Users(Vec<i64>),
    /// Only these roles.
    Roles(Vec<RoleId>),
    /// Only the caller's own account and what it owns (tokens, sessions).
    Own,
}

impl Scope {
    /// Listed ids as the wire forms write them (`ids`): roles' ids for the `role` entity,
    /// users' numbers for every other entity and for "any".
    pub fn ids_for(entity: Option<Entity>, ids: Vec<i64>) -> Self {
        match entity {
            Some(Entity::Role) => Self::Roles(ids.into_iter().map(RoleId).collect()),
            _ => Self::Users(ids),
        }
    }

    /// The listed ids, whatever they list (for wire forms that write them as numbers).
    pub fn ids(&self) -> Option<Vec<i64>> {
        match self {
            Self::Users(ids) => Some(ids.clone()),
            Self::Roles(ids) => Some(ids.iter().map(|r| r.0).collect()),
            Self::All | Self::Own => None,
        }
    }

    /// Order of width: all, then listed ids (`Users` and `Roles` each cover a subset of
    /// their own list), then own.
    fn covers(&self, other: &Scope) -> bool {
        match (self, other) {
            (Self::All, _) => true,
            (Self::Users(mine), Self::Users(theirs)) => theirs.iter().all(|i| mine.contains(i)),
            (Self::Roles(mine), Self::Roles(theirs)) => theirs.iter().all(|i| mine.contains(i)),
            (Self::Users(_) | Self::Roles(_) | Self::Own, Self::Own) => true,
            _ => false,
        }
    }
}

/// One grant. `entity` or `action` `None` means any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredPermission")]
pub struct Permission {
    pub entity: Option<Entity>,
    pub action: Option<Action>,
    pub scope: Scope,
}

/// A permission as stored, including the untyped `{"ids": [...]}` scope written before ids
/// were typed: read as roles' ids for the `role` entity and as users' numbers otherwise
/// (also for "any" entity, where it used to match both: the narrower reading).
#[derive(Deserialize)]
struct StoredPermission {
    entity: Option<Entity>,
    action: Option<Action>,
    scope: StoredScope,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum StoredScope {
    All,
    Users(Vec<i64>),
    Roles(Vec<RoleId>),
    Ids(Vec<i64>),
    Own,
}

impl From<StoredPermission> for Permission {
    fn from(p: StoredPermission) -> Self {
        let scope = match p.scope {
            StoredScope::All => Scope::All,
            StoredScope::Users(ids) => Scope::Users(ids),
            StoredScope::Roles(ids) => Scope::Roles(ids),
            StoredScope::Ids(ids) => Scope::ids_for(p.entity, ids),
            StoredScope::Own => Scope::Own,
        };
        Self {
            entity: p.entity,
            action: p.action,
            scope,
        }
    }
}

impl Permission {
    pub fn new(entity: Entity, action: Action, scope: Scope) -> Self {
        Self {
            entity: Some(entity),
            action: Some(action),
            scope,
        }
    }

    /// Listed ids only where they mean something: roles' ids on `role` (or any entity),
    /// users' numbers on users and what they own (or any entity).
    fn validate(&self) -> Result<(), InvalidInput> {
        let fits = match (&self.scope, self.entity) {
            (Scope::Roles(_), Some(e)) => e == Entity::Role,
            (Scope::Users(_), Some(e)) => matches!(
                e,
                Entity::User | Entity::Token | Entity::Session | Entity::File | Entity::Chunk
            ),
            _ => true,
        };
        if fits {
            Ok(())
        } else {
            Err(InvalidInput::new(
                "permissions",
                "listed ids are users' numbers (user, token, session, file, chunk) or \
                 roles' ids (role); other kinds take all or own",
            ))
        }
    }

    /// Whether holding `self` gives at least what `other` gives: entity and action match
    /// (or `self` has any), and the scope is at least as wide.
    pub fn covers(&self, other: &Permission) -> bool {
        (self.entity.is_none() || self.entity == other.entity)
            && (self.action.is_none() || self.action == other.action)
            && self.scope.covers(&other.scope)
    }

    /// `self` split into one permission per entity kind and action it names or implies.
    pub(crate) fn concrete(&self) -> impl Iterator<Item = Permission> + '_ {
        let entities = self.entity.map_or(Entity::ALL.to_vec(), |e| vec![e]);
        let actions = self.action.map_or(Action::ALL.to_vec(), |a| vec![a]);
        entities.into_iter().flat_map(move |entity| {
            actions
                .clone()
                .into_iter()
                .map(move |action| Permission::new(entity, action, self.scope.clone()))
        })
    }
}

/// A role's numeric id (small, stable; shown as is by dialects with integer role ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RoleId(pub i64);

impl RoleId {
    /// The built-in role with every permission.
    pub const ADMIN: RoleId = RoleId(1);
    /// The built-in role every new account gets: its own profile, tokens, sessions, files
    /// and chunks. Not organisations: their owners manage members' accounts, so founding
    /// one is an instance-level grant.
    pub const USER: RoleId = RoleId(2);
}

impl fmt::Display for RoleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub id: RoleId,
    pub name: String,
    pub description: String,
    pub permissions: Vec<Permission>,
    /// `admin` and `user`: neither renamed, edited nor deleted.
    pub builtin: bool,
}

/// A custom role as an admin describes it (checked by [`RoleSpec::validate`]).
#[derive(Debug, Clone)]
pub struct RoleSpec {
    pub name: String,
    pub description: String,
    pub permissions: Vec<Permission>,
}

impl RoleSpec {
    pub fn validate(mut self) -> Result<Self, InvalidInput> {
        self.name = self.name.trim().to_owned();
        let len = self.name.chars().count();
        if len == 0 || len > 64 || self.name.chars().any(char::is_control) {
            return Err(InvalidInput::new(
                "name",
                "must be 1 to 64 characters, without control characters",
            ));
        }
        self.description = self.description.trim().to_owned();
        if self.description.chars().count() > 500 {
            return Err(InvalidInput::new(
                "description",
                "must be at most 500 characters",
            ));
        }
        if self.permissions.len() > 100 {
            return Err(InvalidInput::new(
                "permissions",
                "at most 100 permissions per role",
            ));
        }
        for permission in &self.permissions {
            permission.validate()?;
        }
        Ok(self)
    }
}

/// The permissions of the two built-in roles.
pub fn builtin_permissions(id: RoleId) -> Option<Vec<Permission>> {
    match id {
        RoleId::ADMIN => Some(vec![Permission {
            entity: None,
            action: None,
            scope: Scope::All,
        }]),
        RoleId::USER => Some(vec![
            Permission::new(Entity::User, Action::Read, Scope::Own),
            Permission::new(Entity::User, Action::Update, Scope::Own),
            Permission {
                entity: Some(Entity::Token),
                action: None,
                scope: Scope::Own,
            },
            Permission {
                entity: Some(Entity::Session),
                action: None,
                scope: Scope::Own,
            },
            Permission {
                entity: Some(Entity::File),
                action: None,
                scope: Scope::Own,
            },
            Permission {
                entity: Some(Entity::Chunk),
                action: None,
                scope: Scope::Own,
            },
        ]),
        _ => None,
    }
}

// ------------------------------------------------------------------ organisations

/// An organisation's (tenant's, application's) id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrgId(pub Uuid);

impl OrgId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for OrgId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for OrgId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s.trim()).map(Self)
    }
}

/// An organisation; an application is an organisation that users register into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: OrgId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// The seed's 4-digit password-reset codes for this application's flows: an explicit,
    /// weaker choice only an instance admin makes (docs/security.md, "One-time codes").
    pub short_reset_codes: bool,
}

/// A member's role inside one organisation. Ordered: `Owner > Admin > Member`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgRole {
    Member,
    Admin,
    Owner,
}

impl OrgRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }

    /// Whether this role manages the organisation and its members' accounts.
    pub fn manages(self) -> bool {
        self >= Self::Admin
    }

    /// The instance permissions that give at least what this role gives in one
    /// organisation (organisations have no listed ids, so: on all of them). Whoever holds
    /// these covers a holder of this role in any organisation.
    pub(crate) fn instance_equivalent(self) -> Vec<Permission> {
        let org = |action| Permission::new(Entity::Organization, action, Scope::All);
        let members = Permission {
            entity: Some(Entity::User),
            action: None,
            scope: Scope::All,
        };
        match self {
            Self::Member => vec![org(Action::Read)],
            Self::Admin => vec![
                org(Action::Read),
                org(Action::Create),
                org(Action::Update),
                members,
            ],
            Self::Owner => vec![
                Permission {
                    entity: Some(Entity::Organization),
                    action: None,
                    scope: Scope::All,
                },
                members,
            ],
        }
    }
}

impl FromStr for OrgRole {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "member" => Ok(Self::Member),
            "admin" => Ok(Self::Admin),
            "owner" => Ok(Self::Owner),
            other => Err(InvalidInput::new(
                "role",
                format!("unknown organisation role {other:?} (owner, admin or member)"),
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub org_id: OrgId,
    pub user_id: UserId,
    pub role: OrgRole,
    pub created_at: DateTime<Utc>,
}

/// An organisation name: 1 to 100 characters, trimmed, no control characters.
pub fn org_name(raw: &str) -> Result<String, InvalidInput> {
    let name = raw.trim();
    let len = name.chars().count();
    if len == 0 || len > 100 || name.chars().any(char::is_control) {
        return Err(InvalidInput::new(
            "name",
            "must be 1 to 100 characters, without control characters",
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: UserId) -> Target {
        Target::User { id, number: 7 }
    }

    #[test]
    fn admin_may_do_anything_user_only_own() {
        let me = UserId::new();
        let other = UserId::new();
        let admin = Grants {
            user_id: Some(me),
            permissions: builtin_permissions(RoleId::ADMIN).unwrap(),
            memberships: vec![],
        };
        assert!(admin.is_instance_admin());
        assert!(admin.allows(Need::new(Entity::User, Action::Delete), user(other)));
        assert!(admin.allows(Need::new(Entity::Role, Action::Create), Target::Any));

        let plain = Grants {
            user_id: Some(me),
            permissions: builtin_permissions(RoleId::USER).unwrap(),
            memberships: vec![],
        };
        assert!(!plain.is_instance_admin());
        assert!(plain.allows(Need::new(Entity::User, Action::Read), user(me)));
        assert!(plain.allows(Need::new(Entity::Token, Action::Delete), user(me)));
        assert!(!plain.allows(Need::new(Entity::User, Action::Read), user(other)));
        assert!(!plain.allows(Need::new(Entity::User, Action::Read), Target::Any));
        assert!(!plain.allows(Need::new(Entity::User, Action::Delete), user(me)));
    }

    #[test]
    fn listed_ids_and_org_roles() {
        let me = UserId::new();
        let grants = Grants {
            user_id: Some(me),
            permissions: vec![Permission::new(
                Entity::User,
                Action::Read,
                Scope::Users(vec![7]),
            )],
            memberships: vec![],
        };
        assert!(grants.allows(Need::new(Entity::User, Action::Read), user(UserId::new())));
        assert!(!grants.allows(
            Need::new(Entity::User, Action::Read),
            Target::User {
                id: UserId::new(),
                number: 8
            }
        ));

        let org = OrgId::new();
        let other_org = OrgId::new();
        let org_admin = Grants {
            user_id: Some(me),
            permissions: vec![],
            memberships: vec![(org, OrgRole::Admin)],
        };
        let member = |role| Target::Org {
            id: org,
            member: Some((UserId::new(), role)),
        };
        let update_user = Need::new(Entity::User, Action::Update);
        assert!(org_admin.allows(update_user, member(OrgRole::Member)));
        assert!(!org_admin.allows(update_user, member(OrgRole::Owner)));
        assert!(!org_admin.allows(
            update_user,
            Target::Org {
                id: other_org,
                member: Some((UserId::new(), OrgRole::Member))
            }
        ));
        let org_itself = Target::Org {
            id: org,
            member: None,
        };
        assert!(org_admin.allows(Need::new(Entity::Organization, Action::Update), org_itself));
        assert!(!org_admin.allows(Need::new(Entity::Organization, Action::Delete), org_itself));
    }

    fn holding(permissions: Vec<Permission>) -> Grants {
        Grants {
            user_id: Some(UserId::new()),
            permissions,
            memberships: vec![],
        }
    }

    fn any_entity(action: Option<Action>, scope: Scope) -> Permission {
        Permission {
            entity: None,
            action,
            scope,
        }
    }

    #[test]
    fn legacy_ids_read_back_typed_by_entity() {
        let stored = r#"[
            {"entity": "role", "action": "update", "scope": {"ids": [1]}},
            {"entity": "user", "action": "update", "scope": {"ids": [1]}},
            {"entity": null, "action": "update", "scope": {"ids": [1]}},
            {"entity": "session", "action": null, "scope": {"users": [5]}},
            {"entity": "role", "action": "read", "scope": {"roles": [3]}}
        ]"#;
        let read: Vec<Permission> = serde_json::from_str(stored).unwrap();
        assert_eq!(read[0].scope, Scope::Roles(vec![RoleId(1)]));
        assert_eq!(read[1].scope, Scope::Users(vec![1]));
        assert_eq!(read[2].scope, Scope::Users(vec![1]), "the narrower reading");
        assert_eq!(read[3].scope, Scope::Users(vec![5]));
        assert_eq!(read[4].scope, Scope::Roles(vec![RoleId(3)]));
        let again: Vec<Permission> =
            serde_json::from_str(&serde_json::to_string(&read).unwrap()).unwrap();
        assert_eq!(again, read);
    }

    #[test]
    fn user_numbers_never_reach_the_role_with_the_same_id() {
        let grants = holding(vec![any_entity(
            Some(Action::Update),
            Scope::Users(vec![1]),
        )]);
        let update_role = Need::new(Entity::Role, Action::Update);
        assert!(!grants.allows(update_role, Target::Role(RoleId::ADMIN)));
        let user_one = Target::User {
            id: UserId::new(),
            number: 1,
        };
        assert!(grants.allows(Need::new(Entity::User, Action::Update), user_one));
        let roles = holding(vec![Permission::new(
            Entity::Role,
            Action::Update,
            Scope::Roles(vec![RoleId(3)]),
        )]);
        assert!(roles.allows(update_role, Target::Role(RoleId(3))));
        assert!(!roles.allows(update_role, Target::Role(RoleId::ADMIN)));
    }

    #[test]
    fn misplaced_ids_are_refused_when_written() {
        let spec = |p| RoleSpec {
            name: "r".into(),
            description: String::new(),
            permissions: vec![p],
        };
        let roles_on_users = Permission::new(Entity::User, Action::Read, Scope::Roles(vec![]));
        assert!(spec(roles_on_users).validate().is_err());
        let users_on_roles = Permission::new(Entity::Role, Action::Read, Scope::Users(vec![1]));
        assert!(spec(users_on_roles).validate().is_err());
        let users_on_audit = Permission::new(Entity::Audit, Action::Read, Scope::Users(vec![1]));
        assert!(spec(users_on_audit).validate().is_err());
        let any = any_entity(None, Scope::Users(vec![1]));
        assert!(spec(any).validate().is_ok());
    }

    #[test]
    fn covering_is_by_entity_action_and_scope_width() {
        let admin = holding(builtin_permissions(RoleId::ADMIN).unwrap());
        let plain = holding(builtin_permissions(RoleId::USER).unwrap());
        assert!(admin.covers(&plain));
        assert!(!plain.covers(&admin));
        assert!(plain.covers(&plain.clone()));

        let mut helpdesk = builtin_permissions(RoleId::USER).unwrap();
        helpdesk.push(Permission::new(Entity::User, Action::Update, Scope::All));
        let helpdesk = holding(helpdesk);
        assert!(helpdesk.covers(&plain), "all covers own");
        assert!(!helpdesk.covers(&admin));
        assert!(!helpdesk.is_instance_admin());

        // Listed ids: wider than own, narrower than all; a union of lists covers.
        let listed = |ids: Vec<i64>| Permission::new(Entity::User, Action::Read, Scope::Users(ids));
        let two = holding(vec![listed(vec![1]), listed(vec![2])]);
        assert!(two.covers_permission(&listed(vec![1, 2])));
        assert!(!two.covers_permission(&listed(vec![1, 3])));
        assert!(two.covers_permission(&Permission::new(Entity::User, Action::Read, Scope::Own)));
        assert!(!two.covers_permission(&Permission::new(Entity::User, Action::Read, Scope::All)));
        assert!(!holding(vec![Permission::new(
            Entity::User,
            Action::Read,
            Scope::Own
        )])
        .covers_permission(&listed(vec![1])));
    }

    #[test]
    fn whoever_covers_everything_is_an_instance_admin_whatever_the_roles() {
        let by_entity = Entity::ALL
            .into_iter()
            .map(|e| Permission {
                entity: Some(e),
                action: None,
                scope: Scope::All,
            })
            .collect();
        assert!(holding(by_entity).is_instance_admin());
        let by_action = Action::ALL
            .into_iter()
            .map(|a| any_entity(Some(a), Scope::All))
            .collect();
        assert!(holding(by_action).is_instance_admin());
        let mut short = Entity::ALL.to_vec();
        short.pop();
        let short = short
            .into_iter()
            .map(|e| Permission {
                entity: Some(e),
                action: None,
                scope: Scope::All,
            })
            .collect();
        assert!(!holding(short).is_instance_admin());
    }

    #[test]
    fn organisation_roles_count_in_covering() {
        let org = OrgId::new();
        let plain = builtin_permissions(RoleId::USER).unwrap();
        let member_of = |role| Grants {
            user_id: Some(UserId::new()),
            permissions: plain.clone(),
            memberships: vec![(org, role)],
        };
        let owner = member_of(OrgRole::Owner);
        let admin = member_of(OrgRole::Admin);
        assert!(owner.covers(&admin));
        assert!(!admin.covers(&owner));
        assert!(!holding(plain.clone()).covers(&member_of(OrgRole::Member)));
        let mut helpdesk = plain.clone();
        helpdesk.push(Permission::new(Entity::User, Action::Update, Scope::All));
        assert!(
            !holding(helpdesk).covers(&owner),
            "user:update does not cover an owner"
        );
        let mut wide = plain;
        wide.push(Permission {
            entity: Some(Entity::Organization),
            action: None,
            scope: Scope::All,
        });
        wide.push(Permission {
            entity: Some(Entity::User),
            action: None,
            scope: Scope::All,
        });
        assert!(holding(wide).covers(&owner));
    }
}

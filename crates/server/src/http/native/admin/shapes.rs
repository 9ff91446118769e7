//! The admin API's wire shapes: users, roles and permissions, in and out.

use super::*;

/// An account's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusName {
    /// Registered, address not verified yet: cannot sign in.
    Pending,
    Active,
    /// Switched off: no login, no credential works.
    Disabled,
}

impl From<StatusName> for UserStatus {
    fn from(s: StatusName) -> Self {
        match s {
            StatusName::Pending => Self::Pending,
            StatusName::Active => Self::Active,
            StatusName::Disabled => Self::Disabled,
        }
    }
}

/// A user as administrators see them: the account, its profile claims, its public number
/// and its instance roles.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserView {
    #[serde(flatten)]
    pub user: UserView,
    /// The public numeric id integer-id dialects show (random, so it reveals no order).
    pub number: i64,
    /// Ids of the user's instance roles (`1` admin, `2` user, others custom).
    pub roles: Vec<i64>,
}

impl AdminUserView {
    pub(super) async fn of(state: &AppState, user: User) -> Result<Self, ApiError> {
        Ok(Self::all(state, vec![user]).await?.remove(0))
    }

    /// Views of a page of users, their roles read in one query.
    pub(super) async fn all(state: &AppState, users: Vec<User>) -> Result<Vec<Self>, ApiError> {
        let ids: Vec<_> = users.iter().map(|u| u.id).collect();
        let mut roles = state.accounts.role_ids_of(&ids).await?;
        Ok(users
            .into_iter()
            .map(|user| Self {
                number: user.number,
                roles: roles
                    .remove(&user.id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|r| r.0)
                    .collect(),
                user: user.into(),
            })
            .collect())
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// A prefix of the username, or of the e-mail address when it contains `@`
    /// (case-insensitive). It also sets the order: by username, by e-mail, or (without `q`)
    /// by creation.
    pub q: Option<String>,
    #[param(inline)]
    pub status: Option<StatusName>,
    /// Only holders of this role id.
    pub role: Option<i64>,
    /// Only members of this organisation (its admins may list them).
    pub org: Option<Uuid>,
    /// 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next` of a page, unchanged, with the same `q`: the page that follows it.
    pub after: Option<String>,
    /// `prev` of a page, unchanged, with the same `q`: the page that precedes it.
    pub before: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    /// At most `limit`, in the order `q` sets.
    pub users: Vec<AdminUserView>,
    /// The cursor of the next page, for `after`; `null` on the last page.
    pub next: Option<String>,
    /// The cursor of the previous page, for `before`; `null` on the first page.
    pub prev: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RolePage {
    /// At most `limit`, by id.
    pub roles: Vec<RoleView>,
    /// The cursor of the next page, for `after`; `null` on the last page.
    pub next: Option<String>,
    /// The cursor of the previous page, for `before`; `null` on the first page.
    pub prev: Option<String>,
    /// How many roles there are in this list in all.
    pub total: u64,
}

impl RolePage {
    /// A page of roles held whole, by id (the user's roles; every role).
    pub(super) fn of(list: &str, mut roles: Vec<Role>, request: &paging::PageRequest<i64>) -> Self {
        roles.sort_by_key(|r| r.id.0);
        let total = roles.len() as u64;
        let page = Page::of_all(roles, |r| r.id.0, false, request);
        let (next, prev) = page.cursors(list, |r| r.id.0.to_string());
        Self {
            roles: page.items.into_iter().map(Into::into).collect(),
            next,
            prev,
            total,
        }
    }
}

/// A new account. Profile claims (`name`, `locale`, ...) may be given at the top level as
/// on `PATCH /auth/v1/me`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewAccount {
    pub username: String,
    pub email: String,
    /// Checked against the password policy. Omitted: the account has no password until a
    /// reset gives it one.
    pub password: Option<String>,
    /// Default `active`.
    #[schema(inline)]
    pub status: Option<StatusName>,
    /// Default `false`.
    #[serde(default)]
    pub email_verified: bool,
    /// Instance role ids; default `[2]`, the built-in `user` role. Granting a role needs
    /// the right to change that role.
    #[serde(default)]
    pub roles: Vec<i64>,
    #[serde(flatten)]
    pub claims: ProfilePatch,
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, serde_json::Value>,
}

/// One account, or an array of them created all or none.
#[derive(Debug, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // describes the body for the OpenAPI document; parsed by hand
pub enum NewAccounts {
    One(Box<NewAccount>),
    Many(Vec<NewAccount>),
}

/// What `POST /auth/v1/admin/users` answers: the same shape as it was sent.
#[derive(Debug, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // describes the answer for the OpenAPI document
pub enum CreatedUsers {
    One(Box<AdminUserView>),
    Many(Vec<AdminUserView>),
}

/// An administrator's change to an account: missing = keep. Profile claims as on
/// `PATCH /auth/v1/me` (`null` clears one).
#[derive(Debug, Deserialize, ToSchema)]
pub struct AccountPatch {
    pub username: Option<String>,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    #[schema(inline)]
    pub status: Option<StatusName>,
    /// A new password (policy-checked); every session of the user ends.
    pub password: Option<String>,
    #[serde(flatten)]
    pub claims: ProfilePatch,
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleIds {
    /// Role ids.
    pub roles: Vec<i64>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    /// Set this password (every session ends). Omitted: the user is mailed a reset code
    /// and link.
    pub password: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    pub revoked: usize,
}

/// The kinds of things a permission is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntityName {
    User,
    Role,
    Organization,
    Token,
    Session,
    Audit,
    Mail,
    /// Files users upload (the avatar is one of them).
    File,
    /// Users' chunks (short text records).
    Chunk,
}

impl From<EntityName> for Entity {
    fn from(e: EntityName) -> Self {
        match e {
            EntityName::User => Self::User,
            EntityName::Role => Self::Role,
            EntityName::Organization => Self::Organization,
            EntityName::Token => Self::Token,
            EntityName::Session => Self::Session,
            EntityName::Audit => Self::Audit,
            EntityName::Mail => Self::Mail,
            EntityName::File => Self::File,
            EntityName::Chunk => Self::Chunk,
        }
    }
}

impl From<Entity> for EntityName {
    fn from(e: Entity) -> Self {
        match e {
            Entity::User => Self::User,
            Entity::Role => Self::Role,
            Entity::Organization => Self::Organization,
            Entity::Token => Self::Token,
            Entity::Session => Self::Session,
            Entity::Audit => Self::Audit,
            Entity::Mail => Self::Mail,
            Entity::File => Self::File,
            Entity::Chunk => Self::Chunk,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionName {
    Read,
    Create,
    Update,
    Delete,
}

impl From<ActionName> for Action {
    fn from(a: ActionName) -> Self {
        match a {
            ActionName::Read => Self::Read,
            ActionName::Create => Self::Create,
            ActionName::Update => Self::Update,
            ActionName::Delete => Self::Delete,
        }
    }
}

impl From<Action> for ActionName {
    fn from(a: Action) -> Self {
        match a {
            Action::Read => Self::Read,
            Action::Create => Self::Create,
            Action::Update => Self::Update,
            Action::Delete => Self::Delete,
        }
    }
}

/// Which entities of its kind a permission covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScopeName {
    /// Every entity of the kind (and the collection: list, create).
    All,
    /// Only those listed in `ids`: roles by id with `entity: "role"`, otherwise users by
    /// their `number` (and what they own).
    Ids,
    /// Only the holder's own account and what it owns (their tokens, sessions).
    Own,
}

/// One grant: `action` on `entity`, within `scope`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionView {
    /// `null` or absent: every kind.
    #[serde(default)]
    pub entity: Option<EntityName>,
    /// `null` or absent: every action.
    #[serde(default)]
    pub action: Option<ActionName>,
    pub scope: ScopeName,
    /// With `scope: "ids"` (and only then): roles' ids with `entity: "role"`, users'
    /// numbers with every other entity and with none (never both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<i64>>,
}

impl From<Permission> for PermissionView {
    fn from(p: Permission) -> Self {
        let (scope, ids) = match (&p.scope, p.scope.ids()) {
            (_, Some(ids)) => (ScopeName::Ids, Some(ids)),
            (Scope::Own, None) => (ScopeName::Own, None),
            (_, None) => (ScopeName::All, None),
        };
        Self {
            entity: p.entity.map(Into::into),
            action: p.action.map(Into::into),
            scope,
            ids,
        }
    }
}

impl PermissionView {
    pub(super) fn parse(self, index: usize) -> Result<Permission, ApiError> {
        let entity = self.entity.map(Into::into);
        let scope = match (self.scope, self.ids) {
            (ScopeName::All, None) => Scope::All,
            (ScopeName::Own, None) => Scope::Own,
            (ScopeName::Ids, Some(ids)) => Scope::ids_for(entity, ids),
            (ScopeName::Ids, None) => {
                return Err(invalid_field(
                    format!("permissions[{index}].ids"),
                    "`scope: \"ids\"` needs `ids`, the list of numbers it covers",
                ))
            }
            (_, Some(_)) => {
                return Err(invalid_field(
                    format!("permissions[{index}].ids"),
                    "`ids` goes only with `scope: \"ids\"`",
                ))
            }
        };
        Ok(Permission {
            entity,
            action: self.action.map(Into::into),
            scope,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleView {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// `admin` (1) and `user` (2): never changed nor deleted.
    pub builtin: bool,
    pub permissions: Vec<PermissionView>,
}

impl From<Role> for RoleView {
    fn from(r: Role) -> Self {
        Self {
            id: r.id.0,
            name: r.name,
            description: r.description,
            builtin: r.builtin,
            permissions: r.permissions.into_iter().map(Into::into).collect(),
        }
    }
}

/// A custom role: a name and its permissions.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    /// 1 to 64 characters, unique.
    pub name: String,
    /// At most 500 characters.
    #[serde(default)]
    pub description: String,
    /// At most 100.
    pub permissions: Vec<PermissionView>,
}

impl RoleBody {
    pub(super) fn parse(self) -> Result<RoleSpec, ApiError> {
        let permissions = self
            .permissions
            .into_iter()
            .enumerate()
            .map(|(i, p)| p.parse(i))
            .collect::<Result<_, _>>()?;
        Ok(RoleSpec {
            name: self.name,
            description: self.description,
            permissions,
        })
    }
}

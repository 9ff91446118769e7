//! Alsid's wire shapes: users, roles and permissions out, request bodies in.

use super::*;

/// `InlineResponse20043`: a user as `GET /api/users/{id}` shows them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserById {
    pub(super) id: i64,
    pub(super) surname: Option<String>,
    pub(super) name: String,
    pub(super) email: String,
    pub(super) department: Option<String>,
    pub(super) biography: Option<String>,
    pub(super) active: bool,
    /// Alsid pictures are arrays of numbers; Gatehouse keeps pictures as URLs, so none.
    pub(super) picture: Option<Vec<i64>>,
    pub(super) roles: Vec<i64>,
}

impl UserById {
    pub(super) fn new(user: User, roles: &[RoleId]) -> Self {
        let name = display_name(&user);
        Self {
            id: user.number,
            surname: user.profile.family_name,
            name,
            email: user.email.to_string(),
            department: user.profile.department,
            biography: user.profile.biography,
            active: user.status == UserStatus::Active,
            picture: None,
            roles: roles.iter().map(|r| r.0).collect(),
        }
    }
}

/// `InlineResponse20041`: a user as listed, created and updated.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlsidUser {
    #[serde(flatten)]
    pub(super) user: UserById,
    identifier: String,
    pub(super) provider: &'static str,
    pub(super) eula_version: i64,
}

impl AlsidUser {
    pub(super) fn new(user: User, roles: &[RoleId]) -> Self {
        let identifier = user.username.to_string();
        Self {
            user: UserById::new(user, roles),
            identifier,
            provider: PROVIDER,
            eula_version: EULA_VERSION,
        }
    }
}

/// `name` is required and never null: the given name, or the username without one.
pub(super) fn display_name(user: &User) -> String {
    user.profile
        .given_name
        .clone()
        .unwrap_or_else(|| user.username.to_string())
}

/// `InlineResponse20042`: the caller, with their roles spelled out.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WhoAmI {
    pub(super) id: i64,
    pub(super) name: String,
    pub(super) email: String,
    pub(super) provider: &'static str,
    pub(super) department: Option<String>,
    pub(super) roles: Vec<RoleOut>,
    pub(super) eula_version: i64,
    pub(super) internal: bool,
    pub(super) active: bool,
}

/// `InlineResponse20033`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleOut {
    id: i64,
    name: String,
    description: String,
    permissions: Vec<PermissionOut>,
}

/// `ApirolesPermissions`: `*` for "any" entity or action; `Scope::All` is an empty
/// `entityIds` (never `null`: the seed client fails on it), listed ids are `entityIds`, and
/// "own" is `dynamicId: "self-user-id"`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionOut {
    entity_name: &'static str,
    pub(super) action: &'static str,
    entity_ids: Vec<i64>,
    dynamic_id: Option<&'static str>,
}

impl From<Role> for RoleOut {
    fn from(role: Role) -> Self {
        Self {
            id: role.id.0,
            name: role.name,
            description: role.description,
            permissions: role.permissions.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<Permission> for PermissionOut {
    fn from(p: Permission) -> Self {
        let (entity_ids, dynamic_id) = match p.scope {
            Scope::All => (Vec::new(), None),
            Scope::Users(ids) => (ids, None),
            Scope::Roles(ids) => (ids.into_iter().map(|r| r.0).collect(), None),
            Scope::Own => (Vec::new(), Some("self-user-id")),
        };
        Self {
            entity_name: p.entity.map_or("*", Entity::as_str),
            action: p.action.map_or("*", Action::as_str),
            entity_ids,
            dynamic_id,
        }
    }
}

/// `ApiLoginBody`.
#[derive(Debug, Deserialize)]
pub(super) struct LoginBody {
    pub(super) email: String,
    pub(super) password: String,
}

/// `InlineResponse20044`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AuthToken {
    pub(super) auth_token: String,
}

/// `ApiUsersBody`. `active` is read but not obeyed (see [`create_users`]).
#[derive(Debug, Deserialize)]
pub(super) struct NewUserBody {
    pub(super) name: String,
    pub(super) email: String,
    pub(super) password: String,
    pub(super) surname: Option<String>,
    pub(super) department: Option<String>,
    pub(super) biography: Option<String>,
    #[allow(dead_code)]
    pub(super) active: Option<bool>,
    pub(super) picture: Option<Vec<f64>>,
}

/// `UsersIdBody`: every field optional. For the nullable ones (`surname`, `department`,
/// `biography`) `null` clears; for the others `null` is the same as leaving the key out.
#[derive(Debug, Deserialize)]
pub(super) struct UserPatchBody {
    pub(super) name: Option<String>,
    pub(super) email: Option<String>,
    pub(super) password: Option<String>,
    pub(super) active: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) surname: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) department: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) biography: Option<Option<String>>,
    pub(super) picture: Option<Vec<f64>>,
}

/// `IdRolesBody` and `InlineResponse20045`.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct RolesBody {
    pub(super) roles: Vec<i64>,
}

/// `UsersPasswordBody`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PasswordChangeBody {
    pub(super) old_password: String,
    pub(super) new_password: String,
}

/// `UsersForgottenpasswordBody`.
#[derive(Debug, Deserialize)]
pub(super) struct ForgottenPasswordBody {
    pub(super) email: String,
}

/// `UsersRetrievepasswordBody`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RetrievePasswordBody {
    pub(super) token: String,
    pub(super) new_password: String,
}

/// Pictures are not kept in Alsid's form; an empty or missing one is fine.
pub(super) fn no_picture(picture: Option<&Vec<f64>>) -> Result<(), AlsidError> {
    match picture {
        Some(p) if !p.is_empty() => Err(AlsidError::bad_request(
            "unsupported_field",
            "picture: pictures are not supported on this API",
        )),
        _ => Ok(()),
    }
}

pub(super) fn set(value: Option<String>) -> Patch<String> {
    value.map_or(Patch::Keep, Patch::Set)
}

pub(super) fn email(raw: &str) -> Result<EmailAddress, AlsidError> {
    EmailAddress::parse(raw).map_err(|e| AlsidError::bad_request("invalid_input", e.to_string()))
}

/// The answer of the three endpoints the seed client declares as `Object`: it can read
/// only the JSON literal `null`.
pub(super) fn null() -> Json<()> {
    Json(())
}

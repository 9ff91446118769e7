//! Glowmarkt's wire shapes: users, applications and the `valid` answer.

use super::*;

/// `AddUserRes` / `CreateUserRes`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRes {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) user_id: Option<String>,
    pub(super) active: bool,
    pub(super) status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) updated_at: Option<String>,
    pub(super) applications: Vec<ApplicationRes>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationRes {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) account_id: Option<String>,
    pub(super) active: bool,
    pub(super) application_id: String,
}

pub(super) fn status_out(status: UserStatus) -> &'static str {
    match status {
        UserStatus::Pending => "unverified",
        UserStatus::Active => "active",
        UserStatus::Disabled => "disabled",
    }
}

pub(super) fn status_in(raw: &str) -> Result<UserStatus, GlowmarktError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "unverified" | "pending" => Ok(UserStatus::Pending),
        "active" => Ok(UserStatus::Active),
        "disabled" | "inactive" => Ok(UserStatus::Disabled),
        other => Err(GlowmarktError::bad(format!(
            "unknown status {other:?} (active, unverified or disabled)"
        ))),
    }
}

pub(super) fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The user as `AddUserRes`. Only the applications the caller may read are listed (the
/// core's `visible_memberships`: an application's admin does not learn the user's other
/// applications); with an application named, only that one of them.
pub(super) async fn user_res(
    state: &AppState,
    actor: &Actor,
    user: &User,
    app: Option<OrgId>,
) -> Result<UserRes, GlowmarktError> {
    let apps: Vec<OrgId> = state
        .accounts
        .visible_memberships(actor, user.id)
        .await?
        .into_iter()
        .map(|m| m.org_id)
        .filter(|org| app.is_none_or(|app| app == *org))
        .collect();
    Ok(UserRes {
        user_id: Some(user.id.to_string()),
        active: user.status == UserStatus::Active,
        status: status_out(user.status),
        created_at: Some(time(user.created_at)),
        updated_at: Some(time(user.updated_at)),
        applications: apps
            .into_iter()
            .map(|org| ApplicationRes {
                account_id: Some(user.id.to_string()),
                active: true,
                application_id: org.to_string(),
            })
            .collect(),
    })
}

#[derive(Debug, Serialize)]
pub struct Valid {
    pub(super) valid: bool,
}

pub(super) const VALID: Json<Valid> = Json(Valid { valid: true });

//! Moving users between systems as JSON Lines (`gatehouse user export` / `import`): one
//! user per line, with their password hash as stored. Imported argon2 and bcrypt hashes
//! are verified at login and replaced by a current argon2id hash then; a hash whose costs
//! pass the hasher's `HashCostLimits` is refused, naming its line.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::access::{OrgId, RoleId};
use crate::domain::{EmailAddress, Patch, Profile, ProfileUpdate, UserId, UserStatus, Username};
use crate::service::{draw_user_number, Accounts};
use crate::store::{NewUserRecord, StoreError};

/// One line of an export, and what an import reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserLine {
    /// Kept when given, so references from other systems stay valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<UserId>,
    /// The public number integer-id dialects show; kept when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<i64>,
    pub username: String,
    pub email: String,
    #[serde(default)]
    pub email_verified: bool,
    #[serde(default = "active")]
    pub status: UserStatus,
    /// argon2 PHC or bcrypt MCF; absent for an account without a password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// Role names (portable between systems, unlike ids); empty means `user`.
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub profile: Profile,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
}

fn active() -> UserStatus {
    UserStatus::Active
}

/// A line the import refused, by its 1-based number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub line: usize,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Nothing was imported.
    #[error("{} bad line(s); nothing imported", .0.len())]
    BadLines(Vec<BadLine>),
    #[error("no such organisation")]
    UnknownOrganisation,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub imported: usize,
    /// Lines skipped (only when asked to skip bad lines).
    pub skipped: Vec<BadLine>,
}

fn profile_update(p: Profile) -> ProfileUpdate {
    let set = |v: Option<String>| v.map_or(Patch::Keep, Patch::Set);
    ProfileUpdate {
        name: set(p.name),
        given_name: set(p.given_name),
        family_name: set(p.family_name),
        middle_name: set(p.middle_name),
        nickname: set(p.nickname),
        preferred_username: set(p.preferred_username),
        profile: set(p.profile),
        picture: set(p.picture),
        website: set(p.website),
        gender: set(p.gender),
        birthdate: set(p.birthdate),
        zoneinfo: set(p.zoneinfo),
        locale: set(p.locale),
        phone_number: set(p.phone_number),
        address: set(p.address),
        department: set(p.department),
        biography: set(p.biography),
    }
}

impl Accounts {
    /// One page of the export, in id order after `after`.
    pub async fn export_users(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<UserLine>, StoreError> {
        let roles = self.store.list_roles().await?;
        let name_of = |id: RoleId| {
            roles
                .iter()
                .find(|r| r.id == id)
                .map(|r| r.name.clone())
                .unwrap_or_else(|| id.to_string())
        };
        Ok(self
            .store
            .export_users(after, limit)
            .await?
            .into_iter()
            .map(|e| UserLine {
                id: Some(e.user.id),
                number: Some(e.user.number),
                username: e.user.username.to_string(),
                email: e.user.email.to_string(),
                email_verified: e.user.email_verified,
                status: e.user.status,
                password_hash: e.password_hash,
                roles: e.roles.into_iter().map(name_of).collect(),
                profile: e.user.profile,
                created_at: Some(e.user.created_at),
            })
            .collect())
    }

    /// Imports JSON Lines (`(line number, text)`; blank lines are ignored). Every line is
    /// checked first: bad JSON, invalid fields, unknown roles, unusable hashes, duplicates
    /// within the file or of existing accounts. With a bad line nothing is imported unless
    /// `skip_bad`; the good lines then go in one transaction.
    pub async fn import_users(
        &self,
        lines: Vec<(usize, String)>,
        skip_bad: bool,
        org: Option<OrgId>,
    ) -> Result<ImportReport, ImportError> {
        if let Some(org) = org {
            if self.store.org(org).await?.is_none() {
                return Err(ImportError::UnknownOrganisation);
            }
        }
        let roles = self.store.list_roles().await?;
        let now = self.clock.now();
        let mut seen_names = HashSet::new();
        let mut seen_emails = HashSet::new();
        let mut seen_ids = HashSet::new();
        let mut bad = Vec::new();
        let mut records = Vec::new();
        for (line, text) in lines {
            if text.trim().is_empty() {
                continue;
            }
            match self
                .import_line(
                    &text,
                    &roles,
                    now,
                    org,
                    &mut seen_names,
                    &mut seen_emails,
                    &mut seen_ids,
                )
                .await
            {
                Ok(record) => records.push(record),
                Err(ImportLineError::Store(e)) => return Err(e.into()),
                Err(ImportLineError::Bad(reason)) => bad.push(BadLine { line, reason }),
            }
        }
        if !bad.is_empty() && !skip_bad {
            return Err(ImportError::BadLines(bad));
        }
        let imported = match self.store.insert_users(&records).await {
            Ok(users) => users.len(),
            // Someone took a name between the check and the insert: nothing was written.
            Err(StoreError::Conflict(which)) => {
                return Err(ImportError::BadLines(vec![BadLine {
                    line: 0,
                    reason: format!(
                        "an account created during the import conflicts ({which:?}); nothing imported, run it again"
                    ),
                }]))
            }
            Err(e) => return Err(e.into()),
        };
        self.audit(
            "user.import",
            None,
            None,
            crate::audit::Outcome::Success,
            &crate::service::ClientInfo::default(),
            Some(&format!("{imported} imported, {} skipped", bad.len())),
        )
        .await;
        Ok(ImportReport {
            imported,
            skipped: bad,
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn import_line(
        &self,
        text: &str,
        roles: &[crate::access::Role],
        now: DateTime<Utc>,
        org: Option<OrgId>,
        seen_names: &mut HashSet<String>,
        seen_emails: &mut HashSet<String>,
        seen_ids: &mut HashSet<UserId>,
    ) -> Result<NewUserRecord, ImportLineError> {
        let bad = |r: String| ImportLineError::Bad(r);
        let line: UserLine =
            serde_json::from_str(text).map_err(|e| bad(format!("not a user record: {e}")))?;
        let username = Username::parse(&line.username).map_err(|e| bad(e.to_string()))?;
        let email = EmailAddress::parse(&line.email).map_err(|e| bad(e.to_string()))?;
        if let Some(hash) = &line.password_hash {
            self.hasher.limits().check(hash).map_err(bad)?;
        }
        let mut role_ids = Vec::new();
        for name in &line.roles {
            let role = roles
                .iter()
                .find(|r| r.name == *name)
                .ok_or_else(|| bad(format!("no role is named {name:?}")))?;
            role_ids.push(role.id);
        }
        if role_ids.is_empty() {
            role_ids.push(RoleId::USER);
        }
        if let Some(n) = line.number {
            if !(1..(1_i64 << 53)).contains(&n) {
                return Err(bad("number must be between 1 and 2^53".into()));
            }
            if self.store.user_by_number(n).await?.is_some() {
                return Err(bad(format!("number {n} is taken")));
            }
        }
        if !seen_names.insert(username.to_string()) {
            return Err(bad(format!(
                "username {username} appears twice in the file"
            )));
        }
        if !seen_emails.insert(email.to_string()) {
            return Err(bad(format!("e-mail {email} appears twice in the file")));
        }
        if self.store.user_by_username(&username).await?.is_some() {
            return Err(bad(format!("username {username} is taken")));
        }
        if self.store.user_by_email(&email).await?.is_some() {
            return Err(bad(format!("e-mail {email} is taken")));
        }
        let id = match line.id {
            Some(id) => {
                if !seen_ids.insert(id) || self.store.user_by_id(id).await?.is_some() {
                    return Err(bad(format!("id {id} is taken")));
                }
                id
            }
            None => UserId::new(),
        };
        let profile = profile_update(line.profile)
            .validate()
            .map_err(|e| bad(format!("profile.{e}")))?;
        Ok(NewUserRecord {
            id,
            username,
            email,
            email_verified: line.email_verified,
            status: line.status,
            number: line.number.unwrap_or_else(draw_user_number),
            roles: role_ids,
            memberships: org
                .map(|o| vec![(o, crate::access::OrgRole::Member)])
                .unwrap_or_default(),
            password_hash: line.password_hash,
            profile,
            created_at: line.created_at.unwrap_or(now),
        })
    }
}

enum ImportLineError {
    Bad(String),
    Store(StoreError),
}

impl From<StoreError> for ImportLineError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

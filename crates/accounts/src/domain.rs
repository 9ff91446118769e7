//! Domain types: parsed once at the boundary, trusted everywhere after.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A user's stable identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub Uuid);

impl UserId {
    /// A new, time-ordered id (UUIDv7), so keyset pagination by id follows creation order.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for UserId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for UserId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

/// Why a piece of user input was refused; `field` names the input, `reason` is for humans.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidInput {
    pub field: &'static str,
    pub reason: String,
}

impl InvalidInput {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

/// A login name: 3 to 64 characters of `a-z 0-9 . _ -`, starting with a letter or digit.
/// Stored lower-case, so `Alice` and `alice` are the same account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let name = raw.trim().to_ascii_lowercase();
        let field = "username";
        if name.len() < 3 || name.len() > Self::MAX_LEN {
            return Err(InvalidInput::new(field, "must be 3 to 64 characters long"));
        }
        if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(InvalidInput::new(
                field,
                "must start with a letter or a digit",
            ));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(InvalidInput::new(
                field,
                "may contain only letters, digits, '.', '_' and '-'",
            ));
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Username {
    /// Longest stem [`Username::stem_of`] gives, leaving room for a suffix that makes it free.
    pub const STEM_MAX: usize = Self::MAX_LEN - 8;

    /// A username for an account made through a surface that has none (Alsid) or whose
    /// usernames are e-mail addresses (Glowmarkt): the address's local part, lower-cased,
    /// anything outside `a-z 0-9 . _ -` turned into `-`, leading punctuation dropped, cut to
    /// [`Username::STEM_MAX`] and padded to three characters. Always a valid username.
    pub fn stem_of(email: &EmailAddress) -> String {
        let local = email
            .as_str()
            .rsplit_once('@')
            .map_or(email.as_str(), |(local, _)| local);
        let mapped: String = local
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        let mut stem = mapped
            .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
            .to_owned();
        stem.truncate(Self::STEM_MAX);
        match stem.len() {
            0 => "user".to_owned(),
            1 | 2 => format!("{stem}-user"),
            _ => stem,
        }
    }
}

/// An e-mail address, syntactically plausible, stored lower-case (one account per mailbox).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let email = raw.trim().to_lowercase();
        let field = "email";
        let invalid = || InvalidInput::new(field, "is not a valid e-mail address");
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = email.rsplit_once('@').ok_or_else(invalid)?;
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err(invalid());
        }
        let labels_ok = domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
        if domain.is_empty() || !labels_ok {
            return Err(invalid());
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an account is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    /// Registered, e-mail not yet verified.
    Pending,
    Active,
    /// Switched off by an administrator: no login, no token works.
    Disabled,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }
}

impl FromStr for UserStatus {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(Self::Pending),
            "active" => Ok(Self::Active),
            "disabled" => Ok(Self::Disabled),
            other => Err(InvalidInput::new(
                "status",
                format!("unknown status {other:?}"),
            )),
        }
    }
}

/// The OpenID Connect standard claims a user may fill in about themselves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Profile {
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub middle_name: Option<String>,
    pub nickname: Option<String>,
    pub preferred_username: Option<String>,
    pub profile: Option<String>,
    pub picture: Option<String>,
    pub website: Option<String>,
    pub gender: Option<String>,
    /// `YYYY-MM-DD`, or `YYYY` alone, as OIDC allows.
    pub birthdate: Option<String>,
    pub zoneinfo: Option<String>,
    pub locale: Option<String>,
    pub phone_number: Option<String>,
    /// The postal address as one formatted string (OIDC `address.formatted`).
    pub address: Option<String>,
    /// Not an OIDC claim: the department the user works in (Alsid keeps it).
    pub department: Option<String>,
    /// Not an OIDC claim: a few words about the user (Alsid keeps it).
    pub biography: Option<String>,
}

/// One field of a partial update: leave it, clear it, or set it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Patch<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T> Patch<T> {
    /// From the JSON convention: missing key = keep, `null` = clear, value = set.
    pub fn from_option(value: Option<Option<T>>) -> Self {
        match value {
            None => Self::Keep,
            Some(None) => Self::Clear,
            Some(Some(v)) => Self::Set(v),
        }
    }
}

/// A partial update of [`Profile`] as received; checked by [`ProfileUpdate::validate`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileUpdate {
    pub name: Patch<String>,
    pub given_name: Patch<String>,
    pub family_name: Patch<String>,
    pub middle_name: Patch<String>,
    pub nickname: Patch<String>,
    pub preferred_username: Patch<String>,
    pub profile: Patch<String>,
    pub picture: Patch<String>,
    pub website: Patch<String>,
    pub gender: Patch<String>,
    pub birthdate: Patch<String>,
    pub zoneinfo: Patch<String>,
    pub locale: Patch<String>,
    pub phone_number: Patch<String>,
    pub address: Patch<String>,
    pub department: Patch<String>,
    pub biography: Patch<String>,
}

enum Rule {
    Text,
    Long,
    Url,
    Date,
    Phone,
    Token,
}

fn check(field: &'static str, value: String, rule: Rule) -> Result<String, InvalidInput> {
    let value = value.trim().to_owned();
    let max = match rule {
        Rule::Url => 2048,
        Rule::Text => 256,
        Rule::Long => 4096,
        _ => 64,
    };
    if value.chars().count() > max {
        return Err(InvalidInput::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(InvalidInput::new(
            field,
            "must not contain control characters",
        ));
    }
    match rule {
        Rule::Url if !(value.starts_with("https://") || value.starts_with("http://")) => {
            return Err(InvalidInput::new(field, "must be an http or https URL"));
        }
        Rule::Date => {
            let full = NaiveDate::parse_from_str(&value, "%Y-%m-%d").is_ok();
            let year = value.len() == 4 && value.chars().all(|c| c.is_ascii_digit());
            if !full && !year {
                return Err(InvalidInput::new(field, "must be a date as YYYY-MM-DD"));
            }
        }
        Rule::Phone
            if !value
                .chars()
                .all(|c| c.is_ascii_digit() || " +-().x;=".contains(c)) =>
        {
            return Err(InvalidInput::new(field, "must be a telephone number"));
        }
        Rule::Token if value.is_empty() || value.contains(char::is_whitespace) => {
            return Err(InvalidInput::new(field, "must be one word without spaces"));
        }
        _ => {}
    }
    Ok(value)
}

/// A [`ProfileUpdate`] whose every value passed its check; applying it cannot fail, so a
/// store can apply it inside its own transaction.
#[derive(Debug, Clone, Default)]
pub struct ProfileChange(ProfileUpdate);

fn set_field(slot: &mut Option<String>, patch: &Patch<String>) {
    match patch {
        Patch::Keep => {}
        Patch::Clear => *slot = None,
        Patch::Set(v) => *slot = Some(v.clone()),
    }
}

fn check_field(
    patch: &mut Patch<String>,
    field: &'static str,
    rule: Rule,
) -> Result<(), InvalidInput> {
    if let Patch::Set(v) = patch {
        let v = check(field, std::mem::take(v), rule)?;
        *patch = if v.is_empty() {
            Patch::Clear
        } else {
            Patch::Set(v)
        };
    }
    Ok(())
}

impl ProfileUpdate {
    /// Checks every field (the first bad one is reported); all or nothing.
    pub fn validate(mut self) -> Result<ProfileChange, InvalidInput> {
        check_field(&mut self.name, "name", Rule::Text)?;
        check_field(&mut self.given_name, "given_name", Rule::Text)?;
        check_field(&mut self.family_name, "family_name", Rule::Text)?;
        check_field(&mut self.middle_name, "middle_name", Rule::Text)?;
        check_field(&mut self.nickname, "nickname", Rule::Text)?;
        check_field(
            &mut self.preferred_username,
            "preferred_username",
            Rule::Text,
        )?;
        check_field(&mut self.profile, "profile", Rule::Url)?;
        check_field(&mut self.picture, "picture", Rule::Url)?;
        check_field(&mut self.website, "website", Rule::Url)?;
        check_field(&mut self.gender, "gender", Rule::Text)?;
        check_field(&mut self.birthdate, "birthdate", Rule::Date)?;
        check_field(&mut self.zoneinfo, "zoneinfo", Rule::Token)?;
        check_field(&mut self.locale, "locale", Rule::Token)?;
        check_field(&mut self.phone_number, "phone_number", Rule::Phone)?;
        check_field(&mut self.address, "address", Rule::Text)?;
        check_field(&mut self.department, "department", Rule::Text)?;
        check_field(&mut self.biography, "biography", Rule::Long)?;
        Ok(ProfileChange(self))
    }
}

impl ProfileChange {
    /// Whether applying this changes nothing.
    pub fn is_empty(&self) -> bool {
        self.0 == ProfileUpdate::default()
    }

    /// Only the picture, set to a URL the service made itself (the avatar upload).
    pub fn picture(url: String) -> Self {
        Self(ProfileUpdate {
            picture: Patch::Set(url),
            ..ProfileUpdate::default()
        })
    }

    pub fn apply(&self, profile: &Profile) -> Profile {
        let u = &self.0;
        let mut p = profile.clone();
        set_field(&mut p.name, &u.name);
        set_field(&mut p.given_name, &u.given_name);
        set_field(&mut p.family_name, &u.family_name);
        set_field(&mut p.middle_name, &u.middle_name);
        set_field(&mut p.nickname, &u.nickname);
        set_field(&mut p.preferred_username, &u.preferred_username);
        set_field(&mut p.profile, &u.profile);
        set_field(&mut p.picture, &u.picture);
        set_field(&mut p.website, &u.website);
        set_field(&mut p.gender, &u.gender);
        set_field(&mut p.birthdate, &u.birthdate);
        set_field(&mut p.zoneinfo, &u.zoneinfo);
        set_field(&mut p.locale, &u.locale);
        set_field(&mut p.phone_number, &u.phone_number);
        set_field(&mut p.address, &u.address);
        set_field(&mut p.department, &u.department);
        set_field(&mut p.biography, &u.biography);
        p
    }
}

/// A user account as the core sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub email: EmailAddress,
    pub email_verified: bool,
    pub status: UserStatus,
    /// Public numeric id for dialects with integer ids: random, so it reveals no order.
    pub number: i64,
    pub is_admin: bool,
    pub profile: Profile,
    /// Whether others may see the address where a surface shows this user to someone else
    /// (Trieve's `visible_email`); the user and the administrators who manage accounts
    /// through the native API always see it.
    pub email_visible: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl User {
    /// Whether this account may sign in and use its credentials.
    pub fn can_authenticate(&self) -> bool {
        self.status != UserStatus::Disabled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lowercased_and_checked() {
        assert_eq!(Username::parse(" Alice ").unwrap().as_str(), "alice");
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse("-abc").is_err());
        assert!(Username::parse("a b c").is_err());
        assert!(Username::parse(&"a".repeat(65)).is_err());
        assert!(Username::parse("john.doe_2-x").is_ok());
    }

    #[test]
    fn username_stems_come_from_the_local_part() {
        let stem = |email: &str| Username::stem_of(&EmailAddress::parse(email).unwrap());
        assert_eq!(stem("Alice.Smith@example.com"), "alice.smith");
        assert_eq!(stem("bob+tag@example.com"), "bob-tag");
        assert_eq!(stem("_x@example.com"), "x-user");
        assert_eq!(stem("++@example.com"), "user");
        assert_eq!(stem("jo@example.com"), "jo-user");
        assert_eq!(stem("zoë@example.com"), "zo-");
        let long = format!("{}@example.com", "a".repeat(64));
        assert_eq!(stem(&long).len(), Username::STEM_MAX);
        for s in ["alice.smith", "bob-tag", "x-user", "user", "zo-"] {
            assert!(Username::parse(s).is_ok(), "{s}");
        }
    }

    #[test]
    fn emails_are_checked() {
        assert_eq!(
            EmailAddress::parse("Bob@Example.COM").unwrap().as_str(),
            "bob@example.com"
        );
        for bad in [
            "",
            "bob",
            "@x.org",
            "bob@",
            "bob@x..org",
            "b ob@x.org",
            "bob@-x.org",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn profile_update_is_all_or_nothing() {
        let before = Profile {
            nickname: Some("old".into()),
            ..Profile::default()
        };
        let update = ProfileUpdate {
            nickname: Patch::Set("new".into()),
            website: Patch::Set("javascript:alert(1)".into()),
            ..ProfileUpdate::default()
        };
        let err = update.validate().unwrap_err();
        assert_eq!(err.field, "website");

        let update = ProfileUpdate {
            nickname: Patch::Clear,
            birthdate: Patch::Set("1990-05-01".into()),
            ..ProfileUpdate::default()
        };
        let after = update.validate().unwrap().apply(&before);
        assert_eq!(after.nickname, None);
        assert_eq!(after.birthdate.as_deref(), Some("1990-05-01"));
        assert!(ProfileUpdate {
            birthdate: Patch::Set("1990-13-01".into()),
            ..ProfileUpdate::default()
        }
        .validate()
        .is_err());
    }
}

//! `UserStore`: accounts, their lookups, the administrator's listing and changes, the
//! password hash, and the CLI's export and import.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{CodeRecord, EndSessions, StoreError};
use crate::access::{OrgId, OrgRole, RoleId};
use crate::domain::{EmailAddress, ProfileChange, User, UserId, UserStatus, Username};
use crate::files::FileId;
use crate::mail::OutgoingMail;

/// A new account as written by `insert_user`.
#[derive(Debug, Clone)]
pub struct NewUserRecord {
    pub id: UserId,
    pub username: Username,
    pub email: EmailAddress,
    pub email_verified: bool,
    pub status: UserStatus,
    /// Public numeric id: random in `1..2^53` (exact in a JSON number), unique.
    pub number: i64,
    /// Instance roles; the core checks they exist.
    pub roles: Vec<RoleId>,
    /// Organisations the user joins on creation (an application they register into).
    pub memberships: Vec<(OrgId, OrgRole)>,
    /// A PHC or MCF string (argon2, or bcrypt from an import).
    pub password_hash: Option<String>,
    /// Profile claims to start with (imports); `ProfileChange::default()` for none.
    pub profile: ProfileChange,
    pub created_at: DateTime<Utc>,
}

/// Which users `list_users` returns. Filters combine; the order and the cursor follow the
/// text filter:
/// - no `text`: ordered by id (creation order), `after` is `UserCursor::Id`;
/// - `text` containing `@`: e-mail prefix match, ordered by e-mail, cursor `Email`;
/// - other `text`: username prefix match, ordered by username, cursor `Username`.
///
/// `text` is lower-cased by the core. A cursor of the wrong kind is ignored.
///
/// With `before` (and no `after`) the page is the `limit` users just before that cursor,
/// still answered in ascending order: the way back through a listing.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    pub text: Option<String>,
    pub status: Option<UserStatus>,
    pub role: Option<RoleId>,
    pub org: Option<OrgId>,
    pub after: Option<UserCursor>,
    pub before: Option<UserCursor>,
    pub limit: u32,
}

/// A user's sort key in a listing: where a page ends (`after`) or starts (`before`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserCursor {
    Id(UserId),
    Username(String),
    Email(String),
}

/// The order of a user listing, which its text filter picks (see [`UserQuery`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserOrder {
    Id,
    Username,
    Email,
}

impl UserOrder {
    pub fn of(text: Option<&str>) -> Self {
        match text {
            None => Self::Id,
            Some(t) if t.contains('@') => Self::Email,
            Some(_) => Self::Username,
        }
    }

    /// `user`'s sort key in this order: the cursor of a page that ends or starts with them.
    pub fn cursor_after(self, user: &User) -> UserCursor {
        match self {
            Self::Id => UserCursor::Id(user.id),
            Self::Username => UserCursor::Username(user.username.to_string()),
            Self::Email => UserCursor::Email(user.email.to_string()),
        }
    }
}

impl UserCursor {
    /// `i:<uuid>`, `u:<username>` or `e:<address>`: what surfaces put in their paging links
    /// (the native API wraps it in base64url).
    pub fn to_text(&self) -> String {
        match self {
            Self::Id(id) => format!("i:{id}"),
            Self::Username(name) => format!("u:{name}"),
            Self::Email(email) => format!("e:{email}"),
        }
    }

    /// The cursor `text` names, when it is one and belongs to a listing in `order`.
    pub fn from_text(text: &str, order: UserOrder) -> Option<Self> {
        let cursor = match text.split_once(':')? {
            ("i", id) => Self::Id(UserId(id.parse().ok()?)),
            ("u", name) if !name.is_empty() => Self::Username(name.to_owned()),
            ("e", email) if !email.is_empty() => Self::Email(email.to_owned()),
            _ => return None,
        };
        let fits = matches!(
            (&cursor, order),
            (Self::Id(_), UserOrder::Id)
                | (Self::Username(_), UserOrder::Username)
                | (Self::Email(_), UserOrder::Email)
        );
        fits.then_some(cursor)
    }
}

/// An administrator's change to an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    pub username: Option<Username>,
    pub email: Option<EmailAddress>,
    pub email_verified: Option<bool>,
    pub status: Option<UserStatus>,
    pub profile: ProfileChange,
    pub email_visible: Option<bool>,
}

/// What deleting a user removed, for the caller to clean up outside the database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeletedUser {
    pub files: Vec<FileId>,
    pub credentials: Vec<Uuid>,
}

/// One user as `export_users` writes it, with the password hash (never leaves the CLI).
#[derive(Debug, Clone)]
pub struct UserExport {
    pub user: User,
    pub password_hash: Option<String>,
    pub roles: Vec<RoleId>,
}

/// Accounts: created, looked up, listed, changed, deleted, exported and imported.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Fails with `Conflict(Username)` or `Conflict(Email)`.
    async fn insert_user(&self, user: &NewUserRecord) -> Result<User, StoreError>;

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError>;

    async fn user_by_username(&self, username: &Username) -> Result<Option<User>, StoreError>;

    async fn user_by_email(&self, email: &EmailAddress) -> Result<Option<User>, StoreError>;

    /// The user and their password hash, by username or e-mail (as typed at login).
    async fn login_lookup(&self, login: &str)
        -> Result<Option<(User, Option<String>)>, StoreError>;

    /// Inserts a pending user, their verification code and its e-mail, in one transaction.
    /// Fails with `Conflict(Username)` or `Conflict(Email)` and then writes nothing.
    async fn register_user(
        &self,
        user: &NewUserRecord,
        code: &CodeRecord,
        mail: &OutgoingMail,
    ) -> Result<User, StoreError>;

    /// Replaces the password hash and ends the chosen sessions, in one transaction.
    /// `false` when the user does not exist.
    async fn set_password_hash(
        &self,
        id: UserId,
        password_hash: &str,
        end_sessions: EndSessions,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Applies `change` to the stored profile atomically; `None` when the user does not exist.
    async fn update_profile(
        &self,
        id: UserId,
        change: &ProfileChange,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError>;

    async fn user_by_number(&self, number: i64) -> Result<Option<User>, StoreError>;

    /// One page of users (see [`UserQuery`]), at most `limit`.
    async fn list_users(&self, query: &UserQuery) -> Result<Vec<User>, StoreError>;

    /// Applies an administrator's change atomically; `None` when the user does not exist.
    /// Fails with `Conflict(Username)` / `Conflict(Email)`, writing nothing. A status of
    /// `Disabled` also ends every session.
    async fn update_user(
        &self,
        id: UserId,
        change: &UserChange,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError>;

    /// Deletes the user and everything they own (tokens, sessions, codes, files' records,
    /// roles, memberships) in one transaction; `None` when there was no such user.
    async fn delete_user(&self, id: UserId) -> Result<Option<DeletedUser>, StoreError>;

    /// Users in id order after `after`, with their password hashes and roles (the CLI export).
    async fn export_users(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<UserExport>, StoreError>;

    /// Inserts many users in one transaction: all or none. Fails with the first conflict.
    /// Answers the users in the order given.
    async fn insert_users(&self, users: &[NewUserRecord]) -> Result<Vec<User>, StoreError>;

    /// Replaces the stored hash (a login rehashing an imported hash), unless it changed
    /// since it was read (`expected`). Sessions are kept.
    async fn upgrade_password_hash(
        &self,
        id: UserId,
        expected: &str,
        new_hash: &str,
    ) -> Result<bool, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_back_only_in_their_own_order() {
        let id = UserId(Uuid::now_v7());
        for (cursor, order) in [
            (UserCursor::Id(id), UserOrder::Id),
            (UserCursor::Username("alice".into()), UserOrder::Username),
            (UserCursor::Email("a@b.example".into()), UserOrder::Email),
        ] {
            assert_eq!(
                UserCursor::from_text(&cursor.to_text(), order),
                Some(cursor.clone())
            );
            for other in [UserOrder::Id, UserOrder::Username, UserOrder::Email] {
                if other != order {
                    assert_eq!(UserCursor::from_text(&cursor.to_text(), other), None);
                }
            }
        }
        assert_eq!(UserOrder::of(Some("al@")), UserOrder::Email);
        assert_eq!(UserOrder::of(Some("al")), UserOrder::Username);
        assert_eq!(UserOrder::of(None), UserOrder::Id);
        assert_eq!(UserCursor::from_text("i:nonsense", UserOrder::Id), None);
        assert_eq!(UserCursor::from_text("garbage", UserOrder::Id), None);
    }
}

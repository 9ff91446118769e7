//! The storage port. Methods are shaped by use case and each one is a single transaction,
//! so a backend never leaves half a change behind. Every backend must pass the contract
//! suite in `testkit`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::access::{Membership, OrgId, OrgRole, Organization, Role, RoleId, RoleSpec};
use crate::audit::{AuditEvent, AuditFilter};
use crate::domain::{EmailAddress, ProfileChange, User, UserId, UserStatus, Username};
use crate::files::FileId;
use crate::mail::{OutgoingMail, QueuedMail};
use crate::token::{ApiToken, CredentialKind, TokenHash, TokenId};

/// Which uniqueness rule a write broke. Backends map their own constraint errors to this
/// (SQLite reports no constraint names, so each backend maps by its own means).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unique {
    Username,
    Email,
    TokenHash,
    /// A user's public number (random; the core draws again).
    UserNumber,
    RoleName,
    /// A chunk's tracking id (per user).
    TrackingId,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unique constraint violated: {0:?}")]
    Conflict(Unique),
    #[error("a per-user limit was reached")]
    LimitReached,
    #[error("storage backend failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database did not answer within the wait the backend was given (down, restarting,
    /// unreachable, or every connection busy): the caller may try again shortly. Façades
    /// answer 503 with `Retry-After`.
    // Not `transparent`: the wrapper stays in the chain of sources for `is_unavailable`.
    #[error("{0}")]
    Unavailable(#[from] DatabaseUnavailable),
}

/// Why the database is unavailable. A type of its own so that [`is_unavailable`] finds it
/// in any error chain, however the use-case errors wrap a [`StoreError`].
#[derive(Debug, thiserror::Error)]
#[error("the database is unavailable: {0}")]
pub struct DatabaseUnavailable(#[source] pub Box<dyn std::error::Error + Send + Sync>);

impl StoreError {
    /// The database is unavailable because of `cause`.
    pub fn unavailable(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Unavailable(DatabaseUnavailable(Box::new(cause)))
    }
}

/// Whether `error`, or anything in its chain of sources, says the database is unavailable.
pub fn is_unavailable(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<DatabaseUnavailable>()
            || matches!(
                e.downcast_ref::<StoreError>(),
                Some(StoreError::Unavailable(_))
            )
        {
            return true;
        }
        next = e.source();
    }
    false
}

/// How a database's applied migrations compare with the ones this build knows (by version
/// and checksum), for `gatehouse check` and `gatehouse backup`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Applied, known and unchanged.
    pub applied: Vec<String>,
    /// Known to this build, not applied yet (the next start applies them).
    pub pending: Vec<String>,
    /// Applied by a newer build: this one does not know them.
    pub unknown: Vec<String>,
    /// Started and not finished.
    pub failed: Vec<String>,
    /// Applied under this version with other contents than this build's file.
    pub changed: Vec<String>,
}

/// A migration as the database records it, or as a build knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationRecord {
    pub version: i64,
    pub description: String,
    pub checksum: Vec<u8>,
    /// Finished (always true for a build's own).
    pub success: bool,
}

impl MigrationRecord {
    /// `0004_second_factor_files`.
    pub fn name(&self) -> String {
        format!("{:04}_{}", self.version, self.description.replace(' ', "_"))
    }
}

impl MigrationStatus {
    /// Compares what a database recorded with what this build knows.
    pub fn compare(known: &[MigrationRecord], applied: &[MigrationRecord]) -> Self {
        let mut status = Self::default();
        for a in applied {
            match known.iter().find(|k| k.version == a.version) {
                None => status.unknown.push(a.name()),
                Some(_) if !a.success => status.failed.push(a.name()),
                Some(k) if k.checksum != a.checksum => status.changed.push(a.name()),
                Some(_) => status.applied.push(a.name()),
            }
        }
        for k in known {
            if !applied.iter().any(|a| a.version == k.version) {
                status.pending.push(k.name());
            }
        }
        status
    }

    /// Every applied migration is known and unchanged, and none is pending.
    pub fn is_current(&self) -> bool {
        self.pending.is_empty() && self.is_known()
    }

    /// Nothing applied that this build does not know, or knows otherwise.
    pub fn is_known(&self) -> bool {
        self.unknown.is_empty() && self.failed.is_empty() && self.changed.is_empty()
    }
}

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

/// A login session as stored (the secret only as its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: Uuid,
    pub user_id: UserId,
    pub secret_hash: TokenHash,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
}

/// What authentication needs to know about a secret's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRecord {
    pub kind: CredentialKind,
    /// The token's or the session's id.
    pub id: Uuid,
    pub user_id: UserId,
    pub expires_at: Option<DateTime<Utc>>,
    pub disabled: bool,
    pub user_status: UserStatus,
}

/// One user as `export_users` writes it, with the password hash (never leaves the CLI).
#[derive(Debug, Clone)]
pub struct UserExport {
    pub user: User,
    pub password_hash: Option<String>,
    pub roles: Vec<RoleId>,
}

/// How `find_token` looks a token up, always within one user's tokens.
#[derive(Debug, Clone)]
pub enum TokenLookup {
    Id(TokenId),
    Hash(TokenHash),
    Mask(String),
}

/// Which sessions a password change ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndSessions {
    None,
    All,
    AllExcept(Uuid),
    /// A reset: every session, every API token and every pending sign-in challenge.
    Reset,
}

/// What a one-time code is for; a code redeems only for its own purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodePurpose {
    VerifyEmail,
    ResetPassword,
}

impl CodePurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
        }
    }
}

/// A one-time code and its link token, both stored only as hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    pub id: Uuid,
    pub user_id: UserId,
    pub purpose: CodePurpose,
    pub code_hash: TokenHash,
    pub link_hash: TokenHash,
    pub created_at: DateTime<Utc>,
    pub code_expires_at: DateTime<Utc>,
    pub link_expires_at: DateTime<Utc>,
}

/// How a redemption names its code: a typed code for a known user, or a link token.
#[derive(Debug, Clone)]
pub enum CodeLookup {
    Code { user: UserId, hash: TokenHash },
    Link(TokenHash),
}

/// What redeeming a code does, in the same transaction that consumes it.
#[derive(Debug, Clone)]
pub enum CodeEffect {
    /// Marks the e-mail verified and a pending account active.
    VerifyEmail,
    /// Replaces the password hash and ends every session, API token and pending sign-in
    /// challenge (`EndSessions::Reset`).
    SetPassword(String),
}

/// The outcome of `redeem_code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption {
    /// Consumed; the effect is applied.
    Redeemed(UserId),
    /// A live code exists but this one is wrong; `attempts_left` more tries before it dies.
    Wrong { attempts_left: u32 },
    /// No live code: never issued, expired, used, superseded or out of attempts.
    NoCode,
}

/// One rate-limit counter to hit: at most `limit` hits per fixed `window` for `key` (the
/// window starts at the first hit); or, with `backoff`, `limit` hits and then waits that
/// double, the count forgotten `window` after the last counted hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    pub key: String,
    pub limit: u32,
    pub window: chrono::Duration,
    pub backoff: Option<Backoff>,
}

impl RateLimit {
    /// `limit` hits per fixed `window`.
    pub fn per(key: impl Into<String>, limit: u32, window: chrono::Duration) -> Self {
        Self {
            key: key.into(),
            limit,
            window,
            backoff: None,
        }
    }
}

/// Once `limit` hits are counted, refuse for `first` after the hit that reached it, then for
/// twice as long after each further counted hit, up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: chrono::Duration,
    pub max: chrono::Duration,
}

impl Backoff {
    /// The wait after the hit that brought the count to `hits` (`hits >= limit`).
    pub fn wait(&self, hits: i64, limit: u32) -> chrono::Duration {
        let doublings = (hits - i64::from(limit)).clamp(0, 30) as u32;
        let first_ms = self.first.num_milliseconds().max(1);
        let ms = first_ms.saturating_mul(1_i64 << doublings);
        chrono::Duration::milliseconds(ms.min(self.max.num_milliseconds().max(first_ms)))
    }
}

/// One counter as both backends keep it, in milliseconds since the epoch: where its window
/// starts (with a `Backoff`: its last counted hit), its hits, and until when it refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateCounter {
    pub start: i64,
    pub hits: i64,
    pub blocked_until: Option<i64>,
}

impl RateCounter {
    /// A counter with no hits.
    pub fn fresh(now_ms: i64) -> Self {
        Self {
            start: now_ms,
            hits: 0,
            blocked_until: None,
        }
    }

    /// The counter after one more hit at `now_ms`, or `Err` with the milliseconds until it
    /// takes one.
    pub fn hit(self, limit: &RateLimit, now_ms: i64) -> Result<Self, i64> {
        let window_ms = limit.window.num_milliseconds();
        match limit.backoff {
            None => {
                let (start, hits) = if self.start + window_ms <= now_ms {
                    (now_ms, 0)
                } else {
                    (self.start, self.hits)
                };
                if hits >= i64::from(limit.limit) {
                    return Err(start + window_ms - now_ms);
                }
                Ok(Self {
                    start,
                    hits: hits + 1,
                    blocked_until: None,
                })
            }
            Some(backoff) => {
                if let Some(until) = self.blocked_until.filter(|until| *until > now_ms) {
                    return Err(until - now_ms);
                }
                let remembered = self.start + window_ms > now_ms;
                let hits = if remembered { self.hits } else { 0 } + 1;
                let blocked_until = (hits >= i64::from(limit.limit))
                    .then(|| now_ms + backoff.wait(hits, limit.limit).num_milliseconds());
                Ok(Self {
                    start: now_ms,
                    hits,
                    blocked_until,
                })
            }
        }
    }

    /// When the counter means nothing any more and may be deleted.
    pub fn expires_at(&self, limit: &RateLimit) -> i64 {
        (self.start + limit.window.num_milliseconds()).max(self.blocked_until.unwrap_or(i64::MIN))
    }
}

/// Why `hit_rate_limits` refused: the full limit whose window ends last, and when it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exhausted {
    pub key: String,
    pub retry_after: chrono::Duration,
}

/// A login session as listed to its owner.
pub type SessionInfo = SessionRecord;

/// A stored file's metadata (the bytes are in the `FileStore`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    pub id: FileId,
    pub owner_id: UserId,
    /// `avatar` for profile pictures, `upload` for the user's own files.
    pub purpose: String,
    pub content_type: String,
    pub size: u64,
    /// The name it was uploaded with (a plain file name, no path).
    pub name: String,
    pub link: Option<String>,
    /// Any JSON the uploader attached.
    pub metadata: Option<serde_json::Value>,
    /// Comma-separated tags.
    pub tag_set: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// What every stored record counts against the quota besides its text: its ids, times and
/// index entries, so a flood of empty records is not free.
pub const RECORD_OVERHEAD_BYTES: u64 = 256;

/// What one user may store, passed by the core to the store so the count and the insert are
/// one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentLimits {
    /// Bytes of everything the user stores, counted as [`ContentUsage::bytes`].
    pub quota_bytes: u64,
    pub max_files: u64,
    pub max_chunks: u64,
}

impl ContentLimits {
    /// No limit at all (tests and tools that copy what exists).
    pub const UNLIMITED: Self = Self {
        quota_bytes: u64::MAX,
        max_files: u64::MAX,
        max_chunks: u64::MAX,
    };

    /// A byte quota and no cap on counts.
    pub const fn bytes(quota_bytes: u64) -> Self {
        Self {
            quota_bytes,
            ..Self::UNLIMITED
        }
    }

    /// Whether `file` fits beside what the user stores (`used`).
    pub fn admit_file(&self, used: &ContentUsage, file: &FileRecord) -> bool {
        used.files < self.max_files
            && used.bytes.saturating_add(file.stored_bytes()) <= self.quota_bytes
    }

    /// Whether `chunk` fits beside what the user stores (`used`).
    pub fn admit_chunk(&self, used: &ContentUsage, chunk: &ChunkRecord) -> bool {
        used.chunks < self.max_chunks
            && used.bytes.saturating_add(chunk.stored_bytes()) <= self.quota_bytes
    }
}

/// What a user stores now. `bytes` counts every stored byte of their content: each file's
/// bytes and the bytes of its name, purpose, content type, link, metadata (as JSON text) and
/// tags; each chunk's content, HTML, link, metadata, tags and tracking id; and
/// [`RECORD_OVERHEAD_BYTES`] for each record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContentUsage {
    pub bytes: u64,
    pub files: u64,
    pub chunks: u64,
}

fn json_bytes(value: Option<&serde_json::Value>) -> u64 {
    value.map_or(0, |v| {
        serde_json::to_string(v).map_or(0, |t| t.len() as u64)
    })
}

fn text_bytes(value: Option<&str>) -> u64 {
    value.map_or(0, |t| t.len() as u64)
}

impl FileRecord {
    /// What this record counts against the quota (see [`ContentUsage`]).
    pub fn stored_bytes(&self) -> u64 {
        self.size
            + [
                Some(self.name.as_str()),
                Some(self.purpose.as_str()),
                Some(self.content_type.as_str()),
                self.link.as_deref(),
                self.tag_set.as_deref(),
            ]
            .into_iter()
            .map(text_bytes)
            .sum::<u64>()
            + json_bytes(self.metadata.as_ref())
            + RECORD_OVERHEAD_BYTES
    }
}

impl ChunkRecord {
    /// What this record counts against the quota (see [`ContentUsage`]).
    pub fn stored_bytes(&self) -> u64 {
        [
            Some(self.content.as_str()),
            self.html.as_deref(),
            self.link.as_deref(),
            self.tag_set.as_deref(),
            self.tracking_id.as_deref(),
        ]
        .into_iter()
        .map(text_bytes)
        .sum::<u64>()
            + json_bytes(self.metadata.as_ref())
            + RECORD_OVERHEAD_BYTES
    }
}

/// Where a page of files starts: just older (`After`) or just newer (`Before`) than the
/// file with this creation time and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileCursor {
    After {
        created_at: DateTime<Utc>,
        id: FileId,
    },
    Before {
        created_at: DateTime<Utc>,
        id: FileId,
    },
}

/// Where a page of chunks starts: just older (`After`) or just newer (`Before`) than the
/// chunk with this creation time and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkCursor {
    After { created_at: DateTime<Utc>, id: Uuid },
    Before { created_at: DateTime<Utc>, id: Uuid },
}

/// The user's TOTP second factor as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpRecord {
    pub user_id: UserId,
    pub secret: Vec<u8>,
    /// Confirmed with a first code; only then does login ask for codes.
    pub confirmed: bool,
    /// The last step a code was accepted for; that step and earlier ones never pass again.
    pub last_step: Option<u64>,
    pub created_at: DateTime<Utc>,
}

/// The first step of a two-step login: proof of the password, waiting for a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeRecord {
    pub id: Uuid,
    pub user_id: UserId,
    pub secret_hash: TokenHash,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A short user-authored text record.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkRecord {
    pub id: Uuid,
    pub user_id: UserId,
    pub content: String,
    pub html: Option<String>,
    pub link: Option<String>,
    pub metadata: Option<serde_json::Value>,
    pub tag_set: Option<String>,
    pub weight: f64,
    /// The author's own id for the chunk; unique per user when given.
    pub tracking_id: Option<String>,
    pub file_id: Option<FileId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A change that makes cached credentials or user records stale in every process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalidation {
    /// One API token or session was revoked, disabled or rotated.
    Credential(Uuid),
    /// Something about this user changed (password, profile, status, sessions).
    User(UserId),
    /// Notifications may have been missed (a lost connection): forget everything.
    All,
}

/// The outbox at a glance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailCounts {
    pub queued: u64,
    pub sent: u64,
    pub failed: u64,
    /// When the oldest message still queued was queued (`None`: nothing queued).
    pub oldest_queued_at: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Cheap round trip for readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Tells every other process on this database to drop what `what` makes stale. A
    /// single-process backend has nobody to tell (the default).
    async fn publish_invalidation(&self, _what: Invalidation) -> Result<(), StoreError> {
        Ok(())
    }

    /// A stream of other processes' invalidations, when the backend has one.
    async fn subscribe_invalidations(
        &self,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<Invalidation>>, StoreError> {
        Ok(None)
    }

    // ---- users ----
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
    /// Records `file` as the user's avatar and applies `change` (the new picture URL) in one
    /// transaction. Returns the previous avatar's id (its record is deleted), `None` when
    /// there was none. Fails, writing nothing, when the user does not exist, or with
    /// `LimitReached` when the user's content (the previous avatar left out) would pass
    /// `limits`.
    async fn replace_avatar(
        &self,
        file: &FileRecord,
        change: &ProfileChange,
        limits: &ContentLimits,
    ) -> Result<Option<FileId>, StoreError>;
    async fn file(&self, id: FileId) -> Result<Option<FileRecord>, StoreError>;
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
    /// Deletes every API token of the user; returns their ids.
    async fn delete_user_tokens(&self, user: UserId) -> Result<Vec<Uuid>, StoreError>;
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

    // ---- roles ----
    /// All roles, by id.
    async fn list_roles(&self) -> Result<Vec<Role>, StoreError>;
    /// Fails with `Conflict(RoleName)`.
    async fn insert_role(&self, spec: &RoleSpec) -> Result<Role, StoreError>;
    /// Replaces a custom role's name, description and permissions; `None` when there is no
    /// such custom role (built-in roles are never changed). Fails with `Conflict(RoleName)`.
    async fn update_role(&self, id: RoleId, spec: &RoleSpec) -> Result<Option<Role>, StoreError>;
    /// Deletes a custom role and its grants; `false` when there is no such custom role.
    async fn delete_role(&self, id: RoleId) -> Result<bool, StoreError>;
    /// The user's roles, by id.
    async fn user_roles(&self, user: UserId) -> Result<Vec<RoleId>, StoreError>;
    /// The roles of many users at once (one page of a listing): `(user, role)` pairs.
    async fn roles_of_users(&self, users: &[UserId]) -> Result<Vec<(UserId, RoleId)>, StoreError>;
    /// Replaces the user's roles; `false` when the user does not exist. Unknown role ids
    /// are the caller's to refuse first; the store ignores them.
    async fn set_user_roles(&self, user: UserId, roles: &[RoleId]) -> Result<bool, StoreError>;

    // ---- organisations ----
    /// Creates the organisation, and makes `owner` its owner, in one transaction.
    async fn insert_org(&self, org: &Organization, owner: Option<UserId>)
        -> Result<(), StoreError>;
    async fn org(&self, id: OrgId) -> Result<Option<Organization>, StoreError>;
    /// All organisations by id, or only those `member` belongs to.
    async fn list_orgs(&self, member: Option<UserId>) -> Result<Vec<Organization>, StoreError>;
    async fn rename_org(&self, id: OrgId, name: &str) -> Result<bool, StoreError>;
    /// Sets `Organization::short_reset_codes`; `false` when there is no such organisation.
    async fn set_org_short_reset_codes(&self, id: OrgId, short: bool) -> Result<bool, StoreError>;
    /// Deletes the organisation and its memberships (not the members' accounts).
    async fn delete_org(&self, id: OrgId) -> Result<bool, StoreError>;
    /// Adds the user to the organisation or changes their role there; `false` when the
    /// organisation or the user does not exist.
    async fn set_membership(
        &self,
        org: OrgId,
        user: UserId,
        role: OrgRole,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    async fn remove_membership(&self, org: OrgId, user: UserId) -> Result<bool, StoreError>;
    /// The organisation's members, by user id.
    async fn org_members(&self, org: OrgId) -> Result<Vec<Membership>, StoreError>;
    /// The user's memberships, by organisation id.
    async fn user_memberships(&self, user: UserId) -> Result<Vec<Membership>, StoreError>;

    /// Records an uploaded file unless the owner's content would then pass `limits`
    /// (`LimitReached`); the count and the insert are one transaction.
    async fn insert_file(
        &self,
        file: &FileRecord,
        limits: &ContentLimits,
    ) -> Result<(), StoreError>;
    /// What the owner stores now, counted as [`ContentUsage`] says.
    async fn content_usage(&self, owner: UserId) -> Result<ContentUsage, StoreError>;
    /// The owner's files, newest first (every one: at most `ContentLimits::max_files`).
    async fn list_files(&self, owner: UserId) -> Result<Vec<FileRecord>, StoreError>;
    /// At most `limit` of the owner's files, newest first: the newest without `from`, else
    /// those just older (`After`) or just newer (`Before`) than the cursor's file, by
    /// (`created_at`, `id`).
    async fn list_files_page(
        &self,
        owner: UserId,
        from: Option<FileCursor>,
        limit: u32,
    ) -> Result<Vec<FileRecord>, StoreError>;
    /// Deletes one of the owner's files' record; if it was the avatar, the picture claim and
    /// the avatar link are cleared in the same transaction. `false` when the owner has no
    /// such file.
    async fn delete_file(&self, owner: UserId, id: FileId) -> Result<bool, StoreError>;

    // ---- chunks ----
    /// Fails with `Conflict(TrackingId)` when the user has a chunk with that tracking id, and
    /// with `LimitReached` when the user's content would pass `limits` (counted in the same
    /// transaction).
    async fn insert_chunk(
        &self,
        chunk: &ChunkRecord,
        limits: &ContentLimits,
    ) -> Result<(), StoreError>;
    /// One page of the user's chunks, newest first, and how many they have in all.
    async fn list_chunks(
        &self,
        user: UserId,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<ChunkRecord>, u64), StoreError>;
    /// At most `limit` of the user's chunks, newest first: the newest without `from`, else
    /// those just older (`After`) or just newer (`Before`) than the cursor's chunk, by
    /// (`created_at`, `id`).
    async fn list_chunks_page(
        &self,
        user: UserId,
        from: Option<ChunkCursor>,
        limit: u32,
    ) -> Result<Vec<ChunkRecord>, StoreError>;
    async fn delete_chunk(&self, user: UserId, id: Uuid) -> Result<bool, StoreError>;

    // ---- second factor ----
    async fn totp(&self, user: UserId) -> Result<Option<TotpRecord>, StoreError>;
    /// Starts (or restarts) an unconfirmed enrolment with `secret`; `false`, writing nothing,
    /// when a confirmed one exists.
    async fn begin_totp(
        &self,
        user: UserId,
        secret: &[u8],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Confirms the pending enrolment, records `step` as used and replaces the recovery
    /// codes, in one transaction; `false` when there is no unconfirmed enrolment.
    async fn confirm_totp(
        &self,
        user: UserId,
        step: u64,
        recovery: &[TokenHash],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Records `step` as used when it is later than the last used one (compare-and-set);
    /// `false` for a replay.
    async fn use_totp_step(&self, user: UserId, step: u64) -> Result<bool, StoreError>;
    /// One page of stored TOTP secrets as they are (sealed, or plaintext from before
    /// sealing), by user id after `after`; for sealing and key rotation.
    async fn totp_secrets(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<(UserId, Vec<u8>)>, StoreError>;
    /// Replaces the user's stored secret with `new` when it is still `old` (compare-and-set,
    /// so a re-enrolment in between is never overwritten); `false` otherwise.
    async fn replace_totp_secret(
        &self,
        user: UserId,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool, StoreError>;
    /// Deletes the TOTP secret and every recovery code; `false` when there was none.
    async fn delete_totp(&self, user: UserId) -> Result<bool, StoreError>;
    /// Replaces every recovery code of the user.
    async fn replace_recovery_codes(
        &self,
        user: UserId,
        hashes: &[TokenHash],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Marks the unused recovery code with this hash used; `false` when none matches.
    async fn use_recovery_code(
        &self,
        user: UserId,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// How many unused recovery codes the user has.
    async fn recovery_codes_left(&self, user: UserId) -> Result<u32, StoreError>;

    // ---- login challenges ----
    async fn insert_challenge(&self, challenge: &ChallengeRecord) -> Result<(), StoreError>;
    /// The challenge with this secret hash, when unexpired and under `max_attempts` wrong
    /// codes.
    async fn live_challenge(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
        max_attempts: u32,
    ) -> Result<Option<ChallengeRecord>, StoreError>;
    /// Counts one wrong code; returns the attempts left (0: the challenge is dead).
    async fn fail_challenge(&self, id: Uuid, max_attempts: u32) -> Result<u32, StoreError>;
    /// Consumes the challenge and inserts the session in one transaction; `false`, writing
    /// nothing, when the challenge was already consumed or is gone.
    async fn complete_challenge(
        &self,
        id: Uuid,
        session: &SessionRecord,
    ) -> Result<bool, StoreError>;

    // ---- one-time codes ----
    /// Replaces the user's live codes of the same purpose with `code` and queues `mail`, in
    /// one transaction.
    async fn issue_code(&self, code: &CodeRecord, mail: &OutgoingMail) -> Result<(), StoreError>;
    /// Checks a code of `purpose` and, when it matches, consumes it and applies `effect`, all in
    /// one transaction; a wrong code spends one of `max_attempts`. Codes past their expiry, used,
    /// or out of attempts never redeem.
    async fn redeem_code(
        &self,
        purpose: CodePurpose,
        lookup: &CodeLookup,
        effect: &CodeEffect,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<Redemption, StoreError>;

    // ---- sessions ----
    /// Inserts the session; its holder proved their password (or second factor) now, at
    /// `created_at`.
    async fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError>;
    /// When the session's holder last proved their password or second factor: at sign-in,
    /// or at the latest `mark_session_proved`. `None` for no such session (or one from
    /// before this was kept).
    async fn session_proved_at(&self, id: Uuid) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Records a fresh proof on the session; `false` when there is no such session.
    async fn mark_session_proved(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool, StoreError>;
    /// `false` when there was no such session.
    async fn delete_session(&self, id: Uuid) -> Result<bool, StoreError>;
    /// The user's unexpired sessions, newest first.
    async fn list_sessions(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionInfo>, StoreError>;
    /// Deletes one of the user's sessions; `false` when the user has no such session.
    async fn delete_user_session(&self, user: UserId, id: Uuid) -> Result<bool, StoreError>;
    /// Deletes the user's sessions, but `except`; returns the ids deleted.
    async fn delete_sessions(
        &self,
        user: UserId,
        except: Option<Uuid>,
    ) -> Result<Vec<Uuid>, StoreError>;

    // ---- throttling ----
    /// Counts one hit on every limit, all or nothing, as `RateCounter::hit` says. When any key
    /// is refusing, nothing is counted and the answer is the refusing limit that ends last,
    /// with the time until it does. Every counter written says when it expires
    /// (`RateCounter::expires_at`), for `prune_rate_limits`.
    async fn hit_rate_limits(
        &self,
        limits: &[RateLimit],
        now: DateTime<Utc>,
    ) -> Result<Option<Exhausted>, StoreError>;

    /// Deletes these counters (a proven owner is no longer throttled).
    async fn clear_rate_limits(&self, keys: &[String]) -> Result<(), StoreError>;

    /// Takes back one hit from each of these counters (never below zero): a hit counted
    /// before an attempt turned out to succeed.
    async fn refund_rate_limits(&self, keys: &[String]) -> Result<(), StoreError>;

    /// Deletes the counters that have expired at `now`, then, while more than `keep_at_most`
    /// remain, those that expire soonest; and the known addresses that last succeeded before
    /// `known_cutoff`. How many rows went.
    async fn prune_rate_limits(
        &self,
        now: DateTime<Utc>,
        keep_at_most: u64,
        known_cutoff: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// Records that `user` signed in from `address` (an address key) at `at`.
    async fn note_known_address(
        &self,
        user: UserId,
        address: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Whether `user` signed in from `address` at or after `since`.
    async fn is_known_address(
        &self,
        user: UserId,
        address: &str,
        since: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    // ---- audit ----
    async fn insert_audit(&self, event: &AuditEvent) -> Result<(), StoreError>;
    /// Newest first (see [`AuditFilter`]).
    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError>;
    /// Deletes the events from before `cutoff`; how many.
    async fn prune_audit(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError>;

    // ---- mail outbox ----
    async fn enqueue_mail(
        &self,
        mail: &OutgoingMail,
        now: DateTime<Utc>,
    ) -> Result<Uuid, StoreError>;
    /// Leases up to `limit` queued messages that are due (`next_attempt_at <= now` and no live
    /// lease) until `lease_until`, so two workers never send the same message at once.
    async fn claim_mail(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, StoreError>;
    async fn mark_mail_sent(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError>;
    /// Records a failed attempt; `retry_at: None` gives up (status failed).
    async fn mark_mail_failed(
        &self,
        id: Uuid,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;
    /// How many messages are queued, sent and failed (admin console, tests).
    async fn mail_counts(&self) -> Result<MailCounts, StoreError>;

    // ---- credentials (API tokens and sessions) ----
    async fn credential_by_hash(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<CredentialRecord>, StoreError>;
    /// Writes the batched last-used times; unknown ids are ignored.
    async fn record_credential_use(
        &self,
        uses: &[(CredentialKind, Uuid, DateTime<Utc>)],
    ) -> Result<(), StoreError>;

    // ---- API tokens ----
    /// Inserts unless the user already has `max_per_user` tokens (`LimitReached`); the count
    /// and the insert are one transaction, so parallel creations cannot pass the limit.
    async fn insert_token(
        &self,
        token: &ApiToken,
        hash: &TokenHash,
        max_per_user: usize,
    ) -> Result<(), StoreError>;
    /// All of a user's tokens, newest first.
    async fn list_tokens(&self, user: UserId) -> Result<Vec<ApiToken>, StoreError>;
    async fn find_token(
        &self,
        user: UserId,
        by: &TokenLookup,
    ) -> Result<Option<ApiToken>, StoreError>;
    /// `false` when the user has no such token.
    async fn set_token_disabled(
        &self,
        user: UserId,
        id: TokenId,
        disabled: bool,
    ) -> Result<bool, StoreError>;
    async fn delete_token(&self, user: UserId, id: TokenId) -> Result<bool, StoreError>;
    /// Replaces the secret (hash and mask), keeping id, name, expiry and state.
    async fn rotate_token(
        &self,
        user: UserId,
        id: TokenId,
        hash: &TokenHash,
        mask: &str,
        now: DateTime<Utc>,
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

#[cfg(test)]
mod maintenance_tests {
    use super::*;

    fn record(version: i64, checksum: u8, success: bool) -> MigrationRecord {
        MigrationRecord {
            version,
            description: format!("step {version}"),
            checksum: vec![checksum],
            success,
        }
    }

    #[test]
    fn migrations_are_sorted_into_applied_pending_unknown_failed_and_changed() {
        let known = [record(1, 1, true), record(2, 2, true), record(3, 3, true)];
        let current = MigrationStatus::compare(&known, &known);
        assert!(current.is_current());
        assert_eq!(
            current.applied,
            ["0001_step_1", "0002_step_2", "0003_step_3"]
        );

        let status = MigrationStatus::compare(
            &known,
            &[record(1, 9, true), record(2, 2, false), record(4, 4, true)],
        );
        assert_eq!(status.changed, ["0001_step_1"]);
        assert_eq!(status.failed, ["0002_step_2"]);
        assert_eq!(status.unknown, ["0004_step_4"]);
        assert_eq!(status.pending, ["0003_step_3"]);
        assert!(!status.is_known() && !status.is_current());

        let older = MigrationStatus::compare(&known, &known[..1]);
        assert!(older.is_known() && !older.is_current());
    }

    #[derive(Debug, thiserror::Error)]
    #[error("a use case failed")]
    struct UseCase(#[source] StoreError);

    #[test]
    fn an_unavailable_database_is_found_however_deep_it_is_wrapped() {
        let down = || StoreError::unavailable(std::io::Error::other("refused"));
        assert!(is_unavailable(&down()));
        assert!(is_unavailable(&UseCase(down())));
        assert!(is_unavailable(&crate::LoginError::Store(down())));
        let broken = StoreError::Backend("syntax error".into());
        assert!(!is_unavailable(&broken));
        assert!(!is_unavailable(&UseCase(broken)));
    }
}

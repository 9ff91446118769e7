//! The `Store` on SQLite: the zero-configuration backend. One file, WAL mode, so the CLI can
//! work on the database while the server runs. Write transactions start with
//! `BEGIN IMMEDIATE` so two writers queue on the busy timeout instead of failing on upgrade.
//!
//! This crate owns its SQL and its error mapping; it never decides a business rule.

mod access;
mod content;
mod lifecycle;
pub mod maintenance;
mod second_factor;
mod user_admin;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration as StdDuration;

use accounts::access::{Membership, OrgId, OrgRole, Organization, Role, RoleId, RoleSpec};
use accounts::audit::{AuditEvent, AuditFilter};
use accounts::domain::{Profile, ProfileChange};
use accounts::files::FileId;
use accounts::mail::{OutgoingMail, QueuedMail};
use accounts::store::{
    ChallengeRecord, ChunkCursor, ChunkRecord, CodeEffect, CodeLookup, CodePurpose, CodeRecord,
    ContentLimits, ContentUsage, CredentialRecord, DeletedUser, EndSessions, Exhausted, FileCursor,
    FileRecord, MailCounts, NewUserRecord, RateLimit, Redemption, SessionInfo, SessionRecord,
    Store, StoreError, TokenLookup, TotpRecord, Unique, UserChange, UserExport, UserQuery,
};
use accounts::token::{ApiToken, CredentialKind, TokenHash, TokenId};
use accounts::{EmailAddress, User, UserId, UserStatus, Username};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, SqliteConnection, SqlitePool};
use uuid::Uuid;

/// The SQLite-backed store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How long a caller waits for a pooled connection when the opener does not choose.
const DEFAULT_WAIT: StdDuration = StdDuration::from_secs(10);

/// A failure of the backend; one that says the database did not answer becomes
/// `StoreError::Unavailable`.
pub(crate) fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(e);
    match boxed.downcast::<sqlx::Error>() {
        Ok(e) if is_unavailable(&e) => StoreError::unavailable(*e),
        Ok(e) => StoreError::Backend(e),
        Err(other) => StoreError::Backend(other),
    }
}

/// Maps a unique violation to the rule it broke. SQLite names the columns, not the index,
/// in its message ("UNIQUE constraint failed: users.email").
pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            let msg = db.message();
            if msg.contains("users.username") {
                return StoreError::Conflict(Unique::Username);
            }
            if msg.contains("users.email") {
                return StoreError::Conflict(Unique::Email);
            }
            if msg.contains(".secret_hash") {
                return StoreError::Conflict(Unique::TokenHash);
            }
            if msg.contains("users.number") {
                return StoreError::Conflict(Unique::UserNumber);
            }
            if msg.contains("roles.name") {
                return StoreError::Conflict(Unique::RoleName);
            }
            if msg.contains("chunks.tracking_id") {
                return StoreError::Conflict(Unique::TrackingId);
            }
        }
    }
    backend(e)
}

/// No connection within the wait, or the file stayed locked past the busy timeout
/// (`SQLITE_BUSY`, `SQLITE_LOCKED`): try again shortly.
fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => matches!(db.code().as_deref(), Some("5" | "6")),
        _ => false,
    }
}

pub(crate) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn time(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Backend(format!("timestamp out of range: {ms}").into()))
}

pub(crate) fn opt_time(ms: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    ms.map(time).transpose()
}

pub(crate) fn uuid(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(backend)
}

/// The columns `user_from_row` reads, from `users u`. Role 1 is the built-in `admin`.
pub(crate) const USER_COLUMNS: &str =
    "u.id, u.username, u.email, u.email_verified, u.status, u.number, u.profile, \
     u.email_visible, u.created_at, u.updated_at, \
     EXISTS (SELECT 1 FROM user_roles a WHERE a.user_id = u.id AND a.role_id = 1) AS is_admin";

pub(crate) fn user_from_row(row: &SqliteRow) -> Result<User, StoreError> {
    let get_text = |c: &str| -> Result<String, StoreError> { row.try_get(c).map_err(backend) };
    let profile: Profile = serde_json::from_str(&get_text("profile")?).map_err(backend)?;
    Ok(User {
        id: UserId(uuid(&get_text("id")?)?),
        username: Username::parse(&get_text("username")?).map_err(backend)?,
        email: EmailAddress::parse(&get_text("email")?).map_err(backend)?,
        email_verified: row.try_get("email_verified").map_err(backend)?,
        status: UserStatus::from_str(&get_text("status")?).map_err(backend)?,
        number: row.try_get("number").map_err(backend)?,
        is_admin: row.try_get("is_admin").map_err(backend)?,
        profile,
        email_visible: row.try_get("email_visible").map_err(backend)?,
        created_at: time(row.try_get("created_at").map_err(backend)?)?,
        updated_at: time(row.try_get("updated_at").map_err(backend)?)?,
    })
}

const TOKEN_COLUMNS: &str =
    "id, user_id, name, mask, created_at, expires_at, disabled, last_used_at, rotated_at";

fn token_from_row(row: &SqliteRow) -> Result<ApiToken, StoreError> {
    let id: String = row.try_get("id").map_err(backend)?;
    let user_id: String = row.try_get("user_id").map_err(backend)?;
    Ok(ApiToken {
        id: TokenId(uuid(&id)?),
        user_id: UserId(uuid(&user_id)?),
        name: row.try_get("name").map_err(backend)?,
        mask: row.try_get("mask").map_err(backend)?,
        created_at: time(row.try_get("created_at").map_err(backend)?)?,
        expires_at: opt_time(row.try_get("expires_at").map_err(backend)?)?,
        disabled: row.try_get("disabled").map_err(backend)?,
        last_used_at: opt_time(row.try_get("last_used_at").map_err(backend)?)?,
        rotated_at: opt_time(row.try_get("rotated_at").map_err(backend)?)?,
    })
}

fn session_from_row(row: &SqliteRow) -> Result<SessionRecord, StoreError> {
    let id: String = row.try_get("id").map_err(backend)?;
    let user: String = row.try_get("user_id").map_err(backend)?;
    let hash: Vec<u8> = row.try_get("secret_hash").map_err(backend)?;
    Ok(SessionRecord {
        id: uuid(&id)?,
        user_id: UserId(uuid(&user)?),
        secret_hash: TokenHash(
            hash.try_into()
                .map_err(|_| StoreError::Backend("secret hash is not 32 bytes".into()))?,
        ),
        created_at: time(row.try_get("created_at").map_err(backend)?)?,
        last_seen_at: time(row.try_get("last_seen_at").map_err(backend)?)?,
        expires_at: time(row.try_get("expires_at").map_err(backend)?)?,
        client_ip: row.try_get("client_ip").map_err(backend)?,
        user_agent: row.try_get("user_agent").map_err(backend)?,
    })
}

/// Writes a session (alone, or part of a transaction such as a completed login challenge).
pub(crate) async fn insert_session_row(
    conn: &mut SqliteConnection,
    session: &SessionRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, secret_hash, created_at, last_seen_at, \
         expires_at, client_ip, user_agent, proved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(session.id.to_string())
    .bind(session.user_id.to_string())
    .bind(&session.secret_hash.0[..])
    .bind(millis(session.created_at))
    .bind(millis(session.last_seen_at))
    .bind(millis(session.expires_at))
    .bind(session.client_ip.as_deref())
    .bind(session.user_agent.as_deref())
    .bind(millis(session.created_at))
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// Writes the user, their roles, memberships and initial profile (part of a transaction).
pub(crate) async fn insert_user_tx(
    conn: &mut SqliteConnection,
    user: &NewUserRecord,
) -> Result<User, StoreError> {
    let id = user.id.to_string();
    let at = millis(user.created_at);
    let profile = user.profile.apply(&Profile::default());
    sqlx::query(
        "INSERT INTO users (id, username, email, email_verified, status, number, password_hash, \
             profile, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&id)
    .bind(user.username.as_str())
    .bind(user.email.as_str())
    .bind(user.email_verified)
    .bind(user.status.as_str())
    .bind(user.number)
    .bind(user.password_hash.as_deref())
    .bind(serde_json::to_string(&profile).map_err(backend)?)
    .bind(at)
    .bind(at)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    for role in &user.roles {
        sqlx::query(
            "INSERT INTO user_roles (user_id, role_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(&id)
        .bind(role.0)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    }
    for (org, role) in &user.memberships {
        sqlx::query(
            "INSERT INTO org_members (org_id, user_id, role, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(org.to_string())
        .bind(&id)
        .bind(role.as_str())
        .bind(at)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    }
    Ok(User {
        id: user.id,
        username: user.username.clone(),
        email: user.email.clone(),
        email_verified: user.email_verified,
        status: user.status,
        number: user.number,
        is_admin: user.roles.contains(&RoleId::ADMIN),
        profile,
        email_visible: true,
        created_at: time(at)?,
        updated_at: time(at)?,
    })
}

/// The database holds password hashes: create its file readable by its owner only (SQLite
/// gives the `-wal` and `-shm` files the database file's mode), whatever the umask.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let name = path.to_string_lossy();
    if name.is_empty() || name == ":memory:" || name.starts_with("file:") {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        // A missing directory: let SQLite report it as it always has.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` (`sqlite://path` or
    /// `sqlite::memory:`) and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_waiting(url, DEFAULT_WAIT).await
    }

    /// Like `connect`; a caller waits at most `wait` for a pooled connection before the
    /// call fails as `StoreError::Unavailable`.
    pub async fn connect_waiting(url: &str, wait: StdDuration) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url).map_err(backend)?;
        create_private_file(options.get_filename()).map_err(backend)?;
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(StdDuration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            .acquire_timeout(wait)
            .connect_with(options)
            .await
            .map_err(backend)?;
        MIGRATOR.run(&pool).await.map_err(backend)?;
        Ok(Self { pool })
    }

    /// Opens `<dir>/gatehouse.db`.
    pub async fn open_in(dir: &Path) -> Result<Self, StoreError> {
        Self::connect(&format!("sqlite://{}", dir.join("gatehouse.db").display())).await
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'_, sqlx::Sqlite>, StoreError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)
    }

    /// A pooled connection for reads and single statements (atomic on their own).
    async fn conn(&self) -> Result<PoolConnection<Sqlite>, StoreError> {
        self.pool.acquire().await.map_err(map_err)
    }

    async fn user_where(&self, clause: &str, value: &str) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE {clause}");
        sqlx::query(&sql)
            .bind(value)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .map(|row| user_from_row(&row))
            .transpose()
    }

    /// Names of the applied migrations, in order (for checks and `check-config`).
    pub fn migration_names() -> Vec<String> {
        MIGRATOR
            .iter()
            .map(|m| format!("{:04}_{}", m.version, m.description.replace(' ', "_")))
            .collect()
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn insert_user(&self, user: &NewUserRecord) -> Result<User, StoreError> {
        let mut tx = self.begin_write().await?;
        let created = insert_user_tx(&mut tx, user).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(created)
    }

    async fn register_user(
        &self,
        user: &NewUserRecord,
        code: &CodeRecord,
        mail: &OutgoingMail,
    ) -> Result<User, StoreError> {
        let mut tx = self.begin_write().await?;
        let created = insert_user_tx(&mut tx, user).await?;
        lifecycle::insert_code(&mut tx, code).await?;
        lifecycle::enqueue(&mut tx, mail, user.created_at).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(created)
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.user_where("u.id = ?", &id.to_string()).await
    }

    async fn user_by_username(&self, username: &Username) -> Result<Option<User>, StoreError> {
        self.user_where("u.username = ?", username.as_str()).await
    }

    async fn user_by_email(&self, email: &EmailAddress) -> Result<Option<User>, StoreError> {
        self.user_where("u.email = ?", email.as_str()).await
    }

    async fn login_lookup(
        &self,
        login: &str,
    ) -> Result<Option<(User, Option<String>)>, StoreError> {
        let login = login.trim().to_lowercase();
        let sql = format!(
            "SELECT {USER_COLUMNS}, u.password_hash FROM users u \
             WHERE u.username = ?1 OR u.email = ?1 LIMIT 1"
        );
        let Some(row) = sqlx::query(&sql)
            .bind(&login)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
        else {
            return Ok(None);
        };
        let hash: Option<String> = row.try_get("password_hash").map_err(backend)?;
        Ok(Some((user_from_row(&row)?, hash)))
    }

    async fn set_password_hash(
        &self,
        id: UserId,
        password_hash: &str,
        end_sessions: EndSessions,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let id = id.to_string();
        let changed =
            sqlx::query("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?")
                .bind(password_hash)
                .bind(millis(now))
                .bind(&id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?
                .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        let keep = match end_sessions {
            EndSessions::None => None,
            EndSessions::All => Some(String::new()),
            EndSessions::AllExcept(session) => Some(session.to_string()),
            EndSessions::Reset => {
                lifecycle::revoke_for_reset(&mut tx, &id).await?;
                None
            }
        };
        if let Some(keep) = keep {
            sqlx::query("DELETE FROM sessions WHERE user_id = ? AND id <> ?")
                .bind(&id)
                .bind(keep)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn update_profile(
        &self,
        id: UserId,
        change: &ProfileChange,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError> {
        let mut tx = self.begin_write().await?;
        let id_text = id.to_string();
        let Some(current): Option<String> =
            sqlx::query_scalar("SELECT profile FROM users WHERE id = ?")
                .bind(&id_text)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?
        else {
            return Ok(None);
        };
        let current: Profile = serde_json::from_str(&current).map_err(backend)?;
        let updated = serde_json::to_string(&change.apply(&current)).map_err(backend)?;
        sqlx::query("UPDATE users SET profile = ?, updated_at = ? WHERE id = ?")
            .bind(updated)
            .bind(millis(now))
            .bind(&id_text)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = ?");
        let row = sqlx::query(&sql)
            .bind(&id_text)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
        let user = user_from_row(&row)?;
        tx.commit().await.map_err(map_err)?;
        Ok(Some(user))
    }

    async fn replace_avatar(
        &self,
        file: &FileRecord,
        change: &ProfileChange,
        limits: &ContentLimits,
    ) -> Result<Option<FileId>, StoreError> {
        let mut tx = self.begin_write().await?;
        let owner = file.owner_id.to_string();
        let row = sqlx::query("SELECT profile, avatar_file_id FROM users WHERE id = ?")
            .bind(&owner)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?
            .ok_or_else(|| StoreError::Backend("avatar owner does not exist".into()))?;
        let profile: String = row.try_get("profile").map_err(backend)?;
        let previous: Option<String> = row.try_get("avatar_file_id").map_err(backend)?;
        let profile: Profile = serde_json::from_str(&profile).map_err(backend)?;
        let profile = serde_json::to_string(&change.apply(&profile)).map_err(backend)?;
        let replacing = previous.as_deref().map(uuid).transpose()?.map(FileId);
        content::insert_file_within(&mut tx, file, limits, replacing).await?;
        sqlx::query(
            "UPDATE users SET profile = ?, avatar_file_id = ?, updated_at = ? WHERE id = ?",
        )
        .bind(profile)
        .bind(file.id.to_string())
        .bind(millis(file.created_at))
        .bind(&owner)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if let Some(old) = &previous {
            sqlx::query("DELETE FROM files WHERE id = ?")
                .bind(old)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)?;
        previous.map(|p| uuid(&p).map(FileId)).transpose()
    }

    async fn file(&self, id: FileId) -> Result<Option<FileRecord>, StoreError> {
        content::file(&mut *self.conn().await?, id).await
    }

    async fn user_by_number(&self, number: i64) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.number = ?");
        sqlx::query(&sql)
            .bind(number)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .map(|row| user_from_row(&row))
            .transpose()
    }

    async fn list_users(&self, query: &UserQuery) -> Result<Vec<User>, StoreError> {
        user_admin::list_users(&mut *self.conn().await?, query).await
    }

    async fn update_user(
        &self,
        id: UserId,
        change: &UserChange,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError> {
        let mut tx = self.begin_write().await?;
        let user = user_admin::update_user(&mut tx, id, change, now).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(user)
    }

    async fn delete_user(&self, id: UserId) -> Result<Option<DeletedUser>, StoreError> {
        let mut tx = self.begin_write().await?;
        let deleted = user_admin::delete_user(&mut tx, id).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(deleted)
    }

    async fn delete_user_tokens(&self, user: UserId) -> Result<Vec<Uuid>, StoreError> {
        user_admin::delete_user_tokens(&mut *self.conn().await?, user).await
    }

    async fn export_users(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<UserExport>, StoreError> {
        user_admin::export_users(&mut *self.conn().await?, after, limit).await
    }

    async fn insert_users(&self, users: &[NewUserRecord]) -> Result<Vec<User>, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut created = Vec::with_capacity(users.len());
        for user in users {
            created.push(insert_user_tx(&mut tx, user).await?);
        }
        tx.commit().await.map_err(map_err)?;
        Ok(created)
    }

    async fn upgrade_password_hash(
        &self,
        id: UserId,
        expected: &str,
        new_hash: &str,
    ) -> Result<bool, StoreError> {
        user_admin::upgrade_password_hash(&mut *self.conn().await?, id, expected, new_hash).await
    }

    async fn list_roles(&self) -> Result<Vec<Role>, StoreError> {
        access::list_roles(&mut *self.conn().await?).await
    }

    async fn insert_role(&self, spec: &RoleSpec) -> Result<Role, StoreError> {
        access::insert_role(&mut *self.conn().await?, spec, Utc::now()).await
    }

    async fn update_role(&self, id: RoleId, spec: &RoleSpec) -> Result<Option<Role>, StoreError> {
        access::update_role(&mut *self.conn().await?, id, spec).await
    }

    async fn delete_role(&self, id: RoleId) -> Result<bool, StoreError> {
        access::delete_role(&mut *self.conn().await?, id).await
    }

    async fn user_roles(&self, user: UserId) -> Result<Vec<RoleId>, StoreError> {
        access::user_roles(&mut *self.conn().await?, user).await
    }

    async fn roles_of_users(&self, users: &[UserId]) -> Result<Vec<(UserId, RoleId)>, StoreError> {
        access::roles_of_users(&mut *self.conn().await?, users).await
    }

    async fn set_user_roles(&self, user: UserId, roles: &[RoleId]) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = access::set_user_roles(&mut tx, user, roles).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(done)
    }

    async fn insert_org(
        &self,
        org: &Organization,
        owner: Option<UserId>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        access::insert_org(&mut tx, org, owner).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn org(&self, id: OrgId) -> Result<Option<Organization>, StoreError> {
        access::org(&mut *self.conn().await?, id).await
    }

    async fn list_orgs(&self, member: Option<UserId>) -> Result<Vec<Organization>, StoreError> {
        access::list_orgs(&mut *self.conn().await?, member).await
    }

    async fn rename_org(&self, id: OrgId, name: &str) -> Result<bool, StoreError> {
        access::rename_org(&mut *self.conn().await?, id, name).await
    }

    async fn set_org_short_reset_codes(&self, id: OrgId, short: bool) -> Result<bool, StoreError> {
        access::set_org_short_reset_codes(&mut *self.conn().await?, id, short).await
    }

    async fn delete_org(&self, id: OrgId) -> Result<bool, StoreError> {
        access::delete_org(&mut *self.conn().await?, id).await
    }

    async fn set_membership(
        &self,
        org: OrgId,
        user: UserId,
        role: OrgRole,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        access::set_membership(&mut *self.conn().await?, org, user, role, now).await
    }

    async fn remove_membership(&self, org: OrgId, user: UserId) -> Result<bool, StoreError> {
        access::remove_membership(&mut *self.conn().await?, org, user).await
    }

    async fn org_members(&self, org: OrgId) -> Result<Vec<Membership>, StoreError> {
        access::org_members(&mut *self.conn().await?, org).await
    }

    async fn user_memberships(&self, user: UserId) -> Result<Vec<Membership>, StoreError> {
        access::user_memberships(&mut *self.conn().await?, user).await
    }

    async fn insert_file(
        &self,
        file: &FileRecord,
        limits: &ContentLimits,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        content::insert_file_within(&mut tx, file, limits, None).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn content_usage(&self, owner: UserId) -> Result<ContentUsage, StoreError> {
        content::content_usage(&mut *self.conn().await?, owner, None).await
    }

    async fn list_files_page(
        &self,
        owner: UserId,
        from: Option<FileCursor>,
        limit: u32,
    ) -> Result<Vec<FileRecord>, StoreError> {
        content::list_files_page(&mut *self.conn().await?, owner, from, limit).await
    }

    async fn list_files(&self, owner: UserId) -> Result<Vec<FileRecord>, StoreError> {
        content::list_files(&mut *self.conn().await?, owner).await
    }

    async fn delete_file(&self, owner: UserId, id: FileId) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = content::delete_file(&mut tx, owner, id).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(done)
    }

    async fn insert_chunk(
        &self,
        chunk: &ChunkRecord,
        limits: &ContentLimits,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        content::insert_chunk(&mut tx, chunk, limits).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn list_chunks(
        &self,
        user: UserId,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<ChunkRecord>, u64), StoreError> {
        // A deferred (read) transaction: the page and the total see one snapshot.
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let page = content::list_chunks(&mut tx, user, offset, limit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(page)
    }

    async fn list_chunks_page(
        &self,
        user: UserId,
        from: Option<ChunkCursor>,
        limit: u32,
    ) -> Result<Vec<ChunkRecord>, StoreError> {
        content::list_chunks_page(&mut *self.conn().await?, user, from, limit).await
    }

    async fn delete_chunk(&self, user: UserId, id: Uuid) -> Result<bool, StoreError> {
        content::delete_chunk(&mut *self.conn().await?, user, id).await
    }

    async fn totp(&self, user: UserId) -> Result<Option<TotpRecord>, StoreError> {
        second_factor::totp(&mut *self.conn().await?, user).await
    }

    async fn begin_totp(
        &self,
        user: UserId,
        secret: &[u8],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        second_factor::begin_totp(&mut *self.conn().await?, user, secret, now).await
    }

    async fn confirm_totp(
        &self,
        user: UserId,
        step: u64,
        recovery: &[TokenHash],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = second_factor::confirm_totp(&mut tx, user, step, recovery, now).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(done)
    }

    async fn use_totp_step(&self, user: UserId, step: u64) -> Result<bool, StoreError> {
        second_factor::use_totp_step(&mut *self.conn().await?, user, step).await
    }

    async fn totp_secrets(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<(UserId, Vec<u8>)>, StoreError> {
        second_factor::totp_secrets(&mut *self.conn().await?, after, limit).await
    }

    async fn replace_totp_secret(
        &self,
        user: UserId,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool, StoreError> {
        second_factor::replace_totp_secret(&mut *self.conn().await?, user, old, new).await
    }

    async fn delete_totp(&self, user: UserId) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = second_factor::delete_totp(&mut tx, user).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(done)
    }

    async fn replace_recovery_codes(
        &self,
        user: UserId,
        hashes: &[TokenHash],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        second_factor::replace_recovery_codes(&mut tx, user, hashes, now).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn use_recovery_code(
        &self,
        user: UserId,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        second_factor::use_recovery_code(&mut *self.conn().await?, user, hash, now).await
    }

    async fn recovery_codes_left(&self, user: UserId) -> Result<u32, StoreError> {
        second_factor::recovery_codes_left(&mut *self.conn().await?, user).await
    }

    async fn insert_challenge(&self, challenge: &ChallengeRecord) -> Result<(), StoreError> {
        second_factor::insert_challenge(&mut *self.conn().await?, challenge).await
    }

    async fn live_challenge(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
        max_attempts: u32,
    ) -> Result<Option<ChallengeRecord>, StoreError> {
        second_factor::live_challenge(&mut *self.conn().await?, hash, now, max_attempts).await
    }

    async fn fail_challenge(&self, id: Uuid, max_attempts: u32) -> Result<u32, StoreError> {
        second_factor::fail_challenge(&mut *self.conn().await?, id, max_attempts).await
    }

    async fn complete_challenge(
        &self,
        id: Uuid,
        session: &SessionRecord,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = second_factor::complete_challenge(&mut tx, id, session).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(done)
    }

    async fn issue_code(&self, code: &CodeRecord, mail: &OutgoingMail) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        lifecycle::insert_code(&mut tx, code).await?;
        lifecycle::enqueue(&mut tx, mail, code.created_at).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn redeem_code(
        &self,
        purpose: CodePurpose,
        lookup: &CodeLookup,
        effect: &CodeEffect,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<Redemption, StoreError> {
        let mut tx = self.begin_write().await?;
        let outcome =
            lifecycle::redeem(&mut tx, purpose, lookup, effect, max_attempts, now).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(outcome)
    }

    async fn list_sessions(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, user_id, secret_hash, created_at, last_seen_at, expires_at, client_ip, user_agent              FROM sessions WHERE user_id = ? AND expires_at > ? ORDER BY created_at DESC, id DESC",
        )
        .bind(user.to_string())
        .bind(millis(now))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(session_from_row).collect()
    }

    async fn delete_user_session(&self, user: UserId, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE id = ? AND user_id = ?")
            .bind(id.to_string())
            .bind(user.to_string())
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_sessions(
        &self,
        user: UserId,
        except: Option<Uuid>,
    ) -> Result<Vec<Uuid>, StoreError> {
        let ids: Vec<String> =
            sqlx::query_scalar("DELETE FROM sessions WHERE user_id = ? AND id <> ? RETURNING id")
                .bind(user.to_string())
                .bind(except.map(|e| e.to_string()).unwrap_or_default())
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
        ids.iter().map(|i| uuid(i)).collect()
    }

    async fn hit_rate_limits(
        &self,
        limits: &[RateLimit],
        now: DateTime<Utc>,
    ) -> Result<Option<Exhausted>, StoreError> {
        let mut tx = self.begin_write().await?;
        let outcome = lifecycle::hit_limits(&mut tx, limits, now).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(outcome)
    }

    async fn clear_rate_limits(&self, keys: &[String]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for key in keys {
            sqlx::query("DELETE FROM rate_limits WHERE key = ?")
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn refund_rate_limits(&self, keys: &[String]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for key in keys {
            sqlx::query("UPDATE rate_limits SET hits = hits - 1 WHERE key = ? AND hits > 0")
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn prune_rate_limits(
        &self,
        now: DateTime<Utc>,
        keep_at_most: u64,
        known_cutoff: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut deleted = sqlx::query("DELETE FROM rate_limits WHERE expires_at <= ?")
            .bind(millis(now))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
        deleted += sqlx::query(
            "DELETE FROM rate_limits WHERE key IN (SELECT key FROM rate_limits \
             ORDER BY expires_at DESC LIMIT -1 OFFSET ?)",
        )
        .bind(i64::try_from(keep_at_most).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?
        .rows_affected();
        deleted += sqlx::query("DELETE FROM known_addresses WHERE succeeded_at < ?")
            .bind(millis(known_cutoff))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
        tx.commit().await.map_err(map_err)?;
        Ok(deleted)
    }

    async fn note_known_address(
        &self,
        user: UserId,
        address: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO known_addresses (user_id, address, succeeded_at) \
             SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM users WHERE id = ?) \
             ON CONFLICT (user_id, address) DO UPDATE SET succeeded_at = excluded.succeeded_at",
        )
        .bind(user.to_string())
        .bind(address)
        .bind(millis(at))
        .bind(user.to_string())
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn is_known_address(
        &self,
        user: UserId,
        address: &str,
        since: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM known_addresses WHERE user_id = ? AND address = ? AND succeeded_at >= ?",
        )
        .bind(user.to_string())
        .bind(address)
        .bind(millis(since))
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(found.is_some())
    }

    async fn insert_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_events (id, at, action, actor_id, subject_id, outcome, client_ip,              user_agent, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(event.id.to_string())
        .bind(millis(event.at))
        .bind(&event.action)
        .bind(event.actor.map(|u| u.to_string()))
        .bind(event.subject.map(|u| u.to_string()))
        .bind(event.outcome.as_str())
        .bind(event.client_ip.as_deref())
        .bind(event.user_agent.as_deref())
        .bind(event.detail.as_deref())
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
        let (sql, values) = lifecycle::audit_query(filter);
        let mut query = sqlx::query(&sql);
        for v in values {
            query = query.bind(v);
        }
        let rows = query.fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter().map(lifecycle::audit_from_row).collect()
    }

    async fn prune_audit(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let deleted = sqlx::query("DELETE FROM audit_events WHERE at < ?")
            .bind(millis(cutoff))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
        tx.commit().await.map_err(map_err)?;
        Ok(deleted)
    }

    async fn enqueue_mail(
        &self,
        mail: &OutgoingMail,
        now: DateTime<Utc>,
    ) -> Result<Uuid, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        lifecycle::enqueue(&mut conn, mail, now).await
    }

    async fn claim_mail(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, StoreError> {
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(
            "UPDATE outbox SET leased_until = ?1 WHERE id IN (                SELECT id FROM outbox WHERE status = 'queued' AND next_attempt_at <= ?2                  AND (leased_until IS NULL OR leased_until <= ?2)                ORDER BY next_attempt_at, id LIMIT ?3)              RETURNING id, to_address, subject, text_body, html_body, attempts, created_at",
        )
        .bind(millis(lease_until))
        .bind(millis(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        let mut claimed: Vec<QueuedMail> = rows
            .iter()
            .map(lifecycle::queued_from_row)
            .collect::<Result<_, _>>()?;
        claimed.sort_by_key(|m| m.id);
        Ok(claimed)
    }

    async fn mark_mail_sent(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            // The bodies hold live codes and links: they are not kept once delivered.
            "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1, leased_until = NULL, \
             text_body = '', html_body = '' WHERE id = ?",
        )
        .bind(millis(now))
        .bind(id.to_string())
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn mark_mail_failed(
        &self,
        id: Uuid,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let error: String = error.chars().take(1000).collect();
        // Given up (no retry): the bodies, which hold live codes and links, are not kept.
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?1, leased_until = NULL, \
             status = CASE WHEN ?2 IS NULL THEN 'failed' ELSE 'queued' END, \
             text_body = CASE WHEN ?2 IS NULL THEN '' ELSE text_body END, \
             html_body = CASE WHEN ?2 IS NULL THEN '' ELSE html_body END, \
             next_attempt_at = COALESCE(?2, next_attempt_at) WHERE id = ?3 AND status = 'queued'",
        )
        .bind(error)
        .bind(retry_at.map(millis))
        .bind(id.to_string())
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn mail_counts(&self) -> Result<MailCounts, StoreError> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox GROUP BY status",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        let mut counts = MailCounts::default();
        for row in rows {
            let status: String = row.try_get("status").map_err(backend)?;
            let n: i64 = row.try_get("n").map_err(backend)?;
            let n = u64::try_from(n).unwrap_or(0);
            match status.as_str() {
                "queued" => {
                    counts.queued = n;
                    counts.oldest_queued_at = opt_time(row.try_get("oldest").map_err(backend)?)?;
                }
                "sent" => counts.sent = n,
                _ => counts.failed = n,
            }
        }
        Ok(counts)
    }

    async fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        insert_session_row(&mut *self.conn().await?, session).await
    }

    async fn session_proved_at(&self, id: Uuid) -> Result<Option<DateTime<Utc>>, StoreError> {
        let at: Option<Option<i64>> =
            sqlx::query_scalar("SELECT proved_at FROM sessions WHERE id = ?")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?;
        at.flatten().map(time).transpose()
    }

    async fn mark_session_proved(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE sessions SET proved_at = MAX(COALESCE(proved_at, 0), ?) WHERE id = ?",
        )
        .bind(millis(at))
        .bind(id.to_string())
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_session(&self, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE id = ?")
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn credential_by_hash(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<CredentialRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT 'api' AS kind, t.id, t.user_id, t.expires_at, t.disabled, u.status \
             FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.secret_hash = ?1 \
             UNION ALL \
             SELECT 'session', s.id, s.user_id, s.expires_at, 0, u.status \
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.secret_hash = ?1",
        )
        .bind(&hash.0[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        let Some(row) = row else { return Ok(None) };
        let kind: String = row.try_get("kind").map_err(backend)?;
        let id: String = row.try_get("id").map_err(backend)?;
        let user_id: String = row.try_get("user_id").map_err(backend)?;
        let status: String = row.try_get("status").map_err(backend)?;
        Ok(Some(CredentialRecord {
            kind: if kind == "api" {
                CredentialKind::ApiToken
            } else {
                CredentialKind::Session
            },
            id: uuid(&id)?,
            user_id: UserId(uuid(&user_id)?),
            expires_at: opt_time(row.try_get("expires_at").map_err(backend)?)?,
            disabled: row.try_get("disabled").map_err(backend)?,
            user_status: UserStatus::from_str(&status).map_err(backend)?,
        }))
    }

    async fn record_credential_use(
        &self,
        uses: &[(CredentialKind, Uuid, DateTime<Utc>)],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for (kind, id, at) in uses {
            let sql = match kind {
                CredentialKind::ApiToken => {
                    "UPDATE api_tokens SET last_used_at = MAX(COALESCE(last_used_at, 0), ?) WHERE id = ?"
                }
                CredentialKind::Session => {
                    "UPDATE sessions SET last_seen_at = MAX(last_seen_at, ?) WHERE id = ?"
                }
            };
            sqlx::query(sql)
                .bind(millis(*at))
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    async fn insert_token(
        &self,
        token: &ApiToken,
        hash: &TokenHash,
        max_per_user: usize,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let user = token.user_id.to_string();
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens WHERE user_id = ?")
            .bind(&user)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
        if usize::try_from(count).unwrap_or(usize::MAX) >= max_per_user {
            return Err(StoreError::LimitReached);
        }
        sqlx::query(
            "INSERT INTO api_tokens (id, user_id, name, secret_hash, mask, created_at, \
             expires_at, disabled, last_used_at, rotated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(token.id.to_string())
        .bind(&user)
        .bind(&token.name)
        .bind(&hash.0[..])
        .bind(&token.mask)
        .bind(millis(token.created_at))
        .bind(token.expires_at.map(millis))
        .bind(token.disabled)
        .bind(token.last_used_at.map(millis))
        .bind(token.rotated_at.map(millis))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    async fn list_tokens(&self, user: UserId) -> Result<Vec<ApiToken>, StoreError> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE user_id = ? ORDER BY created_at DESC, id DESC"
        );
        sqlx::query(&sql)
            .bind(user.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(token_from_row)
            .collect()
    }

    async fn find_token(
        &self,
        user: UserId,
        by: &TokenLookup,
    ) -> Result<Option<ApiToken>, StoreError> {
        let clause = match by {
            TokenLookup::Id(_) => "id = ?",
            TokenLookup::Hash(_) => "secret_hash = ?",
            TokenLookup::Mask(_) => "mask = ?",
        };
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE user_id = ? AND {clause} \
             ORDER BY created_at DESC LIMIT 1"
        );
        let q = sqlx::query(&sql).bind(user.to_string());
        let q = match by {
            TokenLookup::Id(id) => q.bind(id.to_string()),
            TokenLookup::Hash(hash) => q.bind(hash.0.to_vec()),
            TokenLookup::Mask(mask) => q.bind(mask.clone()),
        };
        q.fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .map(|row| token_from_row(&row))
            .transpose()
    }

    async fn set_token_disabled(
        &self,
        user: UserId,
        id: TokenId,
        disabled: bool,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE api_tokens SET disabled = ? WHERE id = ? AND user_id = ?")
            .bind(disabled)
            .bind(id.to_string())
            .bind(user.to_string())
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_token(&self, user: UserId, id: TokenId) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE id = ? AND user_id = ?")
            .bind(id.to_string())
            .bind(user.to_string())
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn rotate_token(
        &self,
        user: UserId,
        id: TokenId,
        hash: &TokenHash,
        mask: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_tokens SET secret_hash = ?, mask = ?, rotated_at = ? WHERE id = ? AND user_id = ?",
        )
        .bind(&hash.0[..])
        .bind(mask)
        .bind(millis(now))
        .bind(id.to_string())
        .bind(user.to_string())
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }
}

#[cfg(test)]
mod outbox_secrets {
    use accounts::mail::OutgoingMail;
    use accounts::{EmailAddress, Store};
    use chrono::{Duration, Utc};
    use sqlx::Row;

    use super::SqliteStore;

    /// Delivered and abandoned messages keep no body: bodies carry live codes and links.
    #[tokio::test]
    async fn bodies_are_cleared_once_sent_or_given_up() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_in(dir.path()).await.unwrap();
        let now = Utc::now();
        let mail = OutgoingMail {
            to: EmailAddress::parse("a@example.com").unwrap(),
            subject: "code".into(),
            text: "Your code: 123456".into(),
            html: "<p>123456</p>".into(),
        };
        let sent = store.enqueue_mail(&mail, now).await.unwrap();
        let abandoned = store.enqueue_mail(&mail, now).await.unwrap();
        let retried = store.enqueue_mail(&mail, now).await.unwrap();
        store.mark_mail_sent(sent, now).await.unwrap();
        store
            .mark_mail_failed(abandoned, "550", None)
            .await
            .unwrap();
        store
            .mark_mail_failed(retried, "421", Some(now + Duration::seconds(5)))
            .await
            .unwrap();
        for (id, kept) in [(sent, false), (abandoned, false), (retried, true)] {
            let row = sqlx::query("SELECT text_body, html_body FROM outbox WHERE id = ?")
                .bind(id.to_string())
                .fetch_one(&store.pool)
                .await
                .unwrap();
            let text: String = row.get("text_body");
            let html: String = row.get("html_body");
            assert_eq!(text.contains("123456"), kept, "{id}");
            assert_eq!(html.contains("123456"), kept, "{id}");
        }
    }
}

#[cfg(test)]
mod contract {
    use std::sync::Arc;

    use accounts::Store;

    use super::SqliteStore;

    async fn scratch() -> (Arc<dyn Store>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_in(dir.path()).await.unwrap();
        (Arc::new(store), dir)
    }

    accounts::store_contract_tests!(scratch());
}

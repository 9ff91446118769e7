//! The `Store` on PostgreSQL: the backend for several Gatehouse processes on one database.
//! Same tables, columns, index names and migration file names as `store-sqlite`, with native
//! types (UUID, TIMESTAMPTZ, BYTEA, BOOLEAN, JSONB).
//!
//! Concurrency: row locks, not SERIALIZABLE. Every method is one transaction at PostgreSQL's
//! default READ COMMITTED, and a method whose write depends on what it read first locks the
//! rows it reads, so concurrent callers queue instead of failing and nothing needs a retry:
//! - `insert_token`, `issue_code` and `insert_file` lock the owner's `users` row (`FOR NO KEY
//!   UPDATE`, which does not block foreign-key checks), so a per-user count, the superseding
//!   of live codes or the quota's sum is decided by one transaction at a time; so do
//!   `delete_file` (which may clear the avatar), `confirm_totp`, `delete_totp` and
//!   `replace_recovery_codes` (so two replacements cannot interleave);
//! - `begin_totp`, `use_totp_step`, `use_recovery_code`, `fail_challenge` and
//!   `complete_challenge` decide in one conditional statement (an upsert that leaves a
//!   confirmed secret alone, compare-and-set), whose row lock makes a parallel caller wait and
//!   then see the change;
//! - `hit_rate_limits` creates missing counters, then locks every counter it touches
//!   (`FOR UPDATE`) in key order, so parallel hits queue and two multi-key hits cannot
//!   deadlock; a refused hit rolls back, so it counts nowhere and creates nothing;
//!   `clear_rate_limits` and `record_credential_use` also touch rows in a fixed order;
//! - `redeem_code`, `update_profile`, `update_user` and `replace_avatar` lock the row they
//!   read and rewrite; `delete_user` locks the user's row `FOR UPDATE` first, so no token,
//!   session or file can be added meanwhile and escape the list of what it removed;
//!   `set_user_roles` locks the user's row, so two replacements apply one after the other;
//! - `claim_mail` leases with `FOR UPDATE SKIP LOCKED`, so parallel workers take disjoint
//!   messages without waiting on each other.
//!
//! Times are truncated to milliseconds before they are written, as SQLite stores them, so a
//! value reads back the same from either backend.
//!
//! This crate owns its SQL, its migrations and its error mapping (unique violations by
//! constraint name); it never decides a business rule.

mod access;
mod content;
mod invalidation;
mod lifecycle;
pub mod maintenance;
mod second_factor;
mod users;

#[cfg(feature = "testkit")]
pub mod testkit;

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
    FileRecord, Invalidation, MailCounts, NewUserRecord, RateLimit, Redemption, SessionInfo,
    SessionRecord, Store, StoreError, TokenLookup, TotpRecord, Unique, UserChange, UserExport,
    UserQuery,
};
use accounts::token::{ApiToken, CredentialKind, TokenHash, TokenId};
use accounts::{EmailAddress, User, UserId, UserStatus, Username};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

/// The PostgreSQL-backed store.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connections per process when the caller does not choose.
const DEFAULT_MAX_CONNECTIONS: u32 = 8;

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

/// Maps a unique violation to the rule it broke, by the name of the index PostgreSQL reports
/// (the names are set in `migrations/`).
pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            match db.constraint() {
                Some("users_username_key") => return StoreError::Conflict(Unique::Username),
                Some("users_email_key") => return StoreError::Conflict(Unique::Email),
                Some("users_number_key") => return StoreError::Conflict(Unique::UserNumber),
                Some("roles_name_key") => return StoreError::Conflict(Unique::RoleName),
                Some(
                    "api_tokens_secret_hash_key"
                    | "sessions_secret_hash_key"
                    | "login_challenges_secret_hash_key",
                ) => return StoreError::Conflict(Unique::TokenHash),
                Some("chunks_tracking_key") => return StoreError::Conflict(Unique::TrackingId),
                _ => {}
            }
        }
    }
    backend(e)
}

/// The server did not answer, is shutting down or starting, or refused the connection; or no
/// pooled connection came within the wait: try again shortly.
fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        // Class 08: connection exceptions; 57P01-57P03: shutting down or starting up;
        // 53300: too many connections.
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

/// The instant as stored: whole milliseconds, like SQLite's INTEGER columns.
pub(crate) fn stored(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

pub(crate) fn token_hash(bytes: Vec<u8>) -> Result<TokenHash, StoreError> {
    Ok(TokenHash(bytes.try_into().map_err(|_| {
        StoreError::Backend("secret hash is not 32 bytes".into())
    })?))
}

/// The users' columns as `user_from_row` reads them, from `users u`. An admin holds the
/// built-in role 1 (`RoleId::ADMIN`).
const USER_COLUMNS: &str = "u.id, u.username, u.email, u.email_verified, u.status, u.number, \
     u.profile::text AS profile, u.email_visible, u.created_at, u.updated_at, \
     EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = u.id AND r.role_id = 1) AS is_admin";

fn user_from_row(row: &PgRow) -> Result<User, StoreError> {
    let get_text = |c: &str| -> Result<String, StoreError> { row.try_get(c).map_err(backend) };
    let profile: Profile = serde_json::from_str(&get_text("profile")?).map_err(backend)?;
    Ok(User {
        id: UserId(row.try_get("id").map_err(backend)?),
        username: Username::parse(&get_text("username")?).map_err(backend)?,
        email: EmailAddress::parse(&get_text("email")?).map_err(backend)?,
        email_verified: row.try_get("email_verified").map_err(backend)?,
        status: UserStatus::from_str(&get_text("status")?).map_err(backend)?,
        number: row.try_get("number").map_err(backend)?,
        is_admin: row.try_get("is_admin").map_err(backend)?,
        profile,
        email_visible: row.try_get("email_visible").map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
        updated_at: row.try_get("updated_at").map_err(backend)?,
    })
}

const TOKEN_COLUMNS: &str =
    "id, user_id, name, mask, created_at, expires_at, disabled, last_used_at, rotated_at";

fn token_from_row(row: &PgRow) -> Result<ApiToken, StoreError> {
    Ok(ApiToken {
        id: TokenId(row.try_get("id").map_err(backend)?),
        user_id: UserId(row.try_get("user_id").map_err(backend)?),
        name: row.try_get("name").map_err(backend)?,
        mask: row.try_get("mask").map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
        expires_at: row.try_get("expires_at").map_err(backend)?,
        disabled: row.try_get("disabled").map_err(backend)?,
        last_used_at: row.try_get("last_used_at").map_err(backend)?,
        rotated_at: row.try_get("rotated_at").map_err(backend)?,
    })
}

fn session_from_row(row: &PgRow) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        id: row.try_get("id").map_err(backend)?,
        user_id: UserId(row.try_get("user_id").map_err(backend)?),
        secret_hash: token_hash(row.try_get("secret_hash").map_err(backend)?)?,
        created_at: row.try_get("created_at").map_err(backend)?,
        last_seen_at: row.try_get("last_seen_at").map_err(backend)?,
        expires_at: row.try_get("expires_at").map_err(backend)?,
        client_ip: row.try_get("client_ip").map_err(backend)?,
        user_agent: row.try_get("user_agent").map_err(backend)?,
    })
}

pub(crate) async fn insert_session(
    conn: &mut PgConnection,
    session: &SessionRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, secret_hash, created_at, last_seen_at, \
         expires_at, client_ip, user_agent, proved_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $4)",
    )
    .bind(session.id)
    .bind(session.user_id.0)
    .bind(&session.secret_hash.0[..])
    .bind(stored(session.created_at))
    .bind(stored(session.last_seen_at))
    .bind(stored(session.expires_at))
    .bind(session.client_ip.as_deref())
    .bind(session.user_agent.as_deref())
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// Locks the user's row for the rest of the transaction, so per-user decisions (how many
/// tokens, which codes are live) are made one transaction at a time. `FOR NO KEY UPDATE`
/// leaves foreign-key checks (inserts of the user's sessions, files) unblocked.
pub(crate) async fn lock_user(conn: &mut PgConnection, id: UserId) -> Result<(), StoreError> {
    sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE")
        .bind(id.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(())
}

/// Writes the user, their roles, their memberships and their first profile claims; the
/// caller's transaction makes it all or nothing.
async fn insert_user_tx(conn: &mut PgConnection, user: &NewUserRecord) -> Result<User, StoreError> {
    let at = stored(user.created_at);
    let profile = user.profile.apply(&Profile::default());
    sqlx::query(
        "INSERT INTO users (id, username, email, email_verified, status, number, \
             password_hash, profile, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $9)",
    )
    .bind(user.id.0)
    .bind(user.username.as_str())
    .bind(user.email.as_str())
    .bind(user.email_verified)
    .bind(user.status.as_str())
    .bind(user.number)
    .bind(user.password_hash.as_deref())
    .bind(serde_json::to_string(&profile).map_err(backend)?)
    .bind(at)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    if !user.roles.is_empty() {
        let roles: Vec<i64> = user.roles.iter().map(|r| r.0).collect();
        sqlx::query(
            "INSERT INTO user_roles (user_id, role_id) SELECT $1, unnest($2::bigint[]) \
             ON CONFLICT DO NOTHING",
        )
        .bind(user.id.0)
        .bind(roles)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    }
    for (org, role) in &user.memberships {
        access::upsert_membership(&mut *conn, *org, user.id, *role, at).await?;
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
        created_at: at,
        updated_at: at,
    })
}

/// The LISTEN/NOTIFY channel that carries cache invalidations between processes.
const INVALIDATION_CHANNEL: &str = "gatehouse_invalidate";

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`) and
    /// applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with_pool_size(url, DEFAULT_MAX_CONNECTIONS).await
    }

    /// Like `connect`, with at most `max_connections` connections, for when several
    /// processes share the server's `max_connections`.
    pub async fn connect_with_pool_size(
        url: &str,
        max_connections: u32,
    ) -> Result<Self, StoreError> {
        Self::connect_with(url, max_connections, DEFAULT_WAIT).await
    }

    /// Like `connect`; a caller waits at most `wait` for a pooled connection (a new one
    /// included, while the server does not answer) before the call fails as
    /// `StoreError::Unavailable`.
    pub async fn connect_waiting(url: &str, wait: StdDuration) -> Result<Self, StoreError> {
        Self::connect_with(url, DEFAULT_MAX_CONNECTIONS, wait).await
    }

    async fn connect_with(
        url: &str,
        max_connections: u32,
        wait: StdDuration,
    ) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(backend)?
            .application_name("gatehouse");
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(wait)
            .connect_with(options)
            .await
            .map_err(backend)?;
        MIGRATOR.run(&pool).await.map_err(backend)?;
        Ok(Self { pool })
    }

    async fn begin(&self) -> Result<sqlx::Transaction<'_, sqlx::Postgres>, StoreError> {
        self.pool.begin().await.map_err(map_err)
    }

    async fn user_where(
        &self,
        clause: &str,
        bind: impl for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send,
    ) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE {clause}");
        sqlx::query(&sql)
            .bind(bind)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .map(|row| user_from_row(&row))
            .transpose()
    }

    /// Names of the applied migrations, in order (for checks and `check-config`); the same
    /// list as `store-sqlite`'s.
    pub fn migration_names() -> Vec<String> {
        MIGRATOR
            .iter()
            .map(|m| format!("{:04}_{}", m.version, m.description.replace(' ', "_")))
            .collect()
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn publish_invalidation(&self, what: Invalidation) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(INVALIDATION_CHANNEL)
            .bind(invalidation::encode(what))
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn subscribe_invalidations(
        &self,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<Invalidation>>, StoreError> {
        invalidation::subscribe(&self.pool).await.map(Some)
    }

    async fn insert_user(&self, user: &NewUserRecord) -> Result<User, StoreError> {
        let mut tx = self.begin().await?;
        let created = insert_user_tx(&mut tx, user).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(created)
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.user_where("u.id = $1", id.0).await
    }

    async fn user_by_username(&self, username: &Username) -> Result<Option<User>, StoreError> {
        self.user_where("u.username = $1", username.as_str().to_owned())
            .await
    }

    async fn user_by_email(&self, email: &EmailAddress) -> Result<Option<User>, StoreError> {
        self.user_where("u.email = $1", email.as_str().to_owned())
            .await
    }

    async fn login_lookup(
        &self,
        login: &str,
    ) -> Result<Option<(User, Option<String>)>, StoreError> {
        let login = login.trim().to_lowercase();
        let sql = format!(
            "SELECT {USER_COLUMNS}, u.password_hash FROM users u \
             WHERE u.username = $1 OR u.email = $1 LIMIT 1"
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

    async fn register_user(
        &self,
        user: &NewUserRecord,
        code: &CodeRecord,
        mail: &OutgoingMail,
    ) -> Result<User, StoreError> {
        let mut tx = self.begin().await?;
        let created = insert_user_tx(&mut tx, user).await?;
        lifecycle::insert_code(&mut tx, code).await?;
        lifecycle::enqueue(&mut tx, mail, user.created_at).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(created)
    }

    async fn set_password_hash(
        &self,
        id: UserId,
        password_hash: &str,
        end_sessions: EndSessions,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let changed =
            sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
                .bind(password_hash)
                .bind(stored(now))
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?
                .rows_affected();
        if changed == 0 {
            tx.rollback().await.map_err(map_err)?;
            return Ok(false);
        }
        let keep = match end_sessions {
            EndSessions::None => None,
            EndSessions::All => Some(None),
            EndSessions::AllExcept(session) => Some(Some(session)),
            EndSessions::Reset => {
                lifecycle::revoke_for_reset(&mut tx, id.0).await?;
                None
            }
        };
        if let Some(keep) = keep {
            sqlx::query(
                "DELETE FROM sessions WHERE user_id = $1 AND ($2::uuid IS NULL OR id <> $2)",
            )
            .bind(id.0)
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
        let mut tx = self.begin().await?;
        let Some(current): Option<String> =
            sqlx::query_scalar("SELECT profile::text FROM users WHERE id = $1 FOR NO KEY UPDATE")
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?
        else {
            tx.rollback().await.map_err(map_err)?;
            return Ok(None);
        };
        let current: Profile = serde_json::from_str(&current).map_err(backend)?;
        let updated = serde_json::to_string(&change.apply(&current)).map_err(backend)?;
        let sql = format!(
            "UPDATE users AS u SET profile = $1::jsonb, updated_at = $2 WHERE u.id = $3 \
             RETURNING {USER_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(updated)
            .bind(stored(now))
            .bind(id.0)
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
        let mut tx = self.begin().await?;
        let owner = file.owner_id.0;
        // Same answer as store-sqlite for a missing owner: an error, so the caller cleans up
        // the stored bytes.
        let row = sqlx::query(
            "SELECT profile::text AS profile, avatar_file_id FROM users WHERE id = $1 \
             FOR NO KEY UPDATE",
        )
        .bind(owner)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?
        .ok_or_else(|| StoreError::Backend("avatar owner does not exist".into()))?;
        let profile: String = row.try_get("profile").map_err(backend)?;
        let previous: Option<Uuid> = row.try_get("avatar_file_id").map_err(backend)?;
        let profile: Profile = serde_json::from_str(&profile).map_err(backend)?;
        let profile = serde_json::to_string(&change.apply(&profile)).map_err(backend)?;
        let at = stored(file.created_at);
        content::insert_file_within(&mut tx, file, limits, previous.map(FileId)).await?;
        sqlx::query(
            "UPDATE users SET profile = $1::jsonb, avatar_file_id = $2, updated_at = $3 \
             WHERE id = $4",
        )
        .bind(profile)
        .bind(file.id.0)
        .bind(at)
        .bind(owner)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if let Some(old) = previous {
            sqlx::query("DELETE FROM files WHERE id = $1")
                .bind(old)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(previous.map(FileId))
    }

    async fn file(&self, id: FileId) -> Result<Option<FileRecord>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        content::file(&mut conn, id).await
    }

    async fn user_by_number(&self, number: i64) -> Result<Option<User>, StoreError> {
        self.user_where("u.number = $1", number).await
    }

    async fn list_users(&self, query: &UserQuery) -> Result<Vec<User>, StoreError> {
        let Some(mut sql) = users::list_query(query) else {
            return Ok(Vec::new());
        };
        // Planned afresh with each call's values, never from a cached generic plan: which
        // index should drive depends on them (a role ten users hold, or one everybody holds).
        let mut users = sql
            .build()
            .persistent(false)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(user_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        if query.after.is_none() && query.before.is_some() {
            users.reverse();
        }
        Ok(users)
    }

    async fn update_user(
        &self,
        id: UserId,
        change: &UserChange,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError> {
        let mut tx = self.begin().await?;
        let updated = users::update(&mut tx, id, change, now).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(updated)
    }

    async fn delete_user(&self, id: UserId) -> Result<Option<DeletedUser>, StoreError> {
        let mut tx = self.begin().await?;
        let deleted = users::delete(&mut tx, id).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(deleted)
    }

    async fn delete_user_tokens(&self, user: UserId) -> Result<Vec<Uuid>, StoreError> {
        sqlx::query_scalar("DELETE FROM api_tokens WHERE user_id = $1 RETURNING id")
            .bind(user.0)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)
    }

    async fn export_users(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<UserExport>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        users::export(&mut conn, after, limit).await
    }

    async fn insert_users(&self, users: &[NewUserRecord]) -> Result<Vec<User>, StoreError> {
        let mut tx = self.begin().await?;
        let mut created = Vec::with_capacity(users.len());
        for user in users {
            // The first failure drops `tx`, which rolls every insert back.
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
        // Compare-and-set in one statement: a hash changed since it was read stays.
        let done =
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3")
                .bind(new_hash)
                .bind(id.0)
                .bind(expected)
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_roles(&self) -> Result<Vec<Role>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        access::list_roles(&mut conn).await
    }

    async fn insert_role(&self, spec: &RoleSpec) -> Result<Role, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        access::insert_role(&mut conn, spec, Utc::now()).await
    }

    async fn update_role(&self, id: RoleId, spec: &RoleSpec) -> Result<Option<Role>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        access::update_role(&mut conn, id, spec).await
    }

    async fn delete_role(&self, id: RoleId) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        access::delete_role(&mut conn, id).await
    }

    async fn user_roles(&self, user: UserId) -> Result<Vec<RoleId>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        access::user_roles(&mut conn, user).await
    }

    async fn roles_of_users(&self, users: &[UserId]) -> Result<Vec<(UserId, RoleId)>, StoreError> {
        let ids: Vec<Uuid> = users.iter().map(|u| u.0).collect();
        let rows: Vec<(Uuid, i64)> =
            sqlx::query_as("SELECT user_id, role_id FROM user_roles WHERE user_id = ANY($1)")
                .bind(ids)
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
        Ok(rows
            .into_iter()
            .map(|(user, role)| (UserId(user), RoleId(role)))
            .collect())
    }

    async fn set_user_roles(&self, user: UserId, roles: &[RoleId]) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let done = access::set_user_roles(&mut tx, user, roles).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(done)
    }

    async fn insert_org(
        &self,
        org: &Organization,
        owner: Option<UserId>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        access::insert_org(&mut tx, org, owner).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn org(&self, id: OrgId) -> Result<Option<Organization>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        access::org(&mut conn, id).await
    }

    async fn list_orgs(&self, member: Option<UserId>) -> Result<Vec<Organization>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        access::list_orgs(&mut conn, member).await
    }

    async fn rename_org(&self, id: OrgId, name: &str) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        access::rename_org(&mut conn, id, name).await
    }

    async fn set_org_short_reset_codes(&self, id: OrgId, short: bool) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        access::set_org_short_reset_codes(&mut conn, id, short).await
    }

    async fn delete_org(&self, id: OrgId) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        access::delete_org(&mut conn, id).await
    }

    async fn set_membership(
        &self,
        org: OrgId,
        user: UserId,
        role: OrgRole,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        access::set_membership(&mut conn, org, user, role, now).await
    }

    async fn remove_membership(&self, org: OrgId, user: UserId) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        access::remove_membership(&mut conn, org, user).await
    }

    async fn org_members(&self, org: OrgId) -> Result<Vec<Membership>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        access::org_members(&mut conn, org).await
    }

    async fn user_memberships(&self, user: UserId) -> Result<Vec<Membership>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        access::user_memberships(&mut conn, user).await
    }

    async fn insert_file(
        &self,
        file: &FileRecord,
        limits: &ContentLimits,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        content::insert_file_within(&mut tx, file, limits, None).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn content_usage(&self, owner: UserId) -> Result<ContentUsage, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        content::content_usage(&mut conn, owner, None).await
    }

    async fn list_files_page(
        &self,
        owner: UserId,
        from: Option<FileCursor>,
        limit: u32,
    ) -> Result<Vec<FileRecord>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        content::list_files_page(&mut conn, owner, from, limit).await
    }

    async fn list_files(&self, owner: UserId) -> Result<Vec<FileRecord>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        content::list_files(&mut conn, owner).await
    }

    async fn delete_file(&self, owner: UserId, id: FileId) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let deleted = content::delete_file(&mut tx, owner, id).await?;
        if deleted {
            tx.commit().await.map_err(map_err)?;
        } else {
            tx.rollback().await.map_err(map_err)?;
        }
        Ok(deleted)
    }

    async fn insert_chunk(
        &self,
        chunk: &ChunkRecord,
        limits: &ContentLimits,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        content::insert_chunk(&mut tx, chunk, limits).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn list_chunks(
        &self,
        user: UserId,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<ChunkRecord>, u64), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        content::list_chunks(&mut conn, user, offset, limit).await
    }

    async fn list_chunks_page(
        &self,
        user: UserId,
        from: Option<ChunkCursor>,
        limit: u32,
    ) -> Result<Vec<ChunkRecord>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        content::list_chunks_page(&mut conn, user, from, limit).await
    }

    async fn delete_chunk(&self, user: UserId, id: Uuid) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        content::delete_chunk(&mut conn, user, id).await
    }

    async fn totp(&self, user: UserId) -> Result<Option<TotpRecord>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        second_factor::totp(&mut conn, user).await
    }

    async fn begin_totp(
        &self,
        user: UserId,
        secret: &[u8],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        second_factor::begin_totp(&mut conn, user, secret, now).await
    }

    async fn confirm_totp(
        &self,
        user: UserId,
        step: u64,
        recovery: &[TokenHash],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let confirmed = second_factor::confirm_totp(&mut tx, user, step, recovery, now).await?;
        if confirmed {
            tx.commit().await.map_err(map_err)?;
        } else {
            tx.rollback().await.map_err(map_err)?;
        }
        Ok(confirmed)
    }

    async fn use_totp_step(&self, user: UserId, step: u64) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        second_factor::use_totp_step(&mut conn, user, step).await
    }

    async fn totp_secrets(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<(UserId, Vec<u8>)>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        second_factor::totp_secrets(&mut conn, after, limit).await
    }

    async fn replace_totp_secret(
        &self,
        user: UserId,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        second_factor::replace_totp_secret(&mut conn, user, old, new).await
    }

    async fn delete_totp(&self, user: UserId) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let deleted = second_factor::delete_totp(&mut tx, user).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(deleted)
    }

    async fn replace_recovery_codes(
        &self,
        user: UserId,
        hashes: &[TokenHash],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        second_factor::replace_recovery_codes(&mut tx, user, hashes, now).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn use_recovery_code(
        &self,
        user: UserId,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        second_factor::use_recovery_code(&mut conn, user, hash, now).await
    }

    async fn recovery_codes_left(&self, user: UserId) -> Result<u32, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        second_factor::recovery_codes_left(&mut conn, user).await
    }

    async fn insert_challenge(&self, challenge: &ChallengeRecord) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        second_factor::insert_challenge(&mut conn, challenge).await
    }

    async fn live_challenge(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
        max_attempts: u32,
    ) -> Result<Option<ChallengeRecord>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        second_factor::live_challenge(&mut conn, hash, now, max_attempts).await
    }

    async fn fail_challenge(&self, id: Uuid, max_attempts: u32) -> Result<u32, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        second_factor::fail_challenge(&mut conn, id, max_attempts).await
    }

    async fn complete_challenge(
        &self,
        id: Uuid,
        session: &SessionRecord,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let completed = second_factor::complete_challenge(&mut tx, id, session).await?;
        if completed {
            tx.commit().await.map_err(map_err)?;
        } else {
            tx.rollback().await.map_err(map_err)?;
        }
        Ok(completed)
    }

    async fn issue_code(&self, code: &CodeRecord, mail: &OutgoingMail) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        // Two issues for one user in parallel must not both leave a live code.
        lock_user(&mut tx, code.user_id).await?;
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
        let mut tx = self.begin().await?;
        let outcome =
            lifecycle::redeem(&mut tx, purpose, lookup, effect, max_attempts, now).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(outcome)
    }

    async fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        insert_session(&mut conn, session).await
    }

    async fn session_proved_at(&self, id: Uuid) -> Result<Option<DateTime<Utc>>, StoreError> {
        let at: Option<Option<DateTime<Utc>>> =
            sqlx::query_scalar("SELECT proved_at FROM sessions WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?;
        Ok(at.flatten())
    }

    async fn mark_session_proved(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE sessions SET proved_at = GREATEST(proved_at, $1) WHERE id = $2")
                .bind(stored(at))
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_session(&self, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_sessions(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, user_id, secret_hash, created_at, last_seen_at, expires_at, client_ip, \
             user_agent FROM sessions WHERE user_id = $1 AND expires_at > $2 \
             ORDER BY created_at DESC, id DESC",
        )
        .bind(user.0)
        .bind(stored(now))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(session_from_row).collect()
    }

    async fn delete_user_session(&self, user: UserId, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user.0)
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
        sqlx::query_scalar(
            "DELETE FROM sessions WHERE user_id = $1 AND ($2::uuid IS NULL OR id <> $2) \
             RETURNING id",
        )
        .bind(user.0)
        .bind(except)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)
    }

    async fn hit_rate_limits(
        &self,
        limits: &[RateLimit],
        now: DateTime<Utc>,
    ) -> Result<Option<Exhausted>, StoreError> {
        let mut tx = self.begin().await?;
        let outcome = lifecycle::hit_limits(&mut tx, limits, now).await?;
        if outcome.is_some() {
            // Refused: nothing counts, and the counters this call created go away.
            tx.rollback().await.map_err(map_err)?;
        } else {
            tx.commit().await.map_err(map_err)?;
        }
        Ok(outcome)
    }

    async fn clear_rate_limits(&self, keys: &[String]) -> Result<(), StoreError> {
        let mut keys: Vec<&String> = keys.iter().collect();
        // Key order, as `hit_rate_limits` locks them, so the two cannot deadlock.
        keys.sort();
        keys.dedup();
        let mut tx = self.begin().await?;
        for key in keys {
            sqlx::query("DELETE FROM rate_limits WHERE key = $1")
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn refund_rate_limits(&self, keys: &[String]) -> Result<(), StoreError> {
        let mut keys: Vec<&String> = keys.iter().collect();
        // Key order, as `hit_rate_limits` locks them, so the two cannot deadlock.
        keys.sort();
        keys.dedup();
        let mut tx = self.begin().await?;
        for key in keys {
            sqlx::query("UPDATE rate_limits SET hits = hits - 1 WHERE key = $1 AND hits > 0")
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
        let mut deleted = sqlx::query("DELETE FROM rate_limits WHERE expires_at <= $1")
            .bind(stored(now))
            .execute(&self.pool)
            .await
            .map_err(map_err)?
            .rows_affected();
        // Rows locked by a hit in progress are skipped, never waited for.
        deleted += sqlx::query(
            "DELETE FROM rate_limits WHERE key IN (SELECT key FROM rate_limits \
             ORDER BY expires_at DESC OFFSET $1 FOR UPDATE SKIP LOCKED)",
        )
        .bind(i64::try_from(keep_at_most).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await
        .map_err(map_err)?
        .rows_affected();
        deleted += sqlx::query("DELETE FROM known_addresses WHERE succeeded_at < $1")
            .bind(stored(known_cutoff))
            .execute(&self.pool)
            .await
            .map_err(map_err)?
            .rows_affected();
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
             SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM users WHERE id = $1) \
             ON CONFLICT (user_id, address) DO UPDATE SET succeeded_at = excluded.succeeded_at",
        )
        .bind(user.0)
        .bind(address)
        .bind(stored(at))
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
        let found: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM known_addresses WHERE user_id = $1 AND address = $2 \
             AND succeeded_at >= $3",
        )
        .bind(user.0)
        .bind(address)
        .bind(stored(since))
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(found.is_some())
    }

    async fn insert_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_events (id, at, action, actor_id, subject_id, outcome, client_ip, \
             user_agent, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(event.id)
        .bind(stored(event.at))
        .bind(&event.action)
        .bind(event.actor.map(|u| u.0))
        .bind(event.subject.map(|u| u.0))
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
        let rows = lifecycle::audit_query(filter)
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter().map(lifecycle::audit_from_row).collect()
    }

    async fn prune_audit(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let deleted = sqlx::query("DELETE FROM audit_events WHERE at < $1")
            .bind(stored(cutoff))
            .execute(&self.pool)
            .await
            .map_err(map_err)?
            .rows_affected();
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
        // One statement: rows another worker is leasing right now are skipped, not waited on.
        let rows = sqlx::query(
            "UPDATE outbox SET leased_until = $1 WHERE id IN ( \
                SELECT id FROM outbox WHERE status = 'queued' AND next_attempt_at <= $2 \
                  AND (leased_until IS NULL OR leased_until <= $2) \
                ORDER BY next_attempt_at, id LIMIT $3 \
                FOR UPDATE SKIP LOCKED) \
             RETURNING id, to_address, subject, text_body, html_body, attempts, created_at",
        )
        .bind(stored(lease_until))
        .bind(stored(now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
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
            "UPDATE outbox SET status = 'sent', sent_at = $1, attempts = attempts + 1, \
             leased_until = NULL, text_body = '', html_body = '' WHERE id = $2",
        )
        .bind(stored(now))
        .bind(id)
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
            "UPDATE outbox SET attempts = attempts + 1, last_error = $1, leased_until = NULL, \
             status = CASE WHEN $2::timestamptz IS NULL THEN 'failed' ELSE 'queued' END, \
             text_body = CASE WHEN $2::timestamptz IS NULL THEN '' ELSE text_body END, \
             html_body = CASE WHEN $2::timestamptz IS NULL THEN '' ELSE html_body END, \
             next_attempt_at = COALESCE($2, next_attempt_at) WHERE id = $3 AND status = 'queued'",
        )
        .bind(error)
        .bind(retry_at.map(stored))
        .bind(id)
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
                    counts.oldest_queued_at = row.try_get("oldest").map_err(backend)?;
                }
                "sent" => counts.sent = n,
                _ => counts.failed = n,
            }
        }
        Ok(counts)
    }

    async fn credential_by_hash(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<CredentialRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT 'api' AS kind, t.id, t.user_id, t.expires_at, t.disabled, u.status \
             FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.secret_hash = $1 \
             UNION ALL \
             SELECT 'session', s.id, s.user_id, s.expires_at, FALSE, u.status \
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.secret_hash = $1",
        )
        .bind(&hash.0[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        let Some(row) = row else { return Ok(None) };
        let kind: String = row.try_get("kind").map_err(backend)?;
        let status: String = row.try_get("status").map_err(backend)?;
        Ok(Some(CredentialRecord {
            kind: if kind == "api" {
                CredentialKind::ApiToken
            } else {
                CredentialKind::Session
            },
            id: row.try_get("id").map_err(backend)?,
            user_id: UserId(row.try_get("user_id").map_err(backend)?),
            expires_at: row.try_get("expires_at").map_err(backend)?,
            disabled: row.try_get("disabled").map_err(backend)?,
            user_status: UserStatus::from_str(&status).map_err(backend)?,
        }))
    }

    async fn record_credential_use(
        &self,
        uses: &[(CredentialKind, Uuid, DateTime<Utc>)],
    ) -> Result<(), StoreError> {
        // A fixed row order, so two processes flushing overlapping batches cannot deadlock.
        let mut uses: Vec<_> = uses
            .iter()
            .map(|(kind, id, at)| (matches!(kind, CredentialKind::Session), *id, *at))
            .collect();
        uses.sort_by_key(|(is_session, id, _)| (*is_session, *id));
        let mut tx = self.begin().await?;
        for (is_session, id, at) in uses {
            // GREATEST ignores NULL, so a first use is written as is.
            let sql = if is_session {
                "UPDATE sessions SET last_seen_at = GREATEST(last_seen_at, $1) WHERE id = $2"
            } else {
                "UPDATE api_tokens SET last_used_at = GREATEST(last_used_at, $1) WHERE id = $2"
            };
            sqlx::query(sql)
                .bind(stored(at))
                .bind(id)
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
        let mut tx = self.begin().await?;
        // Count and insert under the owner's row lock, so parallel creations cannot pass the
        // limit (the count is a new snapshot taken after the lock is granted).
        lock_user(&mut tx, token.user_id).await?;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens WHERE user_id = $1")
            .bind(token.user_id.0)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
        if usize::try_from(count).unwrap_or(usize::MAX) >= max_per_user {
            tx.rollback().await.map_err(map_err)?;
            return Err(StoreError::LimitReached);
        }
        sqlx::query(
            "INSERT INTO api_tokens (id, user_id, name, secret_hash, mask, created_at, \
             expires_at, disabled, last_used_at, rotated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(token.id.0)
        .bind(token.user_id.0)
        .bind(&token.name)
        .bind(&hash.0[..])
        .bind(&token.mask)
        .bind(stored(token.created_at))
        .bind(token.expires_at.map(stored))
        .bind(token.disabled)
        .bind(token.last_used_at.map(stored))
        .bind(token.rotated_at.map(stored))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    async fn list_tokens(&self, user: UserId) -> Result<Vec<ApiToken>, StoreError> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE user_id = $1 \
             ORDER BY created_at DESC, id DESC"
        );
        sqlx::query(&sql)
            .bind(user.0)
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
            TokenLookup::Id(_) => "id = $2",
            TokenLookup::Hash(_) => "secret_hash = $2",
            TokenLookup::Mask(_) => "mask = $2",
        };
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE user_id = $1 AND {clause} \
             ORDER BY created_at DESC LIMIT 1"
        );
        let q = sqlx::query(&sql).bind(user.0);
        let q = match by {
            TokenLookup::Id(id) => q.bind(id.0),
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
        let done =
            sqlx::query("UPDATE api_tokens SET disabled = $1 WHERE id = $2 AND user_id = $3")
                .bind(disabled)
                .bind(id.0)
                .bind(user.0)
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_token(&self, user: UserId, id: TokenId) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE id = $1 AND user_id = $2")
            .bind(id.0)
            .bind(user.0)
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
            "UPDATE api_tokens SET secret_hash = $1, mask = $2, rotated_at = $3 \
             WHERE id = $4 AND user_id = $5",
        )
        .bind(&hash.0[..])
        .bind(mask)
        .bind(stored(now))
        .bind(id.0)
        .bind(user.0)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }
}

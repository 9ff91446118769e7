//! `UserStore` on PostgreSQL: accounts written with their roles, memberships and profile,
//! looked up, registered (with the code and its mail, in one transaction), changed by their
//! owner or an administrator, deleted with everything they own, exported and imported. The
//! SQL is free functions over a connection, so the impl at the end decides the transactions;
//! the paged list's SQL is `user_list.rs`'s.

use std::str::FromStr;

use accounts::access::RoleId;
use accounts::domain::{Profile, ProfileChange};
use accounts::files::FileId;
use accounts::mail::OutgoingMail;
use accounts::store::{
    CodeRecord, DeletedUser, EndSessions, NewUserRecord, StoreError, UserChange, UserExport,
    UserQuery, UserStore,
};
use accounts::{EmailAddress, User, UserId, UserStatus, Username};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::{access, backend, lifecycle, map_err, stored, user_list, PostgresStore};

/// Applies an administrator's change under the user's row lock; `None` when there is no
/// such user. Disabling ends every session in the same transaction.
pub(crate) async fn update(
    conn: &mut PgConnection,
    id: UserId,
    change: &UserChange,
    now: DateTime<Utc>,
) -> Result<Option<User>, StoreError> {
    let Some(current): Option<String> =
        sqlx::query_scalar("SELECT profile::text FROM users WHERE id = $1 FOR NO KEY UPDATE")
            .bind(id.0)
            .fetch_optional(&mut *conn)
            .await
            .map_err(map_err)?
    else {
        return Ok(None);
    };
    let profile = if change.profile.is_empty() {
        None
    } else {
        let current: Profile = serde_json::from_str(&current).map_err(backend)?;
        Some(serde_json::to_string(&change.profile.apply(&current)).map_err(backend)?)
    };
    let sql = format!(
        "UPDATE users AS u SET username = COALESCE($1, u.username), \
         email = COALESCE($2, u.email), email_verified = COALESCE($3, u.email_verified), \
         status = COALESCE($4, u.status), profile = COALESCE($5::jsonb, u.profile), \
         email_visible = COALESCE($8, u.email_visible), \
         updated_at = $6 WHERE u.id = $7 RETURNING {USER_COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(change.username.as_ref().map(|u| u.as_str().to_owned()))
        .bind(change.email.as_ref().map(|e| e.as_str().to_owned()))
        .bind(change.email_verified)
        .bind(change.status.map(UserStatus::as_str))
        .bind(profile)
        .bind(stored(now))
        .bind(id.0)
        .bind(change.email_visible)
        .fetch_one(&mut *conn)
        .await
        .map_err(map_err)?;
    if change.status == Some(UserStatus::Disabled) {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id.0)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    }
    user_from_row(&row).map(Some)
}

/// Deletes the user and everything they own; `None` when there is no such user. The row is
/// locked `FOR UPDATE` first: inserts of the user's tokens, sessions and files wait on it
/// (their foreign-key check) and then fail, so the ids returned are all that was removed.
pub(crate) async fn delete(
    conn: &mut PgConnection,
    id: UserId,
) -> Result<Option<DeletedUser>, StoreError> {
    let found = sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
        .bind(id.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?;
    if found.is_none() {
        return Ok(None);
    }
    let files = deleted_ids(
        conn,
        "DELETE FROM files WHERE owner_id = $1 RETURNING id",
        id,
    )
    .await?;
    let mut credentials = deleted_ids(
        conn,
        "DELETE FROM api_tokens WHERE user_id = $1 RETURNING id",
        id,
    )
    .await?;
    credentials.extend(
        deleted_ids(
            conn,
            "DELETE FROM sessions WHERE user_id = $1 RETURNING id",
            id,
        )
        .await?,
    );
    // Codes, roles, memberships, chunks, the TOTP secret, recovery codes and login
    // challenges go with the row (ON DELETE CASCADE).
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id.0)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(Some(DeletedUser {
        files: files.into_iter().map(FileId).collect(),
        credentials,
    }))
}

/// Runs a `DELETE ... RETURNING id` for the user; the ids in order.
async fn deleted_ids(
    conn: &mut PgConnection,
    sql: &'static str,
    user: UserId,
) -> Result<Vec<Uuid>, StoreError> {
    let mut ids: Vec<Uuid> = sqlx::query_scalar(sql)
        .bind(user.0)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
    ids.sort_unstable();
    Ok(ids)
}

/// Users in id order after `after`, with their password hashes and roles.
pub(crate) async fn export(
    conn: &mut PgConnection,
    after: Option<UserId>,
    limit: u32,
) -> Result<Vec<UserExport>, StoreError> {
    let sql = format!(
        "SELECT {USER_COLUMNS}, u.password_hash, \
           ARRAY(SELECT r.role_id FROM user_roles r WHERE r.user_id = u.id ORDER BY r.role_id) \
           AS roles \
         FROM users u WHERE ($1::uuid IS NULL OR u.id > $1) ORDER BY u.id LIMIT $2"
    );
    let rows = sqlx::query(&sql)
        .bind(after.map(|a| a.0))
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
    rows.iter()
        .map(|row| {
            let roles: Vec<i64> = row.try_get("roles").map_err(backend)?;
            Ok(UserExport {
                user: user_from_row(row)?,
                password_hash: row.try_get("password_hash").map_err(backend)?,
                roles: roles.into_iter().map(RoleId).collect(),
            })
        })
        .collect()
}

/// The users' columns as `user_from_row` reads them, from `users u`. An admin holds the
/// built-in role 1 (`RoleId::ADMIN`).
pub(crate) const USER_COLUMNS: &str =
    "u.id, u.username, u.email, u.email_verified, u.status, u.number, \
     u.profile::text AS profile, u.email_visible, u.created_at, u.updated_at, \
     EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = u.id AND r.role_id = 1) AS is_admin";

pub(crate) fn user_from_row(row: &PgRow) -> Result<User, StoreError> {
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

/// Writes the user, their roles, their memberships and their first profile claims; the
/// caller's transaction makes it all or nothing.
pub(crate) async fn insert_user_tx(
    conn: &mut PgConnection,
    user: &NewUserRecord,
) -> Result<User, StoreError> {
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

#[async_trait]
impl UserStore for PostgresStore {
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

    async fn user_by_number(&self, number: i64) -> Result<Option<User>, StoreError> {
        self.user_where("u.number = $1", number).await
    }

    async fn list_users(&self, query: &UserQuery) -> Result<Vec<User>, StoreError> {
        let Some(mut sql) = user_list::list_query(query) else {
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
        let updated = update(&mut tx, id, change, now).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(updated)
    }

    async fn delete_user(&self, id: UserId) -> Result<Option<DeletedUser>, StoreError> {
        let mut tx = self.begin().await?;
        let deleted = delete(&mut tx, id).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(deleted)
    }

    async fn export_users(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<UserExport>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        export(&mut conn, after, limit).await
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
}

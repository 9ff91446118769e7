//! `UserStore` on SQLite: accounts written with their roles, memberships and profile, looked
//! up, registered (with the code and its mail, in one transaction), changed by their owner or
//! an administrator, their password set or upgraded, deleted with everything they own,
//! exported and imported in bulk. The SQL is free functions over a connection, so the impl at
//! the end decides the transaction; the paged list's SQL is `user_list.rs`'s.

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
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use crate::{backend, lifecycle, map_err, millis, time, user_list, uuid, SqliteStore};

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

pub(crate) async fn user_by_id(
    conn: &mut SqliteConnection,
    id: &str,
) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = ?");
    sqlx::query(&sql)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?
        .map(|row| user_from_row(&row))
        .transpose()
}

/// Applies the change; the caller rolls back on a conflict, so nothing is written then.
pub(crate) async fn update_user(
    conn: &mut SqliteConnection,
    id: UserId,
    change: &UserChange,
    now: DateTime<Utc>,
) -> Result<Option<User>, StoreError> {
    let id = id.to_string();
    let Some(current): Option<String> =
        sqlx::query_scalar("SELECT profile FROM users WHERE id = ?")
            .bind(&id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(map_err)?
    else {
        return Ok(None);
    };
    let profile = if change.profile.is_empty() {
        current
    } else {
        let current: Profile = serde_json::from_str(&current).map_err(backend)?;
        serde_json::to_string(&change.profile.apply(&current)).map_err(backend)?
    };
    sqlx::query(
        "UPDATE users SET username = COALESCE(?, username), email = COALESCE(?, email), \
         email_verified = COALESCE(?, email_verified), status = COALESCE(?, status), \
         profile = ?, email_visible = COALESCE(?, email_visible), updated_at = ? WHERE id = ?",
    )
    .bind(change.username.as_ref().map(|u| u.as_str()))
    .bind(change.email.as_ref().map(|e| e.as_str()))
    .bind(change.email_verified)
    .bind(change.status.map(UserStatus::as_str))
    .bind(profile)
    .bind(change.email_visible)
    .bind(millis(now))
    .bind(&id)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    if change.status == Some(UserStatus::Disabled) {
        sqlx::query("DELETE FROM sessions WHERE user_id = ?")
            .bind(&id)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    }
    user_by_id(conn, &id).await
}

/// Collects what the caller must clean up, then deletes the user; the foreign keys
/// (`ON DELETE CASCADE`, enforced since the pool turns `foreign_keys` on) remove their tokens,
/// sessions, codes, file records, roles and memberships.
pub(crate) async fn delete_user(
    conn: &mut SqliteConnection,
    id: UserId,
) -> Result<Option<DeletedUser>, StoreError> {
    let id = id.to_string();
    let files: Vec<String> =
        sqlx::query_scalar("SELECT id FROM files WHERE owner_id = ? ORDER BY id")
            .bind(&id)
            .fetch_all(&mut *conn)
            .await
            .map_err(map_err)?;
    let credentials: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM api_tokens WHERE user_id = ?1 UNION ALL \
         SELECT id FROM sessions WHERE user_id = ?1",
    )
    .bind(&id)
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?;
    let deleted = sqlx::query("DELETE FROM users WHERE id = ?")
        .bind(&id)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?
        .rows_affected();
    if deleted == 0 {
        return Ok(None);
    }
    Ok(Some(DeletedUser {
        files: files
            .iter()
            .map(|f| uuid(f).map(FileId))
            .collect::<Result<_, _>>()?,
        credentials: credentials
            .iter()
            .map(|c| uuid(c))
            .collect::<Result<_, _>>()?,
    }))
}

pub(crate) async fn export_users(
    conn: &mut SqliteConnection,
    after: Option<UserId>,
    limit: u32,
) -> Result<Vec<UserExport>, StoreError> {
    let sql = format!(
        "SELECT {USER_COLUMNS}, u.password_hash, \
           (SELECT group_concat(r.role_id) FROM user_roles r WHERE r.user_id = u.id) AS role_ids \
         FROM users u WHERE u.id > ? ORDER BY u.id LIMIT ?"
    );
    let rows = sqlx::query(&sql)
        .bind(after.map(|a| a.to_string()).unwrap_or_default())
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
    rows.iter()
        .map(|row| {
            let role_ids: Option<String> = row.try_get("role_ids").map_err(backend)?;
            let mut roles = role_ids
                .unwrap_or_default()
                .split(',')
                .filter(|r| !r.is_empty())
                .map(|r| r.parse().map(RoleId).map_err(backend))
                .collect::<Result<Vec<_>, _>>()?;
            roles.sort();
            Ok(UserExport {
                user: user_from_row(row)?,
                password_hash: row.try_get("password_hash").map_err(backend)?,
                roles,
            })
        })
        .collect()
}

pub(crate) async fn upgrade_password_hash(
    conn: &mut SqliteConnection,
    id: UserId,
    expected: &str,
    new_hash: &str,
) -> Result<bool, StoreError> {
    // A rehash is not a change the user made: updated_at stays.
    let done = sqlx::query("UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?")
        .bind(new_hash)
        .bind(id.to_string())
        .bind(expected)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(done.rows_affected() > 0)
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn insert_user(&self, user: &NewUserRecord) -> Result<User, StoreError> {
        let mut tx = self.begin_write().await?;
        let created = insert_user_tx(&mut tx, user).await?;
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
        user_list::list_users(&mut *self.conn().await?, query).await
    }

    async fn update_user(
        &self,
        id: UserId,
        change: &UserChange,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError> {
        let mut tx = self.begin_write().await?;
        let user = update_user(&mut tx, id, change, now).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(user)
    }

    async fn delete_user(&self, id: UserId) -> Result<Option<DeletedUser>, StoreError> {
        let mut tx = self.begin_write().await?;
        let deleted = delete_user(&mut tx, id).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(deleted)
    }

    async fn export_users(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<UserExport>, StoreError> {
        export_users(&mut *self.conn().await?, after, limit).await
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
        upgrade_password_hash(&mut *self.conn().await?, id, expected, new_hash).await
    }
}

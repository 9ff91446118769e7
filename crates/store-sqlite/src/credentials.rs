//! `CredentialStore` on SQLite: API tokens and login sessions, resolved by the hash of their
//! secret, listed, rotated and ended, and their batched last use written.

use std::str::FromStr;

use accounts::store::{
    CredentialRecord, CredentialStore, SessionInfo, SessionRecord, StoreError, TokenLookup,
};
use accounts::token::{ApiToken, CredentialKind, TokenHash, TokenId};
use accounts::{UserId, UserStatus};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use crate::{backend, map_err, millis, opt_time, time, uuid, SqliteStore};

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

pub(crate) async fn delete_user_tokens(
    conn: &mut SqliteConnection,
    user: UserId,
) -> Result<Vec<Uuid>, StoreError> {
    let ids: Vec<String> =
        sqlx::query_scalar("DELETE FROM api_tokens WHERE user_id = ? RETURNING id")
            .bind(user.to_string())
            .fetch_all(&mut *conn)
            .await
            .map_err(map_err)?;
    ids.iter().map(|i| uuid(i)).collect()
}

#[async_trait]
impl CredentialStore for SqliteStore {
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

    async fn delete_user_tokens(&self, user: UserId) -> Result<Vec<Uuid>, StoreError> {
        delete_user_tokens(&mut *self.conn().await?, user).await
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
}

//! `CredentialStore` on PostgreSQL: API tokens (the per-user limit under the user's row lock)
//! and login sessions, resolved by the hash of their secret, listed, rotated and ended, and
//! their batched last use written.

use std::str::FromStr;

use accounts::store::{
    CredentialRecord, CredentialStore, SessionInfo, SessionRecord, StoreError, TokenLookup,
};
use accounts::token::{ApiToken, CredentialKind, TokenHash, TokenId};
use accounts::{UserId, UserStatus};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::PgConnection;
use sqlx::Row;
use uuid::Uuid;

use crate::{backend, lock_user, map_err, stored, token_hash, PostgresStore};

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

#[async_trait]
impl CredentialStore for PostgresStore {
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

    async fn delete_user_tokens(&self, user: UserId) -> Result<Vec<Uuid>, StoreError> {
        sqlx::query_scalar("DELETE FROM api_tokens WHERE user_id = $1 RETURNING id")
            .bind(user.0)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)
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
}

//! `SecondFactorStore` on SQLite: TOTP secrets with their last used step, recovery codes (only
//! hashes) and the login challenges between the password and the code. The SQL is free
//! functions over a connection, so the impl at the end decides the transaction. Whether a code matches is the core's
//! business; this module only records steps and spends codes, each with a compare-and-set.

use accounts::store::{ChallengeRecord, SecondFactorStore, SessionRecord, StoreError, TotpRecord};
use accounts::token::TokenHash;
use accounts::UserId;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use crate::credentials::insert_session_row;
use crate::{backend, map_err, millis, time, uuid, SqliteStore};

const CHALLENGE_COLUMNS: &str =
    "id, user_id, secret_hash, created_at, expires_at, client_ip, user_agent";

/// TOTP steps (30 s since 1970) fit an INTEGER many times over; refuse the absurd rather
/// than wrap.
fn step_value(step: u64) -> Result<i64, StoreError> {
    i64::try_from(step).map_err(backend)
}

pub(crate) async fn totp(
    conn: &mut SqliteConnection,
    user: UserId,
) -> Result<Option<TotpRecord>, StoreError> {
    let Some(row) = sqlx::query(
        "SELECT user_id, secret, confirmed, last_step, created_at FROM totp WHERE user_id = ?",
    )
    .bind(user.to_string())
    .fetch_optional(&mut *conn)
    .await
    .map_err(map_err)?
    else {
        return Ok(None);
    };
    let id: String = row.try_get("user_id").map_err(backend)?;
    let last_step: Option<i64> = row.try_get("last_step").map_err(backend)?;
    Ok(Some(TotpRecord {
        user_id: UserId(uuid(&id)?),
        secret: row.try_get("secret").map_err(backend)?,
        confirmed: row.try_get("confirmed").map_err(backend)?,
        last_step: last_step.map(u64::try_from).transpose().map_err(backend)?,
        created_at: time(row.try_get("created_at").map_err(backend)?)?,
    }))
}

/// One statement: the upsert's `WHERE` leaves a confirmed secret untouched (no row changed).
pub(crate) async fn begin_totp(
    conn: &mut SqliteConnection,
    user: UserId,
    secret: &[u8],
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO totp (user_id, secret, confirmed, last_step, created_at) \
         VALUES (?, ?, 0, NULL, ?) \
         ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, last_step = NULL, \
           created_at = excluded.created_at \
         WHERE totp.confirmed = 0",
    )
    .bind(user.to_string())
    .bind(secret)
    .bind(millis(now))
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(done.rows_affected() > 0)
}

/// Part of a transaction: the pending enrolment becomes confirmed with `step` spent, and the
/// recovery codes are replaced; `false` (nothing written) when nothing is pending.
pub(crate) async fn confirm_totp(
    conn: &mut SqliteConnection,
    user: UserId,
    step: u64,
    recovery: &[TokenHash],
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE totp SET confirmed = 1, last_step = ? WHERE user_id = ? AND confirmed = 0",
    )
    .bind(step_value(step)?)
    .bind(user.to_string())
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    replace_recovery_codes(conn, user, recovery, now).await?;
    Ok(true)
}

/// Compare-and-set: only a step later than the last spent one is recorded.
pub(crate) async fn use_totp_step(
    conn: &mut SqliteConnection,
    user: UserId,
    step: u64,
) -> Result<bool, StoreError> {
    let step = step_value(step)?;
    let done = sqlx::query(
        "UPDATE totp SET last_step = ?1 \
         WHERE user_id = ?2 AND (last_step IS NULL OR last_step < ?1)",
    )
    .bind(step)
    .bind(user.to_string())
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn totp_secrets(
    conn: &mut SqliteConnection,
    after: Option<UserId>,
    limit: u32,
) -> Result<Vec<(UserId, Vec<u8>)>, StoreError> {
    let rows =
        sqlx::query("SELECT user_id, secret FROM totp WHERE user_id > ? ORDER BY user_id LIMIT ?")
            .bind(after.map(|u| u.to_string()).unwrap_or_default())
            .bind(i64::from(limit))
            .fetch_all(&mut *conn)
            .await
            .map_err(map_err)?;
    rows.iter()
        .map(|row| {
            let id: String = row.try_get("user_id").map_err(backend)?;
            Ok((UserId(uuid(&id)?), row.try_get("secret").map_err(backend)?))
        })
        .collect()
}

/// Compare-and-set on the stored value.
pub(crate) async fn replace_totp_secret(
    conn: &mut SqliteConnection,
    user: UserId,
    old: &[u8],
    new: &[u8],
) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE totp SET secret = ? WHERE user_id = ? AND secret = ?")
        .bind(new)
        .bind(user.to_string())
        .bind(old)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(done.rows_affected() > 0)
}

/// Part of a transaction: the secret and every recovery code.
pub(crate) async fn delete_totp(
    conn: &mut SqliteConnection,
    user: UserId,
) -> Result<bool, StoreError> {
    let user = user.to_string();
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = ?")
        .bind(&user)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    let done = sqlx::query("DELETE FROM totp WHERE user_id = ?")
        .bind(&user)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(done.rows_affected() > 0)
}

/// Part of a transaction. A hash given twice is stored once.
pub(crate) async fn replace_recovery_codes(
    conn: &mut SqliteConnection,
    user: UserId,
    hashes: &[TokenHash],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let user = user.to_string();
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = ?")
        .bind(&user)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    for hash in hashes {
        sqlx::query(
            "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES (?, ?, ?) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&user)
        .bind(&hash.0[..])
        .bind(millis(now))
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    }
    Ok(())
}

/// Compare-and-set on `used_at`: a code is spent once.
pub(crate) async fn use_recovery_code(
    conn: &mut SqliteConnection,
    user: UserId,
    hash: &TokenHash,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE recovery_codes SET used_at = ? \
         WHERE user_id = ? AND code_hash = ? AND used_at IS NULL",
    )
    .bind(millis(now))
    .bind(user.to_string())
    .bind(&hash.0[..])
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn recovery_codes_left(
    conn: &mut SqliteConnection,
    user: UserId,
) -> Result<u32, StoreError> {
    let left: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL",
    )
    .bind(user.to_string())
    .fetch_one(&mut *conn)
    .await
    .map_err(map_err)?;
    u32::try_from(left).map_err(backend)
}

fn challenge_from_row(row: &SqliteRow) -> Result<ChallengeRecord, StoreError> {
    let id: String = row.try_get("id").map_err(backend)?;
    let user: String = row.try_get("user_id").map_err(backend)?;
    let hash: Vec<u8> = row.try_get("secret_hash").map_err(backend)?;
    Ok(ChallengeRecord {
        id: uuid(&id)?,
        user_id: UserId(uuid(&user)?),
        secret_hash: TokenHash(
            hash.try_into()
                .map_err(|_| StoreError::Backend("secret hash is not 32 bytes".into()))?,
        ),
        created_at: time(row.try_get("created_at").map_err(backend)?)?,
        expires_at: time(row.try_get("expires_at").map_err(backend)?)?,
        client_ip: row.try_get("client_ip").map_err(backend)?,
        user_agent: row.try_get("user_agent").map_err(backend)?,
    })
}

pub(crate) async fn insert_challenge(
    conn: &mut SqliteConnection,
    challenge: &ChallengeRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO login_challenges (id, user_id, secret_hash, created_at, expires_at, \
         client_ip, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(challenge.id.to_string())
    .bind(challenge.user_id.to_string())
    .bind(&challenge.secret_hash.0[..])
    .bind(millis(challenge.created_at))
    .bind(millis(challenge.expires_at))
    .bind(challenge.client_ip.as_deref())
    .bind(challenge.user_agent.as_deref())
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// Unexpired, unconsumed and under `max_attempts` wrong codes.
pub(crate) async fn live_challenge(
    conn: &mut SqliteConnection,
    hash: &TokenHash,
    now: DateTime<Utc>,
    max_attempts: u32,
) -> Result<Option<ChallengeRecord>, StoreError> {
    let sql = format!(
        "SELECT {CHALLENGE_COLUMNS} FROM login_challenges WHERE secret_hash = ? \
         AND expires_at > ? AND consumed_at IS NULL AND attempts < ?"
    );
    sqlx::query(&sql)
        .bind(&hash.0[..])
        .bind(millis(now))
        .bind(i64::from(max_attempts))
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?
        .map(|row| challenge_from_row(&row))
        .transpose()
}

/// One statement; a dead, consumed or unknown challenge counts nothing and has 0 left.
pub(crate) async fn fail_challenge(
    conn: &mut SqliteConnection,
    id: Uuid,
    max_attempts: u32,
) -> Result<u32, StoreError> {
    let attempts: Option<i64> = sqlx::query_scalar(
        "UPDATE login_challenges SET attempts = attempts + 1 \
         WHERE id = ? AND consumed_at IS NULL AND attempts < ? RETURNING attempts",
    )
    .bind(id.to_string())
    .bind(i64::from(max_attempts))
    .fetch_optional(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(attempts.map_or(0, |a| {
        u32::try_from(i64::from(max_attempts) - a).unwrap_or(0)
    }))
}

/// Part of a transaction: consume (compare-and-set on `consumed_at`), then the session;
/// `false` with nothing written when it was consumed already or is gone.
pub(crate) async fn complete_challenge(
    conn: &mut SqliteConnection,
    id: Uuid,
    session: &SessionRecord,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE login_challenges SET consumed_at = ? WHERE id = ? AND consumed_at IS NULL",
    )
    .bind(millis(session.created_at))
    .bind(id.to_string())
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    insert_session_row(conn, session).await?;
    Ok(true)
}

#[async_trait]
impl SecondFactorStore for SqliteStore {
    async fn totp(&self, user: UserId) -> Result<Option<TotpRecord>, StoreError> {
        totp(&mut *self.conn().await?, user).await
    }

    async fn begin_totp(
        &self,
        user: UserId,
        secret: &[u8],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        begin_totp(&mut *self.conn().await?, user, secret, now).await
    }

    async fn confirm_totp(
        &self,
        user: UserId,
        step: u64,
        recovery: &[TokenHash],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = confirm_totp(&mut tx, user, step, recovery, now).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(done)
    }

    async fn use_totp_step(&self, user: UserId, step: u64) -> Result<bool, StoreError> {
        use_totp_step(&mut *self.conn().await?, user, step).await
    }

    async fn totp_secrets(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<(UserId, Vec<u8>)>, StoreError> {
        totp_secrets(&mut *self.conn().await?, after, limit).await
    }

    async fn replace_totp_secret(
        &self,
        user: UserId,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool, StoreError> {
        replace_totp_secret(&mut *self.conn().await?, user, old, new).await
    }

    async fn delete_totp(&self, user: UserId) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = delete_totp(&mut tx, user).await?;
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
        replace_recovery_codes(&mut tx, user, hashes, now).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn use_recovery_code(
        &self,
        user: UserId,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        use_recovery_code(&mut *self.conn().await?, user, hash, now).await
    }

    async fn recovery_codes_left(&self, user: UserId) -> Result<u32, StoreError> {
        recovery_codes_left(&mut *self.conn().await?, user).await
    }

    async fn insert_challenge(&self, challenge: &ChallengeRecord) -> Result<(), StoreError> {
        insert_challenge(&mut *self.conn().await?, challenge).await
    }

    async fn live_challenge(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
        max_attempts: u32,
    ) -> Result<Option<ChallengeRecord>, StoreError> {
        live_challenge(&mut *self.conn().await?, hash, now, max_attempts).await
    }

    async fn fail_challenge(&self, id: Uuid, max_attempts: u32) -> Result<u32, StoreError> {
        fail_challenge(&mut *self.conn().await?, id, max_attempts).await
    }

    async fn complete_challenge(
        &self,
        id: Uuid,
        session: &SessionRecord,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = complete_challenge(&mut tx, id, session).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(done)
    }
}

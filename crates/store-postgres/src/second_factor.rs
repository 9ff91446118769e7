//! `SecondFactorStore` on PostgreSQL: TOTP secrets (an unconfirmed enrolment, then a
//! confirmed one with the last step a code was accepted for), recovery codes (stored as
//! hashes) and the two-step login's challenges. The SQL is free functions over a connection,
//! so the impl at the end decides the transactions. Never checks a code: the core does.
//!
//! Concurrency: the checks that must hold under parallel requests are single statements
//! (an upsert that leaves a confirmed secret alone, compare-and-set on `last_step`, a
//! recovery code or a challenge consumed only while unused); replacing or deleting a user's
//! recovery codes locks the user's row first, so two replacements cannot interleave into
//! twenty codes.

use accounts::store::{ChallengeRecord, SecondFactorStore, SessionRecord, StoreError, TotpRecord};
use accounts::token::TokenHash;
use accounts::UserId;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::credentials::insert_session;
use crate::{backend, lock_user, map_err, stored, token_hash, PostgresStore};

/// A TOTP step as stored (BIGINT); steps are 30-second periods, far below `i64::MAX`.
fn step_value(step: u64) -> Result<i64, StoreError> {
    i64::try_from(step).map_err(backend)
}

pub(crate) async fn totp(
    conn: &mut PgConnection,
    user: UserId,
) -> Result<Option<TotpRecord>, StoreError> {
    let Some(row) = sqlx::query(
        "SELECT user_id, secret, confirmed, last_step, created_at FROM totp WHERE user_id = $1",
    )
    .bind(user.0)
    .fetch_optional(&mut *conn)
    .await
    .map_err(map_err)?
    else {
        return Ok(None);
    };
    let last_step: Option<i64> = row.try_get("last_step").map_err(backend)?;
    Ok(Some(TotpRecord {
        user_id: UserId(row.try_get("user_id").map_err(backend)?),
        secret: row.try_get("secret").map_err(backend)?,
        confirmed: row.try_get("confirmed").map_err(backend)?,
        last_step: last_step
            .map(|s| u64::try_from(s).map_err(backend))
            .transpose()?,
        created_at: row.try_get("created_at").map_err(backend)?,
    }))
}

/// Inserts or replaces an unconfirmed enrolment in one statement; a confirmed one is left as
/// it is (`false`).
pub(crate) async fn begin_totp(
    conn: &mut PgConnection,
    user: UserId,
    secret: &[u8],
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO totp (user_id, secret, confirmed, last_step, created_at) \
         VALUES ($1, $2, FALSE, NULL, $3) \
         ON CONFLICT (user_id) DO UPDATE \
           SET secret = EXCLUDED.secret, last_step = NULL, created_at = EXCLUDED.created_at \
           WHERE NOT totp.confirmed",
    )
    .bind(user.0)
    .bind(secret)
    .bind(stored(now))
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(done.rows_affected() > 0)
}

/// Confirms the pending enrolment with `step` spent and replaces the recovery codes; `false`
/// when there is no unconfirmed enrolment (the caller rolls back; nothing was written).
pub(crate) async fn confirm_totp(
    conn: &mut PgConnection,
    user: UserId,
    step: u64,
    recovery: &[TokenHash],
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    lock_user(&mut *conn, user).await?;
    let done = sqlx::query(
        "UPDATE totp SET confirmed = TRUE, last_step = $2 WHERE user_id = $1 AND NOT confirmed",
    )
    .bind(user.0)
    .bind(step_value(step)?)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    write_recovery_codes(conn, user, recovery, now).await?;
    Ok(true)
}

/// Compare-and-set: the step is recorded only when later than the last one, in one
/// statement, so of two logins with the same code only one passes.
pub(crate) async fn use_totp_step(
    conn: &mut PgConnection,
    user: UserId,
    step: u64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE totp SET last_step = $2 \
         WHERE user_id = $1 AND (last_step IS NULL OR last_step < $2)",
    )
    .bind(user.0)
    .bind(step_value(step)?)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn totp_secrets(
    conn: &mut PgConnection,
    after: Option<UserId>,
    limit: u32,
) -> Result<Vec<(UserId, Vec<u8>)>, StoreError> {
    let rows = sqlx::query(
        "SELECT user_id, secret FROM totp WHERE $1::uuid IS NULL OR user_id > $1 \
         ORDER BY user_id LIMIT $2",
    )
    .bind(after.map(|u| u.0))
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?;
    rows.iter()
        .map(|row| {
            Ok((
                UserId(row.try_get("user_id").map_err(backend)?),
                row.try_get("secret").map_err(backend)?,
            ))
        })
        .collect()
}

/// Compare-and-set on the stored value.
pub(crate) async fn replace_totp_secret(
    conn: &mut PgConnection,
    user: UserId,
    old: &[u8],
    new: &[u8],
) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE totp SET secret = $3 WHERE user_id = $1 AND secret = $2")
        .bind(user.0)
        .bind(old)
        .bind(new)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(done.rows_affected() > 0)
}
/// Deletes the secret and every recovery code; `false` when there was no secret.
pub(crate) async fn delete_totp(conn: &mut PgConnection, user: UserId) -> Result<bool, StoreError> {
    lock_user(&mut *conn, user).await?;
    let done = sqlx::query("DELETE FROM totp WHERE user_id = $1")
        .bind(user.0)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user.0)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn replace_recovery_codes(
    conn: &mut PgConnection,
    user: UserId,
    hashes: &[TokenHash],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    lock_user(&mut *conn, user).await?;
    write_recovery_codes(conn, user, hashes, now).await
}

/// Deletes the user's recovery codes and writes `hashes` instead; the caller holds the
/// user's row lock.
async fn write_recovery_codes(
    conn: &mut PgConnection,
    user: UserId,
    hashes: &[TokenHash],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user.0)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    if hashes.is_empty() {
        return Ok(());
    }
    let hashes: Vec<Vec<u8>> = hashes.iter().map(|h| h.0.to_vec()).collect();
    sqlx::query(
        "INSERT INTO recovery_codes (user_id, code_hash, created_at) \
         SELECT $1, unnest($2::bytea[]), $3 ON CONFLICT DO NOTHING",
    )
    .bind(user.0)
    .bind(hashes)
    .bind(stored(now))
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// Uses the code up in one statement: of two parallel uses, one wins.
pub(crate) async fn use_recovery_code(
    conn: &mut PgConnection,
    user: UserId,
    hash: &TokenHash,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE recovery_codes SET used_at = $3 \
         WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
    )
    .bind(user.0)
    .bind(&hash.0[..])
    .bind(stored(now))
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn recovery_codes_left(
    conn: &mut PgConnection,
    user: UserId,
) -> Result<u32, StoreError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
    )
    .bind(user.0)
    .fetch_one(&mut *conn)
    .await
    .map_err(map_err)?;
    u32::try_from(n).map_err(backend)
}

fn challenge_from_row(row: &PgRow) -> Result<ChallengeRecord, StoreError> {
    Ok(ChallengeRecord {
        id: row.try_get("id").map_err(backend)?,
        user_id: UserId(row.try_get("user_id").map_err(backend)?),
        secret_hash: token_hash(row.try_get("secret_hash").map_err(backend)?)?,
        created_at: row.try_get("created_at").map_err(backend)?,
        expires_at: row.try_get("expires_at").map_err(backend)?,
        client_ip: row.try_get("client_ip").map_err(backend)?,
        user_agent: row.try_get("user_agent").map_err(backend)?,
    })
}

/// Fails with `Conflict(TokenHash)` for a secret hash already taken.
pub(crate) async fn insert_challenge(
    conn: &mut PgConnection,
    challenge: &ChallengeRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO login_challenges (id, user_id, secret_hash, created_at, expires_at, \
         client_ip, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(challenge.id)
    .bind(challenge.user_id.0)
    .bind(&challenge.secret_hash.0[..])
    .bind(stored(challenge.created_at))
    .bind(stored(challenge.expires_at))
    .bind(challenge.client_ip.as_deref())
    .bind(challenge.user_agent.as_deref())
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// The challenge when unexpired, not consumed and under `max_attempts` wrong codes.
pub(crate) async fn live_challenge(
    conn: &mut PgConnection,
    hash: &TokenHash,
    now: DateTime<Utc>,
    max_attempts: u32,
) -> Result<Option<ChallengeRecord>, StoreError> {
    sqlx::query(
        "SELECT id, user_id, secret_hash, created_at, expires_at, client_ip, user_agent \
         FROM login_challenges WHERE secret_hash = $1 AND expires_at > $2 \
           AND consumed_at IS NULL AND attempts < $3",
    )
    .bind(&hash.0[..])
    .bind(stored(now))
    .bind(i64::from(max_attempts))
    .fetch_optional(&mut *conn)
    .await
    .map_err(map_err)?
    .map(|row| challenge_from_row(&row))
    .transpose()
}

/// Counts one wrong code in one statement (parallel wrong codes each count) and returns the
/// attempts left; a challenge out of attempts, consumed or gone counts nothing and has 0
/// left.
pub(crate) async fn fail_challenge(
    conn: &mut PgConnection,
    id: Uuid,
    max_attempts: u32,
) -> Result<u32, StoreError> {
    let max = i64::from(max_attempts);
    let attempts: Option<i32> = sqlx::query_scalar(
        "UPDATE login_challenges SET attempts = attempts + 1 \
         WHERE id = $1 AND consumed_at IS NULL AND attempts < $2 RETURNING attempts",
    )
    .bind(id)
    .bind(max)
    .fetch_optional(&mut *conn)
    .await
    .map_err(map_err)?;
    let left = attempts.map_or(0, |a| (max - i64::from(a)).max(0));
    Ok(u32::try_from(left).unwrap_or(0))
}

/// Consumes the challenge, when it is not yet, and inserts the session. `false` when it was
/// consumed already or is gone: the caller rolls back, nothing was written. The UPDATE's
/// row lock makes a parallel completion wait and then find it consumed.
pub(crate) async fn complete_challenge(
    conn: &mut PgConnection,
    id: Uuid,
    session: &SessionRecord,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE login_challenges SET consumed_at = $2 WHERE id = $1 AND consumed_at IS NULL",
    )
    .bind(id)
    .bind(stored(session.created_at))
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    insert_session(conn, session).await?;
    Ok(true)
}

#[async_trait]
impl SecondFactorStore for PostgresStore {
    async fn totp(&self, user: UserId) -> Result<Option<TotpRecord>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        totp(&mut conn, user).await
    }

    async fn begin_totp(
        &self,
        user: UserId,
        secret: &[u8],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        begin_totp(&mut conn, user, secret, now).await
    }

    async fn confirm_totp(
        &self,
        user: UserId,
        step: u64,
        recovery: &[TokenHash],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let confirmed = confirm_totp(&mut tx, user, step, recovery, now).await?;
        if confirmed {
            tx.commit().await.map_err(map_err)?;
        } else {
            tx.rollback().await.map_err(map_err)?;
        }
        Ok(confirmed)
    }

    async fn use_totp_step(&self, user: UserId, step: u64) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        use_totp_step(&mut conn, user, step).await
    }

    async fn totp_secrets(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<(UserId, Vec<u8>)>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        totp_secrets(&mut conn, after, limit).await
    }

    async fn replace_totp_secret(
        &self,
        user: UserId,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        replace_totp_secret(&mut conn, user, old, new).await
    }

    async fn delete_totp(&self, user: UserId) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let deleted = delete_totp(&mut tx, user).await?;
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
        replace_recovery_codes(&mut tx, user, hashes, now).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn use_recovery_code(
        &self,
        user: UserId,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        use_recovery_code(&mut conn, user, hash, now).await
    }

    async fn recovery_codes_left(&self, user: UserId) -> Result<u32, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        recovery_codes_left(&mut conn, user).await
    }

    async fn insert_challenge(&self, challenge: &ChallengeRecord) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        insert_challenge(&mut conn, challenge).await
    }

    async fn live_challenge(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
        max_attempts: u32,
    ) -> Result<Option<ChallengeRecord>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        live_challenge(&mut conn, hash, now, max_attempts).await
    }

    async fn fail_challenge(&self, id: Uuid, max_attempts: u32) -> Result<u32, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        fail_challenge(&mut conn, id, max_attempts).await
    }

    async fn complete_challenge(
        &self,
        id: Uuid,
        session: &SessionRecord,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let completed = complete_challenge(&mut tx, id, session).await?;
        if completed {
            tx.commit().await.map_err(map_err)?;
        } else {
            tx.rollback().await.map_err(map_err)?;
        }
        Ok(completed)
    }
}

//! `LifecycleStore` on PostgreSQL: one-time codes and the mail outbox. The SQL is free
//! functions over a connection, so several of them run inside one transaction (here, and in
//! `users.rs`'s registration and reset); the locks they take are held until it ends.

use accounts::mail::{OutgoingMail, QueuedMail};
use accounts::store::{
    CodeEffect, CodeLookup, CodePurpose, CodeRecord, LifecycleStore, MailCounts, Redemption,
    StoreError,
};
use accounts::{EmailAddress, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::{backend, lock_user, map_err, stored, PostgresStore};

pub(crate) async fn insert_code(
    conn: &mut PgConnection,
    code: &CodeRecord,
) -> Result<(), StoreError> {
    let created = stored(code.created_at);
    // A new code supersedes the user's live codes of the same purpose.
    sqlx::query(
        "UPDATE one_time_codes SET consumed_at = $1 \
         WHERE user_id = $2 AND purpose = $3 AND consumed_at IS NULL",
    )
    .bind(created)
    .bind(code.user_id.0)
    .bind(code.purpose.as_str())
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    sqlx::query(
        "INSERT INTO one_time_codes (id, user_id, purpose, code_hash, link_hash, created_at, \
         code_expires_at, link_expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(code.id)
    .bind(code.user_id.0)
    .bind(code.purpose.as_str())
    .bind(&code.code_hash.0[..])
    .bind(&code.link_hash.0[..])
    .bind(created)
    .bind(stored(code.code_expires_at))
    .bind(stored(code.link_expires_at))
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn enqueue(
    conn: &mut PgConnection,
    mail: &OutgoingMail,
    now: DateTime<Utc>,
) -> Result<Uuid, StoreError> {
    let id = Uuid::now_v7();
    let now = stored(now);
    sqlx::query(
        "INSERT INTO outbox (id, to_address, subject, text_body, html_body, created_at, status, \
         attempts, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, 'queued', 0, $6)",
    )
    .bind(id)
    .bind(mail.to.as_str())
    .bind(&mail.subject)
    .bind(&mail.text)
    .bind(&mail.html)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(id)
}

/// Finds the live code and locks it, then consumes it and applies the effect, or spends an
/// attempt. The lock makes parallel guesses at one code count one after another.
pub(crate) async fn redeem(
    conn: &mut PgConnection,
    purpose: CodePurpose,
    lookup: &CodeLookup,
    effect: &CodeEffect,
    max_attempts: u32,
    now: DateTime<Utc>,
) -> Result<Redemption, StoreError> {
    let now = stored(now);
    let max = i64::from(max_attempts);
    let (row, matched) = match lookup {
        CodeLookup::Code { user, hash } => {
            let row = sqlx::query(
                "SELECT id, user_id, code_hash, attempts FROM one_time_codes \
                 WHERE user_id = $1 AND purpose = $2 AND consumed_at IS NULL \
                   AND code_expires_at > $3 AND attempts < $4 \
                 ORDER BY created_at DESC LIMIT 1 FOR UPDATE",
            )
            .bind(user.0)
            .bind(purpose.as_str())
            .bind(now)
            .bind(max)
            .fetch_optional(&mut *conn)
            .await
            .map_err(map_err)?;
            let matched = match &row {
                Some(r) => {
                    let stored_hash: Vec<u8> = r.try_get("code_hash").map_err(backend)?;
                    stored_hash == hash.0
                }
                None => false,
            };
            (row, matched)
        }
        CodeLookup::Link(hash) => {
            let row = sqlx::query(
                "SELECT id, user_id, code_hash, attempts FROM one_time_codes \
                 WHERE link_hash = $1 AND purpose = $2 AND consumed_at IS NULL \
                   AND link_expires_at > $3 AND attempts < $4 \
                 FOR UPDATE",
            )
            .bind(&hash.0[..])
            .bind(purpose.as_str())
            .bind(now)
            .bind(max)
            .fetch_optional(&mut *conn)
            .await
            .map_err(map_err)?;
            let matched = row.is_some();
            (row, matched)
        }
    };
    let Some(row) = row else {
        return Ok(Redemption::NoCode);
    };
    let id: Uuid = row.try_get("id").map_err(backend)?;
    if !matched {
        let attempts: i32 = row.try_get("attempts").map_err(backend)?;
        sqlx::query("UPDATE one_time_codes SET attempts = attempts + 1 WHERE id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
        let left = max - i64::from(attempts) - 1;
        return Ok(Redemption::Wrong {
            attempts_left: u32::try_from(left.max(0)).unwrap_or(0),
        });
    }
    let user: Uuid = row.try_get("user_id").map_err(backend)?;
    sqlx::query("UPDATE one_time_codes SET consumed_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    match effect {
        CodeEffect::VerifyEmail => {
            sqlx::query(
                "UPDATE users SET email_verified = TRUE, updated_at = $1, \
                 status = CASE status WHEN 'pending' THEN 'active' ELSE status END WHERE id = $2",
            )
            .bind(now)
            .bind(user)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
        }
        CodeEffect::SetPassword(hash) => {
            sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
                .bind(hash)
                .bind(now)
                .bind(user)
                .execute(&mut *conn)
                .await
                .map_err(map_err)?;
            revoke_for_reset(conn, user).await?;
        }
    }
    Ok(Redemption::Redeemed(UserId(user)))
}

/// What a password reset ends (part of its transaction): every session, every API token
/// and every pending sign-in challenge of the user.
pub(crate) async fn revoke_for_reset(
    conn: &mut PgConnection,
    user: Uuid,
) -> Result<(), StoreError> {
    for sql in [
        "DELETE FROM sessions WHERE user_id = $1",
        "DELETE FROM api_tokens WHERE user_id = $1",
        "DELETE FROM login_challenges WHERE user_id = $1",
    ] {
        sqlx::query(sql)
            .bind(user)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    }
    Ok(())
}

pub(crate) fn queued_from_row(row: &PgRow) -> Result<QueuedMail, StoreError> {
    let to: String = row.try_get("to_address").map_err(backend)?;
    let attempts: i32 = row.try_get("attempts").map_err(backend)?;
    Ok(QueuedMail {
        id: row.try_get("id").map_err(backend)?,
        mail: OutgoingMail {
            to: EmailAddress::parse(&to).map_err(backend)?,
            subject: row.try_get("subject").map_err(backend)?,
            text: row.try_get("text_body").map_err(backend)?,
            html: row.try_get("html_body").map_err(backend)?,
        },
        attempts: u32::try_from(attempts).map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
    })
}

#[async_trait]
impl LifecycleStore for PostgresStore {
    async fn issue_code(&self, code: &CodeRecord, mail: &OutgoingMail) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        // Two issues for one user in parallel must not both leave a live code.
        lock_user(&mut tx, code.user_id).await?;
        insert_code(&mut tx, code).await?;
        enqueue(&mut tx, mail, code.created_at).await?;
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
        let outcome = redeem(&mut tx, purpose, lookup, effect, max_attempts, now).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(outcome)
    }

    async fn enqueue_mail(
        &self,
        mail: &OutgoingMail,
        now: DateTime<Utc>,
    ) -> Result<Uuid, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        enqueue(&mut conn, mail, now).await
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
        let mut claimed: Vec<QueuedMail> =
            rows.iter().map(queued_from_row).collect::<Result<_, _>>()?;
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
}

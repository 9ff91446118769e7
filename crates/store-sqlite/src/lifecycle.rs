//! `LifecycleStore` on SQLite: one-time codes and the mail outbox. The SQL is free functions
//! over a connection, so several of them run inside one transaction (here, and in
//! `users.rs`'s registration and reset).

use accounts::mail::{OutgoingMail, QueuedMail};
use accounts::store::{
    CodeEffect, CodeLookup, CodePurpose, CodeRecord, LifecycleStore, MailCounts, Redemption,
    StoreError,
};
use accounts::{EmailAddress, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use crate::{backend, map_err, millis, opt_time, time, uuid, SqliteStore};

pub(crate) async fn insert_code(
    conn: &mut SqliteConnection,
    code: &CodeRecord,
) -> Result<(), StoreError> {
    // A new code supersedes the user's live codes of the same purpose.
    sqlx::query(
        "UPDATE one_time_codes SET consumed_at = ? WHERE user_id = ? AND purpose = ? AND consumed_at IS NULL",
    )
    .bind(millis(code.created_at))
    .bind(code.user_id.to_string())
    .bind(code.purpose.as_str())
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    sqlx::query(
        "INSERT INTO one_time_codes (id, user_id, purpose, code_hash, link_hash, created_at, \
         code_expires_at, link_expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(code.id.to_string())
    .bind(code.user_id.to_string())
    .bind(code.purpose.as_str())
    .bind(&code.code_hash.0[..])
    .bind(&code.link_hash.0[..])
    .bind(millis(code.created_at))
    .bind(millis(code.code_expires_at))
    .bind(millis(code.link_expires_at))
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn enqueue(
    conn: &mut SqliteConnection,
    mail: &OutgoingMail,
    now: DateTime<Utc>,
) -> Result<Uuid, StoreError> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO outbox (id, to_address, subject, text_body, html_body, created_at, status, \
         attempts, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, 'queued', 0, ?)",
    )
    .bind(id.to_string())
    .bind(mail.to.as_str())
    .bind(&mail.subject)
    .bind(&mail.text)
    .bind(&mail.html)
    .bind(millis(now))
    .bind(millis(now))
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(id)
}

/// Finds the live code, then consumes it and applies the effect, or spends an attempt.
pub(crate) async fn redeem(
    conn: &mut SqliteConnection,
    purpose: CodePurpose,
    lookup: &CodeLookup,
    effect: &CodeEffect,
    max_attempts: u32,
    now: DateTime<Utc>,
) -> Result<Redemption, StoreError> {
    let now_ms = millis(now);
    let (row, matched) = match lookup {
        CodeLookup::Code { user, hash } => {
            let row = sqlx::query(
                "SELECT id, user_id, code_hash, attempts FROM one_time_codes \
                 WHERE user_id = ? AND purpose = ? AND consumed_at IS NULL \
                   AND code_expires_at > ? AND attempts < ? \
                 ORDER BY created_at DESC LIMIT 1",
            )
            .bind(user.to_string())
            .bind(purpose.as_str())
            .bind(now_ms)
            .bind(i64::from(max_attempts))
            .fetch_optional(&mut *conn)
            .await
            .map_err(map_err)?;
            let matched = match &row {
                Some(r) => {
                    let stored: Vec<u8> = r.try_get("code_hash").map_err(backend)?;
                    stored == hash.0
                }
                None => false,
            };
            (row, matched)
        }
        CodeLookup::Link(hash) => {
            let row = sqlx::query(
                "SELECT id, user_id, code_hash, attempts FROM one_time_codes \
                 WHERE link_hash = ? AND purpose = ? AND consumed_at IS NULL \
                   AND link_expires_at > ? AND attempts < ?",
            )
            .bind(&hash.0[..])
            .bind(purpose.as_str())
            .bind(now_ms)
            .bind(i64::from(max_attempts))
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
    let id: String = row.try_get("id").map_err(backend)?;
    if !matched {
        let attempts: i64 = row.try_get("attempts").map_err(backend)?;
        sqlx::query("UPDATE one_time_codes SET attempts = attempts + 1 WHERE id = ?")
            .bind(&id)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
        let left = i64::from(max_attempts) - attempts - 1;
        return Ok(Redemption::Wrong {
            attempts_left: u32::try_from(left.max(0)).unwrap_or(0),
        });
    }
    let user_text: String = row.try_get("user_id").map_err(backend)?;
    sqlx::query("UPDATE one_time_codes SET consumed_at = ? WHERE id = ?")
        .bind(now_ms)
        .bind(&id)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    match effect {
        CodeEffect::VerifyEmail => {
            sqlx::query(
                "UPDATE users SET email_verified = 1, updated_at = ?, \
                 status = CASE status WHEN 'pending' THEN 'active' ELSE status END WHERE id = ?",
            )
            .bind(now_ms)
            .bind(&user_text)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
        }
        CodeEffect::SetPassword(hash) => {
            sqlx::query("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?")
                .bind(hash)
                .bind(now_ms)
                .bind(&user_text)
                .execute(&mut *conn)
                .await
                .map_err(map_err)?;
            revoke_for_reset(conn, &user_text).await?;
        }
    }
    Ok(Redemption::Redeemed(UserId(uuid(&user_text)?)))
}

/// What a password reset ends (part of its transaction): every session, every API token
/// and every pending sign-in challenge of the user.
pub(crate) async fn revoke_for_reset(
    conn: &mut SqliteConnection,
    user: &str,
) -> Result<(), StoreError> {
    for sql in [
        "DELETE FROM sessions WHERE user_id = ?",
        "DELETE FROM api_tokens WHERE user_id = ?",
        "DELETE FROM login_challenges WHERE user_id = ?",
    ] {
        sqlx::query(sql)
            .bind(user)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    }
    Ok(())
}

pub(crate) fn queued_from_row(row: &SqliteRow) -> Result<QueuedMail, StoreError> {
    let id: String = row.try_get("id").map_err(backend)?;
    let to: String = row.try_get("to_address").map_err(backend)?;
    let attempts: i64 = row.try_get("attempts").map_err(backend)?;
    Ok(QueuedMail {
        id: uuid(&id)?,
        mail: OutgoingMail {
            to: EmailAddress::parse(&to).map_err(backend)?,
            subject: row.try_get("subject").map_err(backend)?,
            text: row.try_get("text_body").map_err(backend)?,
            html: row.try_get("html_body").map_err(backend)?,
        },
        attempts: u32::try_from(attempts).map_err(backend)?,
        created_at: time(row.try_get("created_at").map_err(backend)?)?,
    })
}

#[async_trait]
impl LifecycleStore for SqliteStore {
    async fn issue_code(&self, code: &CodeRecord, mail: &OutgoingMail) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
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
        let mut tx = self.begin_write().await?;
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
        let mut claimed: Vec<QueuedMail> =
            rows.iter().map(queued_from_row).collect::<Result<_, _>>()?;
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
}

#[cfg(test)]
mod outbox_secrets {
    use accounts::mail::OutgoingMail;
    use accounts::store::LifecycleStore;
    use accounts::EmailAddress;
    use chrono::{Duration, Utc};
    use sqlx::Row;

    use crate::SqliteStore;

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

//! The SQL of the account-lifecycle tables: one-time codes, rate limits, the audit trail and
//! the mail outbox. Free functions over a connection, so `lib.rs` can run several of them
//! inside one transaction.

use accounts::audit::{AuditEvent, AuditFilter, Outcome};
use accounts::mail::{OutgoingMail, QueuedMail};
use accounts::store::{
    CodeEffect, CodeLookup, CodePurpose, CodeRecord, Exhausted, RateCounter, RateLimit, Redemption,
    StoreError,
};
use accounts::{EmailAddress, UserId};
use chrono::{DateTime, Duration, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use crate::{backend, map_err, millis, time, uuid};

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

pub(crate) async fn hit_limits(
    conn: &mut SqliteConnection,
    limits: &[RateLimit],
    now: DateTime<Utc>,
) -> Result<Option<Exhausted>, StoreError> {
    let now_ms = millis(now);
    let mut blocked: Option<(i64, &str)> = None;
    let mut next = Vec::with_capacity(limits.len());
    for limit in limits {
        let row =
            sqlx::query("SELECT window_start, hits, blocked_until FROM rate_limits WHERE key = ?")
                .bind(&limit.key)
                .fetch_optional(&mut *conn)
                .await
                .map_err(map_err)?;
        let counter = match row {
            Some(r) => RateCounter {
                start: r.try_get("window_start").map_err(backend)?,
                hits: r.try_get("hits").map_err(backend)?,
                blocked_until: r.try_get("blocked_until").map_err(backend)?,
            },
            None => RateCounter::fresh(now_ms),
        };
        match counter.hit(limit, now_ms) {
            Err(wait) => {
                if blocked.is_none_or(|(longest, _)| wait > longest) {
                    blocked = Some((wait, &limit.key));
                }
            }
            Ok(counted) => next.push(counted),
        }
    }
    if let Some((wait, key)) = blocked {
        return Ok(Some(Exhausted {
            key: key.to_owned(),
            retry_after: Duration::milliseconds(wait.max(1)),
        }));
    }
    for (limit, counted) in limits.iter().zip(next) {
        sqlx::query(
            "INSERT INTO rate_limits (key, window_start, hits, blocked_until, expires_at) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET \
             window_start = excluded.window_start, hits = excluded.hits, \
             blocked_until = excluded.blocked_until, expires_at = excluded.expires_at",
        )
        .bind(&limit.key)
        .bind(counted.start)
        .bind(counted.hits)
        .bind(counted.blocked_until)
        .bind(counted.expires_at(limit))
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    }
    Ok(None)
}

pub(crate) fn audit_from_row(row: &SqliteRow) -> Result<AuditEvent, StoreError> {
    let text = |c: &str| -> Result<Option<String>, StoreError> { row.try_get(c).map_err(backend) };
    let user = |c: &str| -> Result<Option<UserId>, StoreError> {
        text(c)?.map(|t| uuid(&t).map(UserId)).transpose()
    };
    let outcome: String = row.try_get("outcome").map_err(backend)?;
    Ok(AuditEvent {
        id: uuid(&text("id")?.unwrap_or_default())?,
        at: time(row.try_get("at").map_err(backend)?)?,
        action: row.try_get("action").map_err(backend)?,
        actor: user("actor_id")?,
        subject: user("subject_id")?,
        outcome: Outcome::parse(&outcome)
            .ok_or_else(|| StoreError::Backend(format!("bad outcome {outcome:?}").into()))?,
        client_ip: text("client_ip")?,
        user_agent: text("user_agent")?,
        detail: text("detail")?,
    })
}

/// The WHERE clause and its bound values for an audit query.
pub(crate) fn audit_query(filter: &AuditFilter) -> (String, Vec<String>) {
    let mut clauses = Vec::new();
    let mut values = Vec::new();
    if let Some(user) = filter.user {
        clauses.push("(actor_id = ? OR subject_id = ?)".to_owned());
        values.push(user.to_string());
        values.push(user.to_string());
    }
    if let Some(action) = &filter.action {
        clauses.push("action = ?".to_owned());
        values.push(action.clone());
    }
    if let Some(since) = filter.since {
        clauses.push(format!("at >= {}", millis(since)));
    }
    if let Some(until) = filter.until {
        clauses.push(format!("at < {}", millis(until)));
    }
    if let Some(before) = filter.before {
        clauses.push("id < ?".to_owned());
        values.push(before.to_string());
    }
    if let Some(after) = filter.after {
        clauses.push("id > ?".to_owned());
        values.push(after.to_string());
    }
    let clause = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    // Going back (`after`): the oldest of the newer events, turned newest first again.
    let order = if filter.after.is_some() {
        "ASC"
    } else {
        "DESC"
    };
    let sql = format!(
        "SELECT * FROM (SELECT id, at, action, actor_id, subject_id, outcome, client_ip, \
         user_agent, detail FROM audit_events {clause} ORDER BY id {order} LIMIT {}) \
         ORDER BY id DESC",
        filter.limit.clamp(1, 1000)
    );
    (sql, values)
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

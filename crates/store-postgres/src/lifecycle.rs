//! The SQL of the account-lifecycle tables: one-time codes, rate limits, the audit trail and
//! the mail outbox. Free functions over a connection, so `lib.rs` can run several of them
//! inside one transaction; the locks they take are held until that transaction ends.

use std::collections::HashMap;

use accounts::audit::{AuditEvent, AuditFilter, Outcome};
use accounts::mail::{OutgoingMail, QueuedMail};
use accounts::store::{
    CodeEffect, CodeLookup, CodePurpose, CodeRecord, Exhausted, RateCounter, RateLimit, Redemption,
    StoreError,
};
use accounts::{EmailAddress, UserId};
use chrono::{DateTime, Duration, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use uuid::Uuid;

use crate::{backend, map_err, stored};

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

/// Locks every counter in `limits` (creating the missing ones), then counts one hit on each,
/// or nothing when any is full. On `Some` the caller must roll back, which also removes the
/// counters this call created.
fn time_of(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Backend(format!("timestamp out of range: {ms}").into()))
}

pub(crate) async fn hit_limits(
    conn: &mut PgConnection,
    limits: &[RateLimit],
    now: DateTime<Utc>,
) -> Result<Option<Exhausted>, StoreError> {
    let now_ms = stored(now).timestamp_millis();

    // Lock in key order, so two calls with overlapping keys cannot deadlock.
    let mut keys: Vec<&str> = limits.iter().map(|l| l.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut counters: HashMap<&str, RateCounter> = HashMap::with_capacity(keys.len());
    for key in keys {
        sqlx::query(
            "INSERT INTO rate_limits (key, window_start, hits, expires_at) VALUES ($1, $2, 0, $2) \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(stored(now))
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
        let row = sqlx::query(
            "SELECT window_start, hits, blocked_until FROM rate_limits WHERE key = $1 FOR UPDATE",
        )
        .bind(key)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?;
        let counter = match row {
            Some(r) => {
                let start: DateTime<Utc> = r.try_get("window_start").map_err(backend)?;
                let hits: i32 = r.try_get("hits").map_err(backend)?;
                let until: Option<DateTime<Utc>> = r.try_get("blocked_until").map_err(backend)?;
                RateCounter {
                    start: start.timestamp_millis(),
                    hits: i64::from(hits),
                    blocked_until: until.map(|t| t.timestamp_millis()),
                }
            }
            // Cleared between the insert and the lock: a fresh counter.
            None => RateCounter::fresh(now_ms),
        };
        counters.insert(key, counter);
    }

    let mut blocked: Option<(i64, &str)> = None;
    let mut next = Vec::with_capacity(limits.len());
    for limit in limits {
        let key = limit.key.as_str();
        match counters[key].hit(limit, now_ms) {
            Err(wait) => {
                if blocked.is_none_or(|(longest, _)| wait > longest) {
                    blocked = Some((wait, key));
                }
            }
            Ok(counted) => next.push((limit, counted)),
        }
    }
    if let Some((wait, key)) = blocked {
        return Ok(Some(Exhausted {
            key: key.to_owned(),
            retry_after: Duration::milliseconds(wait.max(1)),
        }));
    }
    for (limit, counted) in next {
        sqlx::query(
            "UPDATE rate_limits SET window_start = $2, hits = $3, blocked_until = $4, \
             expires_at = $5 WHERE key = $1",
        )
        .bind(&limit.key)
        .bind(time_of(counted.start)?)
        .bind(i32::try_from(counted.hits).unwrap_or(i32::MAX))
        .bind(counted.blocked_until.map(time_of).transpose()?)
        .bind(time_of(counted.expires_at(limit))?)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    }
    Ok(None)
}

pub(crate) fn audit_from_row(row: &PgRow) -> Result<AuditEvent, StoreError> {
    let text = |c: &str| -> Result<Option<String>, StoreError> { row.try_get(c).map_err(backend) };
    let user = |c: &str| -> Result<Option<UserId>, StoreError> {
        let id: Option<Uuid> = row.try_get(c).map_err(backend)?;
        Ok(id.map(UserId))
    };
    let outcome: String = row.try_get("outcome").map_err(backend)?;
    Ok(AuditEvent {
        id: row.try_get("id").map_err(backend)?,
        at: row.try_get("at").map_err(backend)?,
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

/// The audit query for `filter`, newest first, with its values bound.
pub(crate) fn audit_query(filter: &AuditFilter) -> QueryBuilder<'static, Postgres> {
    let mut query = QueryBuilder::new(
        "SELECT * FROM (SELECT id, at, action, actor_id, subject_id, outcome, client_ip, \
         user_agent, detail FROM audit_events",
    );
    let mut joiner = " WHERE ";
    let mut next = |query: &mut QueryBuilder<'static, Postgres>| {
        query.push(joiner);
        joiner = " AND ";
    };
    if let Some(user) = filter.user {
        next(&mut query);
        query
            .push("(actor_id = ")
            .push_bind(user.0)
            .push(" OR subject_id = ")
            .push_bind(user.0)
            .push(")");
    }
    if let Some(action) = &filter.action {
        next(&mut query);
        query.push("action = ").push_bind(action.clone());
    }
    if let Some(since) = filter.since {
        next(&mut query);
        query.push("at >= ").push_bind(stored(since));
    }
    if let Some(until) = filter.until {
        next(&mut query);
        query.push("at < ").push_bind(stored(until));
    }
    if let Some(before) = filter.before {
        next(&mut query);
        query.push("id < ").push_bind(before);
    }
    if let Some(after) = filter.after {
        next(&mut query);
        query.push("id > ").push_bind(after);
    }
    // Going back (`after`): the oldest of the newer events, turned newest first again.
    let order = if filter.after.is_some() {
        "ASC"
    } else {
        "DESC"
    };
    query
        .push(format!(" ORDER BY id {order} LIMIT "))
        .push_bind(i64::from(filter.limit.clamp(1, 1000)))
        .push(") AS page ORDER BY id DESC");
    query
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

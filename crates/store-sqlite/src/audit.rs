//! `AuditStore` on SQLite: the audit trail written, read back newest first under a filter, and
//! pruned.

use accounts::audit::{AuditEvent, AuditFilter, Outcome};
use accounts::store::{AuditStore, StoreError};
use accounts::UserId;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use crate::{backend, map_err, millis, time, uuid, SqliteStore};

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

#[async_trait]
impl AuditStore for SqliteStore {
    async fn insert_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_events (id, at, action, actor_id, subject_id, outcome, client_ip,              user_agent, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(event.id.to_string())
        .bind(millis(event.at))
        .bind(&event.action)
        .bind(event.actor.map(|u| u.to_string()))
        .bind(event.subject.map(|u| u.to_string()))
        .bind(event.outcome.as_str())
        .bind(event.client_ip.as_deref())
        .bind(event.user_agent.as_deref())
        .bind(event.detail.as_deref())
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
        let (sql, values) = audit_query(filter);
        let mut query = sqlx::query(&sql);
        for v in values {
            query = query.bind(v);
        }
        let rows = query.fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn prune_audit(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let deleted = sqlx::query("DELETE FROM audit_events WHERE at < ?")
            .bind(millis(cutoff))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
        tx.commit().await.map_err(map_err)?;
        Ok(deleted)
    }
}

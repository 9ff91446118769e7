//! `AuditStore` on PostgreSQL: the audit trail written, read back newest first under a filter,
//! and pruned.

use accounts::audit::{AuditEvent, AuditFilter, Outcome};
use accounts::store::{AuditStore, StoreError};
use accounts::UserId;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::Row;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use crate::{backend, map_err, stored, PostgresStore};

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

#[async_trait]
impl AuditStore for PostgresStore {
    async fn insert_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_events (id, at, action, actor_id, subject_id, outcome, client_ip, \
             user_agent, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(event.id)
        .bind(stored(event.at))
        .bind(&event.action)
        .bind(event.actor.map(|u| u.0))
        .bind(event.subject.map(|u| u.0))
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
        let rows = audit_query(filter)
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn prune_audit(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let deleted = sqlx::query("DELETE FROM audit_events WHERE at < $1")
            .bind(stored(cutoff))
            .execute(&self.pool)
            .await
            .map_err(map_err)?
            .rows_affected();
        Ok(deleted)
    }
}

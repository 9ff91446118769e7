//! `AuditStore`: the audit trail, written, read back and pruned.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::audit::{AuditEvent, AuditFilter};

/// The audit trail.
#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn insert_audit(&self, event: &AuditEvent) -> Result<(), StoreError>;

    /// Newest first (see [`AuditFilter`]).
    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError>;

    /// Deletes the events from before `cutoff`; how many.
    async fn prune_audit(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError>;
}

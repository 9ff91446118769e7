//! Audit events: who did what, when, from where, and how it ended, for every
//! security-relevant action. Written by the use cases, read by administrators.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::UserId;

/// Whether the audited attempt succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "success" => Some(Self::Success),
            "failure" => Some(Self::Failure),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    /// Dotted name, e.g. `login`, `token.create`, `password.reset`.
    pub action: String,
    /// Who acted, when known.
    pub actor: Option<UserId>,
    /// Whose account the action concerned, when known.
    pub subject: Option<UserId>,
    pub outcome: Outcome,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// Short, secret-free detail (a reason, a token id).
    pub detail: Option<String>,
}

/// Which events `list_audit` returns: all filters optional, keyset-paged by id (newest first).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Events where this user is the actor or the subject.
    pub user: Option<UserId>,
    pub action: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Only events older than this id (the last id of the previous page).
    pub before: Option<Uuid>,
    /// Only events newer than this id (the first id of the next page): the `limit` oldest
    /// of them, still answered newest first. The way back through the log.
    pub after: Option<Uuid>,
    pub limit: u32,
}

//! The storage port, split into role traits, one per area (users, access, credentials,
//! lifecycle, second factor, content, throttling, audit) plus `BaseStore`; `Store` is all of
//! them together, implemented for every type that implements each. Methods are shaped by use
//! case and each one is a single transaction, so a backend never leaves half a change behind.
//! Every backend must pass the contract suite in `testkit`.
//!
//! A caller holding `Arc<dyn Store>` calls any role's methods; code that calls them on a
//! concrete backend imports [`prelude`].

use async_trait::async_trait;
use uuid::Uuid;

use crate::domain::UserId;

pub mod access;
pub mod audit;
pub mod content;
pub mod credentials;
pub mod lifecycle;
pub mod maintenance;
pub mod second_factor;
pub mod throttle;
pub mod users;

pub use access::AccessStore;
pub use audit::AuditStore;
pub use content::{
    ChunkCursor, ChunkRecord, ContentLimits, ContentStore, ContentUsage, FileCursor, FileRecord,
    RECORD_OVERHEAD_BYTES,
};
pub use credentials::{
    CredentialRecord, CredentialStore, EndSessions, SessionInfo, SessionRecord, TokenLookup,
};
pub use lifecycle::{
    CodeEffect, CodeLookup, CodePurpose, CodeRecord, LifecycleStore, MailCounts, Redemption,
};
pub use maintenance::{MigrationRecord, MigrationStatus};
pub use second_factor::{ChallengeRecord, SecondFactorStore, TotpRecord};
pub use throttle::{Backoff, Exhausted, RateCounter, RateLimit, ThrottleStore};
pub use users::{
    DeletedUser, NewUserRecord, UserChange, UserCursor, UserExport, UserOrder, UserQuery, UserStore,
};

/// The role traits, for code that calls store methods on a concrete backend or a generic
/// `S: Store` (`use accounts::store::prelude::*;`).
pub mod prelude {
    pub use super::{
        AccessStore, AuditStore, BaseStore, ContentStore, CredentialStore, LifecycleStore,
        SecondFactorStore, Store, ThrottleStore, UserStore,
    };
}

/// The whole port: every role trait. Nothing implements it by hand; the blanket impl below
/// gives it to every type that implements each role, and `Arc<dyn Store>` is what the core
/// holds.
pub trait Store:
    BaseStore
    + UserStore
    + AccessStore
    + CredentialStore
    + LifecycleStore
    + SecondFactorStore
    + ContentStore
    + ThrottleStore
    + AuditStore
    + std::fmt::Debug
{
}

impl<T> Store for T where
    T: BaseStore
        + UserStore
        + AccessStore
        + CredentialStore
        + LifecycleStore
        + SecondFactorStore
        + ContentStore
        + ThrottleStore
        + AuditStore
        + std::fmt::Debug
{
}

/// Which uniqueness rule a write broke. Backends map their own constraint errors to this
/// (SQLite reports no constraint names, so each backend maps by its own means).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unique {
    Username,
    Email,
    TokenHash,
    /// A user's public number (random; the core draws again).
    UserNumber,
    RoleName,
    /// A chunk's tracking id (per user).
    TrackingId,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unique constraint violated: {0:?}")]
    Conflict(Unique),
    #[error("a per-user limit was reached")]
    LimitReached,
    #[error("storage backend failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database did not answer within the wait the backend was given (down, restarting,
    /// unreachable, or every connection busy): the caller may try again shortly. Façades
    /// answer 503 with `Retry-After`.
    // Not `transparent`: the wrapper stays in the chain of sources for `is_unavailable`.
    #[error("{0}")]
    Unavailable(#[from] DatabaseUnavailable),
}

/// Why the database is unavailable. A type of its own so that [`is_unavailable`] finds it
/// in any error chain, however the use-case errors wrap a [`StoreError`].
#[derive(Debug, thiserror::Error)]
#[error("the database is unavailable: {0}")]
pub struct DatabaseUnavailable(#[source] pub Box<dyn std::error::Error + Send + Sync>);

impl StoreError {
    /// The database is unavailable because of `cause`.
    pub fn unavailable(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Unavailable(DatabaseUnavailable(Box::new(cause)))
    }
}

/// Whether `error`, or anything in its chain of sources, says the database is unavailable.
pub fn is_unavailable(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<DatabaseUnavailable>()
            || matches!(
                e.downcast_ref::<StoreError>(),
                Some(StoreError::Unavailable(_))
            )
        {
            return true;
        }
        next = e.source();
    }
    false
}

/// A change that makes cached credentials or user records stale in every process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalidation {
    /// One API token or session was revoked, disabled or rotated.
    Credential(Uuid),
    /// Something about this user changed (password, profile, status, sessions).
    User(UserId),
    /// Notifications may have been missed (a lost connection): forget everything.
    All,
}

/// What every backend answers besides its role traits: readiness, and telling other processes
/// on the same database what went stale.
#[async_trait]
pub trait BaseStore: Send + Sync {
    /// Cheap round trip for readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Tells every other process on this database to drop what `what` makes stale. A
    /// single-process backend has nobody to tell (the default).
    async fn publish_invalidation(&self, _what: Invalidation) -> Result<(), StoreError> {
        Ok(())
    }

    /// A stream of other processes' invalidations, when the backend has one.
    async fn subscribe_invalidations(
        &self,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<Invalidation>>, StoreError> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("a use case failed")]
    struct UseCase(#[source] StoreError);

    #[test]
    fn an_unavailable_database_is_found_however_deep_it_is_wrapped() {
        let down = || StoreError::unavailable(std::io::Error::other("refused"));
        assert!(is_unavailable(&down()));
        assert!(is_unavailable(&UseCase(down())));
        assert!(is_unavailable(&crate::LoginError::Store(down())));
        let broken = StoreError::Backend("syntax error".into());
        assert!(!is_unavailable(&broken));
        assert!(!is_unavailable(&UseCase(broken)));
    }
}

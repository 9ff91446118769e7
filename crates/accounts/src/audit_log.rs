//! Writing and reading the audit log, and pruning it and the throttling counters.

use crate::audit::{AuditEvent, AuditFilter, Outcome};
use crate::domain::UserId;
use crate::error::AdminError;
use crate::service::{Accounts, ClientInfo};
use crate::store::StoreError;
use uuid::Uuid;

impl Accounts {
    /// Records an audit event. A failure to record is logged, never turned into a failure of
    /// the action (the action has already happened).
    pub(crate) async fn audit(
        &self,
        action: &str,
        actor: Option<UserId>,
        subject: Option<UserId>,
        outcome: Outcome,
        client: &ClientInfo,
        detail: Option<&str>,
    ) {
        let event = AuditEvent {
            id: Uuid::now_v7(),
            at: self.clock.now(),
            action: action.to_owned(),
            actor,
            subject,
            outcome,
            client_ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            detail: detail.map(str::to_owned),
        };
        // Failed sign-ins are what an operator watches for; the throttles bound how many
        // an attacker can make (each one evaluated costs them a hash), so one line each.
        if outcome == Outcome::Failure && (action == "login" || action.starts_with("login.")) {
            tracing::warn!(
                target: "gatehouse::auth",
                action,
                subject = subject.map(|s| s.to_string()),
                client = client.ip.as_deref(),
                reason = detail,
                "sign-in failed"
            );
        }
        if let Err(e) = self.store.insert_audit(&event).await {
            tracing::error!(error = %e, action, "could not record an audit event");
        }
    }

    /// Deletes audit events older than the retention; how many.
    pub async fn prune_audit(&self) -> Result<u64, StoreError> {
        let cutoff = self.clock.now() - self.config.audit_retention;
        self.store.prune_audit(cutoff).await
    }

    /// Deletes expired throttling counters (and, beyond `max_records`, those expiring
    /// soonest) and addresses not signed in from within `known_client_for`.
    pub async fn prune_throttling(&self) -> Result<u64, StoreError> {
        let t = &self.config.throttle;
        let now = self.clock.now();
        self.store
            .prune_rate_limits(now, t.max_records, now - t.known_client_for)
            .await
    }

    /// The audit log, for callers with `audit:read`.
    pub async fn audit_log(
        &self,
        actor: &crate::admin::Actor,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEvent>, AdminError> {
        use crate::access::{Action, Entity, Need, Target};
        self.authorize(actor, Need::new(Entity::Audit, Action::Read), Target::Any)
            .await?;
        Ok(self.store.list_audit(filter).await?)
    }
}

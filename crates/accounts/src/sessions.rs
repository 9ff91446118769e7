//! The caller's own sessions: listing and ending them.

use crate::access::{Action, Entity, Need};
use crate::audit::Outcome;
use crate::error::SessionError;
use crate::service::{Accounts, ClientInfo, Principal};
use crate::store::SessionInfo;
use crate::token::CredentialKind;
use uuid::Uuid;

/// Ending one's own sessions.
const END_SESSIONS: Need = Need::new(Entity::Session, Action::Delete);

impl Accounts {
    /// The caller's live sessions, newest first.
    pub async fn sessions(&self, principal: &Principal) -> Result<Vec<SessionInfo>, SessionError> {
        self.authorize_own(principal, Need::new(Entity::Session, Action::Read))
            .await?;
        Ok(self
            .store
            .list_sessions(principal.user_id, self.clock.now())
            .await?)
    }

    pub async fn end_session(
        &self,
        principal: &Principal,
        id: Uuid,
        client: ClientInfo,
    ) -> Result<(), SessionError> {
        self.authorize_own(principal, END_SESSIONS).await?;
        if !self
            .store
            .delete_user_session(principal.user_id, id)
            .await?
        {
            return Err(SessionError::NotFound);
        }
        self.forget_credential(id).await;
        self.audit(
            "session.end",
            Some(principal.user_id),
            Some(principal.user_id),
            Outcome::Success,
            &client,
            None,
        )
        .await;
        Ok(())
    }

    /// Ends every session of the caller but the one making the request (all of them when the
    /// caller used an API token, or with `including_current`). Returns how many ended.
    pub async fn end_sessions(
        &self,
        principal: &Principal,
        including_current: bool,
        client: ClientInfo,
    ) -> Result<usize, SessionError> {
        self.authorize_own(principal, END_SESSIONS).await?;
        let keep = (principal.kind == CredentialKind::Session && !including_current)
            .then_some(principal.credential_id);
        let ended = self.store.delete_sessions(principal.user_id, keep).await?;
        for id in &ended {
            self.forget_credential(*id).await;
        }
        let detail = format!("{} sessions", ended.len());
        self.audit(
            "session.end_many",
            Some(principal.user_id),
            Some(principal.user_id),
            Outcome::Success,
            &client,
            Some(&detail),
        )
        .await;
        Ok(ended.len())
    }
}

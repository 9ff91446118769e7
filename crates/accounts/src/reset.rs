//! Passwords forgotten and changed: reset requests (answered before the work, which the mail
//! round does), resets by code or link, and the caller's own password change.

use crate::access::{Action, Entity, Need};
use crate::audit::Outcome;
use crate::domain::{User, UserId};
use crate::error::{ChangePasswordError, CodeError};
use crate::lifecycle::{client_address, code_hash, link_hash, CodeScope, Deferred, MAX_DEFERRED};
use crate::mail::templates;
use crate::password::Password;
use crate::service::{Accounts, ClientInfo, Principal};
use crate::store::{CodeEffect, CodeLookup, CodePurpose, EndSessions, Redemption, StoreError};
use crate::token::CredentialKind;

/// Changing one's own password.
const UPDATE_SELF: Need = Need::new(Entity::User, Action::Update);

impl Accounts {
    /// Sends a reset code and link to the account with this username or e-mail, if there is
    /// one (in the scope's application, when it has one). The answer is the same either way,
    /// and so is the work before it: one lookup and one throttle for a known login and an
    /// unknown one alike; the code, the mail and the audit event come after the answer
    /// (`Deferred::Reset`, done by the next mail round), so no timing tells them apart.
    pub async fn request_password_reset(
        &self,
        login: &str,
        client: ClientInfo,
        scope: CodeScope,
    ) -> Result<(), CodeError> {
        let found = self
            .store
            .login_lookup(&login.trim().to_lowercase())
            .await?
            .map(|(user, _)| user);
        let recipient = found.as_ref().map_or(login, |u| u.email.as_str());
        self.throttle(&self.limit_mail(&client, recipient))
            .await??;
        self.defer(Deferred::Reset {
            user: found.map(|u| u.id),
            scope,
            client,
        });
        Ok(())
    }

    /// Queues work for after the answer; beyond `MAX_DEFERRED` waiting it is dropped (only
    /// a flood beyond every throttle could get there; the requester asks again).
    pub(crate) fn defer(&self, work: Deferred) {
        let mut queue = self.deferred.lock().expect("deferred lock poisoned");
        if queue.len() >= MAX_DEFERRED {
            tracing::warn!("too much deferred work waiting; dropping a password-reset request");
            return;
        }
        queue.push_back(work);
        drop(queue);
        self.mail_queued.notify_one();
    }

    /// Does the work requests left for after their answers.
    pub async fn run_deferred(&self) -> Result<(), StoreError> {
        loop {
            let next = self
                .deferred
                .lock()
                .expect("deferred lock poisoned")
                .pop_front();
            let Some(work) = next else {
                return Ok(());
            };
            match work {
                Deferred::Reset {
                    user,
                    scope,
                    client,
                } => self.finish_reset_request(user, scope, &client).await?,
            }
        }
    }

    pub(crate) async fn finish_reset_request(
        &self,
        user: Option<UserId>,
        scope: CodeScope,
        client: &ClientInfo,
    ) -> Result<(), StoreError> {
        let user = match user {
            Some(id) => self.store.user_by_id(id).await?,
            None => None,
        };
        let member = match (&user, scope.app()) {
            (Some(user), Some(app)) => self.membership(app, user.id).await?.is_some(),
            _ => true,
        };
        let Some(user) = user.filter(|u| member && u.can_authenticate()) else {
            self.audit(
                "password.reset_requested",
                None,
                None,
                Outcome::Failure,
                client,
                Some("unknown account"),
            )
            .await;
            return Ok(());
        };
        self.send_reset_code(&user, scope).await?;
        self.audit(
            "password.reset_requested",
            None,
            Some(user.id),
            Outcome::Success,
            client,
            None,
        )
        .await;
        Ok(())
    }

    /// Issues a reset code and link to `user` and queues the mail.
    pub(crate) async fn send_reset_code(
        &self,
        user: &User,
        scope: CodeScope,
    ) -> Result<(), StoreError> {
        let (record, code, link) = self
            .new_code(user.id, CodePurpose::ResetPassword, scope)
            .await?;
        let mail = templates::reset_password(
            &user.email,
            user.username.as_str(),
            &code,
            &self.link_url("reset-password", &link),
            self.config.codes.code_ttl.num_minutes(),
        );
        self.store.issue_code(&record, &mail).await?;
        self.mail_queued.notify_one();
        Ok(())
    }

    /// Sets a new password with a reset code sent to the owner of `login` (e-mail or
    /// username) for this scope; ends every session, API token and sign-in challenge.
    pub async fn reset_password_with_code(
        &self,
        login: &str,
        code: &str,
        new_password: String,
        client: ClientInfo,
        scope: CodeScope,
    ) -> Result<(), CodeError> {
        let owner = self.code_owner(login, &client, scope.app()).await?;
        // Judged against what the caller typed, the same whether or not the account exists:
        // judging against the account's own name would tell a stranger that it exists.
        let password = Password::new_for(new_password, &[login])?;
        let hash = self.hasher.hash(&password).await;
        let lookup = owner.as_ref().map(|u| CodeLookup::Code {
            user: u.id,
            hash: code_hash(u.id, CodePurpose::ResetPassword, scope, code),
        });
        let digits = self.code_digits(CodePurpose::ResetPassword, scope).await?;
        self.redeem(
            CodePurpose::ResetPassword,
            self.code_attempts(digits),
            lookup,
            CodeEffect::SetPassword(hash),
            &client,
            "password.reset",
        )
        .await?;
        if let Some(u) = owner {
            self.clear_login_limits(u.id, &client).await;
        }
        Ok(())
    }

    /// Sets a new password with a reset link token; ends every session, API token and
    /// sign-in challenge.
    pub async fn reset_password_with_link(
        &self,
        token: &str,
        new_password: String,
        client: ClientInfo,
    ) -> Result<(), CodeError> {
        let t = &self.config.throttle;
        self.throttle(&[self.limit_ip("code", &client, t.codes_per_ip)])
            .await??;
        let password = Password::new_checked(new_password)?;
        let hash = self.hasher.hash(&password).await;
        let lookup = CodeLookup::Link(link_hash(CodePurpose::ResetPassword, token));
        let max = self.config.codes.max_attempts;
        let now = self.clock.now();
        match self
            .store
            .redeem_code(
                CodePurpose::ResetPassword,
                &lookup,
                &CodeEffect::SetPassword(hash),
                max,
                now,
            )
            .await?
        {
            Redemption::Redeemed(user) => {
                self.forget_user(user).await;
                self.audit(
                    "password.reset",
                    Some(user),
                    Some(user),
                    Outcome::Success,
                    &client,
                    None,
                )
                .await;
                self.clear_login_limits(user, &client).await;
                Ok(())
            }
            _ => {
                self.audit(
                    "password.reset",
                    None,
                    None,
                    Outcome::Failure,
                    &client,
                    Some("invalid link"),
                )
                .await;
                Err(CodeError::Invalid)
            }
        }
    }

    /// After a successful reset the owner has proved themselves: the account's day ceiling
    /// and its failures from this address go (other addresses' failures stay with them).
    pub(crate) async fn clear_login_limits(&self, user: UserId, client: &ClientInfo) {
        let account = format!("user:{user}");
        let keys = [
            format!("login:account:{account}"),
            format!("login:pair:{account}:{}", client_address(client)),
        ];
        if let Err(e) = self.store.clear_rate_limits(&keys).await {
            tracing::warn!(error = %e, "could not clear login throttling after a reset");
        }
    }

    // ------------------------------------------------------------ password change

    /// Changes the caller's password after checking the current one; optionally ends every
    /// other session (the one making the request stays).
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: Password,
        new_password: String,
        end_other_sessions: bool,
        client: ClientInfo,
    ) -> Result<(), ChangePasswordError> {
        let user = self.authorize_own(principal, UPDATE_SELF).await?;
        if !self.check_own_password(&user, &current, &client).await?? {
            self.audit(
                "password.change",
                Some(user.id),
                Some(user.id),
                Outcome::Failure,
                &client,
                Some("wrong current password"),
            )
            .await;
            return Err(ChangePasswordError::WrongPassword);
        }
        let password =
            Password::new_for(new_password, &[user.username.as_str(), user.email.as_str()])?;
        let hash = self.hasher.hash(&password).await;
        let end = match (end_other_sessions, principal.kind) {
            (false, _) => EndSessions::None,
            (true, CredentialKind::Session) => EndSessions::AllExcept(principal.credential_id),
            (true, CredentialKind::ApiToken) => EndSessions::All,
        };
        self.store
            .set_password_hash(user.id, &hash, end, self.clock.now())
            .await?;
        self.forget_user(user.id).await;
        self.enqueue(&templates::password_changed(
            &user.email,
            user.username.as_str(),
        ))
        .await?;
        self.audit(
            "password.change",
            Some(user.id),
            Some(user.id),
            Outcome::Success,
            &client,
            None,
        )
        .await;
        Ok(())
    }
}

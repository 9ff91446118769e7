//! Signing in: checking a password (one hash whether or not the account exists, throttled,
//! rehashed when stored in an older scheme), sessions made by a login, signing out,
//! authenticating a bearer secret from the credential cache, and the last-used flush.

use crate::audit::Outcome;
use crate::domain::{User, UserStatus};
use crate::error::{AuthError, LoginError, TokenError};
use crate::password::{Password, Verified};
use crate::service::{Accounts, CachedCredential, ClientInfo, LoginSession, Principal};
use crate::store::{SessionRecord, StoreError};
use crate::token::{ApiToken, CredentialKind, TokenSecret};
use chrono::{DateTime, Utc};
use uuid::Uuid;

impl Accounts {
    /// Checks a username-or-e-mail and password, after the per-address and per-account
    /// throttles, with one argon2 verification whether or not the account exists. A right
    /// password stored in an older scheme (an imported bcrypt hash, other argon2 costs) is
    /// rehashed. Disabled and unverified (pending) accounts fail, like at `login`.
    ///
    /// An account with a second factor is refused here (`SecondFactorRequired(None)`): a
    /// password alone (HTTP basic) is never enough for it; `login` offers the second step.
    ///
    /// A pair that passed is remembered for `basic_login_ttl` (keyed by a hash of both under a
    /// per-process key; forgotten when the account changes, here or on another replica), so
    /// a client sending it on every request neither re-hashes nor counts against a limit.
    pub async fn verify_credentials(
        &self,
        login: &str,
        password: &Password,
        client: &ClientInfo,
    ) -> Result<User, LoginError> {
        let key = self.basic_login_key(login, password);
        let now = self.clock.now();
        if let Some(cached) = self.basic_logins.get(&key, now, |_| true) {
            // Changes this process was not told about (the CLI on SQLite) show in the user
            // record, which the users cache rereads within `UNFOLLOWED_CACHE_TTL`.
            match self.user(cached.id).await {
                Ok(now) if now.updated_at == cached.updated_at && now.can_authenticate() => {
                    return Ok(now);
                }
                Err(crate::error::UserError::Store(e)) => return Err(e.into()),
                _ => self.basic_logins.invalidate(|u| u.id == cached.id),
            }
        }
        let generation = self.basic_logins.generation();
        // A remembered pair above is not a sign-in evaluated, so it is not counted.
        let result = match self.password_only(login, password, client).await {
            Ok(user) if user.status == UserStatus::Pending => Err(LoginError::EmailNotVerified),
            other => other,
        };
        self.count_sign_in(&result);
        let user = result?;
        self.basic_logins.insert(key, user.clone(), now, generation);
        Ok(user)
    }

    pub(crate) fn basic_login_key(&self, login: &str, password: &Password) -> [u8; 32] {
        use hmac::Mac as _;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.basic_key)
            .expect("HMAC takes any key length");
        let login = login.trim().to_lowercase();
        mac.update(&(login.len() as u64).to_be_bytes());
        mac.update(login.as_bytes());
        mac.update(password.expose().as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// `verify_credentials` that lets a pending account through: only for the flows that
    /// verify the address itself (Glowmarkt's verify asks for the password with the code).
    pub async fn verify_password_only(
        &self,
        login: &str,
        password: &Password,
        client: &ClientInfo,
    ) -> Result<User, LoginError> {
        let result = self.password_only(login, password, client).await;
        self.count_sign_in(&result);
        result
    }

    pub(crate) async fn password_only(
        &self,
        login: &str,
        password: &Password,
        client: &ClientInfo,
    ) -> Result<User, LoginError> {
        let user = self.check_password(login, password, client).await?;
        if self.needs_second_factor(user.id).await? {
            return Err(LoginError::SecondFactorRequired(None));
        }
        Ok(user)
    }

    pub(crate) async fn check_password(
        &self,
        login: &str,
        password: &Password,
        client: &ClientInfo,
    ) -> Result<User, LoginError> {
        let login = login.trim().to_lowercase();
        let found = self.store.login_lookup(&login).await?;
        let (user, stored_hash) = match found {
            Some((user, hash)) => (Some(user), hash),
            None => (None, None),
        };
        // Counted before the hash, taken back when it is right. A refusal is recorded by
        // `throttle`, once per limit and key every few minutes.
        let counted = self.count_login(&login, user.as_ref(), client).await??;
        let verified = self.hasher.check(stored_hash.clone(), password).await;
        let user = match user {
            Some(user) if verified != Verified::No => user,
            other => {
                let subject = other.map(|u| u.id);
                self.audit(
                    "login",
                    None,
                    subject,
                    Outcome::Failure,
                    client,
                    Some("invalid credentials"),
                )
                .await;
                return Err(LoginError::InvalidCredentials);
            }
        };
        self.done_login(counted, user.id).await;
        if let (Verified::YesRehash, Some(old)) = (verified, stored_hash) {
            let new = self.hasher.hash(password).await;
            if let Err(e) = self.store.upgrade_password_hash(user.id, &old, &new).await {
                tracing::warn!(error = %e, "could not rehash an imported password");
            }
        }
        if !user.can_authenticate() {
            self.audit(
                "login",
                Some(user.id),
                Some(user.id),
                Outcome::Failure,
                client,
                Some("account disabled"),
            )
            .await;
            return Err(LoginError::AccountDisabled);
        }
        Ok(user)
    }

    /// Password login: the password, then a new session for an active account; for an
    /// account with a second factor, a challenge for `login_second_factor` instead.
    pub async fn login(
        &self,
        login: &str,
        password: Password,
        client: ClientInfo,
    ) -> Result<LoginSession, LoginError> {
        self.login_to(None, login, password, client).await
    }

    /// `login` into an application: someone who is neither its member nor an instance
    /// admin gets `InvalidCredentials`, exactly as for a wrong password, before anything
    /// else about the account (pending, second factor) is revealed.
    pub async fn login_to(
        &self,
        app: Option<crate::access::OrgId>,
        login: &str,
        password: Password,
        client: ClientInfo,
    ) -> Result<LoginSession, LoginError> {
        let result = self.password_login(app, login, password, client).await;
        self.count_sign_in(&result);
        result
    }

    pub(crate) async fn password_login(
        &self,
        app: Option<crate::access::OrgId>,
        login: &str,
        password: Password,
        client: ClientInfo,
    ) -> Result<LoginSession, LoginError> {
        let user = self.check_password(login, &password, &client).await?;
        if let Some(app) = app {
            if !self.may_use_application(app, &user).await? {
                self.audit(
                    "login",
                    None,
                    Some(user.id),
                    Outcome::Failure,
                    &client,
                    Some("not a member of the application"),
                )
                .await;
                return Err(LoginError::InvalidCredentials);
            }
        }
        if user.status == UserStatus::Pending {
            self.audit(
                "login",
                Some(user.id),
                Some(user.id),
                Outcome::Failure,
                &client,
                Some("e-mail not verified"),
            )
            .await;
            return Err(LoginError::EmailNotVerified);
        }
        if self.needs_second_factor(user.id).await? {
            let challenge = self.issue_challenge(&user, &client).await?;
            return Err(LoginError::SecondFactorRequired(Some(challenge)));
        }
        let now = self.clock.now();
        let secret = TokenSecret::generate(CredentialKind::Session);
        let session = SessionRecord {
            id: Uuid::now_v7(),
            user_id: user.id,
            secret_hash: secret.hash(),
            created_at: now,
            last_seen_at: now,
            expires_at: now + self.config.session_ttl,
            client_ip: client.ip.clone(),
            user_agent: client
                .user_agent
                .as_ref()
                .map(|ua| ua.chars().take(512).collect()),
        };
        self.store.insert_session(&session).await?;
        self.audit(
            "login",
            Some(user.id),
            Some(user.id),
            Outcome::Success,
            &client,
            None,
        )
        .await;
        Ok(LoginSession {
            session_id: session.id,
            secret,
            expires_at: session.expires_at,
            user: self.with_effective_admin_one(user).await?,
        })
    }

    /// Ends the session the principal authenticated with. `false` when the principal used
    /// an API token (those are deleted, not logged out). Needs no permission: signing out
    /// only gives up access, and nobody is kept signed in by their roles.
    pub async fn logout(&self, principal: &Principal) -> Result<bool, StoreError> {
        if principal.kind != CredentialKind::Session {
            return Ok(false);
        }
        self.store.delete_session(principal.credential_id).await?;
        self.forget_credential(principal.credential_id).await;
        Ok(true)
    }

    /// Trades a sign-in that just succeeded for a new API token named `name` (`token:create`
    /// on the user, checked as the new session): for clients that sign in with a password
    /// to get a key. The session ends whether or not the token could be made.
    pub async fn trade_session_for_token(
        &self,
        session: LoginSession,
        name: &str,
        client: &ClientInfo,
    ) -> Result<(ApiToken, TokenSecret), TokenError> {
        let principal = Principal {
            user_id: session.user.id,
            kind: CredentialKind::Session,
            credential_id: session.session_id,
        };
        let created = self
            .create_token(
                &principal.actor(client),
                principal.user_id,
                Some(name.into()),
                None,
            )
            .await;
        self.logout(&principal).await?;
        created
    }

    /// Checks a bearer secret (API token or session). Served from the cache when it can be.
    pub async fn authenticate(&self, raw: &str) -> Result<Principal, AuthError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(AuthError::Missing);
        }
        let secret = TokenSecret::parse(raw).ok_or(AuthError::Invalid)?;
        let hash = secret.hash();
        let now = self.clock.now();
        let unexpired = |c: &CachedCredential| c.expires_at.is_none_or(|at| at > now);
        if let Some(cached) = self.credentials.get(&hash, now, unexpired) {
            self.note_use(&cached.principal, now);
            return Ok(cached.principal);
        }
        let generation = self.credentials.generation();
        let record = self
            .store
            .credential_by_hash(&hash)
            .await?
            .ok_or(AuthError::Invalid)?;
        let expired = record.expires_at.is_some_and(|at| at <= now);
        if record.disabled || expired || record.user_status == UserStatus::Disabled {
            return Err(AuthError::Invalid);
        }
        let principal = Principal {
            user_id: record.user_id,
            kind: record.kind,
            credential_id: record.id,
        };
        let cached = CachedCredential {
            principal: principal.clone(),
            expires_at: record.expires_at,
        };
        self.credentials.insert(hash, cached, now, generation);
        self.note_use(&principal, now);
        Ok(principal)
    }

    pub(crate) fn note_use(&self, principal: &Principal, now: DateTime<Utc>) {
        self.usage
            .lock()
            .expect("usage lock poisoned")
            .insert((principal.kind, principal.credential_id), now);
    }

    /// Writes the last-used times gathered since the previous flush; returns how many.
    pub async fn flush_usage(&self) -> Result<usize, StoreError> {
        let batch: Vec<_> = {
            let mut usage = self.usage.lock().expect("usage lock poisoned");
            usage
                .drain()
                .map(|((kind, id), at)| (kind, id, at))
                .collect()
        };
        if batch.is_empty() {
            return Ok(0);
        }
        if let Err(e) = self.store.record_credential_use(&batch).await {
            // Put them back (newer times win) so the next flush retries.
            let mut usage = self.usage.lock().expect("usage lock poisoned");
            for (kind, id, at) in batch {
                let slot = usage.entry((kind, id)).or_insert(at);
                *slot = (*slot).max(at);
            }
            return Err(e);
        }
        Ok(batch.len())
    }
}

//! The TOTP second factor: enrolment (secret shown once, confirmed by a first code),
//! recovery codes, turning it off, and the second step of a login. Same `Accounts`.

use chrono::Duration;
use uuid::Uuid;

use crate::access::{Action, Entity, Need};
use crate::admin::Actor;
use crate::audit::Outcome;
use crate::domain::{User, UserId};
use crate::error::{LoginError, ReauthError, SecondFactorChallenge, SecondFactorError};
use crate::lifecycle::{random_link_token, sha256};
use crate::password::Password;
use crate::sealing::Purpose;
use crate::service::{Accounts, ClientInfo, LoginSession, Principal};
use crate::store::{ChallengeRecord, SessionRecord, TotpRecord};
use crate::token::{CredentialKind, TokenHash, TokenSecret};
use crate::totp;

/// A started enrolment: the secret is shown once, as text and as a QR code.
#[derive(Debug, Clone)]
pub struct Enrolment {
    /// Base32, for typing into an app.
    pub secret: String,
    pub otpauth_uri: String,
    /// The URI as an SVG QR code.
    pub qr_svg: String,
}

/// Where a user's second factor stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecondFactorStatus {
    pub enabled: bool,
    /// Enrolment started but not confirmed.
    pub pending: bool,
    pub recovery_codes_left: u32,
}

/// How long the first step of a login waits for the code.
pub const CHALLENGE_TTL_MINUTES: i64 = 5;
/// Wrong codes a challenge takes before it dies.
pub const CHALLENGE_ATTEMPTS: u32 = 5;

fn challenge_hash(token: &str) -> TokenHash {
    sha256(&["challenge", token.trim()])
}

/// What a session shows to prove its holder again (`Accounts::reauthenticate`).
#[derive(Debug)]
pub enum Proof {
    Password(Password),
    /// A current TOTP code or an unused recovery code.
    Code(String),
}

impl Accounts {
    /// Whether `user` has a second factor (`user:read` on them).
    pub async fn second_factor(
        &self,
        actor: &Actor,
        user: UserId,
    ) -> Result<SecondFactorStatus, SecondFactorError> {
        self.authorize_user(actor, Need::new(Entity::User, Action::Read), user)
            .await?;
        let record = self.store.totp(user).await?;
        Ok(SecondFactorStatus {
            enabled: record.as_ref().is_some_and(|r| r.confirmed),
            pending: record.as_ref().is_some_and(|r| !r.confirmed),
            recovery_codes_left: self.store.recovery_codes_left(user).await?,
        })
    }

    /// Whether logging in as `user` needs a code.
    pub(crate) async fn needs_second_factor(
        &self,
        user: UserId,
    ) -> Result<bool, crate::StoreError> {
        Ok(self.store.totp(user).await?.is_some_and(|r| r.confirmed))
    }

    /// Enrolling, replacing or removing a second factor takes a session (never an API token,
    /// which a thief could use to lock the owner out) whose holder proved their password or
    /// second factor within `recent_auth_window`.
    async fn require_recent_proof(&self, principal: &Principal) -> Result<(), SecondFactorError> {
        self.authorize_own(principal, Need::new(Entity::User, Action::Update))
            .await?;
        if principal.kind != CredentialKind::Session {
            return Err(SecondFactorError::SessionRequired);
        }
        let proved = self
            .store
            .session_proved_at(principal.credential_id)
            .await?;
        let since = self.clock.now() - self.config.recent_auth_window;
        match proved {
            Some(at) if at >= since => Ok(()),
            _ => Err(SecondFactorError::ReauthenticationRequired),
        }
    }

    /// Proves the holder of a session again, with the account's password or a code of its
    /// second factor (throttled like a login or a code); the session may then change the
    /// second factor for `recent_auth_window`.
    pub async fn reauthenticate(
        &self,
        principal: &Principal,
        proof: Proof,
        client: &ClientInfo,
    ) -> Result<(), ReauthError> {
        self.authorize_own(principal, Need::new(Entity::Session, Action::Update))
            .await?;
        if principal.kind != CredentialKind::Session {
            return Err(ReauthError::NotASession);
        }
        let user = self.user(principal.user_id).await.map_err(|e| match e {
            crate::error::UserError::Store(s) => ReauthError::Store(s),
            _ => ReauthError::WrongProof,
        })?;
        let proved = match &proof {
            Proof::Password(password) => self.check_own_password(&user, password, client).await??,
            Proof::Code(code) => {
                let t = &self.config.throttle;
                self.throttle(&[
                    self.limit_ip("totp", client, t.codes_per_ip),
                    self.limit_account("totp", &format!("user:{}", user.id), t.codes_per_account),
                ])
                .await??;
                self.accept_code(user.id, code).await?
            }
        };
        let outcome = if proved {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        let proved = proved
            && self
                .store
                .mark_session_proved(principal.credential_id, self.clock.now())
                .await?;
        self.audit(
            "session.reauthenticate",
            Some(user.id),
            Some(user.id),
            outcome,
            client,
            (!proved).then_some("wrong password or code"),
        )
        .await;
        if proved {
            Ok(())
        } else {
            Err(ReauthError::WrongProof)
        }
    }

    /// Starts an enrolment with a new secret (a previous unconfirmed one is replaced).
    pub async fn begin_totp(
        &self,
        principal: &Principal,
        client: &ClientInfo,
    ) -> Result<Enrolment, SecondFactorError> {
        self.require_recent_proof(principal).await?;
        let user = self.user(principal.user_id).await.map_err(user_error)?;
        let secret = totp::new_secret();
        let sealed = self
            .sealer
            .seal(Purpose::Totp, &user.id.to_string(), &secret);
        if !self
            .store
            .begin_totp(user.id, &sealed, self.clock.now())
            .await?
        {
            return Err(SecondFactorError::AlreadyEnabled);
        }
        self.audit(
            "totp.begin",
            Some(user.id),
            Some(user.id),
            Outcome::Success,
            client,
            None,
        )
        .await;
        let uri = totp::otpauth_uri(&self.issuer(), user.username.as_str(), &secret);
        Ok(Enrolment {
            secret: totp::base32(&secret),
            qr_svg: totp::qr_svg(&uri),
            otpauth_uri: uri,
        })
    }

    /// The user's TOTP record with its secret opened. A secret this server cannot open
    /// (sealed with a key it does not hold, altered, or plaintext) fails with the reason,
    /// never as a wrong code.
    async fn opened_totp(&self, user: UserId) -> Result<Option<TotpRecord>, crate::StoreError> {
        let Some(mut record) = self.store.totp(user).await? else {
            return Ok(None);
        };
        record.secret = self
            .sealer
            .open(Purpose::Totp, &user.to_string(), &record.secret)
            .map_err(|e| {
                tracing::error!(user_id = %user, error = %e, "cannot open a TOTP secret");
                crate::StoreError::Backend(Box::new(e))
            })?;
        Ok(Some(record))
    }

    fn issuer(&self) -> String {
        "Gatehouse".to_owned()
    }

    /// Confirms the enrolment with a first code; returns the ten recovery codes (shown once).
    pub async fn confirm_totp(
        &self,
        principal: &Principal,
        code: &str,
        client: &ClientInfo,
    ) -> Result<Vec<String>, SecondFactorError> {
        self.require_recent_proof(principal).await?;
        let user = principal.user_id;
        self.throttle_codes(user, client).await?;
        let record = self
            .opened_totp(user)
            .await?
            .filter(|r| !r.confirmed)
            .ok_or(SecondFactorError::NotPending)?;
        let Some(step) = totp::matching_step(&record.secret, code, self.clock.now()) else {
            self.audit(
                "totp.confirm",
                Some(user),
                Some(user),
                Outcome::Failure,
                client,
                Some("wrong code"),
            )
            .await;
            return Err(SecondFactorError::InvalidCode);
        };
        let codes = totp::new_recovery_codes();
        let hashes: Vec<TokenHash> = codes.iter().map(|c| totp::recovery_hash(c)).collect();
        if !self
            .store
            .confirm_totp(user, step, &hashes, self.clock.now())
            .await?
        {
            return Err(SecondFactorError::NotPending);
        }
        self.forget_user(user).await;
        self.audit(
            "totp.enable",
            Some(user),
            Some(user),
            Outcome::Success,
            client,
            None,
        )
        .await;
        Ok(codes)
    }

    /// Turns the second factor off; needs a current code or an unused recovery code.
    pub async fn disable_totp(
        &self,
        principal: &Principal,
        code: &str,
        client: &ClientInfo,
    ) -> Result<(), SecondFactorError> {
        self.require_recent_proof(principal).await?;
        let user = principal.user_id;
        self.throttle_codes(user, client).await?;
        if !self.needs_second_factor(user).await? {
            return Err(SecondFactorError::NotEnabled);
        }
        if !self.accept_code(user, code).await? {
            self.audit(
                "totp.disable",
                Some(user),
                Some(user),
                Outcome::Failure,
                client,
                Some("wrong code"),
            )
            .await;
            return Err(SecondFactorError::InvalidCode);
        }
        self.store.delete_totp(user).await?;
        self.forget_user(user).await;
        self.audit(
            "totp.disable",
            Some(user),
            Some(user),
            Outcome::Success,
            client,
            None,
        )
        .await;
        Ok(())
    }

    /// Replaces the recovery codes (the old ones stop working); needs a current code.
    pub async fn regenerate_recovery_codes(
        &self,
        principal: &Principal,
        code: &str,
        client: &ClientInfo,
    ) -> Result<Vec<String>, SecondFactorError> {
        self.require_recent_proof(principal).await?;
        let user = principal.user_id;
        self.throttle_codes(user, client).await?;
        let record = self
            .opened_totp(user)
            .await?
            .filter(|r| r.confirmed)
            .ok_or(SecondFactorError::NotEnabled)?;
        let fresh = match totp::matching_step(&record.secret, code, self.clock.now()) {
            Some(step) => self.store.use_totp_step(user, step).await?,
            None => false,
        };
        if !fresh {
            return Err(SecondFactorError::InvalidCode);
        }
        let codes = totp::new_recovery_codes();
        let hashes: Vec<TokenHash> = codes.iter().map(|c| totp::recovery_hash(c)).collect();
        self.store
            .replace_recovery_codes(user, &hashes, self.clock.now())
            .await?;
        self.audit(
            "totp.recovery_codes",
            Some(user),
            Some(user),
            Outcome::Success,
            client,
            None,
        )
        .await;
        Ok(codes)
    }

    /// An administrator turns a user's second factor off (a lost phone and lost codes).
    pub async fn admin_reset_second_factor(
        &self,
        actor: &crate::admin::Actor,
        id: UserId,
    ) -> Result<(), crate::AdminError> {
        use crate::access::{Action, Entity, Need};
        self.authorize_user_change(actor, Need::new(Entity::User, Action::Update), id)
            .await?;
        if actor.user_id() == Some(id) && !self.grants(actor).await?.is_instance_admin() {
            return Err(crate::AdminError::Forbidden);
        }
        self.store.delete_totp(id).await?;
        self.forget_user(id).await;
        self.audit(
            "totp.admin_reset",
            actor.user_id(),
            Some(id),
            Outcome::Success,
            actor.client(),
            None,
        )
        .await;
        Ok(())
    }

    async fn throttle_codes(
        &self,
        user: UserId,
        client: &ClientInfo,
    ) -> Result<(), SecondFactorError> {
        let t = &self.config.throttle;
        self.throttle(&[
            self.limit_ip("totp", client, t.codes_per_ip),
            self.limit_account("totp", &format!("user:{user}"), t.codes_per_account),
        ])
        .await??;
        Ok(())
    }

    /// A current TOTP code not used before (its step is then spent), or an unused recovery
    /// code (then used up).
    async fn accept_code(&self, user: UserId, code: &str) -> Result<bool, crate::StoreError> {
        let Some(record) = self.opened_totp(user).await?.filter(|r| r.confirmed) else {
            return Ok(false);
        };
        if let Some(step) = totp::matching_step(&record.secret, code, self.clock.now()) {
            return self.store.use_totp_step(user, step).await;
        }
        self.store
            .use_recovery_code(user, &totp::recovery_hash(code), self.clock.now())
            .await
    }

    /// The first step's answer for an account with a second factor: a challenge to send
    /// back with the code.
    pub(crate) async fn issue_challenge(
        &self,
        user: &User,
        client: &ClientInfo,
    ) -> Result<SecondFactorChallenge, crate::StoreError> {
        let token = format!("ghc_{}", random_link_token());
        let now = self.clock.now();
        let record = ChallengeRecord {
            id: Uuid::now_v7(),
            user_id: user.id,
            secret_hash: challenge_hash(&token),
            created_at: now,
            expires_at: now + Duration::minutes(CHALLENGE_TTL_MINUTES),
            client_ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
        };
        self.store.insert_challenge(&record).await?;
        Ok(SecondFactorChallenge {
            token,
            expires_at: record.expires_at,
        })
    }

    /// The second step of a login: the challenge from the first step and a TOTP code (or a
    /// recovery code). A replayed code is refused; five wrong codes kill the challenge.
    pub async fn login_second_factor(
        &self,
        challenge: &str,
        code: &str,
        client: ClientInfo,
    ) -> Result<LoginSession, LoginError> {
        let result = self.second_step(challenge, code, client).await;
        self.count_sign_in(&result);
        result
    }

    async fn second_step(
        &self,
        challenge: &str,
        code: &str,
        client: ClientInfo,
    ) -> Result<LoginSession, LoginError> {
        let t = &self.config.throttle;
        self.throttle(&[self.limit_ip("totp", &client, t.codes_per_ip)])
            .await??;
        let now = self.clock.now();
        let Some(record) = self
            .store
            .live_challenge(&challenge_hash(challenge), now, CHALLENGE_ATTEMPTS)
            .await?
        else {
            self.audit(
                "login.second_factor",
                None,
                None,
                Outcome::Failure,
                &client,
                Some("no live challenge"),
            )
            .await;
            return Err(LoginError::InvalidCode);
        };
        let user_id = record.user_id;
        self.throttle(&[self.limit_account(
            "totp",
            &format!("user:{user_id}"),
            t.codes_per_account,
        )])
        .await??;
        // Claim the attempt before looking at the code, in one conditional write: parallel
        // guesses cannot all pass the `live_challenge` check above and get more than
        // CHALLENGE_ATTEMPTS looks between them. Counting against one more than the limit
        // makes "left >= 1" mean "this was attempt 1..=CHALLENGE_ATTEMPTS".
        let left = self
            .store
            .fail_challenge(record.id, CHALLENGE_ATTEMPTS + 1)
            .await?;
        if left == 0 {
            self.audit(
                "login.second_factor",
                None,
                Some(user_id),
                Outcome::Failure,
                &client,
                Some("no attempts left"),
            )
            .await;
            return Err(LoginError::InvalidCode);
        }
        if !self.accept_code(user_id, code).await? {
            let detail = format!("wrong code, {} attempts left", left - 1);
            self.audit(
                "login.second_factor",
                None,
                Some(user_id),
                Outcome::Failure,
                &client,
                Some(&detail),
            )
            .await;
            return Err(LoginError::InvalidCode);
        }
        let user = self.user(user_id).await.map_err(|e| match e {
            crate::error::UserError::Store(s) => LoginError::Store(s),
            _ => LoginError::InvalidCode,
        })?;
        if !user.can_authenticate() {
            return Err(LoginError::AccountDisabled);
        }
        let secret = TokenSecret::generate(CredentialKind::Session);
        let session = SessionRecord {
            id: Uuid::now_v7(),
            user_id,
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
        if !self.store.complete_challenge(record.id, &session).await? {
            return Err(LoginError::InvalidCode);
        }
        self.audit(
            "login",
            Some(user_id),
            Some(user_id),
            Outcome::Success,
            &client,
            Some("second factor"),
        )
        .await;
        Ok(LoginSession {
            session_id: session.id,
            secret,
            expires_at: session.expires_at,
            user: self.with_effective_admin_one(user).await?,
        })
    }
}

fn user_error(e: crate::error::UserError) -> SecondFactorError {
    match e {
        crate::error::UserError::Store(s) => SecondFactorError::Store(s),
        _ => SecondFactorError::NotEnabled,
    }
}

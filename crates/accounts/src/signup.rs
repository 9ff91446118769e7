//! Sign-up and the codes and links sent by mail: registration, resending, verifying an
//! address by code or link; the code budgets.

use crate::access::{OrgId, OrgRole, RoleId};
use crate::audit::Outcome;
use crate::domain::{EmailAddress, User, UserId, UserStatus, Username};
use crate::error::{CodeError, SignupError};
use crate::lifecycle::{
    account_key, code_hash, link_hash, random_digits, random_link_token, CodeScope, Registered,
    Registration,
};
use crate::mail::{templates, OutgoingMail};
use crate::password::Password;
use crate::service::{Accounts, ClientInfo};
use crate::store::{
    CodeEffect, CodeLookup, CodePurpose, CodeRecord, NewUserRecord, RateLimit, Redemption,
    StoreError, Unique,
};
use chrono::Duration;
use uuid::Uuid;

impl Accounts {
    /// How many digits a code of `purpose` asked for in `scope` has: an application's
    /// verification codes are short (Glowmarkt documents 4), and so are its reset codes when
    /// the organisation chose short ones; every other code is as long as the policy says.
    pub(crate) async fn code_digits(
        &self,
        purpose: CodePurpose,
        scope: CodeScope,
    ) -> Result<usize, StoreError> {
        let policy = &self.config.codes;
        Ok(match (scope, purpose) {
            (CodeScope::Native, CodePurpose::VerifyEmail) => policy.verify_email_digits,
            (CodeScope::Application(_), CodePurpose::VerifyEmail) => policy.application_digits,
            (CodeScope::Native, CodePurpose::ResetPassword) => policy.reset_password_digits,
            (CodeScope::Application(app), CodePurpose::ResetPassword) => {
                let short = self
                    .store
                    .org(app)
                    .await?
                    .is_some_and(|o| o.short_reset_codes);
                if short {
                    policy.application_digits
                } else {
                    policy.reset_password_digits
                }
            }
        })
    }

    /// Wrong tries a code of this length takes before it dies.
    pub(crate) fn code_attempts(&self, digits: usize) -> u32 {
        let policy = &self.config.codes;
        if digits < 6 {
            policy.short_code_attempts.min(policy.max_attempts)
        } else {
            policy.max_attempts
        }
    }

    /// A code and link for `user`, bound to `scope`.
    pub(crate) async fn new_code(
        &self,
        user: UserId,
        purpose: CodePurpose,
        scope: CodeScope,
    ) -> Result<(CodeRecord, String, String), StoreError> {
        let policy = &self.config.codes;
        let digits = self.code_digits(purpose, scope).await?;
        let code = random_digits(digits);
        let link = random_link_token();
        let now = self.clock.now();
        let record = CodeRecord {
            id: Uuid::now_v7(),
            user_id: user,
            purpose,
            code_hash: code_hash(user, purpose, scope, &code),
            link_hash: link_hash(purpose, &link),
            created_at: now,
            code_expires_at: now + policy.code_ttl,
            link_expires_at: now + policy.link_ttl,
        };
        Ok((record, code, link))
    }

    pub(crate) fn link_url(&self, page: &str, token: &str) -> String {
        format!(
            "{}/{page}?token={token}",
            self.config.public_url.trim_end_matches('/')
        )
    }

    pub(crate) fn verification_mail(
        &self,
        to: &EmailAddress,
        username: &Username,
        code: &str,
        link: &str,
    ) -> OutgoingMail {
        templates::verify_email(
            to,
            username.as_str(),
            code,
            &self.link_url("verify-email", link),
            self.config.codes.code_ttl.num_minutes(),
        )
    }

    pub(crate) async fn enqueue(&self, mail: &OutgoingMail) -> Result<(), StoreError> {
        self.store.enqueue_mail(mail, self.clock.now()).await?;
        self.mail_queued.notify_one();
        Ok(())
    }

    // ------------------------------------------------------------ sign-up

    /// Self-registration. The answer is the same whether or not the username or e-mail is
    /// taken (no enumeration), after the same work (one password hash): the owner of the
    /// address learns what happened by e-mail. [`Registered`] is the new account's id and
    /// creation time, or, for a taken address, an id never stored and the same time.
    pub async fn register(
        &self,
        reg: Registration,
        client: ClientInfo,
    ) -> Result<Registered, SignupError> {
        let policy = &self.config.signup;
        if !policy.enabled {
            return Err(SignupError::Closed);
        }
        let domain = reg
            .email
            .as_str()
            .rsplit_once('@')
            .map(|(_, d)| d)
            .unwrap_or_default();
        if !policy.allowed_domains.is_empty() && !policy.allowed_domains.iter().any(|d| d == domain)
        {
            return Err(SignupError::DomainNotAllowed);
        }
        // Every sign-up mails the address it names, whoever holds it: capped per recipient.
        let t = &self.config.throttle;
        let [_, to_recipient] = self.limit_mail(&client, reg.email.as_str());
        self.throttle(&[
            self.limit_ip("signup", &client, t.signups_per_ip),
            to_recipient,
        ])
        .await??;
        if let Some(app) = reg.application {
            if self.store.org(app).await?.is_none() {
                return Err(SignupError::UnknownApplication);
            }
        }
        let greeting = reg.username.greeting(&reg.email);
        let password = Password::new_for(reg.password, &[greeting.as_str(), reg.email.as_str()])?;
        let password_hash = self.hasher.hash(&password).await;
        let id = UserId::new();
        let (code_record, code, link) = self
            .new_code(id, CodePurpose::VerifyEmail, CodeScope::of(reg.application))
            .await?;
        let mail = self.verification_mail(&reg.email, &greeting, &code, &link);
        // A taken username must not be told to whoever holds the address typed (it may be a
        // stranger probing for names): the account is made under the next free name of the
        // one rule (`crate::usernames`), with the same mail greeting the name as typed (or
        // the address's stem). Its owner sees the name once signed in and can change it.
        let candidates = reg.username.candidates(&reg.email, true);
        let wanted = std::slice::from_ref(&candidates);
        let mut record = NewUserRecord {
            id,
            username: self.pick_usernames(wanted).await?.remove(0),
            email: reg.email.clone(),
            email_verified: false,
            status: UserStatus::Pending,
            number: crate::service::draw_user_number(),
            roles: vec![RoleId::USER],
            memberships: reg
                .application
                .map(|app| vec![(app, OrgRole::Member)])
                .unwrap_or_default(),
            password_hash: Some(password_hash),
            profile: reg.profile.clone(),
            created_at: self.clock.now(),
        };
        let mut races = 0;
        loop {
            match self.store.register_user(&record, &code_record, &mail).await {
                Ok(user) => {
                    self.mail_queued.notify_one();
                    let detail = (user.username != candidates[0])
                        .then(|| format!("username taken; signed up as {}", user.username));
                    self.audit(
                        "signup",
                        Some(user.id),
                        Some(user.id),
                        Outcome::Success,
                        &client,
                        detail.as_deref(),
                    )
                    .await;
                    break;
                }
                Err(StoreError::Conflict(Unique::Email)) => {
                    let reset = format!(
                        "{}/auth/v1/password/forgot",
                        self.config.public_url.trim_end_matches('/')
                    );
                    self.enqueue(&templates::already_registered(&reg.email, &reset))
                        .await?;
                    self.audit(
                        "signup",
                        None,
                        None,
                        Outcome::Failure,
                        &client,
                        Some("e-mail taken"),
                    )
                    .await;
                    break;
                }
                // Another sign-up took the name meanwhile: pick again.
                Err(StoreError::Conflict(Unique::Username)) if races < 5 => {
                    races += 1;
                    record.username = self.pick_usernames(wanted).await?.remove(0);
                }
                Err(e) => return Err(e.into()),
            }
        }
        // The record's own id and time in both cases: a taken address's answer is the id
        // of an account never stored.
        Ok(Registered {
            id: record.id,
            created_at: record.created_at,
        })
    }

    /// Sends a new verification code to a pending account, named by e-mail or username.
    /// Always `Ok` for unknown or already verified accounts (no enumeration); throttled per
    /// account and client. With `app`, only that application's members get one.
    pub async fn resend_verification(
        &self,
        login: &str,
        client: ClientInfo,
        scope: CodeScope,
    ) -> Result<(), CodeError> {
        let found = self.account_in(login, scope.app()).await?;
        let recipient = found.as_ref().map_or(login, |u| u.email.as_str());
        self.throttle(&self.limit_mail(&client, recipient))
            .await??;
        let Some(user) = found else {
            return Ok(());
        };
        if user.email_verified || user.status == UserStatus::Disabled {
            return Ok(());
        }
        let (record, code, link) = self
            .new_code(user.id, CodePurpose::VerifyEmail, scope)
            .await?;
        let mail = self.verification_mail(&user.email, &user.username, &code, &link);
        self.store.issue_code(&record, &mail).await?;
        self.mail_queued.notify_one();
        self.audit(
            "email.verification_sent",
            None,
            Some(user.id),
            Outcome::Success,
            &client,
            None,
        )
        .await;
        Ok(())
    }

    /// The account with this username or e-mail; with `app`, only if it belongs to it.
    pub(crate) async fn account_in(
        &self,
        login: &str,
        app: Option<OrgId>,
    ) -> Result<Option<User>, StoreError> {
        let Some((user, _)) = self
            .store
            .login_lookup(&login.trim().to_lowercase())
            .await?
        else {
            return Ok(None);
        };
        if let Some(app) = app {
            if self.membership(app, user.id).await?.is_none() {
                return Ok(None);
            }
        }
        Ok(Some(user))
    }

    /// Redeems a verification code typed by the owner of `login` (e-mail or username).
    pub async fn verify_email_code(
        &self,
        login: &str,
        code: &str,
        client: ClientInfo,
        scope: CodeScope,
    ) -> Result<(), CodeError> {
        let user = self.code_owner(login, &client, scope.app()).await?;
        let lookup = user.map(|u| CodeLookup::Code {
            user: u.id,
            hash: code_hash(u.id, CodePurpose::VerifyEmail, scope, code),
        });
        let digits = self.code_digits(CodePurpose::VerifyEmail, scope).await?;
        self.redeem(
            CodePurpose::VerifyEmail,
            self.code_attempts(digits),
            lookup,
            CodeEffect::VerifyEmail,
            &client,
            "email.verify",
        )
        .await
    }

    /// Redeems a verification link token (after the confirmation click).
    pub async fn verify_email_link(
        &self,
        token: &str,
        client: ClientInfo,
    ) -> Result<(), CodeError> {
        let t = &self.config.throttle;
        self.throttle(&[self.limit_ip("code", &client, t.codes_per_ip)])
            .await??;
        let lookup = CodeLookup::Link(link_hash(CodePurpose::VerifyEmail, token));
        self.redeem(
            CodePurpose::VerifyEmail,
            self.config.codes.max_attempts,
            Some(lookup),
            CodeEffect::VerifyEmail,
            &client,
            "email.verify",
        )
        .await
    }

    /// Throttles code entry for `email` and finds its account (`None` if there is none; the
    /// caller then answers exactly as for a wrong code).
    pub(crate) async fn code_owner(
        &self,
        login: &str,
        client: &ClientInfo,
        app: Option<OrgId>,
    ) -> Result<Option<User>, CodeError> {
        let t = &self.config.throttle;
        let found = self.account_in(login, app).await?;
        let key = account_key(login, found.as_ref());
        // A day's cap on top of the window: short (application) codes must not fall to a
        // patient guesser who comes back every window.
        self.throttle(&[
            self.limit_ip("code", client, t.codes_per_ip),
            self.limit_account("code", &key, t.codes_per_account),
            RateLimit::per(
                format!("code-day:account:{key}"),
                t.codes_per_account_per_day,
                Duration::days(1),
            ),
        ])
        .await??;
        Ok(found)
    }

    pub(crate) async fn redeem(
        &self,
        purpose: CodePurpose,
        max: u32,
        lookup: Option<CodeLookup>,
        effect: CodeEffect,
        client: &ClientInfo,
        action: &str,
    ) -> Result<(), CodeError> {
        let Some(lookup) = lookup else {
            self.audit(
                action,
                None,
                None,
                Outcome::Failure,
                client,
                Some("unknown account"),
            )
            .await;
            return Err(CodeError::Invalid);
        };
        let now = self.clock.now();
        match self
            .store
            .redeem_code(purpose, &lookup, &effect, max, now)
            .await?
        {
            Redemption::Redeemed(user) => {
                self.forget_user(user).await;
                self.audit(
                    action,
                    Some(user),
                    Some(user),
                    Outcome::Success,
                    client,
                    None,
                )
                .await;
                Ok(())
            }
            Redemption::Wrong { attempts_left } => {
                let subject = match lookup {
                    CodeLookup::Code { user, .. } => Some(user),
                    CodeLookup::Link(_) => None,
                };
                let detail = format!("wrong code, {attempts_left} attempts left");
                self.audit(
                    action,
                    None,
                    subject,
                    Outcome::Failure,
                    client,
                    Some(&detail),
                )
                .await;
                Err(CodeError::Invalid)
            }
            Redemption::NoCode => {
                self.audit(
                    action,
                    None,
                    None,
                    Outcome::Failure,
                    client,
                    Some("no live code"),
                )
                .await;
                Err(CodeError::Invalid)
            }
        }
    }
}

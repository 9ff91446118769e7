//! Account lifecycle use cases: sign-up, e-mail verification, password reset and change,
//! sessions, throttling, the audit trail and mail delivery. Same `Accounts`, second file.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::access::{Action, Entity, Need, OrgId, OrgRole, RoleId};
use crate::audit::{AuditEvent, AuditFilter, Outcome};
use crate::domain::{EmailAddress, ProfileChange, User, UserId, UserStatus, Username};
use crate::error::{
    AdminError, ChangePasswordError, CodeError, SessionError, SignupError, Throttled,
};
use crate::mail::{templates, MailError, Mailer, OutgoingMail};
use crate::password::Password;
use crate::service::{Accounts, ClientInfo, Principal};
use crate::store::{
    Backoff, CodeEffect, CodeLookup, CodePurpose, CodeRecord, EndSessions, NewUserRecord,
    RateLimit, Redemption, SessionInfo, StoreError, Unique,
};
use crate::token::{CredentialKind, TokenHash};
use crate::usernames::NewUsername;

/// Changing one's own password.
const UPDATE_SELF: Need = Need::new(Entity::User, Action::Update);
/// Ending one's own sessions.
const END_SESSIONS: Need = Need::new(Entity::Session, Action::Delete);

/// A self-registration as submitted.
#[derive(Debug, Clone)]
pub struct Registration {
    /// Chosen (taken: renamed with a random suffix, so the answer says nothing) or derived
    /// from the address (`crate::usernames`).
    pub username: NewUsername,
    pub email: EmailAddress,
    pub password: String,
    /// The application (organisation) the user registers into, if any; it must exist.
    pub application: Option<OrgId>,
    /// Claims given at sign-up (a display name).
    pub profile: ProfileChange,
}

/// What a sign-up answers, whether or not it made an account: an id and a time that look
/// the same either way. When the address was taken nothing was stored under the id, so it
/// leads nowhere (every later call treats it as an unknown account).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registered {
    pub id: UserId,
    pub created_at: DateTime<Utc>,
}

/// What one delivery round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub sent: usize,
    pub retrying: usize,
    pub gave_up: usize,
}

/// Attempts before a message is given up (about 21 hours with the back-off).
pub const MAX_MAIL_ATTEMPTS: u32 = 30;

/// What per-account throttles count against: the account when the login names one (so its
/// username and its address share one budget), else the login as typed, hashed (so a key
/// has one size whatever was typed, and keeps no typed text).
pub(crate) fn account_key(login: &str, found: Option<&User>) -> String {
    match found {
        Some(user) => format!("user:{}", user.id),
        None => {
            let digest = Sha256::digest(login.trim().to_lowercase().as_bytes());
            let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
            format!("typed:{hex}")
        }
    }
}

/// Deferred work waiting at most (`Accounts::defer`).
const MAX_DEFERRED: usize = 10_000;

/// Work a request leaves for after its answer.
#[derive(Debug)]
pub(crate) enum Deferred {
    /// A password-reset request: the code and mail for `user`, if any, and the audit event.
    Reset {
        user: Option<UserId>,
        scope: CodeScope,
        client: ClientInfo,
    },
}

/// How long failed sign-ins of one account from one address are remembered after the last.
const LOGIN_MEMORY_DAYS: i64 = 1;

/// One password attempt that has been counted against its limits (`Accounts::count_login`):
/// what to take back and clear when it turns out right.
#[derive(Debug)]
pub(crate) struct CountedLogin {
    refund: Vec<String>,
    pair: String,
    address: String,
}

fn backoff(attempts_so_far: u32) -> Duration {
    let seconds = 5_i64.saturating_mul(1_i64 << attempts_so_far.min(10));
    Duration::seconds(seconds.min(3600))
}

fn random_digits(n: usize) -> String {
    let mut rng = rand::rngs::OsRng;
    (0..n)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

pub(crate) fn random_link_token() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rngs::OsRng;
    (0..32)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

pub(crate) fn sha256(parts: &[&str]) -> TokenHash {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    TokenHash(hasher.finalize().into())
}

/// Where a typed code was asked for, and so the only place it redeems: the native API and
/// the pages, or one application's flow (Glowmarkt's `applicationId`; no other surface takes
/// applications). A code is only as strong as the flow it was made for, so a short
/// application code is worthless on the native reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeScope {
    Native,
    Application(OrgId),
}

impl CodeScope {
    /// `Application(app)` when `app` is given, else `Native`.
    pub fn of(app: Option<OrgId>) -> Self {
        app.map_or(Self::Native, Self::Application)
    }

    pub fn app(self) -> Option<OrgId> {
        match self {
            Self::Native => None,
            Self::Application(app) => Some(app),
        }
    }

    fn key(self) -> String {
        match self {
            Self::Native => "native".to_owned(),
            Self::Application(app) => format!("application:{app}"),
        }
    }
}

/// A code's hash is bound to its user, purpose and scope, so a code of another account,
/// purpose, surface or application never matches.
fn code_hash(user: UserId, purpose: CodePurpose, scope: CodeScope, code: &str) -> TokenHash {
    sha256(&[
        "code",
        &user.to_string(),
        purpose.as_str(),
        &scope.key(),
        code.trim(),
    ])
}

fn link_hash(purpose: CodePurpose, token: &str) -> TokenHash {
    sha256(&["link", purpose.as_str(), token.trim()])
}

/// The key per-address limits count under: an IPv4 address itself, an IPv6 address's /64 (one
/// subscriber usually holds a whole /64, so counting single IPv6 addresses would let a client
/// rotate through them and escape every per-address limit).
/// The address key of a client (`unknown` when the connection had none).
pub(crate) fn client_address(client: &ClientInfo) -> String {
    client
        .ip
        .as_deref()
        .map_or_else(|| "unknown".into(), address_key)
}

pub fn address_key(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{prefix}/64")
            }
        },
        Ok(v4) => v4.to_string(),
        Err(_) => ip.to_owned(),
    }
}

impl Accounts {
    // ------------------------------------------------------------ throttling

    pub(crate) fn limit_ip(&self, what: &str, client: &ClientInfo, limit: u32) -> RateLimit {
        RateLimit::per(
            format!("{what}:ip:{}", client_address(client)),
            limit,
            self.config.throttle.window,
        )
    }

    /// The limits on a request that sends mail: per client address per window, and per
    /// recipient (the address itself, whatever login named it) per `mail_window`, so nobody
    /// uses the service to fill a third party's inbox.
    pub(crate) fn limit_mail(&self, client: &ClientInfo, recipient: &str) -> [RateLimit; 2] {
        let t = &self.config.throttle;
        [
            self.limit_ip("mail", client, t.mail_per_ip),
            RateLimit::per(
                format!("mail:to:{}", account_key(recipient, None)),
                t.mail_per_recipient,
                t.mail_window,
            ),
        ]
    }

    /// A per-account limit; `account` is an `account_key`.
    pub(crate) fn limit_account(&self, what: &str, account: &str, limit: u32) -> RateLimit {
        RateLimit::per(
            format!("{what}:account:{account}"),
            limit,
            self.config.throttle.window,
        )
    }

    /// Counts one attempt against every limit; `Ok(Err(_))` when one is exhausted.
    pub(crate) async fn throttle(
        &self,
        limits: &[RateLimit],
    ) -> Result<Result<(), Throttled>, StoreError> {
        let now = self.clock.now();
        Ok(match self.store.hit_rate_limits(limits, now).await? {
            None => Ok(()),
            Some(exhausted) => {
                self.record_throttled(&exhausted.key, now).await;
                Err(Throttled {
                    retry_after: exhausted.retry_after,
                })
            }
        })
    }

    /// Counts one password attempt for the account `found` (or the login as typed, when it
    /// names none) from the client, before the password is checked (so parallel attempts
    /// cannot all slip past a budget); `done_login` takes it back when the password was right.
    /// The limits (docs/security.md, "Sign-in throttling"):
    /// - per client address, whatever the account: `login_per_ip` per window;
    /// - per account and address: `login_per_account`, then waits that double from
    ///   `login_first_wait` up to `login_max_wait` (forgotten a day after the last failure);
    /// - per account across all addresses: `login_per_account_per_day`, which a browser with
    ///   the account's device cookie, or an address the account signed in from lately, skips:
    ///   so nobody locks the owner out from where they usually sign in.
    pub(crate) async fn count_login(
        &self,
        login: &str,
        found: Option<&User>,
        client: &ClientInfo,
    ) -> Result<Result<CountedLogin, Throttled>, StoreError> {
        let t = &self.config.throttle;
        let account = account_key(login, found);
        let address = client_address(client);
        let pair = RateLimit {
            key: format!("login:pair:{account}:{address}"),
            limit: t.login_per_account,
            window: Duration::days(LOGIN_MEMORY_DAYS),
            backoff: Some(Backoff {
                first: t.login_first_wait,
                max: t.login_max_wait,
            }),
        };
        let mut limits = vec![self.limit_ip("login", client, t.login_per_ip), pair];
        // The same lookups for an unknown login as for an account (no timing tells them apart).
        let owner = found.map_or(UserId(Uuid::nil()), |u| u.id);
        let known = self.is_known_client(owner, &address, client).await? && found.is_some();
        if !known {
            limits.push(RateLimit::per(
                format!("login:account:{account}"),
                t.login_per_account_per_day,
                Duration::days(1),
            ));
        }
        if let Err(throttled) = self.throttle(&limits).await? {
            return Ok(Err(throttled));
        }
        let pair = limits.remove(1).key;
        Ok(Ok(CountedLogin {
            refund: limits.into_iter().map(|l| l.key).collect(),
            pair,
            address,
        }))
    }

    /// A counted attempt whose password was right: it counts nowhere, the failures of that
    /// account from that address are forgotten, and the address is known to the account.
    pub(crate) async fn done_login(&self, counted: CountedLogin, user: UserId) {
        let now = self.clock.now();
        let outcome = async {
            self.store.refund_rate_limits(&counted.refund).await?;
            self.store.clear_rate_limits(&[counted.pair]).await?;
            self.store
                .note_known_address(user, &counted.address, now)
                .await
        }
        .await;
        if let Err(e) = outcome {
            tracing::warn!(error = %e, "could not take back a successful sign-in's count");
        }
    }

    /// Checks the password of a signed-in user (re-authentication, password change), counted
    /// like a sign-in of that account from this client (`count_login`).
    pub(crate) async fn check_own_password(
        &self,
        user: &User,
        password: &Password,
        client: &ClientInfo,
    ) -> Result<Result<bool, Throttled>, StoreError> {
        let counted = match self
            .count_login(user.username.as_str(), Some(user), client)
            .await?
        {
            Ok(counted) => counted,
            Err(throttled) => return Ok(Err(throttled)),
        };
        let stored = self
            .store
            .login_lookup(user.username.as_str())
            .await?
            .and_then(|(_, h)| h);
        let right = self.hasher.verify(stored, password).await;
        if right {
            self.done_login(counted, user.id).await;
        }
        Ok(Ok(right))
    }

    /// Whether the client signed in to `user` lately: its device cookie names the account and
    /// is younger than `known_client_for`, or its address succeeded within that time.
    async fn is_known_client(
        &self,
        user: UserId,
        address: &str,
        client: &ClientInfo,
    ) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let since = now - self.config.throttle.known_client_for;
        let by_device = client
            .device
            .as_deref()
            .and_then(|cookie| self.device_cookie_time(user, cookie))
            .is_some_and(|issued| issued >= since && issued <= now + Duration::minutes(5));
        let by_address = self.store.is_known_address(user, address, since).await?;
        Ok(by_device || by_address)
    }

    /// A device cookie for a browser that has just signed in to `user`: the time, sealed with
    /// the server key for that account (so it cannot be forged, moved to another account or
    /// read), base64url.
    pub fn device_cookie(&self, user: UserId) -> String {
        use base64::Engine as _;
        let issued = self.clock.now().timestamp_millis().to_be_bytes();
        let sealed = self
            .sealer
            .seal(crate::sealing::Purpose::Device, &user.to_string(), &issued);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealed)
    }

    /// When the device cookie was issued to `user`; `None` when it is not one of ours for them.
    fn device_cookie_time(&self, user: UserId, cookie: &str) -> Option<DateTime<Utc>> {
        use base64::Engine as _;
        if cookie.len() > 256 {
            return None;
        }
        let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cookie)
            .ok()?;
        let opened = self
            .sealer
            .open(crate::sealing::Purpose::Device, &user.to_string(), &sealed)
            .ok()?;
        let millis = i64::from_be_bytes(opened.try_into().ok()?);
        DateTime::from_timestamp_millis(millis)
    }

    /// Writes a refusal to the audit log and the log at WARN, at most once per limit and key
    /// every `record_every`, with the count since the previous record. Every throttled request
    /// writing a row would let anonymous callers fill the audit log; nothing from the request
    /// (user agent, address) is kept beyond what the key holds.
    async fn record_throttled(&self, key: &str, now: DateTime<Utc>) {
        let every = self.config.throttle.record_every;
        let Some(due) = self.throttle_records.refused(key, now, every) else {
            return;
        };
        let detail = match due.since {
            None => format!("{}: limit reached", due.key),
            Some(since) => format!(
                "{}: {} refused since {}",
                due.key,
                due.refused,
                since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        };
        tracing::warn!(limit = %due.key, refused = due.refused, "throttled");
        self.audit(
            "throttled",
            None,
            None,
            Outcome::Failure,
            &ClientInfo::default(),
            Some(&detail),
        )
        .await;
    }

    // ------------------------------------------------------------ audit

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

    // ------------------------------------------------------------ codes

    /// How many digits a code of `purpose` asked for in `scope` has: an application's
    /// verification codes are short (Glowmarkt documents 4), and so are its reset codes when
    /// the organisation chose short ones; every other code is as long as the policy says.
    async fn code_digits(
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
    fn code_attempts(&self, digits: usize) -> u32 {
        let policy = &self.config.codes;
        if digits < 6 {
            policy.short_code_attempts.min(policy.max_attempts)
        } else {
            policy.max_attempts
        }
    }

    /// A code and link for `user`, bound to `scope`.
    async fn new_code(
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

    fn link_url(&self, page: &str, token: &str) -> String {
        format!(
            "{}/{page}?token={token}",
            self.config.public_url.trim_end_matches('/')
        )
    }

    fn verification_mail(
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

    async fn enqueue(&self, mail: &OutgoingMail) -> Result<(), StoreError> {
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
    async fn account_in(
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
    async fn code_owner(
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

    async fn redeem(
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

    // ------------------------------------------------------------ password reset

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
    fn defer(&self, work: Deferred) {
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

    async fn finish_reset_request(
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
    async fn clear_login_limits(&self, user: UserId, client: &ClientInfo) {
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

    // ------------------------------------------------------------ sessions

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

    // ------------------------------------------------------------ mail delivery

    /// Waits until mail is queued in this process (or `timeout` passes).
    pub async fn mail_queued(&self, timeout: std::time::Duration) {
        let _ = tokio::time::timeout(timeout, self.mail_queued.notified()).await;
    }

    /// One delivery round: claims due messages, sends each, and records the outcome with
    /// exponential back-off for temporary failures.
    pub async fn deliver_mail(
        &self,
        mailer: &dyn Mailer,
        batch: u32,
    ) -> Result<DeliveryReport, StoreError> {
        self.run_deferred().await?;
        let now = self.clock.now();
        let claimed = self
            .store
            .claim_mail(now, now + Duration::minutes(5), batch)
            .await?;
        let mut report = DeliveryReport::default();
        let mut first_error = None;
        let mut relay_down: Option<String> = None;
        for queued in claimed {
            let outcome = match &relay_down {
                // After a temporary failure the rest of the round is not tried (each try could
                // wait for the relay's timeout); they are rescheduled like the failed one.
                Some(reason) => Err(MailError::Temporary(format!("not tried: {reason}"))),
                None => mailer.send(&queued.mail).await,
            };
            let recorded = match outcome {
                Ok(()) => {
                    report.sent += 1;
                    self.store.mark_mail_sent(queued.id, self.clock.now()).await
                }
                Err(e) => {
                    let attempts = queued.attempts + 1;
                    let retry_at: Option<DateTime<Utc>> = match &e {
                        MailError::Temporary(reason) if attempts < MAX_MAIL_ATTEMPTS => {
                            relay_down.get_or_insert_with(|| reason.clone());
                            Some(self.clock.now() + backoff(queued.attempts))
                        }
                        _ => None,
                    };
                    tracing::warn!(mail = %queued.id, attempts, error = %e, retry = retry_at.is_some(), "mail delivery failed");
                    self.mail_attempts_failed
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if retry_at.is_some() {
                        report.retrying += 1;
                    } else {
                        report.gave_up += 1;
                    }
                    self.store
                        .mark_mail_failed(queued.id, &e.to_string(), retry_at)
                        .await
                }
            };
            // A store failure here leaves this one message leased; keep going with the rest.
            if let Err(e) = recorded {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    pub async fn mail_counts(&self) -> Result<crate::store::MailCounts, StoreError> {
        self.store.mail_counts().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotating_ipv6_addresses_within_a_64_shares_one_per_address_limit() {
        assert_eq!(address_key("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_eq!(address_key("2001:db8:1:2:ffff::9"), "2001:db8:1:2::/64");
        assert_ne!(
            address_key("2001:db8:1:3::1"),
            address_key("2001:db8:1:2::1")
        );
        assert_eq!(address_key("::ffff:192.0.2.1"), "192.0.2.1");
        assert_eq!(address_key("192.0.2.1"), "192.0.2.1");
    }

    #[test]
    fn codes_are_digits_and_links_are_long() {
        let code = random_digits(6);
        assert_eq!(code.len(), 6);
        assert!(code.chars().all(|c| c.is_ascii_digit()));
        assert_eq!(random_link_token().len(), 32); // 190 bits
    }

    #[test]
    fn code_hashes_are_bound_to_user_purpose_and_scope() {
        let (a, b) = (UserId::new(), UserId::new());
        let native = CodeScope::Native;
        let h = code_hash(a, CodePurpose::VerifyEmail, native, "123456");
        assert_ne!(h, code_hash(b, CodePurpose::VerifyEmail, native, "123456"));
        assert_ne!(
            h,
            code_hash(a, CodePurpose::ResetPassword, native, "123456")
        );
        assert_eq!(
            h,
            code_hash(a, CodePurpose::VerifyEmail, native, " 123456 ")
        );
        let app = CodeScope::Application(OrgId::new());
        assert_ne!(h, code_hash(a, CodePurpose::VerifyEmail, app, "123456"));
        let other = CodeScope::Application(OrgId::new());
        assert_ne!(
            code_hash(a, CodePurpose::VerifyEmail, app, "1234"),
            code_hash(a, CodePurpose::VerifyEmail, other, "1234")
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(0), Duration::seconds(5));
        assert_eq!(backoff(1), Duration::seconds(10));
        assert_eq!(backoff(20), Duration::seconds(3600));
    }
}

//! The use cases. Every HTTP surface and the CLI call these and nothing below them.

use crate::throttle::ThrottleRecords;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::access::Grants;
use crate::cache::TtlCache;
use crate::clock::Clock;
use crate::domain::{EmailAddress, User, UserId, UserStatus, Username};
use crate::error::LoginError;
use crate::files::FileStore;
use crate::password::{Password, PasswordHasher};
use crate::store::{Invalidation, Store, StoreError};
use crate::token::{CredentialKind, TokenHash, TokenSecret};

/// Settings the use cases need; the server fills them from its configuration.
#[derive(Debug, Clone)]
pub struct AccountsConfig {
    /// The service's public origin, e.g. `http://127.0.0.1:8080`; links and picture URLs
    /// are built on it.
    pub public_url: String,
    pub session_ttl: Duration,
    pub max_tokens_per_user: usize,
    pub max_token_lifetime: Duration,
    /// How long a verified HTTP-basic (login, password) pair is remembered (at most 60 s).
    pub basic_login_ttl: Duration,
    /// How long cached credentials, user records and grants are trusted while this process
    /// follows other processes' invalidations (`Accounts::follow_invalidations`, PostgreSQL);
    /// otherwise at most [`UNFOLLOWED_CACHE_TTL`]. Bounds how long a change whose
    /// notification was lost takes to be seen.
    pub cache_ttl: Duration,
    pub cache_capacity: usize,
    pub max_picture_bytes: usize,
    /// Largest file a user may upload.
    pub max_file_bytes: usize,
    /// What everything one user stores may add up to: files (avatar included) with their
    /// names, links, metadata and tags, and chunks (`store::ContentUsage` counts it).
    pub file_quota_bytes: u64,
    /// How many files (avatar included) one user may keep.
    pub max_files_per_user: u64,
    /// How many chunks one user may keep.
    pub max_chunks_per_user: u64,
    /// The most memory one picture's pixels may take once decoded (width x height x bytes a
    /// pixel, read from its header before decoding); larger ones are refused.
    pub max_picture_decode_bytes: u64,
    /// Pictures decoded at once; the others wait. With `max_picture_decode_bytes` it bounds
    /// the memory pictures take.
    pub max_concurrent_picture_decodes: usize,
    pub signup: SignupPolicy,
    pub codes: CodePolicy,
    pub throttle: ThrottlePolicy,
    /// How long after a session last proved its password or second factor it may still
    /// enrol, replace or remove a second factor without proving it again.
    pub recent_auth_window: Duration,
    /// Audit events older than this are deleted by `Accounts::prune_audit`.
    pub audit_retention: Duration,
}

/// How long cache entries live while no stream of other processes' invalidations is
/// followed (SQLite, where the CLI's changes reach a running server only by expiry; or a
/// PostgreSQL listener that could not start), whatever `AccountsConfig::cache_ttl` says.
pub const UNFOLLOWED_CACHE_TTL: Duration = Duration::seconds(1);

/// Who may register themselves.
#[derive(Debug, Clone)]
pub struct SignupPolicy {
    pub enabled: bool,
    /// When not empty, only addresses at these domains (lower-case) may sign up.
    pub allowed_domains: Vec<String>,
}

impl Default for SignupPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            allowed_domains: Vec::new(),
        }
    }
}

/// One-time codes: digits per purpose (a dialect may need 4), lifetimes, attempts.
#[derive(Debug, Clone)]
pub struct CodePolicy {
    pub verify_email_digits: usize,
    /// Password-reset codes on every surface. 8 digits: with the day's cap on tries
    /// (`ThrottlePolicy::codes_per_account_per_day`, 20) one targeted account falls with odds
    /// of 1 in 5,000,000 a day (docs/security.md has the arithmetic).
    pub reset_password_digits: usize,
    /// Verification codes asked for through an application (Glowmarkt documents 4 digits),
    /// and the reset codes of an organisation that chose short ones
    /// (`Organization::short_reset_codes`).
    pub application_digits: usize,
    pub code_ttl: Duration,
    pub link_ttl: Duration,
    pub max_attempts: u32,
    /// Wrong tries a code shorter than 6 digits takes before it dies.
    pub short_code_attempts: u32,
}

impl Default for CodePolicy {
    fn default() -> Self {
        Self {
            verify_email_digits: 6,
            reset_password_digits: 8,
            application_digits: 4,
            code_ttl: Duration::minutes(10),
            link_ttl: Duration::hours(1),
            max_attempts: 5,
            short_code_attempts: 3,
        }
    }
}

/// Attempts allowed by client address and by account (docs/security.md, "Throttling").
/// Sign-ins count failures only; nobody can keep an account's owner out (see
/// `Accounts::count_login`).
#[derive(Debug, Clone)]
pub struct ThrottlePolicy {
    /// The fixed window of the per-address limits, of code entry and of sign-ups.
    pub window: Duration,
    /// Failed sign-ins per client address per window, whatever the account.
    pub login_per_ip: u32,
    /// Failed sign-ins per account from one address before waits begin.
    pub login_per_account: u32,
    /// The first wait once that budget is spent; each further failure doubles it.
    pub login_first_wait: Duration,
    /// The longest wait.
    pub login_max_wait: Duration,
    /// Failed sign-ins per account per day from all addresses together, except from a
    /// browser or address that signed in to it within `known_client_for`.
    pub login_per_account_per_day: u32,
    pub known_client_for: Duration,
    pub codes_per_ip: u32,
    pub codes_per_account: u32,
    /// Codes tried per account per day, whatever the window (bounds guessing short codes).
    pub codes_per_account_per_day: u32,
    /// Requests that send mail (verification, reset).
    pub mail_per_ip: u32,
    /// Mails to one recipient per `mail_window` (nobody mail-bombs a third party through us).
    pub mail_per_recipient: u32,
    pub mail_window: Duration,
    pub signups_per_ip: u32,
    /// Throttling counters kept at most; beyond it those expiring soonest are pruned.
    pub max_records: u64,
    /// A limit refusing a key is written to the audit log (and logged at WARN) at most once
    /// per this period, with the count of refusals since the previous record.
    pub record_every: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            window: Duration::minutes(15),
            login_per_ip: 100,
            login_per_account: 10,
            login_first_wait: Duration::minutes(1),
            login_max_wait: Duration::minutes(15),
            login_per_account_per_day: 100,
            known_client_for: Duration::days(30),
            codes_per_ip: 50,
            codes_per_account: 10,
            codes_per_account_per_day: 20,
            mail_per_ip: 20,
            mail_per_recipient: 5,
            mail_window: Duration::hours(1),
            signups_per_ip: 20,
            max_records: 1_000_000,
            record_every: Duration::minutes(5),
        }
    }
}

impl Default for AccountsConfig {
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8080".into(),
            session_ttl: Duration::days(30),
            max_tokens_per_user: 100,
            max_token_lifetime: Duration::days(3650),
            basic_login_ttl: Duration::seconds(60),
            cache_ttl: Duration::seconds(1),
            cache_capacity: 100_000,
            max_picture_bytes: 2 * 1024 * 1024,
            max_file_bytes: 10 * 1024 * 1024,
            file_quota_bytes: 100 * 1024 * 1024,
            max_files_per_user: 1000,
            max_chunks_per_user: 10_000,
            max_picture_decode_bytes: 32 * 1024 * 1024,
            max_concurrent_picture_decodes: 1,
            signup: SignupPolicy::default(),
            codes: CodePolicy::default(),
            throttle: ThrottlePolicy::default(),
            recent_auth_window: Duration::minutes(10),
            audit_retention: Duration::days(365),
        }
    }
}

/// Proof that a request carried a valid credential, and whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub kind: CredentialKind,
    /// The API token's or the session's id. What the holder may do is not here: the core
    /// decides that from their grants (`Accounts::authorize`).
    pub credential_id: Uuid,
}

/// Where a login came from, kept on the session.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The browser's device cookie (`Accounts::device_cookie`), when it sent one.
    pub device: Option<String>,
}

/// A new account, as an operator or a sign-up form describes it.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    pub email: EmailAddress,
    pub password: Option<Password>,
    pub is_admin: bool,
    pub status: UserStatus,
    pub email_verified: bool,
}

/// What a successful password login returns. The secret is shown once.
#[derive(Debug)]
pub struct LoginSession {
    pub session_id: Uuid,
    pub secret: TokenSecret,
    pub expires_at: DateTime<Utc>,
    pub user: User,
}

/// Token-cache counters, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
}

/// Sign-in outcomes since the process started, for metrics: password logins (every
/// surface, HTTP basic included) and second steps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignInStats {
    /// A session was made, or the credentials were accepted.
    pub succeeded: u64,
    /// The password was right and a second factor was asked for.
    pub second_factor_asked: u64,
    /// Wrong login, password or code; a disabled, unverified or non-member account.
    pub failed: u64,
    /// Refused by a rate limit before anything was checked.
    pub throttled: u64,
}

#[derive(Debug, Default)]
pub(crate) struct SignInCounters {
    succeeded: AtomicU64,
    second_factor_asked: AtomicU64,
    failed: AtomicU64,
    throttled: AtomicU64,
}

impl SignInCounters {
    /// Counts one sign-in by its result; a store failure is no outcome of the attempt.
    fn count<T>(&self, result: &Result<T, LoginError>) {
        let counter = match result {
            Ok(_) => &self.succeeded,
            Err(LoginError::SecondFactorRequired(Some(_))) => &self.second_factor_asked,
            Err(LoginError::Throttled(_)) => &self.throttled,
            Err(LoginError::Store(_)) => return,
            Err(_) => &self.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A stored picture's bytes and type.
#[derive(Debug, Clone)]
pub struct Picture {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone)]
pub(crate) struct CachedCredential {
    pub(crate) principal: Principal,
    pub(crate) expires_at: Option<DateTime<Utc>>,
}

/// The core. Cheap to share (`Arc` it); holds no request state.
#[derive(Debug)]
pub struct Accounts {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) files: Arc<dyn FileStore>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) hasher: PasswordHasher,
    /// Credential checks: secret hash -> who, until when.
    pub(crate) credentials: TtlCache<TokenHash, CachedCredential>,
    /// User records read on every authenticated request.
    pub(crate) users: TtlCache<UserId, User>,
    /// HTTP-basic sign-ins verified lately: a keyed hash of (login, password) -> the account,
    /// for `basic_login_ttl`, so a client sending its password on every request costs one
    /// hash, not one per request. Dropped with the user's invalidations.
    pub(crate) basic_logins: TtlCache<[u8; 32], User>,
    /// The key of those hashes, new in every process (never stored).
    pub(crate) basic_key: [u8; 32],
    /// What each user may do (roles' permissions, memberships).
    pub(crate) grants: TtlCache<UserId, Grants>,
    /// Every role with its permissions (changes rarely; dropped with `Invalidation::All`).
    pub(crate) roles: TtlCache<(), Vec<crate::access::Role>>,
    /// Last-used times waiting for `flush_usage`, so a token check never writes.
    pub(crate) usage: Mutex<HashMap<(CredentialKind, Uuid), DateTime<Utc>>>,
    /// Woken when mail is queued, so delivery does not wait for its next tick.
    pub(crate) mail_queued: Notify,
    /// One permit per picture decoded at once (`max_concurrent_picture_decodes`).
    pub(crate) picture_decodes: Arc<tokio::sync::Semaphore>,
    /// When each exhausted limit was last written to the audit log.
    pub(crate) throttle_records: ThrottleRecords,
    /// Work requests leave for after their answer, done by the next mail round.
    pub(crate) deferred: Mutex<std::collections::VecDeque<crate::lifecycle::Deferred>>,
    pub(crate) config: AccountsConfig,
    /// Seals the secrets the server reads back (TOTP secrets) with the server key.
    pub(crate) sealer: crate::sealing::Sealer,
    /// Sign-in outcomes (metrics).
    pub(crate) sign_ins: SignInCounters,
    /// Mail delivery attempts that failed, since start (metrics).
    pub(crate) mail_attempts_failed: AtomicU64,
}

/// A user's public number: random in `1..2^53`, exact as a JSON (double) number.
pub(crate) fn draw_user_number() -> i64 {
    use rand::Rng;
    rand::rngs::OsRng.gen_range(1..(1_i64 << 53))
}

impl Accounts {
    pub fn new(
        store: Arc<dyn Store>,
        files: Arc<dyn FileStore>,
        clock: Arc<dyn Clock>,
        hasher: PasswordHasher,
        config: AccountsConfig,
    ) -> Self {
        // Until `follow_invalidations` hears from the other processes.
        let ttl = config.cache_ttl.min(UNFOLLOWED_CACHE_TTL);
        Self {
            credentials: TtlCache::new(ttl, config.cache_capacity),
            users: TtlCache::new(ttl, config.cache_capacity),
            basic_logins: TtlCache::new(config.basic_login_ttl, config.cache_capacity),
            basic_key: rand::random(),
            grants: TtlCache::new(ttl, config.cache_capacity),
            roles: TtlCache::new(ttl, 1),
            store,
            files,
            clock,
            hasher,
            usage: Mutex::new(HashMap::new()),
            mail_queued: Notify::new(),
            picture_decodes: Arc::new(tokio::sync::Semaphore::new(
                config.max_concurrent_picture_decodes.max(1),
            )),
            throttle_records: ThrottleRecords::default(),
            deferred: Mutex::new(std::collections::VecDeque::new()),
            config,
            sealer: crate::sealing::Sealer::ephemeral(),
            sign_ins: SignInCounters::default(),
            mail_attempts_failed: AtomicU64::new(0),
        }
    }

    /// The server's keys for sealing secrets (without it, a random key that lives as long as
    /// the process: right for tests, never for a deployment).
    pub fn with_sealer(mut self, sealer: crate::sealing::Sealer) -> Self {
        self.sealer = sealer;
        self
    }

    pub fn sealer(&self) -> &crate::sealing::Sealer {
        &self.sealer
    }

    pub fn config(&self) -> &AccountsConfig {
        &self.config
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Whether the store answers (for `/readyz`).
    pub async fn ready(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }

    pub fn cache_stats(&self) -> CacheStats {
        CacheStats {
            hits: self.credentials.hits.load(Ordering::Relaxed),
            misses: self.credentials.misses.load(Ordering::Relaxed),
        }
    }

    pub fn password_queue_len(&self) -> i64 {
        self.hasher.queue_len()
    }

    /// Password verifications run since start (dummy ones for unknown logins included).
    pub fn password_verifications(&self) -> u64 {
        self.hasher.verifications()
    }

    /// Every argon2 run since start: new hashes and verifications.
    pub fn password_work(&self) -> u64 {
        self.hasher.hashes() + self.hasher.verifications()
    }

    /// Password hashes running right now, and how many can run at once.
    pub fn password_hashing(&self) -> (i64, usize) {
        (self.hasher.busy(), self.hasher.threads())
    }

    pub fn sign_in_stats(&self) -> SignInStats {
        let c = &self.sign_ins;
        SignInStats {
            succeeded: c.succeeded.load(Ordering::Relaxed),
            second_factor_asked: c.second_factor_asked.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            throttled: c.throttled.load(Ordering::Relaxed),
        }
    }

    /// Counts a sign-in's outcome (the second step counts through this too).
    pub(crate) fn count_sign_in<T>(&self, result: &Result<T, LoginError>) {
        self.sign_ins.count(result);
    }

    /// Mail delivery attempts that failed since start (retried or given up).
    pub fn mail_attempts_failed(&self) -> u64 {
        self.mail_attempts_failed.load(Ordering::Relaxed)
    }

    /// Forgets everything cached about a user after a change to their account, here and in
    /// every other process on the same database.
    pub(crate) async fn forget_user(&self, id: UserId) {
        self.broadcast(Invalidation::User(id)).await;
    }

    pub(crate) async fn forget_credential(&self, id: Uuid) {
        self.broadcast(Invalidation::Credential(id)).await;
    }

    pub(crate) async fn broadcast(&self, what: Invalidation) {
        self.apply_invalidation(what);
        if let Err(e) = self.store.publish_invalidation(what).await {
            // The other processes' caches still expire within their `cache_ttl`.
            tracing::warn!(error = %e, "could not tell other processes about a revocation");
        }
    }

    /// Drops cached entries made stale by a change (here or in another process).
    pub fn apply_invalidation(&self, what: Invalidation) {
        match what {
            Invalidation::Credential(id) => {
                self.credentials
                    .invalidate(|c| c.principal.credential_id == id);
            }
            Invalidation::User(id) => {
                self.users.invalidate(|u| u.id == id);
                self.basic_logins.invalidate(|u| u.id == id);
                self.grants.invalidate(|g| g.user_id == Some(id));
                self.credentials.invalidate(|c| c.principal.user_id == id);
            }
            Invalidation::All => {
                self.users.invalidate(|_| true);
                self.basic_logins.invalidate(|_| true);
                self.grants.invalidate(|_| true);
                self.roles.invalidate(|_| true);
                self.credentials.invalidate(|_| true);
            }
        }
    }

    /// Applies other processes' invalidations until the store's stream ends; returns at
    /// once for a backend without one. Only while it follows do cache entries live the full
    /// `cache_ttl`; otherwise at most [`UNFOLLOWED_CACHE_TTL`].
    pub async fn follow_invalidations(&self) -> Result<(), StoreError> {
        let Some(mut incoming) = self.store.subscribe_invalidations().await? else {
            return Ok(());
        };
        self.set_cache_ttl(self.config.cache_ttl);
        while let Some(what) = incoming.recv().await {
            self.apply_invalidation(what);
        }
        self.set_cache_ttl(self.config.cache_ttl.min(UNFOLLOWED_CACHE_TTL));
        Ok(())
    }

    fn set_cache_ttl(&self, ttl: Duration) {
        self.credentials.set_ttl(ttl);
        self.users.set_ttl(ttl);
        self.grants.set_ttl(ttl);
        self.roles.set_ttl(ttl);
    }

    /// How long cached credentials and users live now (see `AccountsConfig::cache_ttl`).
    pub fn cache_ttl(&self) -> Duration {
        self.credentials.ttl()
    }
}

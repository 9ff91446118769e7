//! The use cases. Every HTTP surface and the CLI call these and nothing below them.

use crate::throttle::ThrottleRecords;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::access::{Action, Entity, Grants, Need, RoleId};
use crate::admin::Actor;
use crate::audit::Outcome;
use crate::avatar;
use crate::cache::TtlCache;
use crate::clock::Clock;
use crate::domain::{
    EmailAddress, InvalidInput, ProfileChange, ProfileUpdate, User, UserId, UserStatus, Username,
};
use crate::error::{
    AuthError, CreateUserError, LoginError, PictureError, ProfileError, TokenError, UserError,
};
use crate::files::{FileId, FileStore};
use crate::password::{Password, PasswordHasher, Verified};
use crate::store::{
    EndSessions, FileRecord, Invalidation, NewUserRecord, SessionRecord, Store, StoreError,
    TokenLookup, Unique,
};
use crate::token::{ApiToken, CredentialKind, TokenHash, TokenId, TokenRef, TokenSecret};

/// Changing a user's profile claims or picture.
const UPDATE_USER: Need = Need::new(Entity::User, Action::Update);

const fn need(entity: Entity, action: Action) -> Need {
    Need::new(entity, action)
}

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
struct SignInCounters {
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
struct CachedCredential {
    principal: Principal,
    expires_at: Option<DateTime<Utc>>,
}

/// The core. Cheap to share (`Arc` it); holds no request state.
#[derive(Debug)]
pub struct Accounts {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) files: Arc<dyn FileStore>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) hasher: PasswordHasher,
    /// Credential checks: secret hash -> who, until when.
    credentials: TtlCache<TokenHash, CachedCredential>,
    /// User records read on every authenticated request.
    users: TtlCache<UserId, User>,
    /// HTTP-basic sign-ins verified lately: a keyed hash of (login, password) -> the account,
    /// for `basic_login_ttl`, so a client sending its password on every request costs one
    /// hash, not one per request. Dropped with the user's invalidations.
    basic_logins: TtlCache<[u8; 32], User>,
    /// The key of those hashes, new in every process (never stored).
    basic_key: [u8; 32],
    /// What each user may do (roles' permissions, memberships).
    pub(crate) grants: TtlCache<UserId, Grants>,
    /// Every role with its permissions (changes rarely; dropped with `Invalidation::All`).
    pub(crate) roles: TtlCache<(), Vec<crate::access::Role>>,
    /// Last-used times waiting for `flush_usage`, so a token check never writes.
    usage: Mutex<HashMap<(CredentialKind, Uuid), DateTime<Utc>>>,
    /// Woken when mail is queued, so delivery does not wait for its next tick.
    pub(crate) mail_queued: Notify,
    /// One permit per picture decoded at once (`max_concurrent_picture_decodes`).
    picture_decodes: Arc<tokio::sync::Semaphore>,
    /// When each exhausted limit was last written to the audit log.
    pub(crate) throttle_records: ThrottleRecords,
    /// Work requests leave for after their answer, done by the next mail round.
    pub(crate) deferred: Mutex<std::collections::VecDeque<crate::lifecycle::Deferred>>,
    pub(crate) config: AccountsConfig,
    /// Seals the secrets the server reads back (TOTP secrets) with the server key.
    pub(crate) sealer: crate::sealing::Sealer,
    /// Sign-in outcomes (metrics).
    sign_ins: SignInCounters,
    /// Mail delivery attempts that failed, since start (metrics).
    pub(crate) mail_attempts_failed: AtomicU64,
}

const AVATAR: &str = "avatar";

/// A user's public number: random in `1..2^53`, exact as a JSON (double) number.
pub(crate) fn draw_user_number() -> i64 {
    use rand::Rng;
    rand::rngs::OsRng.gen_range(1..(1_i64 << 53))
}

fn token_name(raw: Option<String>) -> Result<String, InvalidInput> {
    let name = raw.map(|n| n.trim().to_owned()).unwrap_or_default();
    if name.is_empty() {
        return Ok("token".into());
    }
    if name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(InvalidInput::new(
            "name",
            "must be at most 100 characters, without control characters",
        ));
    }
    Ok(name)
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

    // ---------------------------------------------------------------- users

    pub async fn create_user(&self, new: NewUser) -> Result<User, CreateUserError> {
        let password_hash = match &new.password {
            Some(p) => Some(self.hasher.hash(p).await),
            None => None,
        };
        let record = NewUserRecord {
            id: UserId::new(),
            username: new.username,
            email: new.email,
            email_verified: new.email_verified,
            status: new.status,
            number: draw_user_number(),
            roles: if new.is_admin {
                vec![RoleId::USER, RoleId::ADMIN]
            } else {
                vec![RoleId::USER]
            },
            memberships: Vec::new(),
            password_hash,
            profile: ProfileChange::default(),
            created_at: self.clock.now(),
        };
        self.store.insert_user(&record).await.map_err(|e| match e {
            StoreError::Conflict(Unique::Username) => CreateUserError::UsernameTaken,
            StoreError::Conflict(Unique::Email) => CreateUserError::EmailTaken,
            other => CreateUserError::Store(other),
        })
    }

    /// A user by id, from the cache when it is fresh.
    pub async fn user(&self, id: UserId) -> Result<User, UserError> {
        let now = self.clock.now();
        if let Some(user) = self.users.get(&id, now, |_| true) {
            return Ok(user);
        }
        let generation = self.users.generation();
        let user = self
            .store
            .user_by_id(id)
            .await?
            .ok_or(UserError::NotFound)?;
        let user = self.with_effective_admin_one(user).await?;
        self.users.insert(id, user.clone(), now, generation);
        Ok(user)
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

    pub async fn user_by_username(&self, username: &Username) -> Result<Option<User>, StoreError> {
        self.store.user_by_username(username).await
    }

    /// Finds a user by id, username or e-mail: how operators name users on the CLI.
    pub async fn find_user(&self, reference: &str) -> Result<User, UserError> {
        if let Ok(id) = reference.parse::<UserId>() {
            if let Some(user) = self.store.user_by_id(id).await? {
                return Ok(user);
            }
        }
        if let Ok(email) = EmailAddress::parse(reference) {
            if let Some(user) = self.store.user_by_email(&email).await? {
                return Ok(user);
            }
        }
        if let Ok(username) = Username::parse(reference) {
            if let Some(user) = self.store.user_by_username(&username).await? {
                return Ok(user);
            }
        }
        Err(UserError::NotFound)
    }

    /// Sets a new password (the operator's reset) and ends every session, API token and
    /// pending sign-in challenge of the user.
    pub async fn set_password(
        &self,
        user: UserId,
        password: Password,
        client: &ClientInfo,
    ) -> Result<(), UserError> {
        let hash = self.hasher.hash(&password).await;
        let now = self.clock.now();
        if !self
            .store
            .set_password_hash(user, &hash, EndSessions::Reset, now)
            .await?
        {
            return Err(UserError::NotFound);
        }
        self.forget_user(user).await;
        self.audit(
            "password.set",
            None,
            Some(user),
            Outcome::Success,
            client,
            None,
        )
        .await;
        Ok(())
    }

    /// `actor` changes `user`'s profile claims (`user:update` on them).
    pub async fn update_profile(
        &self,
        actor: &Actor,
        user: UserId,
        update: ProfileUpdate,
    ) -> Result<User, ProfileError> {
        self.authorize_user(actor, UPDATE_USER, user).await?;
        let change = update.validate()?;
        let updated = self
            .store
            .update_profile(user, &change, self.clock.now())
            .await?
            .ok_or(ProfileError::NotFound)?;
        self.forget_user(user).await;
        self.audit(
            "profile.update",
            actor.user_id(),
            Some(user),
            Outcome::Success,
            actor.client(),
            None,
        )
        .await;
        Ok(self.with_effective_admin_one(updated).await?)
    }

    /// `actor` stores a new profile picture for `user` (`user:update` on them) and points the
    /// `picture` claim at it; returns its URL. Checked before a byte is decoded.
    pub async fn set_picture(
        &self,
        actor: &Actor,
        user: UserId,
        bytes: Vec<u8>,
    ) -> Result<String, PictureError> {
        self.authorize_user(actor, UPDATE_USER, user).await?;
        let max = self.config.max_picture_bytes;
        if bytes.len() > max {
            return Err(PictureError::TooLarge { max });
        }
        // The permit travels with the decode, so a caller that goes away does not free its
        // place while its picture is still being decoded.
        let permit = Arc::clone(&self.picture_decodes)
            .acquire_owned()
            .await
            .map_err(|_| PictureError::NotAnImage)?;
        let budget = self.config.max_picture_decode_bytes;
        let png = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            avatar::normalize(&bytes, budget)
        })
        .await
        .map_err(|_| PictureError::NotAnImage)??;
        if self.store.user_by_id(user).await?.is_none() {
            return Err(PictureError::NotFound);
        }
        let record = FileRecord {
            id: FileId::new(),
            owner_id: user,
            purpose: AVATAR.into(),
            content_type: avatar::CONTENT_TYPE.into(),
            size: png.len() as u64,
            name: "avatar.png".into(),
            link: None,
            metadata: None,
            tag_set: None,
            created_at: self.clock.now(),
        };
        let url = self.picture_url(record.id);
        self.files.put(record.id, png).await?;
        match self
            .store
            .replace_avatar(
                &record,
                &ProfileChange::picture(url.clone()),
                &self.content_limits(),
            )
            .await
        {
            Ok(previous) => {
                self.forget_user(user).await;
                self.audit(
                    "profile.picture",
                    actor.user_id(),
                    Some(user),
                    Outcome::Success,
                    actor.client(),
                    None,
                )
                .await;
                if let Some(old) = previous {
                    if let Err(e) = self.files.delete(old).await {
                        tracing::warn!(error = %e, file = %old, "could not delete a replaced avatar");
                    }
                }
                Ok(url)
            }
            Err(e) => {
                if let Err(cleanup) = self.files.delete(record.id).await {
                    tracing::warn!(error = %cleanup, "could not delete an orphaned upload");
                }
                Err(match e {
                    StoreError::LimitReached => PictureError::QuotaExceeded {
                        quota: self.config.file_quota_bytes,
                    },
                    other => other.into(),
                })
            }
        }
    }

    /// The public URL of a stored picture.
    pub fn picture_url(&self, id: FileId) -> String {
        format!(
            "{}/auth/v1/pictures/{id}",
            self.config.public_url.trim_end_matches('/')
        )
    }

    /// A stored picture, for anyone who has its (unguessable) URL, like any avatar URL.
    pub async fn picture(&self, id: FileId) -> Result<Option<Picture>, PictureError> {
        let Some(record) = self.store.file(id).await? else {
            return Ok(None);
        };
        if record.purpose != AVATAR {
            return Ok(None);
        }
        Ok(self.files.get(id).await?.map(|bytes| Picture {
            content_type: record.content_type,
            bytes,
        }))
    }

    // ---------------------------------------------------------------- sessions

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

    fn basic_login_key(&self, login: &str, password: &Password) -> [u8; 32] {
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

    async fn password_only(
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

    async fn check_password(
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

    async fn password_login(
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

    fn note_use(&self, principal: &Principal, now: DateTime<Utc>) {
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

    // ---------------------------------------------------------------- API tokens

    /// `now` + `seconds` when that is 1 second to `max_token_lifetime` away; checked
    /// arithmetic all the way, so no number a caller sends can overflow.
    fn expiry_after(
        &self,
        now: DateTime<Utc>,
        seconds: i64,
    ) -> Result<DateTime<Utc>, InvalidInput> {
        let max = self.config.max_token_lifetime;
        Duration::try_seconds(seconds)
            .filter(|d| *d > Duration::zero() && *d <= max)
            .and_then(|d| now.checked_add_signed(d))
            .ok_or_else(|| {
                InvalidInput::new(
                    "expires_in",
                    format!("must be between 1 and {} seconds", max.num_seconds()),
                )
            })
    }

    /// A new API token; `expires_in_seconds` makes it a timed token, from 1 second to
    /// `max_token_lifetime` (any other number, however large, is `Invalid` naming the range,
    /// never an overflow). The secret is returned once.
    ///
    /// `actor` needs `token:create` on `user`, and to cover them when they are someone else.
    pub async fn create_token(
        &self,
        actor: &Actor,
        user: UserId,
        name: Option<String>,
        expires_in_seconds: Option<i64>,
    ) -> Result<(ApiToken, TokenSecret), TokenError> {
        self.authorize_user_change(actor, need(Entity::Token, Action::Create), user)
            .await?;
        let name = token_name(name)?;
        let now = self.clock.now();
        let expires_at = match expires_in_seconds {
            None => None,
            Some(seconds) => Some(self.expiry_after(now, seconds)?),
        };
        let secret = TokenSecret::generate(CredentialKind::ApiToken);
        let token = ApiToken {
            id: TokenId::new(),
            user_id: user,
            name,
            mask: secret.mask(),
            created_at: now,
            expires_at,
            disabled: false,
            last_used_at: None,
            rotated_at: None,
        };
        let max = self.config.max_tokens_per_user;
        match self.store.insert_token(&token, &secret.hash(), max).await {
            Ok(()) => {
                self.audit_token("token.create", &token, actor).await;
                Ok((token, secret))
            }
            Err(StoreError::LimitReached) => Err(TokenError::TooMany { max }),
            Err(e) => Err(e.into()),
        }
    }

    async fn audit_token(&self, action: &str, token: &ApiToken, actor: &Actor) {
        let detail = format!("token {} ({})", token.id, token.mask);
        let (by, of) = (actor.user_id(), Some(token.user_id));
        let client = actor.client();
        self.audit(action, by, of, Outcome::Success, client, Some(&detail))
            .await;
    }

    /// All of `user`'s API tokens, newest first, with pending last-used times merged in
    /// (`token:read` on them).
    pub async fn list_tokens(
        &self,
        actor: &Actor,
        user: UserId,
    ) -> Result<Vec<ApiToken>, TokenError> {
        self.authorize_user(actor, need(Entity::Token, Action::Read), user)
            .await?;
        let mut tokens = self.store.list_tokens(user).await?;
        let usage = self.usage.lock().expect("usage lock poisoned");
        for token in &mut tokens {
            if let Some(at) = usage.get(&(CredentialKind::ApiToken, token.id.0)) {
                token.last_used_at = Some(token.last_used_at.map_or(*at, |old| old.max(*at)));
            }
        }
        Ok(tokens)
    }

    /// One of `user`'s tokens, named by id, secret or mask (`token:read` on them). Another
    /// user's token is `NotFound`, exactly like a token that does not exist.
    pub async fn token(
        &self,
        actor: &Actor,
        user: UserId,
        by: &TokenRef,
    ) -> Result<ApiToken, TokenError> {
        self.authorize_user(actor, need(Entity::Token, Action::Read), user)
            .await?;
        self.find_token(user, by).await
    }

    async fn find_token(&self, user: UserId, by: &TokenRef) -> Result<ApiToken, TokenError> {
        let lookup = match by {
            TokenRef::Id(id) => TokenLookup::Id(*id),
            TokenRef::Secret(secret) => TokenLookup::Hash(secret.hash()),
            TokenRef::Mask(mask) => TokenLookup::Mask(mask.clone()),
        };
        self.store
            .find_token(user, &lookup)
            .await?
            .ok_or(TokenError::NotFound)
    }

    /// `actor` disables or enables one of `user`'s tokens (`token:update`, covering them).
    pub async fn set_token_disabled(
        &self,
        actor: &Actor,
        user: UserId,
        by: &TokenRef,
        disabled: bool,
    ) -> Result<ApiToken, TokenError> {
        self.authorize_user_change(actor, need(Entity::Token, Action::Update), user)
            .await?;
        let token = self.find_token(user, by).await?;
        if !self
            .store
            .set_token_disabled(user, token.id, disabled)
            .await?
        {
            return Err(TokenError::NotFound);
        }
        self.forget_credential(token.id.0).await;
        let action = if disabled {
            "token.disable"
        } else {
            "token.enable"
        };
        self.audit_token(action, &token, actor).await;
        Ok(ApiToken { disabled, ..token })
    }

    /// `actor` deletes one of `user`'s tokens (`token:delete`, covering them).
    pub async fn delete_token(
        &self,
        actor: &Actor,
        user: UserId,
        by: &TokenRef,
    ) -> Result<ApiToken, TokenError> {
        self.authorize_user_change(actor, need(Entity::Token, Action::Delete), user)
            .await?;
        let token = self.find_token(user, by).await?;
        if !self.store.delete_token(user, token.id).await? {
            return Err(TokenError::NotFound);
        }
        self.forget_credential(token.id.0).await;
        self.audit_token("token.delete", &token, actor).await;
        Ok(token)
    }

    /// A new secret for the same token (same id, name, expiry); the old secret stops working
    /// (`token:update` on `user`, covering them).
    pub async fn rotate_token(
        &self,
        actor: &Actor,
        user: UserId,
        by: &TokenRef,
    ) -> Result<(ApiToken, TokenSecret), TokenError> {
        self.authorize_user_change(actor, need(Entity::Token, Action::Update), user)
            .await?;
        let token = self.find_token(user, by).await?;
        let secret = TokenSecret::generate(CredentialKind::ApiToken);
        let now = self.clock.now();
        if !self
            .store
            .rotate_token(user, token.id, &secret.hash(), &secret.mask(), now)
            .await?
        {
            return Err(TokenError::NotFound);
        }
        self.forget_credential(token.id.0).await;
        self.audit_token("token.rotate", &token, actor).await;
        let token = ApiToken {
            mask: secret.mask(),
            rotated_at: Some(now),
            ..token
        };
        Ok((token, secret))
    }
}

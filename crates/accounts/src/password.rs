//! Passwords: the policy a new password must meet, and argon2id hashing on the hasher's own
//! threads (one per core, jobs queued on a channel; see [`PasswordHasher`]) so hashing never
//! stalls the async workers.
//!
//! Two implementations give the same PHC strings: `argon2-rust` (a pure-Rust port of the
//! reference C argon2 that picks its SIMD code at run time) hashes new passwords and verifies
//! hashes at the current parameters, on memory each hashing thread keeps; RustCrypto `argon2`
//! parses every PHC string and verifies every stored hash the first does not take (other
//! algorithms, versions, costs or lanes, associated data), which are rehashed at login.

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::oneshot;

pub use crate::hash_limits::{is_known_hash, HashCostLimits};

/// A password as typed by a user. `Debug` never prints it.
#[derive(Clone)]
pub struct Password(SecretString);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

/// Why a new password was refused, in words the user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordPolicyError {
    #[error("password must be at least {min} characters long")]
    TooShort { min: usize },
    #[error("password must be at most {max} characters long")]
    TooLong { max: usize },
    /// Common, predictable, or built from the user's own name or e-mail.
    #[error("password is too easy to guess: {reason}")]
    TooWeak { reason: String },
}

impl Password {
    pub const MIN_CHARS: usize = 8;
    /// Long passphrases are welcome; the bound only keeps hashing cost predictable.
    pub const MAX_CHARS: usize = 1024;

    /// Wraps a password given to authenticate: no policy, any length up to the maximum.
    pub fn for_login(raw: String) -> Self {
        Self(SecretString::from(raw))
    }

    /// Checks a new password against the policy without knowing whose it is.
    pub fn new_checked(raw: String) -> Result<Self, PasswordPolicyError> {
        Self::new_for(raw, &[])
    }

    /// Checks a new password against the policy: length, then a strength estimate (zxcvbn)
    /// that also penalises the user's own `user_inputs` (username, e-mail). No composition
    /// rules.
    pub fn new_for(raw: String, user_inputs: &[&str]) -> Result<Self, PasswordPolicyError> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(PasswordPolicyError::TooShort {
                min: Self::MIN_CHARS,
            });
        }
        if chars > Self::MAX_CHARS {
            return Err(PasswordPolicyError::TooLong {
                max: Self::MAX_CHARS,
            });
        }
        // The estimator's cost grows with length; a prefix this long already tells a weak
        // password from a strong one.
        let scored: String = raw.chars().take(100).collect();
        let estimate = zxcvbn::zxcvbn(&scored, user_inputs);
        if estimate.score() < zxcvbn::Score::Three {
            let feedback = estimate.feedback();
            let mut reason = feedback
                .and_then(|f| f.warning())
                .map(|w| w.to_string())
                .unwrap_or_else(|| "it is a common or predictable password".into());
            if let Some(hint) = feedback.and_then(|f| f.suggestions().first()) {
                reason.push_str(&format!(" ({hint})"));
            }
            return Err(PasswordPolicyError::TooWeak { reason });
        }
        Ok(Self(SecretString::from(raw)))
    }

    pub(crate) fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// Argon2id with the configured cost, run by a fixed set of hashing threads (one per core):
/// never on the async workers, never more at once than there are threads; the rest queue.
/// Each thread takes the next job itself as soon as it is done with one, so no wake-up of
/// another thread stands between two hashes (a semaphore in front of `spawn_blocking` left the
/// cores idle for a hand-off after every hash), and each keeps its own argon2 memory between
/// hashes (wiped after each), so a hash neither maps nor faults in 19 MiB.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
    /// Dropped with the last clone, which ends the threads.
    jobs: Arc<mpsc::Sender<Job>>,
}

/// One hash to run, on a hashing thread's own [`Worker`]: it answers through its own channel.
type Job = Box<dyn FnOnce(&Inner, &mut Worker) + Send>;

struct Inner {
    params: Params,
    /// The most a stored hash may cost to verify; above it, a wrong password.
    limits: HashCostLimits,
    /// The same parameters for `argon2-rust`.
    fast: argon2_rust::Argon2,
    /// Jobs queued and not yet taken by a thread.
    waiting: AtomicI64,
    /// Password verifications run (`check`, `verify`), dummy ones included: what a
    /// guesser costs the server, and what the throttling tests count.
    verifications: AtomicU64,
    /// New hashes made (`hash`): with `verifications`, every argon2 run a request costs.
    hashes: AtomicU64,
    /// Jobs a thread is running right now.
    busy: AtomicI64,
    /// How many hashing threads there are.
    threads: usize,
    /// Verified against when the user does not exist, so both cases cost one hash.
    dummy_hash: String,
}

/// What one hashing thread keeps between hashes: `argon2-rust`'s hasher with its memory
/// (mapped once, wiped after every hash).
struct Worker {
    fast: argon2_rust::Hasher,
}

/// A hasher for the calling thread, outside the pool, for benchmarks that time the hash a
/// login costs (`loadbench hash-ceiling`): the code and the memory reuse of a hashing thread.
/// Request paths use [`PasswordHasher::verify`] or [`PasswordHasher::check`].
pub struct BlockingHasher {
    inner: Arc<Inner>,
    worker: Worker,
}

impl fmt::Debug for BlockingHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BlockingHasher")
    }
}

impl BlockingHasher {
    /// [`PasswordHasher::check`] on the calling thread.
    pub fn check(&mut self, stored: Option<&str>, password: &Password) -> Verified {
        self.inner.check(&mut self.worker, stored, password)
    }
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("m_cost", &self.inner.params.m_cost())
            .field("t_cost", &self.inner.params.t_cost())
            .field("p_cost", &self.inner.params.p_cost())
            .finish()
    }
}

impl PasswordHasher {
    /// OWASP's argon2id minimum: m = 19456 KiB, t = 2, p = 1.
    pub fn default_params() -> Params {
        Params::new(19_456, 2, 1, None).expect("valid argon2 parameters")
    }

    /// `concurrency` hashes run at once (typically the number of cores); the rest queue.
    /// Stored hashes are bounded by the default [`HashCostLimits`].
    pub fn new(params: Params, concurrency: usize) -> Self {
        Self::with_limits(params, concurrency, HashCostLimits::default())
    }

    /// Like [`PasswordHasher::new`], with `limits` on what a stored hash may cost (raised
    /// where needed to admit hashes at `params`).
    pub fn with_limits(params: Params, concurrency: usize, limits: HashCostLimits) -> Self {
        let fast_params = argon2_rust::Params::builder()
            .memory(argon2_rust::params::Memory::kib(u64::from(params.m_cost())))
            .passes(params.t_cost())
            .lanes(params.p_cost())
            .threads(1)
            .tag_len(argon2_rust::params::TagLen::bytes(OUTPUT_LEN as u64))
            .build()
            .expect("parameters RustCrypto accepts are valid for argon2-rust");
        let mut inner = Inner {
            limits: limits.admitting(&params),
            params,
            fast: argon2_rust::Argon2::new(
                argon2_rust::Algorithm::Argon2id,
                argon2_rust::Version::V0x13,
                fast_params,
            ),
            waiting: AtomicI64::new(0),
            verifications: AtomicU64::new(0),
            hashes: AtomicU64::new(0),
            busy: AtomicI64::new(0),
            threads: concurrency.max(1),
            dummy_hash: String::new(),
        };
        inner.dummy_hash = inner.hash(&mut inner.worker(), b"gatehouse-dummy-password");
        let inner = Arc::new(inner);
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..concurrency.max(1) {
            let inner = Arc::clone(&inner);
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || hashing_thread(&inner, &receiver))
                .expect("the OS starts a hashing thread");
        }
        Self {
            inner,
            jobs: Arc::new(sender),
        }
    }

    /// The bounds stored hashes are held to (imports check them too).
    pub fn limits(&self) -> &HashCostLimits {
        &self.inner.limits
    }

    /// Hash requests waiting for a free slot right now (a metric).
    /// Password hashes computed to verify a password since the hasher was made (argon2 or
    /// bcrypt, dummy ones for unknown logins included), counted on the hashing thread as
    /// each one starts: a caller that went away before its turn is not counted.
    pub fn verifications(&self) -> u64 {
        self.inner.verifications.load(Ordering::Relaxed)
    }

    /// New password hashes started since the hasher was made.
    pub fn hashes(&self) -> u64 {
        self.inner.hashes.load(Ordering::Relaxed)
    }

    pub fn queue_len(&self) -> i64 {
        self.inner.waiting.load(Ordering::Relaxed)
    }

    /// Hashing threads running a job right now (a metric).
    pub fn busy(&self) -> i64 {
        self.inner.busy.load(Ordering::Relaxed)
    }

    /// How many hashing threads there are.
    pub fn threads(&self) -> usize {
        self.inner.threads
    }

    /// The argon2id code that hashes new passwords and verifies hashes at the current
    /// parameters on this machine, e.g. `"argon2-rust (Avx2)"`. Benchmarks print it.
    pub fn implementation(&self) -> String {
        format!("argon2-rust ({:?})", argon2_rust::detected_backend())
    }

    /// RustCrypto's argon2id at `params`: for the hashes `argon2-rust` does not take here.
    fn argon(params: Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    /// A [`BlockingHasher`] for the calling thread (benchmarks).
    pub fn blocking(&self) -> BlockingHasher {
        BlockingHasher {
            inner: Arc::clone(&self.inner),
            worker: self.inner.worker(),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&Inner, &mut Worker) -> T + Send + 'static,
    ) -> T {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |inner, worker| {
            // A caller that went away (its request was dropped) no longer needs the hash:
            // skipping it keeps abandoned requests from holding the threads.
            if !answer.is_closed() {
                let out = {
                    // Counted down before the caller hears (and if the hash panics), so
                    // what the caller reads next is current.
                    let _busy = Busy::start(&inner.busy);
                    job(inner, worker)
                };
                let _ = answer.send(out);
            }
        });
        self.inner.waiting.fetch_add(1, Ordering::Relaxed);
        self.jobs
            .send(job)
            .expect("the hashing threads live as long as the hasher");
        answered.await.expect("password hashing does not panic")
    }

    /// A PHC string for a new password.
    pub async fn hash(&self, password: &Password) -> String {
        self.inner.hashes.fetch_add(1, Ordering::Relaxed);
        let password = password.clone();
        self.run(move |inner, worker| inner.hash(worker, password.expose().as_bytes()))
            .await
    }

    /// Checks `password` against `stored`; with `None` (no such user) it spends the same
    /// time on a dummy hash and answers `false`.
    pub async fn verify(&self, stored: Option<String>, password: &Password) -> bool {
        self.check(stored, password).await == Verified::Yes
    }

    /// Like `verify`, and also says when a matching hash should be replaced: an imported
    /// bcrypt hash, or argon2 with other parameters than the current ones.
    pub async fn check(&self, stored: Option<String>, password: &Password) -> Verified {
        let password = password.clone();
        self.run(move |inner, worker| inner.check(worker, stored.as_deref(), &password))
            .await
    }
}

/// One hash at work: counted in `busy` from `start` until dropped.
struct Busy<'a>(&'a AtomicI64);

impl<'a> Busy<'a> {
    fn start(busy: &'a AtomicI64) -> Self {
        busy.fetch_add(1, Ordering::Relaxed);
        Self(busy)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One hashing thread: takes the next job as soon as it is free, until the hasher is dropped.
fn hashing_thread(inner: &Inner, jobs: &Mutex<mpsc::Receiver<Job>>) {
    lower_priority();
    let mut worker = inner.worker();
    loop {
        // One thread waits on the channel at a time; the others wait for the lock.
        let next = jobs.lock().map(|receiver| receiver.recv());
        let Ok(Ok(job)) = next else {
            return;
        };
        inner.waiting.fetch_sub(1, Ordering::Relaxed);
        // A panicking hash answers nobody (its caller sees the closed channel) but must not
        // take the thread with it.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(inner, &mut worker)));
    }
}

/// Hashing runs at the lowest priority of the normal scheduling class, as a batch job: with
/// every core hashing, a request that needs a few microseconds of CPU (a token check, a page)
/// still gets a core at once instead of waiting for a hash's time slice to end. Nothing is
/// lost: the hashes take whatever the requests leave. Where the OS refuses, hashing runs at
/// the normal priority.
#[cfg(target_os = "linux")]
fn lower_priority() {
    use thread_priority::{
        set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
        ThreadPriority, ThreadSchedulePolicy,
    };
    let batch = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch);
    if let Err(error) =
        set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, batch)
    {
        tracing::debug!(?error, "hashing threads keep the normal priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

/// The tag length this service writes (RustCrypto's default, 32 bytes).
const OUTPUT_LEN: usize = Params::DEFAULT_OUTPUT_LEN;

/// The shortest salt `argon2-rust` (like the C reference) takes; a stored hash with a shorter
/// one is left to RustCrypto rather than answered `false`.
const MIN_SALT_LEN: usize = 8;

impl Inner {
    fn worker(&self) -> Worker {
        Worker {
            fast: self.fast.hasher(),
        }
    }

    /// Whether `argon2-rust` at this hasher's parameters computes `stored`: argon2id v19
    /// at the current costs with a 32-byte tag, no secret or associated data. Every other
    /// hash (imported ones, older costs) goes to RustCrypto, which reads its costs from it.
    fn takes(&self, stored: &PasswordHash<'_>) -> bool {
        stored.algorithm == Algorithm::Argon2id.ident()
            && stored.version == Some(Version::V0x13.into())
            && stored.hash.is_some_and(|h| h.len() == OUTPUT_LEN)
            && Params::try_from(stored).is_ok_and(|p| {
                p.keyid().is_empty() && p.data().is_empty() && current_argon2(stored, &self.params)
            })
    }

    /// A PHC string (argon2id, current parameters, 16 random salt bytes) for `password`,
    /// written by `argon2-rust` exactly as RustCrypto writes it (a test compares them).
    fn hash(&self, worker: &mut Worker, password: &[u8]) -> String {
        let mut salt = [0u8; argon2::RECOMMENDED_SALT_LEN];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        match worker.fast.hash_password(password, &salt) {
            Ok(phc) => phc,
            Err(error) => {
                tracing::warn!(%error, "argon2-rust failed to hash; using RustCrypto");
                let salt = SaltString::encode_b64(&salt).expect("16 bytes make a valid salt");
                PasswordHasher::argon(self.params.clone())
                    .hash_password(password, &salt)
                    .expect("argon2 hashes any password within MAX_CHARS")
                    .to_string()
            }
        }
    }

    fn check(&self, worker: &mut Worker, stored: Option<&str>, password: &Password) -> Verified {
        let (mut phc, mut known) = match stored {
            Some(s) => (s, true),
            None => (self.dummy_hash.as_str(), false),
        };
        if let Err(reason) = self.limits.check(phc) {
            // Imported, or written before the bounds: never worth an abort or a held thread.
            // Verifying the dummy instead keeps the answer's cost that of a wrong password.
            if known && is_known_hash(phc) {
                tracing::warn!(%reason, "stored password hash is over the cost bounds; answered as a wrong password");
                phc = self.dummy_hash.as_str();
                known = false;
            }
        }
        if is_bcrypt(phc) {
            self.verifications.fetch_add(1, Ordering::Relaxed);
            let ok = bcrypt::verify(password.expose(), phc).unwrap_or(false);
            return if ok && known {
                Verified::YesRehash
            } else {
                Verified::No
            };
        }
        let Ok(parsed) = PasswordHash::new(phc) else {
            tracing::warn!("stored password hash is not a valid PHC string");
            return Verified::No;
        };
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let ok = self.verify_argon2(worker, &parsed, password.expose().as_bytes());
        match (ok && known, current_argon2(&parsed, &self.params)) {
            (false, _) => Verified::No,
            (true, true) => Verified::Yes,
            (true, false) => Verified::YesRehash,
        }
    }

    /// Whether `password` matches `stored`: by `argon2-rust` on the worker's memory when it
    /// takes this hash (it compares the tags in constant time), else by RustCrypto.
    fn verify_argon2(
        &self,
        worker: &mut Worker,
        stored: &PasswordHash<'_>,
        password: &[u8],
    ) -> bool {
        if self.takes(stored) {
            let mut salt = [0u8; 64];
            let salt = stored.salt.and_then(|s| s.decode_b64(&mut salt).ok());
            let salt = salt.filter(|s| s.len() >= MIN_SALT_LEN);
            if let (Some(salt), Some(expected)) = (salt, stored.hash) {
                match worker.fast.verify(password, salt, expected.as_bytes()) {
                    Ok(()) => return true,
                    Err(argon2_rust::Error::VerifyMismatch) => return false,
                    Err(error) => {
                        tracing::warn!(%error, "argon2-rust failed to verify; using RustCrypto");
                    }
                }
            }
        }
        PasswordHasher::argon(self.params.clone())
            .verify_password(password, stored)
            .is_ok()
    }
}

/// The outcome of [`PasswordHasher::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    No,
    Yes,
    /// Right password, stored in an older scheme or cost: store a new hash.
    YesRehash,
}

pub(crate) fn is_bcrypt(s: &str) -> bool {
    ["$2a$", "$2b$", "$2y$", "$2x$"]
        .iter()
        .any(|p| s.starts_with(p))
}

fn current_argon2(hash: &PasswordHash<'_>, params: &Params) -> bool {
    let Ok(used) = Params::try_from(hash) else {
        return false;
    };
    hash.algorithm == Algorithm::Argon2id.ident()
        && used.m_cost() == params.m_cost()
        && used.t_cost() == params.t_cost()
        && used.p_cost() == params.p_cost()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordHasher {
        PasswordHasher::new(Params::new(256, 1, 1, None).unwrap(), 2)
    }

    #[test]
    fn policy_is_length_only() {
        assert_eq!(
            Password::new_checked("short".into()).unwrap_err(),
            PasswordPolicyError::TooShort { min: 8 }
        );
        let long = "the quick brown fox jumps over the lazy dog ".repeat(2);
        assert!(
            Password::new_checked(long[..64].to_owned()).is_ok(),
            "64 characters accepted"
        );
        assert!(Password::new_checked("a".repeat(1025)).is_err());
        assert!(!format!("{:?}", Password::for_login("hunter22".into())).contains("hunter"));
    }

    #[test]
    fn common_and_personal_passwords_are_refused_with_a_reason() {
        for weak in ["password123", "qwertyuiop", "iloveyou1", "aaaaaaaaaaaa"] {
            match Password::new_checked(weak.into()) {
                Err(PasswordPolicyError::TooWeak { reason }) => assert!(!reason.is_empty()),
                other => panic!("{weak}: {other:?}"),
            }
        }
        let own = Password::new_for(
            "alicesmith1990".into(),
            &["alicesmith", "alicesmith@example.com"],
        );
        assert!(
            matches!(own, Err(PasswordPolicyError::TooWeak { .. })),
            "{own:?}"
        );
        assert!(Password::new_checked("correct horse battery staple".into()).is_ok());
        assert!(Password::new_checked("vN7#qLp2-xW9".into()).is_ok());
    }

    /// What the metrics read: with one hashing thread and two slow hashes asked for, one
    /// runs (busy) while the other waits (queued), and both counts return to zero.
    #[tokio::test]
    async fn a_running_hash_shows_as_busy_and_the_next_as_queued() {
        // About a second a hash, so the state is there to be seen.
        let hasher = PasswordHasher::new(Params::new(19_456, 40, 1, None).unwrap(), 1);
        assert_eq!(
            (hasher.busy(), hasher.queue_len(), hasher.threads()),
            (0, 0, 1)
        );
        let pw = Password::new_checked("correct horse battery".into()).unwrap();
        let jobs: Vec<_> = (0..2)
            .map(|_| {
                let (hasher, pw) = (hasher.clone(), pw.clone());
                tokio::spawn(async move { hasher.hash(&pw).await })
            })
            .collect();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut seen = false;
        while !seen && std::time::Instant::now() < deadline {
            seen = (hasher.busy(), hasher.queue_len()) == (1, 1);
            tokio::task::yield_now().await;
        }
        assert!(seen, "never saw one hash running and one waiting");
        for job in jobs {
            job.await.unwrap();
        }
        assert_eq!((hasher.busy(), hasher.queue_len()), (0, 0));
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let hasher = cheap();
        let pw = Password::new_checked("correct horse battery".into()).unwrap();
        let phc = hasher.hash(&pw).await;
        assert!(phc.starts_with("$argon2id$"));
        assert!(hasher.verify(Some(phc.clone()), &pw).await);
        assert!(
            !hasher
                .verify(Some(phc), &Password::for_login("wrong horse".into()))
                .await
        );
        assert!(!hasher.verify(None, &pw).await);
        assert!(!hasher.verify(Some("garbage".into()), &pw).await);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_callers_share_the_threads_and_every_one_is_answered() {
        let hasher = PasswordHasher::new(Params::new(64, 1, 1, None).unwrap(), 2);
        let pw = Password::new_checked("correct horse battery".into()).unwrap();
        let phc = hasher.hash(&pw).await;
        let checks: Vec<_> = (0..40)
            .map(|i| {
                let (hasher, phc) = (hasher.clone(), phc.clone());
                let typed = if i % 2 == 0 {
                    pw.clone()
                } else {
                    Password::for_login("wrong horse".into())
                };
                tokio::spawn(async move { hasher.verify(Some(phc), &typed).await })
            })
            .collect();
        let mut right = 0;
        for check in checks {
            right += usize::from(check.await.unwrap());
        }
        assert_eq!(right, 20);
        assert_eq!(hasher.queue_len(), 0, "nothing left queued");

        // A caller that gives up does not stop the others from being answered.
        let abandoned = {
            let (hasher, phc, pw) = (hasher.clone(), phc.clone(), pw.clone());
            tokio::spawn(async move { hasher.verify(Some(phc), &pw).await })
        };
        abandoned.abort();
        assert!(hasher.verify(Some(phc), &pw).await);
    }

    /// The niceness of this process's thread named `name`, from /proc.
    #[cfg(target_os = "linux")]
    fn niceness_of(name: &str) -> Option<i64> {
        for task in std::fs::read_dir("/proc/self/task").ok()? {
            let dir = task.ok()?.path();
            let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
            if comm.trim() == name {
                let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
                // After the parenthesised name: state is field 3, nice is field 19.
                let rest = stat.rsplit_once(')')?.1;
                return rest.split_whitespace().nth(16)?.parse().ok();
            }
        }
        None
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_give_way_to_requests() {
        let hasher = PasswordHasher::new(Params::new(64, 1, 1, None).unwrap(), 1);
        let pw = Password::new_checked("correct horse battery".into()).unwrap();
        hasher.hash(&pw).await; // the thread has started and set its priority
        assert_eq!(niceness_of("argon2-0"), Some(19));
    }

    #[tokio::test]
    async fn imported_hashes_verify_and_ask_for_a_rehash() {
        let hasher = cheap();
        let pw = Password::for_login("imported secret 42".into());
        let wrong = Password::for_login("imported secret 43".into());
        let bcrypt = bcrypt::hash("imported secret 42", 4).unwrap();
        assert!(is_known_hash(&bcrypt));
        assert_eq!(
            hasher.check(Some(bcrypt.clone()), &pw).await,
            Verified::YesRehash
        );
        assert_eq!(hasher.check(Some(bcrypt), &wrong).await, Verified::No);

        // argon2id at other parameters, and argon2i: right password, stale scheme.
        for (alg, params) in [
            (Algorithm::Argon2id, Params::new(512, 1, 1, None).unwrap()),
            (Algorithm::Argon2i, Params::new(256, 1, 1, None).unwrap()),
        ] {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            let other = Argon2::new(alg, Version::V0x13, params)
                .hash_password(b"imported secret 42", &salt)
                .unwrap()
                .to_string();
            assert!(is_known_hash(&other));
            assert_eq!(
                hasher.check(Some(other.clone()), &pw).await,
                Verified::YesRehash
            );
            assert_eq!(hasher.check(Some(other), &wrong).await, Verified::No);
        }
        let current = hasher.hash(&pw).await;
        assert_eq!(hasher.check(Some(current), &pw).await, Verified::Yes);
        for bad in [
            "",
            "md5$abc",
            "$2b$04$short",
            "$scrypt$ln=1,r=8,p=1$c2FsdA$aGFzaA",
        ] {
            assert!(!is_known_hash(bad), "{bad}");
        }
    }

    fn rustcrypto_verifies(phc: &str, password: &str) -> bool {
        Argon2::default()
            .verify_password(password.as_bytes(), &PasswordHash::new(phc).unwrap())
            .is_ok()
    }

    fn rustcrypto_hash(alg: Algorithm, params: Params, salt: &[u8]) -> String {
        Argon2::new(alg, Version::V0x13, params)
            .hash_password(
                b"imported secret 42",
                &SaltString::encode_b64(salt).unwrap(),
            )
            .unwrap()
            .to_string()
    }

    #[test]
    fn argon2_rust_writes_what_rustcrypto_writes() {
        let hasher = PasswordHasher::new(PasswordHasher::default_params(), 1);
        let salt = *b"0123456789abcdef";
        let fast = hasher
            .inner
            .worker()
            .fast
            .hash_password(b"correct horse battery", &salt)
            .unwrap();
        let rust = PasswordHasher::argon(PasswordHasher::default_params())
            .hash_password(
                b"correct horse battery",
                &SaltString::encode_b64(&salt).unwrap(),
            )
            .unwrap()
            .to_string();
        assert_eq!(fast, rust);
        assert!(fast.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(hasher.implementation().starts_with("argon2-rust ("));
    }

    #[tokio::test]
    async fn hashes_of_either_implementation_verify_on_both() {
        let hasher = PasswordHasher::new(PasswordHasher::default_params(), 2);
        let pw = Password::for_login("imported secret 42".into());
        let wrong = Password::for_login("imported secret 43".into());
        let ours = hasher.hash(&pw).await;
        assert!(hasher.inner.takes(&PasswordHash::new(&ours).unwrap()));
        assert!(rustcrypto_verifies(&ours, "imported secret 42"));
        assert!(!rustcrypto_verifies(&ours, "imported secret 43"));
        let theirs = rustcrypto_hash(
            Algorithm::Argon2id,
            PasswordHasher::default_params(),
            b"sixteen byte slt",
        );
        assert!(hasher.inner.takes(&PasswordHash::new(&theirs).unwrap()));
        for phc in [ours, theirs] {
            assert_eq!(hasher.check(Some(phc.clone()), &pw).await, Verified::Yes);
            assert_eq!(hasher.check(Some(phc.clone()), &wrong).await, Verified::No);
            let mut blocking = hasher.blocking();
            assert_eq!(blocking.check(Some(&phc), &pw), Verified::Yes);
            assert_eq!(blocking.check(Some(&phc), &wrong), Verified::No);
        }
        assert_eq!(hasher.check(None, &pw).await, Verified::No);
        assert_eq!(hasher.blocking().check(None, &pw), Verified::No);
    }

    #[test]
    fn a_worker_keeps_its_memory_between_hashes() {
        let hasher = PasswordHasher::new(Params::new(256, 1, 1, None).unwrap(), 1);
        let mut blocking = hasher.blocking();
        assert_eq!(blocking.worker.fast.reserved_blocks(), 0);
        let pw = Password::for_login("correct horse battery".into());
        let phc = hasher
            .inner
            .hash(&mut blocking.worker, b"correct horse battery");
        assert_eq!(blocking.worker.fast.reserved_blocks(), 256);
        assert_eq!(blocking.check(Some(&phc), &pw), Verified::Yes);
        assert_eq!(
            blocking.worker.fast.reserved_blocks(),
            256,
            "the second hash took the same memory"
        );
    }

    #[tokio::test]
    async fn hashes_argon2_rust_does_not_take_go_to_rustcrypto() {
        let hasher = PasswordHasher::new(PasswordHasher::default_params(), 2);
        let pw = Password::for_login("imported secret 42".into());
        let wrong = Password::for_login("imported secret 43".into());
        let current = PasswordHasher::default_params();
        let salt = b"sixteen byte slt";
        let cases = [
            // Argon2i and argon2d at the current costs: another algorithm.
            (
                rustcrypto_hash(Algorithm::Argon2i, current.clone(), salt),
                Verified::YesRehash,
            ),
            (
                rustcrypto_hash(Algorithm::Argon2d, current.clone(), salt),
                Verified::YesRehash,
            ),
            // Two lanes and older costs: other parameters.
            (
                rustcrypto_hash(
                    Algorithm::Argon2id,
                    Params::new(19_456, 2, 2, None).unwrap(),
                    salt,
                ),
                Verified::YesRehash,
            ),
            (
                rustcrypto_hash(
                    Algorithm::Argon2id,
                    Params::new(512, 1, 1, None).unwrap(),
                    salt,
                ),
                Verified::YesRehash,
            ),
            // Current algorithm and costs, with associated data (`data=` in the PHC string).
            (
                rustcrypto_hash(
                    Algorithm::Argon2id,
                    argon2::ParamsBuilder::new()
                        .m_cost(current.m_cost())
                        .t_cost(current.t_cost())
                        .p_cost(1)
                        .data(argon2::AssociatedData::new(b"tenant-7").unwrap())
                        .build()
                        .unwrap(),
                    salt,
                ),
                Verified::Yes,
            ),
        ];
        for (phc, right) in cases {
            let parsed = PasswordHash::new(&phc).unwrap();
            assert!(!hasher.inner.takes(&parsed), "{phc}");
            assert_eq!(hasher.check(Some(phc.clone()), &pw).await, right, "{phc}");
            assert_eq!(
                hasher.check(Some(phc.clone()), &wrong).await,
                Verified::No,
                "{phc}"
            );
        }
    }

    /// What a stored hash with attacker-chosen costs (imported, or written before the bounds
    /// existed) costs a login: nothing, and the answer of a wrong password.
    #[tokio::test]
    async fn a_stored_hash_with_huge_costs_is_a_wrong_password_not_an_abort() {
        let hasher = cheap();
        let pw = Password::for_login("imported secret 42".into());
        let tag = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let bcrypt_31 = {
            let ok = bcrypt::hash("imported secret 42", 4).unwrap();
            format!("$2b$31${}", &ok[7..])
        };
        for phc in [
            format!("$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA${tag}"),
            format!("$argon2id$v=19$m=262144,t=40,p=1$c2FsdHNhbHRzYWx0c2FsdA${tag}"),
            format!("$argon2i$v=19$m=65536,t=4294967295,p=1$c2FsdHNhbHRzYWx0c2FsdA${tag}"),
            bcrypt_31,
        ] {
            let started = std::time::Instant::now();
            assert_eq!(
                hasher.check(Some(phc.clone()), &pw).await,
                Verified::No,
                "{phc}"
            );
            assert!(
                started.elapsed() < std::time::Duration::from_secs(1),
                "{phc} took {:?}",
                started.elapsed()
            );
        }
    }

    #[test]
    fn default_parameters_meet_the_floor() {
        let p = PasswordHasher::default_params();
        assert!(p.m_cost() >= 19_456 && p.t_cost() >= 2 && p.p_cost() >= 1);
    }
}

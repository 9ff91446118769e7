//! Passwords: the policy a new password must meet, and argon2id hashing on a bounded
//! blocking pool so hashing never stalls the async workers.

use std::fmt;
use std::str::FromStr as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

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

    fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// Argon2id with the configured cost, run on `spawn_blocking` behind a semaphore.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    params: Params,
    permits: Semaphore,
    waiting: AtomicI64,
    /// Verified against when the user does not exist, so both cases cost one hash.
    dummy_hash: String,
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
    pub fn new(params: Params, concurrency: usize) -> Self {
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let dummy_hash = argon
            .hash_password(b"gatehouse-dummy-password", &salt)
            .expect("argon2 hashes a constant")
            .to_string();
        Self {
            inner: Arc::new(Inner {
                params,
                permits: Semaphore::new(concurrency.max(1)),
                waiting: AtomicI64::new(0),
                dummy_hash,
            }),
        }
    }

    /// Hash requests waiting for a free slot right now (a metric).
    pub fn queue_len(&self) -> i64 {
        self.inner.waiting.load(Ordering::Relaxed)
    }

    fn argon(params: Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    async fn run<T: Send + 'static>(&self, job: impl FnOnce(&Inner) -> T + Send + 'static) -> T {
        self.inner.waiting.fetch_add(1, Ordering::Relaxed);
        let permit = self.inner.permits.acquire().await;
        self.inner.waiting.fetch_sub(1, Ordering::Relaxed);
        let _permit = permit.expect("the hashing semaphore is never closed");
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || job(&inner))
            .await
            .expect("password hashing does not panic")
    }

    /// A PHC string for a new password.
    pub async fn hash(&self, password: &Password) -> String {
        let password = password.clone();
        self.run(move |inner| {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            Self::argon(inner.params.clone())
                .hash_password(password.expose().as_bytes(), &salt)
                .expect("argon2 hashes any password within MAX_CHARS")
                .to_string()
        })
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
        self.run(move |inner| {
            let (phc, known) = match &stored {
                Some(s) => (s.as_str(), true),
                None => (inner.dummy_hash.as_str(), false),
            };
            if is_bcrypt(phc) {
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
            let ok = Self::argon(inner.params.clone())
                .verify_password(password.expose().as_bytes(), &parsed)
                .is_ok();
            match (ok && known, current_argon2(&parsed, &inner.params)) {
                (false, _) => Verified::No,
                (true, true) => Verified::Yes,
                (true, false) => Verified::YesRehash,
            }
        })
        .await
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

fn is_bcrypt(s: &str) -> bool {
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

/// Whether `stored` is a password hash this service can verify: an argon2 PHC string
/// (`$argon2id$...`, `$argon2i$...`, `$argon2d$...`) or a bcrypt MCF string (`$2b$...`).
/// Other systems' hashes are imported as they are and replaced at the next login.
pub fn is_known_hash(stored: &str) -> bool {
    if is_bcrypt(stored) {
        return bcrypt::HashParts::from_str(stored).is_ok();
    }
    PasswordHash::new(stored).is_ok_and(|h| {
        [Algorithm::Argon2id, Algorithm::Argon2i, Algorithm::Argon2d]
            .iter()
            .any(|a| h.algorithm == a.ident())
            && Params::try_from(&h).is_ok()
    })
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

    #[tokio::test]
    async fn imported_hashes_verify_and_ask_for_a_rehash() {
        let hasher = cheap();
        let pw = Password::for_login("imported secret 42".into());
        let wrong = Password::for_login("imported secret 43".into());
        let bcrypt = bcrypt::hash("imported secret 42", 4).unwrap();
        assert!(is_known_hash(&bcrypt));
        assert_eq!(hasher.check(Some(bcrypt.clone()), &pw).await, Verified::YesRehash);
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
            assert_eq!(hasher.check(Some(other.clone()), &pw).await, Verified::YesRehash);
            assert_eq!(hasher.check(Some(other), &wrong).await, Verified::No);
        }
        let current = hasher.hash(&pw).await;
        assert_eq!(hasher.check(Some(current), &pw).await, Verified::Yes);
        for bad in ["", "md5$abc", "$2b$04$short", "$scrypt$ln=1,r=8,p=1$c2FsdA$aGFzaA"] {
            assert!(!is_known_hash(bad), "{bad}");
        }
    }

    #[test]
    fn default_parameters_meet_the_floor() {
        let p = PasswordHasher::default_params();
        assert!(p.m_cost() >= 19_456 && p.t_cost() >= 2 && p.p_cost() >= 1);
    }
}

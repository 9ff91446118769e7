//! Account lifecycle use cases: sign-up, e-mail verification, password reset and change,
//! sessions, throttling, the audit trail and mail delivery. Same `Accounts`, second file.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use sha2::{Digest, Sha256};

use crate::access::OrgId;
use crate::domain::{EmailAddress, ProfileChange, User, UserId};
use crate::service::ClientInfo;
use crate::store::CodePurpose;
use crate::token::TokenHash;
use crate::usernames::NewUsername;

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
pub(crate) const MAX_DEFERRED: usize = 10_000;

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
pub(crate) const LOGIN_MEMORY_DAYS: i64 = 1;

/// One password attempt that has been counted against its limits (`Accounts::count_login`):
/// what to take back and clear when it turns out right.
#[derive(Debug)]
pub(crate) struct CountedLogin {
    pub(crate) refund: Vec<String>,
    pub(crate) pair: String,
    pub(crate) address: String,
}

pub(crate) fn backoff(attempts_so_far: u32) -> Duration {
    let seconds = 5_i64.saturating_mul(1_i64 << attempts_so_far.min(10));
    Duration::seconds(seconds.min(3600))
}

pub(crate) fn random_digits(n: usize) -> String {
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
pub(crate) fn code_hash(
    user: UserId,
    purpose: CodePurpose,
    scope: CodeScope,
    code: &str,
) -> TokenHash {
    sha256(&[
        "code",
        &user.to_string(),
        purpose.as_str(),
        &scope.key(),
        code.trim(),
    ])
}

pub(crate) fn link_hash(purpose: CodePurpose, token: &str) -> TokenHash {
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

//! Bearer secrets (API tokens and session tokens): how they look, how they are checked
//! offline, how they are stored (SHA-256 only) and how they are shown again (masked).
//!
//! Format: `<prefix><32 base62 random chars><6 base62 chars of CRC-32>`, e.g.
//! `gh_` for API tokens and `ghs_` for sessions. 32 base62 characters carry 190 random bits;
//! the fixed prefix and checksum let secret scanners find leaked tokens and let us refuse
//! typos without a database lookup.

use std::fmt;

use chrono::{DateTime, Utc};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::domain::UserId;

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_LEN: usize = 32;
const CHECKSUM_LEN: usize = 6;

/// Which kind of credential a secret is; the prefix says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    /// A named, long-lived API token the user manages.
    ApiToken,
    /// A login session, created by password login and ended by logout.
    Session,
}

impl CredentialKind {
    pub fn prefix(self) -> &'static str {
        match self {
            Self::ApiToken => "gh_",
            Self::Session => "ghs_",
        }
    }

    fn from_secret(secret: &str) -> Option<Self> {
        // Longest prefix first: "ghs_" also starts with "gh".
        [Self::Session, Self::ApiToken]
            .into_iter()
            .find(|kind| secret.starts_with(kind.prefix()))
    }
}

/// A plaintext bearer secret. Shown to its owner once; `Debug` never prints it.
#[derive(Clone)]
pub struct TokenSecret {
    kind: CredentialKind,
    secret: SecretString,
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenSecret({}[REDACTED])", self.kind.prefix())
    }
}

/// The SHA-256 of a secret: what the store keeps and looks up by.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({:02x}{:02x}..)", self.0[0], self.0[1])
    }
}

fn checksum(prefix_and_random: &str) -> String {
    let mut n = crc32fast::hash(prefix_and_random.as_bytes()) as u64;
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out.to_vec()).expect("base62 is ASCII")
}

impl TokenSecret {
    /// A fresh random secret of the given kind.
    pub fn generate(kind: CredentialKind) -> Self {
        let mut rng = rand::rngs::OsRng;
        let mut s = String::with_capacity(kind.prefix().len() + RANDOM_LEN + CHECKSUM_LEN);
        s.push_str(kind.prefix());
        for _ in 0..RANDOM_LEN {
            s.push(ALPHABET[rng.gen_range(0..ALPHABET.len())] as char);
        }
        let sum = checksum(&s);
        s.push_str(&sum);
        Self {
            kind,
            secret: SecretString::from(s),
        }
    }

    /// Checks shape and checksum; `None` for anything that cannot be one of our secrets.
    pub fn parse(raw: &str) -> Option<Self> {
        let kind = CredentialKind::from_secret(raw)?;
        let rest = &raw[kind.prefix().len()..];
        if rest.len() != RANDOM_LEN + CHECKSUM_LEN
            || !rest.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return None;
        }
        let (body, sum) = raw.split_at(raw.len() - CHECKSUM_LEN);
        if checksum(body) != sum {
            return None;
        }
        Some(Self {
            kind,
            secret: SecretString::from(raw.to_owned()),
        })
    }

    pub fn kind(&self) -> CredentialKind {
        self.kind
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.secret.expose_secret().as_bytes()).into())
    }

    /// The form shown in listings: identifies the token, reveals too little to use it.
    pub fn mask(&self) -> String {
        let s = self.secret.expose_secret();
        let p = self.kind.prefix().len();
        format!(
            "{}{}...{}",
            self.kind.prefix(),
            &s[p..p + 6],
            &s[s.len() - 4..]
        )
    }

    /// The plaintext, for the one response that hands it to its owner.
    pub fn expose(&self) -> &str {
        self.secret.expose_secret()
    }
}

/// Whether `raw` has the shape of a masked API token (`gh_XXXXXX...YYYY`).
pub fn is_mask(raw: &str) -> bool {
    let prefix = CredentialKind::ApiToken.prefix();
    let Some(rest) = raw.strip_prefix(prefix) else {
        return false;
    };
    let Some((head, tail)) = rest.split_once("...") else {
        return false;
    };
    head.len() == 6
        && tail.len() == 4
        && head
            .bytes()
            .chain(tail.bytes())
            .all(|b| b.is_ascii_alphanumeric())
}

/// An API token's stable identifier (kept across rotation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenId(pub Uuid);

impl TokenId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for TokenId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How a caller names one of their tokens: by id, by the secret itself, or by its mask.
#[derive(Debug, Clone)]
pub enum TokenRef {
    Id(TokenId),
    Secret(TokenSecret),
    Mask(String),
}

impl TokenRef {
    /// Reads whichever of the three forms `raw` is.
    pub fn parse(raw: &str) -> Option<Self> {
        if let Some(secret) = TokenSecret::parse(raw) {
            return (secret.kind() == CredentialKind::ApiToken).then_some(Self::Secret(secret));
        }
        if is_mask(raw) {
            return Some(Self::Mask(raw.to_owned()));
        }
        Uuid::parse_str(raw).ok().map(|id| Self::Id(TokenId(id)))
    }
}

/// An API token's metadata: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: TokenId,
    pub user_id: UserId,
    pub name: String,
    pub mask: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub disabled: bool,
    pub last_used_at: Option<DateTime<Utc>>,
    pub rotated_at: Option<DateTime<Utc>>,
}

impl ApiToken {
    /// Not disabled and not past its expiry.
    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        !self.disabled && self.expires_at.is_none_or(|at| at > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_parse_back() {
        for kind in [CredentialKind::ApiToken, CredentialKind::Session] {
            let secret = TokenSecret::generate(kind);
            let parsed = TokenSecret::parse(secret.expose()).expect("own token parses");
            assert_eq!(parsed.kind(), kind);
            assert_eq!(parsed.hash(), secret.hash());
            assert!(secret.expose().starts_with(kind.prefix()));
        }
    }

    #[test]
    fn checksum_catches_a_changed_character() {
        let secret = TokenSecret::generate(CredentialKind::ApiToken);
        let mut s = secret.expose().to_owned().into_bytes();
        s[5] = if s[5] == b'a' { b'b' } else { b'a' };
        assert!(TokenSecret::parse(std::str::from_utf8(&s).unwrap()).is_none());
        assert!(TokenSecret::parse("gh_short").is_none());
        assert!(TokenSecret::parse("").is_none());
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let secret = TokenSecret::generate(CredentialKind::ApiToken);
        let printed = format!("{secret:?}");
        assert!(!printed.contains(&secret.expose()[3..]));
    }

    #[test]
    fn masks_identify_without_revealing() {
        let secret = TokenSecret::generate(CredentialKind::ApiToken);
        let mask = secret.mask();
        assert!(is_mask(&mask), "{mask}");
        assert!(mask.len() < secret.expose().len());
        assert!(matches!(TokenRef::parse(&mask), Some(TokenRef::Mask(_))));
        assert!(matches!(
            TokenRef::parse(secret.expose()),
            Some(TokenRef::Secret(_))
        ));
        assert!(TokenRef::parse("nonsense").is_none());
    }
}

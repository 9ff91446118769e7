//! Secrets the server must read back (TOTP secrets today; signing keys, device-cookie keys
//! and recoverable API keys later) are sealed before they reach the store, so a copy of the
//! database alone yields nothing usable.
//!
//! A sealed secret is `ghs1 | key id (8 bytes) | nonce (24) | ciphertext and tag`:
//! XChaCha20-Poly1305 under the server key, with the header, the purpose and the record it
//! belongs to (e.g. `totp` and the user id) as associated data, so a sealed value moved to
//! another record or another purpose does not open. The key id beside each ciphertext names
//! the key it needs: rotation re-seals what another key sealed, and a server holding the
//! wrong key says which key it lacks instead of failing obscurely.
//!
//! This module never reads files or settings: the server crate hands it a [`KeyRing`], or a
//! [`KeySource`] it reloads from when a rotation brings a key it does not hold yet.

use std::fmt;
use std::sync::{Arc, RwLock};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};

/// What every sealed value starts with.
const MAGIC: &[u8; 4] = b"ghs1";
const KEY_ID_LEN: usize = 8;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = MAGIC.len() + KEY_ID_LEN + NONCE_LEN;

/// Bytes of a server key.
pub const KEY_LEN: usize = 32;

/// What a secret is for: bound into its seal, so it opens only for the same purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Totp,
    /// A browser's device cookie (when it signed in to which account).
    Device,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Totp => "totp",
            Purpose::Device => "device",
        }
    }
}

/// A key's public name: the first 8 bytes of a SHA-256 of the key (shown as 16 hex digits).
/// Safe to print and log; it tells which key a secret needs without revealing the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; KEY_ID_LEN]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// One server key (32 random bytes); `Debug` prints only its id.
pub struct ServerKey {
    id: KeyId,
    key: SecretBox<[u8; KEY_LEN]>,
}

impl fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerKey({})", self.id)
    }
}

impl ServerKey {
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        let digest = Sha256::new()
            .chain_update(b"gatehouse server key id v1\0")
            .chain_update(bytes)
            .finalize();
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        Self {
            id: KeyId(id),
            key: SecretBox::new(Box::new(bytes)),
        }
    }

    /// A new random key.
    pub fn generate() -> Self {
        let mut bytes = [0u8; KEY_LEN];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self::from_bytes(bytes)
    }

    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The raw key, for writing a key file.
    pub fn expose(&self) -> &[u8; KEY_LEN] {
        self.key.expose_secret()
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.key.expose_secret().into())
    }
}

/// The keys a server holds: the first seals, every one opens (retired keys stay until
/// nothing is sealed with them).
#[derive(Debug)]
pub struct KeyRing {
    keys: Vec<ServerKey>,
}

impl KeyRing {
    /// `None` without a key.
    pub fn new(keys: Vec<ServerKey>) -> Option<Self> {
        (!keys.is_empty()).then_some(Self { keys })
    }

    /// The key that seals.
    pub fn current(&self) -> &ServerKey {
        &self.keys[0]
    }

    pub fn keys(&self) -> &[ServerKey] {
        &self.keys
    }

    fn get(&self, id: KeyId) -> Option<&ServerKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    fn ids(&self) -> String {
        self.keys
            .iter()
            .map(|k| k.id.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Where the server's keys come from (a key file, reread after a rotation).
pub trait KeySource: Send + Sync + fmt::Debug {
    fn load(&self) -> Result<KeyRing, String>;
    /// Where the keys are, for messages ("key file /srv/gatehouse/secret.key").
    fn describe(&self) -> String;
}

/// Why a sealed secret did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error(
        "a {purpose} secret is sealed with server key {found}, which this server does not hold \
         ({source_description} holds {held}); start it with the key it was sealed with, or \
         reset the affected users' second factor"
    )]
    UnknownKey {
        purpose: &'static str,
        found: KeyId,
        held: String,
        source_description: String,
    },
    #[error("a {purpose} secret is stored unsealed (plaintext from before sealing, or damaged)")]
    NotSealed { purpose: &'static str },
    #[error(
        "a {purpose} secret sealed with server key {key} does not authenticate: it was altered \
         or copied from another record"
    )]
    Tampered { purpose: &'static str, key: KeyId },
}

/// Seals and opens secrets with the server's keys.
#[derive(Debug)]
pub struct Sealer {
    ring: RwLock<Arc<KeyRing>>,
    source: Option<Arc<dyn KeySource>>,
}

/// Whether `stored` is in the sealed format at all (anything else is plaintext from before
/// sealing: TOTP secrets were 20 bytes).
pub fn is_sealed(stored: &[u8]) -> bool {
    stored.len() >= HEADER_LEN + TAG_LEN && stored.starts_with(MAGIC)
}

/// The id of the key `stored` was sealed with.
pub fn sealed_key_id(stored: &[u8]) -> Option<KeyId> {
    if !is_sealed(stored) {
        return None;
    }
    let mut id = [0u8; KEY_ID_LEN];
    id.copy_from_slice(&stored[MAGIC.len()..MAGIC.len() + KEY_ID_LEN]);
    Some(KeyId(id))
}

fn associated_data(header: &[u8], purpose: Purpose, record: &str) -> Vec<u8> {
    let mut ad = Vec::with_capacity(header.len() + 64);
    ad.extend_from_slice(header);
    ad.extend_from_slice(purpose.as_str().as_bytes());
    ad.push(0);
    ad.extend_from_slice(record.as_bytes());
    ad
}

impl Sealer {
    /// A sealer with these keys for the life of the process.
    pub fn fixed(ring: KeyRing) -> Self {
        Self {
            ring: RwLock::new(Arc::new(ring)),
            source: None,
        }
    }

    /// A sealer that loads its keys from `source` now, again before sealing (so a rotated
    /// key file is followed at once), and when a secret needs a key it does not hold yet.
    pub fn reloading(source: Arc<dyn KeySource>) -> Result<Self, String> {
        let ring = source.load()?;
        Ok(Self {
            ring: RwLock::new(Arc::new(ring)),
            source: Some(source),
        })
    }

    /// A sealer with one random key, for tests and throwaway instances.
    pub fn ephemeral() -> Self {
        Self::fixed(KeyRing::new(vec![ServerKey::generate()]).expect("one key"))
    }

    /// The keys held now.
    pub fn ring(&self) -> Arc<KeyRing> {
        Arc::clone(&self.ring.read().expect("key ring lock"))
    }

    /// Rereads the key source; keeps the keys it has when that fails (and says so).
    fn reload(&self) -> Arc<KeyRing> {
        if let Some(source) = &self.source {
            match source.load() {
                Ok(ring) => {
                    let ring = Arc::new(ring);
                    *self.ring.write().expect("key ring lock") = Arc::clone(&ring);
                    return ring;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot reread the server key; keeping the keys held");
                }
            }
        }
        self.ring()
    }

    /// `plaintext` sealed with the current key for `purpose` and `record`.
    pub fn seal(&self, purpose: Purpose, record: &str, plaintext: &[u8]) -> Vec<u8> {
        let ring = self.reload();
        Self::seal_with(ring.current(), purpose, record, plaintext)
    }

    fn seal_with(key: &ServerKey, purpose: Purpose, record: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&key.id.0);
        out.extend_from_slice(&nonce);
        let aad = associated_data(&out, purpose, record);
        let sealed = key
            .cipher()
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .expect("XChaCha20-Poly1305 seals any length a secret has");
        out.extend_from_slice(&sealed);
        out
    }

    /// The plaintext of a value [`Sealer::seal`] made for the same `purpose` and `record`.
    pub fn open(
        &self,
        purpose: Purpose,
        record: &str,
        stored: &[u8],
    ) -> Result<Vec<u8>, SealError> {
        let Some(id) = sealed_key_id(stored) else {
            return Err(SealError::NotSealed {
                purpose: purpose.as_str(),
            });
        };
        let mut ring = self.ring();
        if ring.get(id).is_none() && self.source.is_some() {
            ring = self.reload();
        }
        let Some(key) = ring.get(id) else {
            return Err(SealError::UnknownKey {
                purpose: purpose.as_str(),
                found: id,
                held: ring.ids(),
                source_description: self
                    .source
                    .as_ref()
                    .map_or_else(|| "its key setting".to_owned(), |s| s.describe()),
            });
        };
        let (header, body) = stored.split_at(HEADER_LEN);
        let aad = associated_data(header, purpose, record);
        key.cipher()
            .decrypt(
                XNonce::from_slice(&header[MAGIC.len() + KEY_ID_LEN..]),
                Payload {
                    msg: body,
                    aad: &aad,
                },
            )
            .map_err(|_| SealError::Tampered {
                purpose: purpose.as_str(),
                key: id,
            })
    }

    /// Whether `stored` was sealed with the current key (else rotation re-seals it).
    pub fn is_current(&self, stored: &[u8]) -> bool {
        sealed_key_id(stored) == Some(self.ring().current().id)
    }

    /// Whether this server holds the key `stored` needs.
    pub fn holds_key_for(&self, stored: &[u8]) -> bool {
        sealed_key_id(stored).is_some_and(|id| self.ring().get(id).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(keys: Vec<ServerKey>) -> Sealer {
        Sealer::fixed(KeyRing::new(keys).unwrap())
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_purpose_and_record() {
        let s = Sealer::ephemeral();
        let sealed = s.seal(Purpose::Totp, "user-1", b"twenty bytes secret!");
        assert!(is_sealed(&sealed));
        assert!(!sealed
            .windows(b"twenty bytes secret!".len())
            .any(|w| w == b"twenty bytes secret!"));
        assert_eq!(
            s.open(Purpose::Totp, "user-1", &sealed).unwrap(),
            b"twenty bytes secret!"
        );
        assert!(matches!(
            s.open(Purpose::Totp, "user-2", &sealed),
            Err(SealError::Tampered { .. })
        ));
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(matches!(
            s.open(Purpose::Totp, "user-1", &flipped),
            Err(SealError::Tampered { .. })
        ));
        assert!(matches!(
            s.open(Purpose::Totp, "user-1", &[7u8; 20]),
            Err(SealError::NotSealed { .. })
        ));
    }

    #[test]
    fn another_key_is_named_and_retired_keys_still_open() {
        let old = ServerKey::from_bytes([1; KEY_LEN]);
        let new = ServerKey::from_bytes([2; KEY_LEN]);
        let (old_id, new_id) = (old.id(), new.id());
        let before = sealer(vec![ServerKey::from_bytes([1; KEY_LEN])]);
        let sealed = before.seal(Purpose::Totp, "u", b"secret");
        let elsewhere = sealer(vec![ServerKey::from_bytes([2; KEY_LEN])]);
        let err = elsewhere.open(Purpose::Totp, "u", &sealed).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&old_id.to_string()) && text.contains(&new_id.to_string()),
            "{text}"
        );
        let rotated = sealer(vec![new, old]);
        assert_eq!(
            rotated.open(Purpose::Totp, "u", &sealed).unwrap(),
            b"secret"
        );
        assert!(!rotated.is_current(&sealed));
        assert!(rotated.is_current(&rotated.seal(Purpose::Totp, "u", b"secret")));
    }
}

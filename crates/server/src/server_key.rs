//! The server key that seals stored secrets (`accounts::sealing`): where it comes from, a
//! key file (`<data-dir>/secret.key`, created 0600 at first start) or a setting replicas
//! share, and writing the key file for `gatehouse key rotate`. Prints key ids, never keys.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use accounts::sealing::{KeyRing, KeySource, Sealer, ServerKey, KEY_LEN};
use anyhow::Context;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};

use crate::private_files;

/// Where the server key comes from. A knob for the configuration.
#[derive(Debug, Clone)]
pub struct KeySettings {
    /// The key file, used when `keys` is `None` [default: `<data-dir>/secret.key`].
    pub key_file: PathBuf,
    /// Keys given as a setting instead of a file (replicas share one): base64 keys of 32
    /// bytes separated by commas; the first seals, the others only open. A secret.
    pub keys: Option<SecretString>,
}

impl KeySettings {
    /// The default: a key file in the data directory.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        Self {
            key_file: data_dir.join("secret.key"),
            keys: None,
        }
    }

    /// "key file /srv/gatehouse/secret.key" or "the `server_keys` setting", for messages.
    pub fn describe(&self) -> String {
        match &self.keys {
            Some(_) => "the server keys setting".to_owned(),
            None => format!("key file {}", self.key_file.display()),
        }
    }
}

/// Reads a key file anew on every `load`.
#[derive(Debug)]
pub struct KeyFile {
    pub path: PathBuf,
}

impl KeySource for KeyFile {
    fn load(&self) -> Result<KeyRing, String> {
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| format!("cannot read key file {}: {e}", self.path.display()))?;
        parse_keys(&text).map_err(|e| format!("key file {}: {e}", self.path.display()))
    }

    fn describe(&self) -> String {
        format!("key file {}", self.path.display())
    }
}

/// Keys as written in a key file (one base64 key a line, `#` comments) or a setting
/// (separated by commas); the first seals.
pub fn parse_keys(text: &str) -> Result<KeyRing, String> {
    let mut keys = Vec::new();
    for (i, raw) in text.lines().flat_map(|l| l.split(',')).enumerate() {
        let raw = raw.trim();
        if raw.is_empty() || raw.starts_with('#') {
            continue;
        }
        let bytes = STANDARD
            .decode(raw)
            .ok()
            .and_then(|b| <[u8; KEY_LEN]>::try_from(b).ok())
            .ok_or_else(|| {
                format!(
                    "key {} is not {KEY_LEN} bytes in base64 (make one with `gatehouse key generate`)",
                    i + 1
                )
            })?;
        keys.push(ServerKey::from_bytes(bytes));
    }
    KeyRing::new(keys).ok_or_else(|| "holds no key".to_owned())
}

/// A key as a key file or the setting holds it.
pub fn encode_key(key: &ServerKey) -> String {
    STANDARD.encode(key.expose())
}

/// A key file's text: the header, then one key a line, the sealing one first.
pub fn key_file_text(keys: &[&ServerKey]) -> String {
    let mut text = String::from(
        "# Gatehouse server key: seals the TOTP secrets in the database (and later other\n\
         # secrets the server reads back). Keep it readable by the server only (0600) and back\n\
         # it up apart from the database; without it those secrets cannot be read.\n\
         # The first key seals; any further key is retired and only opens older secrets.\n",
    );
    for key in keys {
        text.push_str(&encode_key(key));
        text.push('\n');
    }
    text
}

/// The sealer the settings name. With a key file that does not exist yet, a new key is
/// written to it first (0600); a key file readable by others is refused.
pub fn open_sealer(settings: &KeySettings) -> anyhow::Result<Sealer> {
    if let Some(keys) = &settings.keys {
        let ring = parse_keys(keys.expose_secret())
            .map_err(|e| anyhow::anyhow!("setting `server_keys`: {e}"))?;
        return Ok(Sealer::fixed(ring));
    }
    let path = &settings.key_file;
    match private_files::create_new(path) {
        Ok(mut file) => {
            use std::io::Write;
            let key = ServerKey::generate();
            file.write_all(key_file_text(&[&key]).as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("writing the new key file {}", path.display()))?;
            tracing::info!(key_id = %key.id(), path = %path.display(), "created a new server key");
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => refuse_loose(path)?,
        Err(e) => {
            return Err(anyhow::anyhow!(
                "setting `server_key_file`: cannot create {}: {e}",
                path.display()
            ))
        }
    }
    Sealer::reloading(Arc::new(KeyFile { path: path.clone() }))
        .map_err(|e| anyhow::anyhow!("setting `server_key_file`: {e}"))
}

/// A key file others can read (or a link) is refused: anyone who read it may have the key.
fn refuse_loose(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::symlink_metadata(path)
            .with_context(|| format!("reading {}", path.display()))?;
        if meta.file_type().is_symlink() {
            anyhow::bail!(
                "setting `server_key_file`: {} is a symbolic link; point the setting at the file itself",
                path.display()
            );
        }
        if meta.permissions().mode() & 0o077 != 0 {
            anyhow::bail!(
                "setting `server_key_file`: {} is readable by other users (mode {:o}); \
                 make it private (chmod 600) and, if others may have read it, rotate the key \
                 (`gatehouse key rotate`)",
                path.display(),
                meta.permissions().mode() & 0o777
            );
        }
    }
    Ok(())
}

/// Writes `keys` (sealing one first) over the key file in one step, 0600.
pub fn write_key_file(path: &Path, keys: &[&ServerKey]) -> anyhow::Result<()> {
    private_files::write_atomically(path, key_file_text(keys).as_bytes())
        .with_context(|| format!("writing key file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let settings = KeySettings::in_data_dir(dir.path());
        let sealer = open_sealer(&settings).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&settings.key_file)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = open_sealer(&settings).unwrap();
        assert_eq!(sealer.ring().current().id(), again.ring().current().id());
    }

    #[test]
    fn keys_in_a_setting_are_separated_by_commas_and_checked() {
        let (a, b) = (ServerKey::generate(), ServerKey::generate());
        let ring = parse_keys(&format!("{}, {}", encode_key(&a), encode_key(&b))).unwrap();
        assert_eq!(ring.current().id(), a.id());
        assert_eq!(ring.keys().len(), 2);
        let e = parse_keys("c2hvcnQ=").unwrap_err();
        assert!(e.contains("32 bytes"), "{e}");
        assert!(parse_keys("# nothing\n").is_err());
    }
}

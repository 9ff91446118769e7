//! Settings, declared once. [`SETTINGS`] describes every setting (name, type, default, help,
//! whether it is secret); the command-line flags and `GATEHOUSE_*` variables of every command,
//! the config file's keys, `check-config`'s printout and the table in docs/operations.md are
//! all made from it. Values are layered: defaults < config file < environment < flags, and
//! validated here, once, by [`Settings::resolve`]; every refusal names the setting.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

mod docs;
mod file;
mod resolve;
mod setting;
mod table;
pub use docs::*;
use file::*;
pub use setting::*;
pub use table::*;

/// Where an effective value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File(PathBuf),
    Environment,
    Flag,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::File(path) => write!(f, "file {}", path.display()),
            Self::Environment => f.write_str("environment"),
            Self::Flag => f.write_str("flag"),
        }
    }
}

/// Values as given: from flags and the environment (clap reads both), by key.
#[derive(Debug, Default, Clone)]
pub struct Given {
    values: BTreeMap<&'static str, (String, Source)>,
}

impl Given {
    /// Adds a value for a declared setting (panics on an undeclared key: a programming error).
    pub fn set(mut self, key: &str, value: impl Into<String>, source: Source) -> Self {
        let key = setting(key).key;
        self.values.insert(key, (value.into(), source));
        self
    }

    /// Reads every declared setting off parsed command-line matches.
    pub fn from_matches(matches: &clap::ArgMatches) -> Self {
        let mut given = Self::default();
        for s in SETTINGS {
            let Some(value) = matches.get_one::<String>(s.key) else {
                continue;
            };
            let source = match matches.value_source(s.key) {
                Some(clap::parser::ValueSource::EnvVariable) => Source::Environment,
                _ => Source::Flag,
            };
            given.values.insert(s.key, (value.clone(), source));
        }
        given
    }
}

/// The clap arguments of every setting: global, so every command takes them anywhere on
/// the line.
pub fn clap_args() -> Vec<clap::Arg> {
    SETTINGS
        .iter()
        .map(|s| {
            clap::Arg::new(s.key)
                .long(s.flag().trim_start_matches("--").to_owned())
                .env(s.env())
                .global(true)
                .value_name(s.value_name)
                .help(format!("{} [default: {}]", s.help, s.default))
                .hide_env_values(s.secrecy != Secrecy::Public)
                .action(clap::ArgAction::Set)
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// One line of `check-config`: a setting's effective value (redacted) and its source.
#[derive(Debug, Clone)]
pub struct Effective {
    pub key: &'static str,
    pub shown: String,
    pub source: Source,
}

/// The validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub listen: SocketAddr,
    pub public_url: String,
    /// Proxies whose client-address header is believed; empty: nobody's.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub client_address_header: crate::http::client_address::ClientAddressHeader,
    pub log_format: LogFormat,
    pub password_hash_workers: usize,
    pub max_picture_bytes: usize,
    /// Largest file a user may upload (held in memory while it is stored).
    pub max_file_bytes: usize,
    /// What all of one user's files, the picture included, may add up to.
    pub file_quota_bytes: u64,
    pub signup_enabled: bool,
    /// Lower-case domains; empty means any.
    pub signup_domains: Vec<String>,
    /// Every throttling limit (the `login_*`, `*_per_ip`, `mail_*`, `code_*` and
    /// `throttle_*` settings).
    pub throttle: accounts::service::ThrottlePolicy,
    /// Seconds a verified HTTP-basic pair is remembered.
    pub basic_auth_cache_seconds: i64,
    /// Files one user may keep.
    pub max_files_per_user: u64,
    /// Chunks one user may keep.
    pub max_chunks_per_user: u64,
    /// Most memory one decoded picture may take.
    pub max_picture_decode_bytes: u64,
    /// Pictures decoded at once.
    pub picture_decode_workers: usize,
    /// Largest argon2 memory cost accepted in a stored hash.
    pub max_stored_hash_memory_kib: u32,
    /// Highest bcrypt cost accepted in a stored hash.
    pub max_stored_hash_bcrypt_cost: u32,
    /// Where the server key comes from (the key file, or keys given as a setting).
    pub keys: crate::server_key::KeySettings,
    /// Who may read `/metrics` (nobody by default).
    pub metrics: crate::http::MetricsExposure,
    /// Minutes a session's last proof counts as recent.
    pub recent_auth_minutes: i64,
    /// Digits of password-reset codes.
    pub reset_code_digits: usize,
    /// Wrong tries of a short code.
    pub short_code_attempts: u32,
    /// Seconds a request head may take.
    pub header_read_timeout_seconds: u64,
    /// Seconds a request body may take.
    pub body_read_timeout_seconds: u64,
    /// Seconds a connection may sit idle.
    pub idle_timeout_seconds: u64,
    /// Connections open at once.
    pub max_connections: usize,
    /// Days audit events are kept.
    pub audit_retention_days: i64,
    /// `None`: mail is written as `.eml` files under `<data_dir>/mail/`.
    pub smtp_url: Option<String>,
    pub mail_from: String,
    /// `None`: uploaded files live under `<data_dir>/files/`; `s3://…`: in an object store.
    pub files_url: Option<String>,
    /// Every setting's effective value, redacted, with its source, in declaration order.
    pub effective: Vec<Effective>,
    /// Seconds a caller waits for a database connection before `StoreError::Unavailable`.
    pub database_wait_seconds: u64,
    /// Seconds cached credentials live while invalidations are followed.
    pub cache_ttl_seconds: i64,
    /// The pages and dialects served beside the native API.
    pub surfaces: crate::http::surfaces::Surfaces,
}

/// A refused setting: which one, where it can be set, and why.
#[derive(Debug, thiserror::Error)]
#[error("setting `{key}` ({flag}, {env}, or `{key}` in the config file): {reason}")]
pub struct ConfigError {
    pub key: &'static str,
    pub flag: String,
    pub env: String,
    pub reason: String,
}

impl ConfigError {
    /// A refusal of the declared setting `key`.
    pub fn new(key: &str, reason: impl Into<String>) -> Self {
        let s = setting(key);
        Self {
            key: s.key,
            flag: s.flag(),
            env: s.env(),
            reason: reason.into(),
        }
    }
}

fn refuse(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::new(key, reason)
}

pub use crate::redact::redact_url;

/// A value as `check-config` may print it.
fn shown(s: &Setting, value: &str) -> String {
    match s.secrecy {
        Secrecy::Public => value.to_owned(),
        Secrecy::UrlPassword => redact_url(value),
        // "none" says the secret is not set, which is no secret.
        Secrecy::Secret if value == "none" => value.to_owned(),
        Secrecy::Secret => "[REDACTED]".into(),
    }
}

/// The `GATEHOUSE_*` variables Gatehouse reads.
pub fn known_env() -> Vec<String> {
    SETTINGS.iter().map(Setting::env).collect()
}

/// Unknown `GATEHOUSE_*` variables in `vars` (usually `std::env::vars()`), for a warning.
/// Not refused: Kubernetes injects `GATEHOUSE_SERVICE_HOST`, `GATEHOUSE_PORT`, ... into pods
/// when a Service is named `gatehouse`, and refusing those would stop the pod.
pub fn unknown_env(vars: impl Iterator<Item = (String, String)>) -> Vec<String> {
    let known = known_env();
    let mut unknown: Vec<String> = vars
        .map(|(k, _)| k)
        .filter(|k| k.starts_with("GATEHOUSE_") && !known.contains(k))
        .collect();
    unknown.sort();
    unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Given {
        pairs.iter().fold(Given::default(), |g, (k, v)| {
            g.set(k, *v, Source::Environment)
        })
    }

    fn err(pairs: &[(&str, &str)]) -> String {
        Settings::resolve(env(pairs)).unwrap_err().to_string()
    }

    #[test]
    fn defaults_need_nothing() {
        let s = Settings::resolve(Given::default()).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.data_dir, PathBuf::from("gatehouse-data"));
        assert_eq!(s.database_url, "sqlite://gatehouse-data/gatehouse.db");
        assert_eq!(s.public_url, "http://127.0.0.1:8080");
        assert_eq!(s.max_file_bytes, 10 * 1024 * 1024);
        assert_eq!(s.file_quota_bytes, 100 * 1024 * 1024);
    }

    #[test]
    fn every_declared_setting_is_read_and_reported_once() {
        let s = Settings::resolve(Given::default()).unwrap();
        let reported: Vec<&str> = s.effective.iter().map(|e| e.key).collect();
        let declared: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
        assert_eq!(reported, declared);
    }

    #[test]
    fn every_declared_bad_example_is_refused_naming_its_setting() {
        for s in SETTINGS {
            let e = err(&[(s.key, s.bad_example)]);
            assert!(
                e.contains(&format!("`{}`", s.key)) && e.contains(&s.env()),
                "{}: {e}",
                s.key
            );
        }
    }

    #[test]
    fn flags_and_variables_are_made_from_the_key() {
        let s = setting("password_hash_workers");
        assert_eq!(s.flag(), "--password-hash-workers");
        assert_eq!(s.env(), "GATEHOUSE_PASSWORD_HASH_WORKERS");
    }

    #[test]
    fn urls_are_redacted_whatever_the_password_holds() {
        for (url, shown) in [
            ("postgres://u:p@ss@db/x", "postgres://u:***@db/x"),
            (
                "postgres://u:p/a@ss@db:5432/x?a=b",
                "postgres://u:***@db:5432/x?a=b",
            ),
            ("smtp://user:pw@mail:587", "smtp://user:***@mail:587"),
            ("sqlite://data/gatehouse.db", "sqlite://data/gatehouse.db"),
        ] {
            assert_eq!(redact_url(url), shown);
        }
    }

    #[test]
    fn database_password_is_never_shown() {
        let s = Settings::resolve(env(&[(
            "database_url",
            "postgres://u:p@ss@zq9tail@db/gatehouse",
        )]))
        .unwrap();
        assert!(s.database_url.starts_with("postgres://"));
        let report = s.report();
        assert!(
            !report.contains("zq9tail") && !report.contains("ss@"),
            "{report}"
        );
        assert!(report.contains("database_url"), "{report}");
    }

    #[test]
    fn config_file_is_read_and_unknown_keys_refused() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.toml");
        std::fs::write(
            &good,
            "listen = \"127.0.0.1:9999\"\nsignup_domains = [\"example.com\"]\npassword_hash_workers = 3\n",
        )
        .unwrap();
        let path = good.to_str().unwrap();
        let s = Settings::resolve(env(&[("config", path)])).unwrap();
        assert_eq!(s.listen.port(), 9999);
        assert_eq!(s.signup_domains, vec!["example.com".to_string()]);
        assert_eq!(s.password_hash_workers, 3);
        let listen = s.effective.iter().find(|e| e.key == "listen").unwrap();
        assert_eq!(listen.source, Source::File(good.clone()));
        // The environment and flags win over the file.
        let s = Settings::resolve(env(&[("config", path), ("listen", "127.0.0.1:7000")])).unwrap();
        assert_eq!(s.listen.port(), 7000);

        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "lisen = \"127.0.0.1:1\"\n").unwrap();
        let e = err(&[("config", bad.to_str().unwrap())]);
        assert!(e.contains("lisen"), "{e}");
        std::fs::write(&bad, "listen = 5\n").unwrap();
        let e = err(&[("config", bad.to_str().unwrap())]);
        assert!(e.contains("`listen`"), "{e}");
    }

    #[test]
    fn unknown_environment_variables_are_found() {
        let vars = vec![
            ("GATEHOUSE_LISTEN".to_string(), "x".to_string()),
            ("GATEHOUSE_LISTNE".to_string(), "x".to_string()),
            ("HOME".to_string(), "/root".to_string()),
        ];
        assert_eq!(
            unknown_env(vars.into_iter()),
            vec!["GATEHOUSE_LISTNE".to_string()]
        );
    }

    #[test]
    fn docs_table_is_the_declaration() {
        let docs = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/operations.md"
        ))
        .unwrap();
        assert!(
            docs.contains(&markdown_table()),
            "docs/operations.md's settings table differs from the declaration; \
             paste the output of `gatehouse check-config --markdown` over it"
        );
    }

    #[test]
    fn example_config_with_its_literal_defaults_uncommented_changes_nothing() {
        let example = example_config();
        let placeholders: Vec<&str> = SETTINGS.iter().map(|s| s.value_name).collect();
        let uncommented: String = example
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| {
                SETTINGS
                    .iter()
                    .any(|s| l.starts_with(&format!("{} = ", s.key)))
                    && !placeholders.iter().any(|p| l.ends_with(&format!("{p:?}")))
                    && !l.ends_with(']')
            })
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(
            uncommented.contains("listen = \"127.0.0.1:8080\""),
            "{uncommented}"
        );
        assert!(
            uncommented.contains("max_connections = 512"),
            "{uncommented}"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gatehouse.toml");
        std::fs::write(&file, &uncommented).unwrap();
        let from_file = Settings::resolve(env(&[("config", file.to_str().unwrap())])).unwrap();
        let defaults = Settings::resolve(Given::default()).unwrap();
        let shown = |s: &Settings| -> Vec<(String, String)> {
            s.effective
                .iter()
                .filter(|e| e.key != "config")
                // `./gatehouse-data` (as declared) and `gatehouse-data` are one directory.
                .map(|e| (e.key.to_owned(), e.shown.replace("./", "")))
                .collect()
        };
        assert_eq!(shown(&from_file), shown(&defaults));
    }
}

//! Settings: defaults, then the optional config file, then `GATEHOUSE_*` environment
//! variables and flags (clap merges those two). Everything is validated here, once, and
//! every refusal names the setting it is about.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The environment variables Gatehouse reads; any other `GATEHOUSE_*` gets a warning.
pub const KNOWN_ENV: &[&str] = &[
    "GATEHOUSE_CONFIG",
    "GATEHOUSE_DATA_DIR",
    "GATEHOUSE_DATABASE_URL",
    "GATEHOUSE_LISTEN",
    "GATEHOUSE_PUBLIC_URL",
    "GATEHOUSE_LOG_FORMAT",
    "GATEHOUSE_PASSWORD_HASH_WORKERS",
    "GATEHOUSE_MAX_PICTURE_BYTES",
    "GATEHOUSE_MAX_FILE_BYTES",
    "GATEHOUSE_FILE_QUOTA_BYTES",
    "GATEHOUSE_SIGNUP",
    "GATEHOUSE_SIGNUP_DOMAINS",
    "GATEHOUSE_LOGIN_ATTEMPTS_PER_IP",
    "GATEHOUSE_LOGIN_ATTEMPTS_PER_ACCOUNT",
    "GATEHOUSE_SMTP_URL",
    "GATEHOUSE_MAIL_FROM",
    "GATEHOUSE_FILES_URL",
];

/// What the config file may contain (TOML). Unknown keys are refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub log_format: Option<String>,
    pub password_hash_workers: Option<usize>,
    pub max_picture_bytes: Option<usize>,
    pub max_file_bytes: Option<usize>,
    pub file_quota_bytes: Option<usize>,
    pub signup: Option<String>,
    pub signup_domains: Option<Vec<String>>,
    pub login_attempts_per_ip: Option<usize>,
    pub login_attempts_per_account: Option<usize>,
    pub smtp_url: Option<String>,
    pub mail_from: Option<String>,
    pub files_url: Option<String>,
}

/// Values given on the command line or in the environment (already merged by clap).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub log_format: Option<String>,
    pub password_hash_workers: Option<String>,
    pub max_picture_bytes: Option<String>,
    pub max_file_bytes: Option<String>,
    pub file_quota_bytes: Option<String>,
    pub signup: Option<String>,
    pub signup_domains: Option<String>,
    pub login_attempts_per_ip: Option<String>,
    pub login_attempts_per_account: Option<String>,
    pub smtp_url: Option<String>,
    pub mail_from: Option<String>,
    pub files_url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub listen: SocketAddr,
    pub public_url: String,
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
    pub login_attempts_per_ip: u32,
    pub login_attempts_per_account: u32,
    /// `None`: mail is written as `.eml` files under `<data_dir>/mail/`.
    pub smtp_url: Option<String>,
    pub mail_from: String,
    /// `None`: uploaded files live under `<data_dir>/files/`; `s3://…`: in an object store.
    pub files_url: Option<String>,
}

/// A refused setting: which one, where it can be set, and why.
#[derive(Debug, thiserror::Error)]
#[error("setting `{key}` ({flag}, {env}, or `{key}` in the config file): {reason}")]
pub struct ConfigError {
    pub key: &'static str,
    pub flag: &'static str,
    pub env: &'static str,
    pub reason: String,
}

fn refuse(key: &'static str, flag: &'static str, env: &'static str, reason: String) -> ConfigError {
    ConfigError {
        key,
        flag,
        env,
        reason,
    }
}

/// A URL with its password replaced, for printing.
pub fn redact_url(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, rest)), Some(_)) => match rest.split_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split(':').next().unwrap_or_default();
                format!("{scheme}://{user}:***@{host}")
            }
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

/// Unknown `GATEHOUSE_*` variables in `vars` (usually `std::env::vars()`), for a warning.
/// Not refused: Kubernetes injects `GATEHOUSE_SERVICE_HOST`, `GATEHOUSE_PORT`, ... into pods
/// when a Service is named `gatehouse`, and refusing those would stop the pod.
pub fn unknown_env(vars: impl Iterator<Item = (String, String)>) -> Vec<String> {
    let mut unknown: Vec<String> = vars
        .map(|(k, _)| k)
        .filter(|k| k.starts_with("GATEHOUSE_") && !KNOWN_ENV.contains(&k.as_str()))
        .collect();
    unknown.sort();
    unknown
}

fn load_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        anyhow::anyhow!(
            "setting `config` (--config, GATEHOUSE_CONFIG): cannot read {}: {e}",
            path.display()
        )
    })?;
    toml::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "setting `config` (--config, GATEHOUSE_CONFIG): {} is not valid: {}",
            path.display(),
            e.message()
        )
    })
}

fn parse_count(
    raw: Option<String>,
    from_file: Option<usize>,
    default: usize,
    range: std::ops::RangeInclusive<usize>,
    (key, flag, env): (&'static str, &'static str, &'static str),
) -> Result<usize, ConfigError> {
    let value = match raw {
        Some(raw) => raw
            .trim()
            .parse::<usize>()
            .map_err(|_| refuse(key, flag, env, format!("{raw:?} is not a whole number")))?,
        None => from_file.unwrap_or(default),
    };
    if !range.contains(&value) {
        return Err(refuse(
            key,
            flag,
            env,
            format!(
                "{value} is out of range {}..={}",
                range.start(),
                range.end()
            ),
        ));
    }
    Ok(value)
}

impl Settings {
    /// Resolves and validates; `Err` carries a message for the operator.
    pub fn resolve(o: Overrides) -> anyhow::Result<Self> {
        let file = match &o.config {
            Some(path) => load_file(path)?,
            None => FileConfig::default(),
        };
        let data_dir = o
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("gatehouse-data"));
        if data_dir.as_os_str().is_empty() {
            return Err(refuse(
                "data_dir",
                "--data-dir",
                "GATEHOUSE_DATA_DIR",
                "must not be empty".into(),
            )
            .into());
        }

        let database_url = o
            .database_url
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("gatehouse.db").display()));
        let db = ("database_url", "--database-url", "GATEHOUSE_DATABASE_URL");
        let is_postgres =
            database_url.starts_with("postgres://") || database_url.starts_with("postgresql://");
        if !is_postgres && !database_url.starts_with("sqlite:") {
            return Err(refuse(
                db.0,
                db.1,
                db.2,
                format!(
                    "{} is neither a sqlite:// nor a postgres:// URL",
                    redact_url(&database_url)
                ),
            )
            .into());
        }

        let listen_raw = o
            .listen
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr = listen_raw.trim().parse().map_err(|_| {
            refuse(
                "listen",
                "--listen",
                "GATEHOUSE_LISTEN",
                format!("{listen_raw:?} is not an address like 127.0.0.1:8080"),
            )
        })?;

        let public_url = o
            .public_url
            .or(file.public_url)
            .unwrap_or_else(|| format!("http://{listen}"));
        let public_url = public_url.trim_end_matches('/').to_owned();
        let has_host = public_url
            .split_once("://")
            .is_some_and(|(_, rest)| !rest.is_empty() && !rest.contains(char::is_whitespace));
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) || !has_host {
            return Err(refuse(
                "public_url",
                "--public-url",
                "GATEHOUSE_PUBLIC_URL",
                format!("{public_url:?} is not an http:// or https:// URL"),
            )
            .into());
        }

        let log_format = match o.log_format.or(file.log_format).as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(refuse(
                    "log_format",
                    "--log-format",
                    "GATEHOUSE_LOG_FORMAT",
                    format!("{other:?} is neither \"text\" nor \"json\""),
                )
                .into())
            }
        };

        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let password_hash_workers = parse_count(
            o.password_hash_workers,
            file.password_hash_workers,
            cores,
            1..=256,
            (
                "password_hash_workers",
                "--password-hash-workers",
                "GATEHOUSE_PASSWORD_HASH_WORKERS",
            ),
        )?;
        let max_picture_bytes = parse_count(
            o.max_picture_bytes,
            file.max_picture_bytes,
            2 * 1024 * 1024,
            1024..=64 * 1024 * 1024,
            (
                "max_picture_bytes",
                "--max-picture-bytes",
                "GATEHOUSE_MAX_PICTURE_BYTES",
            ),
        )?;
        let content = accounts::AccountsConfig::default();
        let max_file_bytes = parse_count(
            o.max_file_bytes,
            file.max_file_bytes,
            content.max_file_bytes,
            1024..=1024 * 1024 * 1024,
            (
                "max_file_bytes",
                "--max-file-bytes",
                "GATEHOUSE_MAX_FILE_BYTES",
            ),
        )?;
        let file_quota_bytes = parse_count(
            o.file_quota_bytes,
            file.file_quota_bytes,
            usize::try_from(content.file_quota_bytes).unwrap_or(usize::MAX),
            1024..=usize::MAX,
            (
                "file_quota_bytes",
                "--file-quota-bytes",
                "GATEHOUSE_FILE_QUOTA_BYTES",
            ),
        )?;
        let file_quota_bytes = u64::try_from(file_quota_bytes).unwrap_or(u64::MAX);

        let signup_enabled = match o.signup.or(file.signup).as_deref().map(str::trim) {
            None | Some("open") => true,
            Some("closed") => false,
            Some(other) => {
                return Err(refuse(
                    "signup",
                    "--signup",
                    "GATEHOUSE_SIGNUP",
                    format!("{other:?} is neither \"open\" nor \"closed\""),
                )
                .into())
            }
        };
        let domains: Vec<String> = match o.signup_domains {
            Some(list) => list.split(',').map(str::to_owned).collect(),
            None => file.signup_domains.unwrap_or_default(),
        };
        let mut signup_domains = Vec::new();
        for d in domains {
            let d = d.trim().trim_start_matches('@').to_lowercase();
            if d.is_empty() {
                continue;
            }
            if accounts::EmailAddress::parse(&format!("x@{d}")).is_err() {
                return Err(refuse(
                    "signup_domains",
                    "--signup-domains",
                    "GATEHOUSE_SIGNUP_DOMAINS",
                    format!("{d:?} is not a domain name"),
                )
                .into());
            }
            signup_domains.push(d);
        }
        let attempts = |raw, from_file, key, flag, env| -> Result<u32, ConfigError> {
            let n = parse_count(raw, from_file, 0, 1..=1_000_000_000, (key, flag, env))?;
            Ok(u32::try_from(n).unwrap_or(u32::MAX))
        };
        let defaults = accounts::service::ThrottlePolicy::default();
        let login_attempts_per_ip = match (&o.login_attempts_per_ip, file.login_attempts_per_ip) {
            (None, None) => defaults.login_per_ip,
            _ => attempts(
                o.login_attempts_per_ip,
                file.login_attempts_per_ip,
                "login_attempts_per_ip",
                "--login-attempts-per-ip",
                "GATEHOUSE_LOGIN_ATTEMPTS_PER_IP",
            )?,
        };
        let login_attempts_per_account = match (
            &o.login_attempts_per_account,
            file.login_attempts_per_account,
        ) {
            (None, None) => defaults.login_per_account,
            _ => attempts(
                o.login_attempts_per_account,
                file.login_attempts_per_account,
                "login_attempts_per_account",
                "--login-attempts-per-account",
                "GATEHOUSE_LOGIN_ATTEMPTS_PER_ACCOUNT",
            )?,
        };

        let smtp_url = o
            .smtp_url
            .or(file.smtp_url)
            .filter(|u| !u.trim().is_empty());
        if let Some(url) = &smtp_url {
            crate::mail::check_smtp_url(url)?;
        }
        let mail_from = o
            .mail_from
            .or(file.mail_from)
            .unwrap_or_else(|| crate::mail::DEFAULT_MAIL_FROM.into());
        crate::mail::MailFrom::parse(&mail_from)?;

        let files_url = o
            .files_url
            .or(file.files_url)
            .filter(|u| !u.trim().is_empty());
        if let Some(url) = &files_url {
            crate::object_files::ObjectFileStore::from_url(url).map_err(anyhow::Error::msg)?;
        }

        Ok(Self {
            data_dir,
            database_url,
            listen,
            public_url,
            log_format,
            password_hash_workers,
            max_picture_bytes,
            max_file_bytes,
            file_quota_bytes,
            signup_enabled,
            signup_domains,
            login_attempts_per_ip,
            login_attempts_per_account,
            smtp_url,
            mail_from,
            files_url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(o: Overrides) -> String {
        Settings::resolve(o).unwrap_err().to_string()
    }

    #[test]
    fn defaults_need_nothing() {
        let s = Settings::resolve(Overrides::default()).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.data_dir, PathBuf::from("gatehouse-data"));
        assert_eq!(s.database_url, "sqlite://gatehouse-data/gatehouse.db");
        assert_eq!(s.public_url, "http://127.0.0.1:8080");
        assert_eq!(s.max_file_bytes, 10 * 1024 * 1024);
        assert_eq!(s.file_quota_bytes, 100 * 1024 * 1024);
    }

    #[test]
    fn every_refusal_names_its_setting() {
        let e = err(Overrides {
            listen: Some("nowhere".into()),
            ..Overrides::default()
        });
        assert!(
            e.contains("`listen`") && e.contains("GATEHOUSE_LISTEN"),
            "{e}"
        );
        let s = Settings::resolve(Overrides {
            database_url: Some("postgres://u:secret@db/gatehouse".into()),
            ..Overrides::default()
        })
        .unwrap();
        assert!(s.database_url.starts_with("postgres://"));
        let e = err(Overrides {
            database_url: Some("mysql://x".into()),
            ..Overrides::default()
        });
        assert!(e.contains("GATEHOUSE_DATABASE_URL"), "{e}");
        let e = err(Overrides {
            public_url: Some("ftp://x".into()),
            ..Overrides::default()
        });
        assert!(e.contains("GATEHOUSE_PUBLIC_URL"), "{e}");
        let e = err(Overrides {
            password_hash_workers: Some("0".into()),
            ..Overrides::default()
        });
        assert!(e.contains("password_hash_workers"), "{e}");
        let e = err(Overrides {
            log_format: Some("xml".into()),
            ..Overrides::default()
        });
        assert!(e.contains("GATEHOUSE_LOG_FORMAT"), "{e}");
        let e = err(Overrides {
            signup: Some("maybe".into()),
            ..Overrides::default()
        });
        assert!(e.contains("GATEHOUSE_SIGNUP"), "{e}");
        let e = err(Overrides {
            signup_domains: Some("example.com, not a domain".into()),
            ..Overrides::default()
        });
        assert!(e.contains("GATEHOUSE_SIGNUP_DOMAINS"), "{e}");
        let e = err(Overrides {
            login_attempts_per_ip: Some("many".into()),
            ..Overrides::default()
        });
        assert!(e.contains("GATEHOUSE_LOGIN_ATTEMPTS_PER_IP"), "{e}");
        let e = err(Overrides {
            max_file_bytes: Some("10".into()),
            ..Overrides::default()
        });
        assert!(e.contains("GATEHOUSE_MAX_FILE_BYTES"), "{e}");
        let e = err(Overrides {
            file_quota_bytes: Some("lots".into()),
            ..Overrides::default()
        });
        assert!(e.contains("GATEHOUSE_FILE_QUOTA_BYTES"), "{e}");
        let e = err(Overrides {
            smtp_url: Some("http://mail".into()),
            ..Overrides::default()
        });
        assert!(e.contains("GATEHOUSE_SMTP_URL"), "{e}");
    }

    #[test]
    fn config_file_is_read_and_unknown_keys_refused() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.toml");
        std::fs::write(&good, "listen = \"127.0.0.1:9999\"\n").unwrap();
        let s = Settings::resolve(Overrides {
            config: Some(good.clone()),
            ..Overrides::default()
        })
        .unwrap();
        assert_eq!(s.listen.port(), 9999);
        // Flags and environment win over the file.
        let s = Settings::resolve(Overrides {
            config: Some(good),
            listen: Some("127.0.0.1:7000".into()),
            ..Overrides::default()
        })
        .unwrap();
        assert_eq!(s.listen.port(), 7000);

        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "lisen = \"127.0.0.1:1\"\n").unwrap();
        let e = err(Overrides {
            config: Some(bad),
            ..Overrides::default()
        });
        assert!(e.contains("lisen"), "{e}");
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
}

//! `Settings::resolve`: layering the values and validating every setting, naming it in
//! each refusal.

use super::*;

/// Hands out the layered raw values and records what each setting became.
struct Resolver {
    layered: BTreeMap<&'static str, (String, Source)>,
    effective: Vec<Effective>,
}

impl Resolver {
    /// The raw value of `key`, if given anywhere.
    fn raw(&self, key: &str) -> Option<&str> {
        self.layered.get(setting(key).key).map(|(v, _)| v.as_str())
    }

    /// Records the effective value of `key` (printed redacted as its declaration says).
    fn record(&mut self, key: &str, value: impl fmt::Display) {
        let s = setting(key);
        let source = self
            .layered
            .get(s.key)
            .map_or(Source::Default, |(_, source)| source.clone());
        self.effective.push(Effective {
            key: s.key,
            shown: shown(s, &value.to_string()),
            source,
        });
    }

    /// A whole number within the declared range.
    pub(super) fn count(&mut self, key: &str, default: u64) -> Result<u64, ConfigError> {
        let Kind::Count { min, max } = setting(key).kind else {
            panic!("setting {key:?} is not declared as a count");
        };
        let value = match self.raw(key) {
            Some(raw) => raw
                .trim()
                .parse::<u64>()
                .map_err(|_| refuse(key, format!("{raw:?} is not a whole number")))?,
            None => default,
        };
        if !(min..=max).contains(&value) {
            return Err(refuse(
                key,
                format!("{value} is out of range (a {})", setting(key).kind_text()),
            ));
        }
        self.record(key, value);
        Ok(value)
    }

    /// One of the declared words (the first is the default).
    fn choice(&mut self, key: &str) -> Result<&'static str, ConfigError> {
        let Kind::Choice(words) = setting(key).kind else {
            panic!("setting {key:?} is not declared as a choice");
        };
        let value = match self.raw(key).map(str::trim) {
            None => words[0],
            Some(raw) => words.iter().copied().find(|w| *w == raw).ok_or_else(|| {
                refuse(
                    key,
                    format!(
                        "{raw:?} is not one of {}",
                        words
                            .iter()
                            .map(|w| format!("{w:?}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?,
        };
        self.record(key, value);
        Ok(value)
    }

    /// Text that is unset when missing or blank.
    fn optional(&self, key: &str) -> Option<String> {
        self.raw(key)
            .filter(|v| !v.trim().is_empty())
            .map(str::to_owned)
    }
}

/// Whether `dir` is, or can become, a directory: it is one, or its nearest existing ancestor is.
fn usable_directory(dir: &Path) -> Result<(), String> {
    let absolute = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| format!("cannot read the current directory: {e}"))?
            .join(dir)
    };
    let mut probe = absolute.as_path();
    loop {
        match std::fs::metadata(probe) {
            Ok(meta) if meta.is_dir() => return Ok(()),
            Ok(_) => return Err(format!("{} is not a directory", probe.display())),
            Err(_) => match probe.parent() {
                Some(parent) => probe = parent,
                None => return Err(format!("{} cannot be created", dir.display())),
            },
        }
    }
}

impl Settings {
    /// Layers the config file (named by `config`) under `given`, then validates every setting.
    /// `Err` carries a message for the operator.
    pub fn resolve(given: Given) -> anyhow::Result<Self> {
        let mut layered = given.values;
        let mut effective = Vec::new();
        match layered.get("config").cloned() {
            Some((path, source)) => {
                let path = PathBuf::from(path);
                for (key, value) in load_file(&path)? {
                    layered
                        .entry(key)
                        .or_insert_with(|| (value, Source::File(path.clone())));
                }
                effective.push(Effective {
                    key: "config",
                    shown: path.display().to_string(),
                    source,
                });
            }
            None => effective.push(Effective {
                key: "config",
                shown: "none".into(),
                source: Source::Default,
            }),
        }
        let mut r = Resolver { layered, effective };

        let data_dir = PathBuf::from(r.raw("data_dir").unwrap_or("gatehouse-data"));
        if data_dir.as_os_str().is_empty() {
            return Err(refuse("data_dir", "must not be empty").into());
        }
        usable_directory(&data_dir).map_err(|reason| refuse("data_dir", reason))?;
        r.record("data_dir", data_dir.display());

        let database_url = r
            .optional("database_url")
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("gatehouse.db").display()));
        let is_postgres =
            database_url.starts_with("postgres://") || database_url.starts_with("postgresql://");
        if !is_postgres && !database_url.starts_with("sqlite:") {
            return Err(refuse(
                "database_url",
                format!(
                    "{} is neither a sqlite:// nor a postgres:// URL",
                    redact_url(&database_url)
                ),
            )
            .into());
        }
        r.record("database_url", &database_url);

        let listen_raw = r.raw("listen").unwrap_or("127.0.0.1:8080").to_owned();
        let listen: SocketAddr = listen_raw.trim().parse().map_err(|_| {
            refuse(
                "listen",
                format!("{listen_raw:?} is not an address like 127.0.0.1:8080"),
            )
        })?;
        r.record("listen", listen);

        let public_url = r
            .optional("public_url")
            .unwrap_or_else(|| format!("http://{listen}"));
        let public_url = public_url.trim_end_matches('/').to_owned();
        let has_host = public_url
            .split_once("://")
            .is_some_and(|(_, rest)| !rest.is_empty() && !rest.contains(char::is_whitespace));
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) || !has_host {
            return Err(refuse(
                "public_url",
                format!("{public_url:?} is not an http:// or https:// URL"),
            )
            .into());
        }
        r.record("public_url", &public_url);

        let mut trusted_proxies = Vec::new();
        for entry in r.raw("trusted_proxies").unwrap_or_default().split(',') {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            // A bare address is a network of one.
            let net = entry
                .parse::<ipnet::IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    refuse(
                        "trusted_proxies",
                        format!("{entry:?} is not an address or CIDR network like 10.0.0.0/8"),
                    )
                })?;
            trusted_proxies.push(net);
        }
        r.record(
            "trusted_proxies",
            if trusted_proxies.is_empty() {
                "none".to_owned()
            } else {
                trusted_proxies
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            },
        );
        let client_address_header = match r.choice("client_address_header")? {
            "forwarded" => crate::http::client_address::ClientAddressHeader::Forwarded,
            _ => crate::http::client_address::ClientAddressHeader::XForwardedFor,
        };

        let log_format = match r.choice("log_format")? {
            "json" => LogFormat::Json,
            _ => LogFormat::Text,
        };

        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let password_hash_workers = r.count("password_hash_workers", cores as u64)? as usize;
        let max_picture_bytes = r.count("max_picture_bytes", 2 * MIB)? as usize;
        let content = accounts::AccountsConfig::default();
        let hash_limits = accounts::HashCostLimits::default();
        let max_file_bytes = r.count("max_file_bytes", content.max_file_bytes as u64)? as usize;
        let file_quota_bytes = r.count("file_quota_bytes", content.file_quota_bytes)?;

        let signup_enabled = r.choice("signup")? == "open";
        let mut signup_domains = Vec::new();
        for d in r.raw("signup_domains").unwrap_or_default().split(',') {
            let d = d.trim().trim_start_matches('@').to_lowercase();
            if d.is_empty() {
                continue;
            }
            if accounts::EmailAddress::parse(&format!("x@{d}")).is_err() {
                return Err(refuse("signup_domains", format!("{d:?} is not a domain name")).into());
            }
            signup_domains.push(d);
        }
        r.record(
            "signup_domains",
            if signup_domains.is_empty() {
                "any".to_owned()
            } else {
                signup_domains.join(",")
            },
        );

        let mut throttle = resolve_throttle(&mut r)?;
        let basic_auth_cache_seconds = r.count("basic_auth_cache_seconds", 60)? as i64;

        let max_files_per_user = r.count("max_files_per_user", content.max_files_per_user)?;
        let max_chunks_per_user = r.count("max_chunks_per_user", content.max_chunks_per_user)?;
        let max_picture_decode_bytes =
            r.count("max_picture_decode_bytes", content.max_picture_decode_bytes)?;
        let picture_decode_workers = r.count(
            "picture_decode_workers",
            content.max_concurrent_picture_decodes as u64,
        )? as usize;
        let max_stored_hash_memory_kib = r.count(
            "max_stored_hash_memory_kib",
            hash_limits.max_argon2_memory_kib.into(),
        )? as u32;
        let max_stored_hash_bcrypt_cost = r.count(
            "max_stored_hash_bcrypt_cost",
            hash_limits.max_bcrypt_cost.into(),
        )? as u32;
        let key_file = r
            .optional("server_key_file")
            .map_or_else(|| data_dir.join("secret.key"), PathBuf::from);
        if key_file.is_dir() {
            return Err(refuse(
                "server_key_file",
                format!("{} is a directory", key_file.display()),
            )
            .into());
        }
        if let Some(parent) = key_file.parent().filter(|p| !p.as_os_str().is_empty()) {
            usable_directory(parent).map_err(|reason| refuse("server_key_file", reason))?;
        }
        r.record("server_key_file", key_file.display());
        let server_keys = r.optional("server_keys");
        if let Some(text) = &server_keys {
            crate::server_key::parse_keys(text).map_err(|reason| refuse("server_keys", reason))?;
        }
        r.record("server_keys", server_keys.as_deref().unwrap_or("none"));
        let keys = crate::server_key::KeySettings {
            key_file,
            keys: server_keys.map(secrecy::SecretString::from),
        };
        let metrics_listen = match r.optional("metrics_listen") {
            None => None,
            Some(raw) => Some(raw.trim().parse::<SocketAddr>().map_err(|_| {
                refuse(
                    "metrics_listen",
                    format!("{raw:?} is not an address like 127.0.0.1:9090"),
                )
            })?),
        };
        r.record(
            "metrics_listen",
            metrics_listen.map_or_else(|| "none".to_owned(), |a| a.to_string()),
        );
        let metrics_token = r.optional("metrics_token");
        if metrics_token
            .as_ref()
            .is_some_and(|t| t.trim().chars().count() < 16)
        {
            return Err(refuse("metrics_token", "must be at least 16 characters").into());
        }
        r.record("metrics_token", metrics_token.as_deref().unwrap_or("none"));
        let metrics = crate::http::MetricsExposure {
            listen: metrics_listen,
            bearer_token: metrics_token.map(|t| secrecy::SecretString::from(t.trim().to_owned())),
        };

        let recent_auth_minutes = r.count(
            "recent_auth_minutes",
            content.recent_auth_window.num_minutes().max(1) as u64,
        )? as i64;
        let reset_code_digits = r.count(
            "reset_code_digits",
            content.codes.reset_password_digits as u64,
        )? as usize;
        let short_code_attempts = r.count(
            "short_code_attempts",
            content.codes.short_code_attempts.into(),
        )? as u32;
        let header_read_timeout_seconds = r.count("header_read_timeout_seconds", 10)?;
        let body_read_timeout_seconds = r.count("body_read_timeout_seconds", 60)?;
        let idle_timeout_seconds = r.count("idle_timeout_seconds", 60)?;
        let max_connections = r.count("max_connections", 512)? as usize;
        throttle.record_every =
            chrono::Duration::minutes(r.count("throttle_record_minutes", 5)? as i64);
        let audit_retention_days = r.count("audit_retention_days", 365)? as i64;
        let smtp_url = r.optional("smtp_url");
        if let Some(url) = &smtp_url {
            crate::mail::check_smtp_url(url)?;
        }
        r.record("smtp_url", smtp_url.as_deref().unwrap_or("none"));
        let mail_from = r
            .raw("mail_from")
            .unwrap_or(crate::mail::DEFAULT_MAIL_FROM)
            .to_owned();
        crate::mail::MailFrom::parse(&mail_from)?;
        r.record("mail_from", &mail_from);

        let files_url = r.optional("files_url");
        if let Some(url) = &files_url {
            // Its messages name the setting themselves.
            crate::object_files::ObjectFileStore::from_url(url).map_err(anyhow::Error::msg)?;
        }
        r.record("files_url", files_url.as_deref().unwrap_or("none"));
        let database_wait_seconds = r.count("database_wait_seconds", 3)?;
        let cache_ttl_seconds = r.count("cache_ttl_seconds", 1)? as i64;
        let surfaces = match r.optional("surfaces") {
            None => crate::http::surfaces::Surfaces::built_in(),
            Some(list) => crate::http::surfaces::Surfaces::parse(&list)
                .map_err(|reason| refuse("surfaces", reason))?,
        };
        r.record("surfaces", surfaces);

        Ok(Self {
            data_dir,
            database_url,
            listen,
            public_url,
            trusted_proxies,
            client_address_header,
            log_format,
            password_hash_workers,
            max_picture_bytes,
            max_file_bytes,
            file_quota_bytes,
            signup_enabled,
            signup_domains,
            throttle,
            basic_auth_cache_seconds,
            max_files_per_user,
            max_chunks_per_user,
            max_picture_decode_bytes,
            picture_decode_workers,
            max_stored_hash_memory_kib,
            max_stored_hash_bcrypt_cost,
            keys,
            metrics,
            recent_auth_minutes,
            reset_code_digits,
            short_code_attempts,
            header_read_timeout_seconds,
            body_read_timeout_seconds,
            idle_timeout_seconds,
            max_connections,
            audit_retention_days,
            smtp_url,
            mail_from,
            files_url,
            effective: r.effective,
            database_wait_seconds,
            cache_ttl_seconds,
            surfaces,
        })
    }

    /// `check-config`'s report: every setting, its effective value (redacted) and source.
    pub fn report(&self) -> String {
        let width = SETTINGS.iter().map(|s| s.key.len()).max().unwrap_or(0);
        let mut out = String::from("configuration is valid\n");
        for e in &self.effective {
            out.push_str(&format!("{:width$} = {}  ({})\n", e.key, e.shown, e.source));
        }
        out
    }
}

/// The throttling settings, as the core's policy.
fn resolve_throttle(r: &mut Resolver) -> Result<accounts::service::ThrottlePolicy, ConfigError> {
    use chrono::Duration;
    let d = accounts::service::ThrottlePolicy::default();
    // In the order of `SETTINGS` (the report lists settings in the order they are read).
    let seconds =
        |r: &mut Resolver, key: &str, default: Duration| -> Result<Duration, ConfigError> {
            Ok(Duration::seconds(
                r.count(key, default.num_seconds() as u64)? as i64,
            ))
        };
    let count = |r: &mut Resolver, key: &str, default: u32| -> Result<u32, ConfigError> {
        Ok(r.count(key, default.into())? as u32)
    };
    let login_per_ip = count(r, "login_attempts_per_ip", d.login_per_ip)?;
    let login_per_account = count(r, "login_attempts_per_account", d.login_per_account)?;
    let login_first_wait = seconds(r, "login_first_wait_seconds", d.login_first_wait)?;
    let login_max_wait = seconds(r, "login_max_wait_seconds", d.login_max_wait)?;
    let login_per_account_per_day = count(
        r,
        "login_attempts_per_account_per_day",
        d.login_per_account_per_day,
    )?;
    let known_client_for = seconds(r, "known_client_days", d.known_client_for / 86_400)? * 86_400;
    let window = seconds(r, "throttle_window_minutes", d.window / 60)? * 60;
    let signups_per_ip = count(r, "signups_per_ip", d.signups_per_ip)?;
    let mail_per_ip = count(r, "mail_requests_per_ip", d.mail_per_ip)?;
    let mail_per_recipient = count(r, "mail_per_recipient", d.mail_per_recipient)?;
    let mail_window = seconds(r, "mail_window_minutes", d.mail_window / 60)? * 60;
    let codes_per_ip = count(r, "code_attempts_per_ip", d.codes_per_ip)?;
    let codes_per_account = count(r, "code_attempts_per_account", d.codes_per_account)?;
    let codes_per_account_per_day = count(
        r,
        "code_attempts_per_account_per_day",
        d.codes_per_account_per_day,
    )?;
    let max_records = r.count("max_throttle_records", d.max_records)?;
    Ok(accounts::service::ThrottlePolicy {
        window,
        login_per_ip,
        login_per_account,
        login_first_wait,
        login_max_wait,
        login_per_account_per_day,
        known_client_for,
        codes_per_ip,
        codes_per_account,
        codes_per_account_per_day,
        mail_per_ip,
        mail_per_recipient,
        mail_window,
        signups_per_ip,
        max_records,
        // `throttle_record_minutes`, declared with the audit settings, is read there.
        record_every: d.record_every,
    })
}

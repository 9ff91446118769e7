//! Settings, declared once. [`SETTINGS`] describes every setting (name, type, default, help,
//! whether it is secret); the command-line flags and `GATEHOUSE_*` variables of every command,
//! the config file's keys, `check-config`'s printout and the table in docs/operations.md are
//! all made from it. Values are layered: defaults < config file < environment < flags, and
//! validated here, once, by [`Settings::resolve`]; every refusal names the setting.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// What a setting holds, for validation and for the docs table.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A filesystem path.
    Path,
    /// A URL; its password is never printed.
    Url,
    /// A socket address such as `127.0.0.1:8080`.
    Address,
    /// Free text.
    Text,
    /// A whole number within an inclusive range.
    Count { min: u64, max: u64 },
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
    /// A comma-separated list (an array in the config file).
    List,
}

/// Whether a value may be printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrecy {
    Public,
    /// A URL that may carry a password: printed with the password replaced.
    UrlPassword,
    /// Never printed.
    Secret,
}

/// One setting: everything an operator sees of it comes from here.
#[derive(Debug)]
pub struct Setting {
    /// The config-file key; the flag is `--` + key with dashes, the variable `GATEHOUSE_` +
    /// key in capitals.
    pub key: &'static str,
    pub kind: Kind,
    /// The placeholder shown in `--help`.
    pub value_name: &'static str,
    /// The default as documented (some are computed: see [`Settings::resolve`]).
    pub default: &'static str,
    pub help: &'static str,
    pub secrecy: Secrecy,
    /// A value every command refuses (the tests walk each setting through `serve` and
    /// `check-config` with it).
    pub bad_example: &'static str,
}

impl Setting {
    pub fn flag(&self) -> String {
        format!("--{}", self.key.replace('_', "-"))
    }

    pub fn env(&self) -> String {
        format!("GATEHOUSE_{}", self.key.to_uppercase())
    }

    /// The type as the docs table and `--help` name it.
    pub fn kind_text(&self) -> String {
        match self.kind {
            Kind::Path => "path".into(),
            Kind::Url => "URL".into(),
            Kind::Address => "address".into(),
            Kind::Text => "text".into(),
            Kind::Count { min, max } if max == u64::MAX => format!("number, at least {min}"),
            Kind::Count { min, max } => format!("number, {min} to {max}"),
            Kind::Choice(words) => words.join(" or "),
            Kind::List => "list".into(),
        }
    }
}

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

/// Every setting Gatehouse reads. Add a setting here, then read it in [`Settings::resolve`]
/// (a test fails until both are done) and regenerate the docs table
/// (`gatehouse check-config --markdown`).
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "config",
        kind: Kind::Path,
        value_name: "FILE",
        default: "none",
        help:
            "A TOML file with any of these settings; environment variables and flags override it.",
        secrecy: Secrecy::Public,
        bad_example: "/nonexistent/gatehouse.toml",
    },
    Setting {
        key: "data_dir",
        kind: Kind::Path,
        value_name: "DIR",
        default: "./gatehouse-data",
        help: "Where the SQLite database (by default), mail files and uploaded files live.",
        secrecy: Secrecy::Public,
        bad_example: "/dev/null/gatehouse",
    },
    Setting {
        key: "database_url",
        kind: Kind::Url,
        value_name: "URL",
        default: "sqlite://<data_dir>/gatehouse.db",
        help: "sqlite://PATH, or postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE for replicas.",
        secrecy: Secrecy::UrlPassword,
        bad_example: "mysql://db/gatehouse",
    },
    Setting {
        key: "listen",
        kind: Kind::Address,
        value_name: "ADDR",
        default: "127.0.0.1:8080",
        help: "The address the HTTP server listens on.",
        secrecy: Secrecy::Public,
        bad_example: "abc",
    },
    Setting {
        key: "public_url",
        kind: Kind::Url,
        value_name: "URL",
        default: "http://<listen>",
        help: "The origin clients reach this server at; links, cookies and picture URLs use it.",
        secrecy: Secrecy::Public,
        bad_example: "ftp://example.com",
    },
    Setting {
        key: "trusted_proxies",
        kind: Kind::List,
        value_name: "CIDR[,CIDR...]",
        default: "none",
        help: "Reverse proxies whose client-address header is believed (e.g. 127.0.0.1/32). From \
               any other peer the header is ignored, since clients can write it.",
        secrecy: Secrecy::Public,
        bad_example: "10.0.0.0/99",
    },
    Setting {
        key: "client_address_header",
        kind: Kind::Choice(&["x-forwarded-for", "forwarded"]),
        value_name: "HEADER",
        default: "x-forwarded-for",
        help: "The one header the trusted proxies set (the other is ignored): its right-most \
               address that is not a trusted proxy is the client.",
        secrecy: Secrecy::Public,
        bad_example: "x-real-ip",
    },
    Setting {
        key: "log_format",
        kind: Kind::Choice(&["text", "json"]),
        value_name: "text|json",
        default: "text",
        help: "Log lines as human text or as JSON objects.",
        secrecy: Secrecy::Public,
        bad_example: "xml",
    },
    Setting {
        key: "password_hash_workers",
        kind: Kind::Count { min: 1, max: 256 },
        value_name: "N",
        default: "number of cores",
        help: "How many password hashes run at once (one thread each).",
        secrecy: Secrecy::Public,
        bad_example: "0",
    },
    Setting {
        key: "max_picture_bytes",
        kind: Kind::Count {
            min: KIB,
            max: 64 * MIB,
        },
        value_name: "BYTES",
        default: "2097152",
        help: "Largest accepted profile picture upload.",
        secrecy: Secrecy::Public,
        bad_example: "10",
    },
    Setting {
        key: "max_file_bytes",
        kind: Kind::Count {
            min: KIB,
            max: 1024 * MIB,
        },
        value_name: "BYTES",
        default: "10485760",
        help: "Largest accepted file upload; an upload is held in memory while it is stored, so \
               this times the concurrent uploads is the memory they may take.",
        secrecy: Secrecy::Public,
        bad_example: "many",
    },
    Setting {
        key: "file_quota_bytes",
        kind: Kind::Count {
            min: KIB,
            max: u64::MAX,
        },
        value_name: "BYTES",
        default: "104857600",
        help: "What one user's stored content, the profile picture included, may add up to.",
        secrecy: Secrecy::Public,
        bad_example: "lots",
    },
    Setting {
        key: "signup",
        kind: Kind::Choice(&["open", "closed"]),
        value_name: "open|closed",
        default: "open",
        help: "Whether people may register themselves.",
        secrecy: Secrecy::Public,
        bad_example: "maybe",
    },
    Setting {
        key: "signup_domains",
        kind: Kind::List,
        value_name: "DOMAINS",
        default: "any",
        help: "Limit self-registration to these e-mail domains (comma-separated; an array in the \
               config file).",
        secrecy: Secrecy::Public,
        bad_example: "example.com,not a domain",
    },
    Setting {
        key: "login_attempts_per_ip",
        kind: Kind::Count {
            min: 1,
            max: 1_000_000_000,
        },
        value_name: "N",
        default: "100",
        help: "Failed sign-ins per client address per throttle window, whatever the account.",
        secrecy: Secrecy::Public,
        bad_example: "many",
    },
    Setting {
        key: "login_attempts_per_account",
        kind: Kind::Count {
            min: 1,
            max: 1_000_000_000,
        },
        value_name: "N",
        default: "10",
        help: "Failed sign-ins per account from one client address before waits begin (they double up to login_max_wait_seconds).",
        secrecy: Secrecy::Public,
        bad_example: "0",
    },
    Setting {
        key: "login_first_wait_seconds",
        kind: Kind::Count {
            min: 1,
            max: 86400,
        },
        value_name: "SECONDS",
        default: "60",
        help: "The wait after an account's failed sign-ins from one address reach their budget; each further failure doubles it.",
        secrecy: Secrecy::Public,
        bad_example: "soon",
    },
    Setting {
        key: "login_max_wait_seconds",
        kind: Kind::Count {
            min: 1,
            max: 86400,
        },
        value_name: "SECONDS",
        default: "900",
        help: "The longest wait between failed sign-ins of one account from one address.",
        secrecy: Secrecy::Public,
        bad_example: "0",
    },
    Setting {
        key: "login_attempts_per_account_per_day",
        kind: Kind::Count {
            min: 1,
            max: 1_000_000_000,
        },
        value_name: "N",
        default: "100",
        help: "Failed sign-ins per account per day from all addresses together; a browser or address that signed in to the account lately is exempt.",
        secrecy: Secrecy::Public,
        bad_example: "-1",
    },
    Setting {
        key: "known_client_days",
        kind: Kind::Count {
            min: 1,
            max: 3650,
        },
        value_name: "DAYS",
        default: "30",
        help: "How long a browser (device cookie) or address that signed in to an account stays exempt from its daily ceiling.",
        secrecy: Secrecy::Public,
        bad_example: "0",
    },
    Setting {
        key: "throttle_window_minutes",
        kind: Kind::Count {
            min: 1,
            max: 1440,
        },
        value_name: "MINUTES",
        default: "15",
        help: "The fixed window of the per-address limits, code entry and sign-ups.",
        secrecy: Secrecy::Public,
        bad_example: "0",
    },
    Setting {
        key: "signups_per_ip",
        kind: Kind::Count {
            min: 1,
            max: 1_000_000_000,
        },
        value_name: "N",
        default: "20",
        help: "Sign-ups per client address per throttle window.",
        secrecy: Secrecy::Public,
        bad_example: "0",
    },
    Setting {
        key: "mail_requests_per_ip",
        kind: Kind::Count {
            min: 1,
            max: 1_000_000_000,
        },
        value_name: "N",
        default: "20",
        help: "Requests that send mail (verification, password reset) per client address per throttle window.",
        secrecy: Secrecy::Public,
        bad_example: "0",
    },
    Setting {
        key: "mail_per_recipient",
        kind: Kind::Count {
            min: 1,
            max: 1_000_000,
        },
        value_name: "N",
        default: "5",
        help: "Mails to one address per mail_window_minutes from unauthenticated requests (sign-up, resend, forgot password).",
        secrecy: Secrecy::Public,
        bad_example: "0",
    },
    Setting {
        key: "mail_window_minutes",
        kind: Kind::Count {
            min: 1,
            max: 10080,
        },
        value_name: "MINUTES",
        default: "60",
        help: "The window of mail_per_recipient.",
        secrecy: Secrecy::Public,
        bad_example: "0",
    },
    Setting {
        key: "code_attempts_per_ip",
        kind: Kind::Count {
            min: 1,
            max: 1_000_000_000,
        },
        value_name: "N",
        default: "50",
        help: "One-time code tries (verification, reset, second factor) per client address per throttle window.",
        secrecy: Secrecy::Public,
        bad_example: "0",
    },
    Setting {
        key: "code_attempts_per_account",
        kind: Kind::Count {
            min: 1,
            max: 1_000_000,
        },
        value_name: "N",
        default: "10",
        help: "One-time code tries per account per throttle window.",
        secrecy: Secrecy::Public,
        bad_example: "0",
    },
    Setting {
        key: "code_attempts_per_account_per_day",
        kind: Kind::Count {
            min: 1,
            max: 1_000_000,
        },
        value_name: "N",
        default: "20",
        help: "One-time code tries per account per day (bounds guessing short codes).",
        secrecy: Secrecy::Public,
        bad_example: "0",
    },
    Setting {
        key: "max_throttle_records",
        kind: Kind::Count {
            min: 1000,
            max: 1_000_000_000,
        },
        value_name: "N",
        default: "1000000",
        help: "Throttling counters kept at most; beyond it the ones expiring soonest are deleted (every 10 minutes).",
        secrecy: Secrecy::Public,
        bad_example: "10",
    },
    Setting {
        key: "basic_auth_cache_seconds",
        kind: Kind::Count {
            min: 0,
            max: 60,
        },
        value_name: "SECONDS",
        default: "60",
        help: "How long a verified HTTP-basic login and password is remembered, so clients sending it on every request cost one hash (0: never).",
        secrecy: Secrecy::Public,
        bad_example: "61",
    },
    Setting {
        key: "max_files_per_user",
        kind: Kind::Count {
            min: 1,
            max: 1_000_000_000,
        },
        value_name: "N",
        default: "1000",
        help: "Files one user may keep, the profile picture included.",
        secrecy: Secrecy::Public,
        bad_example: "0",
    },
    Setting {
        key: "max_chunks_per_user",
        kind: Kind::Count {
            min: 1,
            max: 1_000_000_000,
        },
        value_name: "N",
        default: "10000",
        help: "Chunks (short text records) one user may keep.",
        secrecy: Secrecy::Public,
        bad_example: "none",
    },
    Setting {
        key: "max_picture_decode_bytes",
        kind: Kind::Count {
            min: MIB,
            max: 256 * MIB,
        },
        value_name: "BYTES",
        default: "33554432",
        help: "Most memory one picture's pixels may take once decoded; larger pictures are refused from their header, before decoding.",
        secrecy: Secrecy::Public,
        bad_example: "1000",
    },
    Setting {
        key: "picture_decode_workers",
        kind: Kind::Count {
            min: 1,
            max: 256,
        },
        value_name: "N",
        default: "1",
        help: "Pictures decoded at once (the others wait); times max_picture_decode_bytes, the memory pictures may take.",
        secrecy: Secrecy::Public,
        bad_example: "0",
    },
    Setting {
        key: "max_stored_hash_memory_kib",
        kind: Kind::Count {
            min: 19_456,
            max: 4_194_304,
        },
        value_name: "KIB",
        default: "102400",
        help: "Largest argon2 memory cost (KiB) a stored or imported password hash may have; imports above it are refused, logins against it fail as a wrong password.",
        secrecy: Secrecy::Public,
        bad_example: "100",
    },
    Setting {
        key: "max_stored_hash_bcrypt_cost",
        kind: Kind::Count {
            min: 4,
            max: 31,
        },
        value_name: "COST",
        default: "13",
        help: "Highest bcrypt cost a stored or imported password hash may have (each step doubles the time).",
        secrecy: Secrecy::Public,
        bad_example: "32",
    },
    Setting {
        key: "server_key_file",
        kind: Kind::Path,
        value_name: "FILE",
        default: "<data_dir>/secret.key",
        help: "The file holding the server key that encrypts secrets at rest (TOTP secrets); \
               created 0600 at first start. Back it up apart from the database.",
        secrecy: Secrecy::Public,
        bad_example: "/dev/null/secret.key",
    },
    Setting {
        key: "server_keys",
        kind: Kind::Text,
        value_name: "KEYS",
        default: "none: the key file",
        help: "The server keys instead of the key file, for replicas that share them: base64 \
               keys of 32 bytes, comma-separated; the first encrypts, the others only decrypt.",
        secrecy: Secrecy::Secret,
        bad_example: "not-a-key",
    },
    Setting {
        key: "metrics_listen",
        kind: Kind::Address,
        value_name: "ADDR",
        default: "none",
        help: "Serve /metrics, and nothing else, on this separate address (a private interface \
               the scraper reaches).",
        secrecy: Secrecy::Public,
        bad_example: "everywhere",
    },
    Setting {
        key: "metrics_token",
        kind: Kind::Text,
        value_name: "TOKEN",
        default: "none: no /metrics on the service port",
        help: "Serve /metrics on the service port to requests bearing this token \
               (Authorization: Bearer; at least 16 characters).",
        secrecy: Secrecy::Secret,
        bad_example: "short",
    },
    Setting {
        key: "recent_auth_minutes",
        kind: Kind::Count {
            min: 1,
            max: 1440,
        },
        value_name: "MINUTES",
        default: "10",
        help: "How long after a session last proved its password or a code it may enrol, replace or remove a second factor without proving again.",
        secrecy: Secrecy::Public,
        bad_example: "0",
    },
    Setting {
        key: "reset_code_digits",
        kind: Kind::Count {
            min: 7,
            max: 10,
        },
        value_name: "DIGITS",
        default: "8",
        help: "Digits of password-reset codes (organisations may choose 4 explicitly); at least 7 keeps the odds of guessing one targeted account's code within a day under 1 in 100,000.",
        secrecy: Secrecy::Public,
        bad_example: "4",
    },
    Setting {
        key: "short_code_attempts",
        kind: Kind::Count {
            min: 1,
            max: 10,
        },
        value_name: "N",
        default: "3",
        help: "Wrong tries a code shorter than 6 digits (an organisation's 4-digit codes) takes before it dies.",
        secrecy: Secrecy::Public,
        bad_example: "0",
    },
    Setting {
        key: "header_read_timeout_seconds",
        kind: Kind::Count {
            min: 1,
            max: 30,
        },
        value_name: "SECONDS",
        default: "10",
        help: "A request's line and headers must arrive within this, else the connection is closed (slow-client defence).",
        secrecy: Secrecy::Public,
        bad_example: "31",
    },
    Setting {
        key: "body_read_timeout_seconds",
        kind: Kind::Count {
            min: 1,
            max: 3600,
        },
        value_name: "SECONDS",
        default: "60",
        help: "A request's whole body must arrive within this after its headers, else 408 and the connection is closed.",
        secrecy: Secrecy::Public,
        bad_example: "0",
    },
    Setting {
        key: "idle_timeout_seconds",
        kind: Kind::Count {
            min: 1,
            max: 3600,
        },
        value_name: "SECONDS",
        default: "60",
        help: "A connection on which nothing moved for this long while no request was being handled is closed.",
        secrecy: Secrecy::Public,
        bad_example: "0",
    },
    Setting {
        key: "max_connections",
        kind: Kind::Count {
            min: 1,
            max: 1_000_000,
        },
        value_name: "N",
        default: "512",
        help: "Connections open at once; more wait in the listen backlog. Lowered to the open-files limit minus 128.",
        secrecy: Secrecy::Public,
        bad_example: "0",
    },
    Setting {
        key: "throttle_record_minutes",
        kind: Kind::Count {
            min: 1,
            max: 1440,
        },
        value_name: "MINUTES",
        default: "5",
        help: "A throttled limit and key is written to the audit log and the log at most once per this, with a count.",
        secrecy: Secrecy::Public,
        bad_example: "0",
    },
    Setting {
        key: "audit_retention_days",
        kind: Kind::Count {
            min: 1,
            max: 36500,
        },
        value_name: "DAYS",
        default: "365",
        help: "Audit events older than this are deleted (checked hourly).",
        secrecy: Secrecy::Public,
        bad_example: "0",
    },
    Setting {
        key: "smtp_url",
        kind: Kind::Url,
        value_name: "URL",
        default: "none: .eml files under <data_dir>/mail/",
        help: "Deliver mail over SMTP: smtp://[user:pass@]host[:port][?tls=required] or \
               smtps://...",
        secrecy: Secrecy::UrlPassword,
        bad_example: "http://mail.example.com",
    },
    Setting {
        key: "mail_from",
        kind: Kind::Text,
        value_name: "ADDRESS",
        default: "Gatehouse <gatehouse@localhost>",
        help: "The From address of outgoing mail.",
        secrecy: Secrecy::Public,
        bad_example: "not an address",
    },
    Setting {
        key: "files_url",
        kind: Kind::Url,
        value_name: "URL",
        default: "none: files under <data_dir>/files/",
        help: "Keep uploaded files in an S3-compatible object store: \
               s3://bucket[/prefix][?endpoint=…&region=…&allow_http=true]; credentials from \
               AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, never in the URL.",
        secrecy: Secrecy::UrlPassword,
        bad_example: "ftp://bucket",
    },
    Setting {
        key: "database_wait_seconds",
        kind: Kind::Count { min: 1, max: 300 },
        value_name: "SECONDS",
        default: "3",
        help: "How long a request waits for a database connection before it fails with 503 and Retry-After (the database is down, restarting or saturated).",
        secrecy: Secrecy::Public,
        bad_example: "0",
    },
    Setting {
        key: "cache_ttl_seconds",
        kind: Kind::Count { min: 1, max: 60 },
        value_name: "SECONDS",
        default: "1",
        help: "How long cached credentials, users and permissions are trusted while other replicas' revocations are followed (PostgreSQL LISTEN/NOTIFY); it bounds what a lost notification costs. On SQLite, and while the listener is down, at most 1 s whatever this says.",
        secrecy: Secrecy::Public,
        bad_example: "61",
    },
    Setting {
        key: "surfaces",
        kind: Kind::List,
        value_name: "SURFACE[,SURFACE...]",
        default: "every one built in",
        help: "The HTTP surfaces to serve: native (the /auth/v1 API, always listed), pages (the \
               web pages and admin console), and the vendor dialects freechat, alsid, glowmarkt, \
               cloudsmith, trieve (each also a Cargo feature). Paths of a surface left out \
               answer 404.",
        secrecy: Secrecy::Public,
        bad_example: "native,ftp",
    },
];

/// The declaration of `key`; every key the code asks for is declared (a test checks).
pub fn setting(key: &str) -> &'static Setting {
    SETTINGS
        .iter()
        .find(|s| s.key == key)
        .unwrap_or_else(|| panic!("setting {key:?} is not declared in SETTINGS"))
}

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

/// The config file's values as text, by key; unknown keys are refused.
fn load_file(path: &Path) -> Result<BTreeMap<&'static str, String>, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| refuse("config", format!("cannot read {}: {e}", path.display())))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| {
        refuse(
            "config",
            format!("{} is not valid TOML: {}", path.display(), e.message()),
        )
    })?;
    let mut values = BTreeMap::new();
    for (key, value) in table {
        let Some(s) = SETTINGS.iter().find(|s| s.key == key && s.key != "config") else {
            return Err(refuse(
                "config",
                format!("{}: unknown key `{key}`", path.display()),
            ));
        };
        let text = match value {
            toml::Value::String(text) => text,
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) if matches!(s.kind, Kind::List) => {
                let mut parts = Vec::new();
                for item in items {
                    match item {
                        toml::Value::String(text) => parts.push(text),
                        other => {
                            return Err(refuse(
                                s.key,
                                format!("{}: {other} is not a string", path.display()),
                            ))
                        }
                    }
                }
                parts.join(",")
            }
            other => {
                return Err(refuse(
                    s.key,
                    format!(
                        "{}: expected {}, found {}",
                        path.display(),
                        s.kind_text(),
                        other.type_str()
                    ),
                ))
            }
        };
        values.insert(s.key, text);
    }
    Ok(values)
}

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
    fn count(&mut self, key: &str, default: u64) -> Result<u64, ConfigError> {
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

/// The settings table of docs/operations.md, made from the declaration.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| setting | flag | environment | type | default | what it does |\n\
         |---|---|---|---|---|---|\n",
    );
    for s in SETTINGS {
        let secret = match s.secrecy {
            Secrecy::Public => "",
            Secrecy::UrlPassword => " Its password is never printed.",
            Secrecy::Secret => " Secret: never printed.",
        };
        out.push_str(&format!(
            "| `{}` | `{}` | `{}` | {} | {} | {}{} |\n",
            s.key,
            s.flag(),
            s.env(),
            s.kind_text(),
            s.default.replace('<', "&lt;").replace('>', "&gt;"),
            s.help.replace('|', "\\|"),
            secret
        ));
    }
    out
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

/// A config file with every setting a file takes, each commented out with its help, type,
/// default, flag and variable: the packaged `/etc/gatehouse/gatehouse.toml`
/// (`gatehouse check-config --example-config`). Uncommenting a line whose value is the
/// default changes nothing; a placeholder (`"URL"`) is to be replaced.
pub fn example_config() -> String {
    let mut out = String::from(
        "# Gatehouse configuration (TOML). Every setting is commented out: the value shown is\n\
         # its default, or a placeholder in capitals where the default is computed or absent.\n\
         # The environment (GATEHOUSE_*) and command-line flags override this file.\n\
         # Written by `gatehouse check-config --example-config`; check a change with\n\
         # `gatehouse check-config --config FILE`.\n",
    );
    for s in SETTINGS.iter().filter(|s| s.key != "config") {
        out.push('\n');
        for line in wrap(s.help, 88) {
            out.push_str(&format!("# {line}\n"));
        }
        let secret = match s.secrecy {
            Secrecy::Public => "",
            Secrecy::UrlPassword | Secrecy::Secret => "; secret: keep this file 0640",
        };
        out.push_str(&format!(
            "# ({}; default: {}; {} or {}{secret})\n",
            s.kind_text(),
            s.default,
            s.flag(),
            s.env()
        ));
        out.push_str(&format!("# {} = {}\n", s.key, example_value(s)));
    }
    out
}

/// The default as a TOML value when it is a literal one, else the placeholder as a string.
fn example_value(s: &Setting) -> String {
    let literal = !(s.default.contains('<')
        || s.default.starts_with("none")
        || s.default.contains(' ')
        || s.default == "any");
    match s.kind {
        Kind::Count { .. } if s.default.parse::<u64>().is_ok() => s.default.to_owned(),
        Kind::List => format!(
            "[{:?}]",
            s.value_name.split(['[', ',']).next().unwrap_or("")
        ),
        _ if literal => format!("{:?}", s.default),
        _ => format!("{:?}", s.value_name),
    }
}

/// `text` in lines of at most `width` characters, broken at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("never empty");
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(word.to_owned());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
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

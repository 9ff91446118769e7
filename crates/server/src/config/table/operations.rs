//! The second part of the table, from `server_key_file` on: keys, metrics, re-authentication
//! and codes, connection timeouts, audit retention, mail, object files, the database wait,
//! caches and surfaces.

use super::*;

pub(super) const DECLARED: &[Setting] = &[
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

//! The composition root: builds the store, file store, hasher and core from the settings,
//! once, and hands them down. Nothing here is global.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use accounts::at_rest::SealPass;
use accounts::files::FileStore;
use accounts::service::{CodePolicy, SignupPolicy};
use accounts::Store;
use accounts::{Accounts, AccountsConfig, HashCostLimits, PasswordHasher, SystemClock};
use anyhow::Context;
use store_postgres::PostgresStore;
use store_sqlite::SqliteStore;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{LogFormat, Settings};
use crate::files::DiskFileStore;
use crate::http::client_address::ClientAddresses;
use crate::http::surfaces::Surface;
use crate::http::{self, AppState};
use crate::mail;
use crate::metrics::Metrics;
use crate::object_files::ObjectFileStore;
use crate::redact;
use crate::server_key::{self, KeySettings};
use crate::telemetry;

/// How often batched last-used times are written.
const USAGE_FLUSH_EVERY: Duration = Duration::from_secs(5);

/// How often audit events past their retention and expired throttling records are deleted
/// (and once at start).
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// Opens (creating and migrating if needed) everything the core needs, with the server key
/// from its default place, `<data-dir>/secret.key`.
pub async fn open(settings: &Settings) -> anyhow::Result<Arc<Accounts>> {
    open_with_key(settings, &settings.keys).await
}

/// [`open`] with the server key from `keys`.
pub async fn open_with_key(
    settings: &Settings,
    keys: &KeySettings,
) -> anyhow::Result<Arc<Accounts>> {
    crate::private_files::prepare_data_dir(&settings.data_dir).with_context(|| {
        format!(
            "setting `data_dir`: cannot use {}",
            settings.data_dir.display()
        )
    })?;
    let sealer = server_key::open_sealer(keys)?;
    let store = open_store(
        &settings.database_url,
        Duration::from_secs(settings.database_wait_seconds),
    )
    .await?;
    let files: Arc<dyn FileStore> = match &settings.files_url {
        Some(url) => Arc::new(ObjectFileStore::from_url(url).map_err(anyhow::Error::msg)?),
        None => Arc::new(
            DiskFileStore::new(settings.data_dir.join("files"))
                .context("creating the files directory")?,
        ),
    };
    let hasher = PasswordHasher::with_limits(
        PasswordHasher::default_params(),
        settings.password_hash_workers,
        HashCostLimits {
            max_argon2_memory_kib: settings.max_stored_hash_memory_kib,
            max_bcrypt_cost: settings.max_stored_hash_bcrypt_cost,
            ..HashCostLimits::default()
        },
    );
    let config = AccountsConfig {
        public_url: settings.public_url.clone(),
        max_picture_bytes: settings.max_picture_bytes,
        max_file_bytes: settings.max_file_bytes,
        file_quota_bytes: settings.file_quota_bytes,
        audit_retention: chrono::Duration::days(settings.audit_retention_days),
        codes: CodePolicy {
            reset_password_digits: settings.reset_code_digits,
            short_code_attempts: settings.short_code_attempts,
            ..CodePolicy::default()
        },
        recent_auth_window: chrono::Duration::minutes(settings.recent_auth_minutes),
        max_concurrent_picture_decodes: settings.picture_decode_workers,
        max_picture_decode_bytes: settings.max_picture_decode_bytes,
        max_chunks_per_user: settings.max_chunks_per_user,
        max_files_per_user: settings.max_files_per_user,
        signup: SignupPolicy {
            enabled: settings.signup_enabled,
            allowed_domains: settings.signup_domains.clone(),
        },
        throttle: settings.throttle.clone(),
        basic_login_ttl: chrono::Duration::seconds(settings.basic_auth_cache_seconds),
        cache_ttl: chrono::Duration::seconds(settings.cache_ttl_seconds),
        ..AccountsConfig::default()
    };
    Ok(Arc::new(
        Accounts::new(store, files, Arc::new(SystemClock), hasher, config).with_sealer(sealer),
    ))
}

/// Seals secrets stored in plaintext by older versions, and refuses to go on when secrets
/// are sealed with a key this server does not hold (it could not check those users' codes).
pub async fn seal_stored_secrets(accounts: &Accounts, keys: &KeySettings) -> anyhow::Result<()> {
    let report = accounts
        .seal_stored_secrets(SealPass::Migrate)
        .await
        .context("sealing stored secrets")?;
    if let Some(unreadable) = report.unreadable_summary() {
        let held: Vec<String> = accounts
            .sealer()
            .ring()
            .keys()
            .iter()
            .map(|k| k.id().to_string())
            .collect();
        anyhow::bail!(
            "the database holds {unreadable}, but {} holds server key(s) {} only: this is not \
             the key this database was sealed with. Start with the key file that belongs to \
             this database (restore it from the backup). If that key is lost, `gatehouse key \
             forget-unreadable` turns off those users' second factor so they can sign in with \
             their password and enrol again.",
            keys.describe(),
            held.join(", ")
        );
    }
    if report.sealed_plaintext > 0 {
        eprintln!(
            "sealed {} TOTP secret(s) that were stored in plaintext with the server key ({})",
            report.sealed_plaintext,
            keys.describe()
        );
    }
    Ok(())
}

/// The store the URL names: PostgreSQL for `postgres://`, SQLite otherwise. A caller waits
/// at most `wait` for a connection before the store answers `StoreError::Unavailable`
/// (setting `database_wait_seconds`).
pub async fn open_store(url: &str, wait: Duration) -> anyhow::Result<Arc<dyn Store>> {
    let shown = redact::redact_url(url);
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = PostgresStore::connect_waiting(url, wait)
            .await
            .with_context(|| format!("setting `database_url`: opening {shown}"))?;
        Ok(Arc::new(store))
    } else {
        let store = SqliteStore::connect_waiting(url, wait)
            .await
            .with_context(|| format!("setting `database_url`: opening {shown}"))?;
        Ok(Arc::new(store))
    }
}

/// Where the first-run setup link goes when nobody is at a terminal to read it.
pub const SETUP_LINK_FILE: &str = "setup-link";

/// The file in the data directory that holds the address `serve` listens on (`IP:PORT` and a
/// newline), written once the socket is bound and removed at a clean stop: how a harness that
/// started it with `--listen 127.0.0.1:0` learns the port the system chose.
pub const LISTENING_FILE: &str = "listening";

/// Says where the server listens (`bound`: the address the socket got, which differs from
/// the setting when it asked for port 0) and, while there is no administrator, how to create
/// the first one. The setup link is a secret: it is printed only to an interactive terminal
/// (in text format); otherwise it goes to a file in the data directory readable by this user
/// alone, and the log names only that file. Without the pages there is no setup page, and only
/// the command is shown.
async fn announce(
    settings: &Settings,
    bound: std::net::SocketAddr,
    accounts: &Accounts,
    state: &AppState,
) -> anyhow::Result<()> {
    let data_dir = settings.data_dir.display();
    let public = &settings.public_url;
    let link_file = settings.data_dir.join(SETUP_LINK_FILE);
    let pages = state.surfaces.serves(Surface::Pages);
    let where_ = if pages {
        format!(
            "account pages at {public}/, admin console at {public}/admin, API description at \
             {public}/auth/v1/openapi.json"
        )
    } else {
        format!("API description at {public}/auth/v1/openapi.json (no pages)")
    };
    tracing::info!(
        listen = %bound,
        data_dir = %data_dir,
        public_url = %public,
        surfaces = %state.surfaces,
        "Gatehouse is listening on {bound}; {where_}"
    );
    let needs_admin = accounts.needs_first_admin().await?;
    if !needs_admin || !pages {
        // A link from an earlier start is dead (its token lived in that process's memory).
        let _ = std::fs::remove_file(&link_file);
    }
    if !needs_admin {
        return Ok(());
    }
    let cli = format!(
        "gatehouse user create --data-dir {data_dir} --username admin --email you@example.com \
         --admin --password-stdin"
    );
    if !pages {
        tracing::warn!(
            "no administrator yet, and the pages (with the first-run setup page) are not \
             served; create one with `{cli}`"
        );
        return Ok(());
    }
    let link = format!("{public}/setup?token={}", state.setup.open());
    if std::io::stderr().is_terminal() && settings.log_format == LogFormat::Text {
        eprintln!(
            "This instance has no administrator yet. Create the first one at\n  {link}\n\
             (the link works once), or run in another terminal:\n  {cli}"
        );
        return Ok(());
    }
    crate::private_files::write_atomically(&link_file, format!("{link}\n").as_bytes())
        .with_context(|| {
            format!(
                "writing the first-run setup link to {}",
                link_file.display()
            )
        })?;
    tracing::warn!(
        file = %link_file.display(),
        "no administrator yet: the one-time first-run setup link is in this file (readable by \
         this user only); or create one with `{cli}`"
    );
    Ok(())
}

/// The lock file that lets one `serve` at a time use a SQLite data directory.
pub const SERVE_LOCK_FILE: &str = "serve.lock";

/// On SQLite, takes the data directory's serve lock, refusing to start beside another `serve`
/// on the same database (two processes would each keep their own caches and throttling
/// counters of one file). The CLI's other commands do not take it: they work beside a running
/// server. PostgreSQL deployments take no lock: several replicas are what it is for.
fn lock_sqlite_data_dir(settings: &Settings) -> anyhow::Result<Option<std::fs::File>> {
    if !settings.database_url.starts_with("sqlite:") {
        return Ok(None);
    }
    crate::private_files::prepare_data_dir(&settings.data_dir).with_context(|| {
        format!(
            "setting `data_dir`: cannot use {}",
            settings.data_dir.display()
        )
    })?;
    take_serve_lock(&settings.data_dir).map(Some)
}

/// Takes `<data_dir>/serve.lock` (created 0600), held until the file is closed or the
/// process ends; refused while another process (a `serve`, a `restore`) holds it.
pub fn take_serve_lock(data_dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let path = data_dir.join(SERVE_LOCK_FILE);
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options
        .open(&path)
        .with_context(|| format!("opening the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another `gatehouse serve` is already using {} (it holds {}); one SQLite data \
             directory serves one process. Stop the other one, or run several replicas on \
             PostgreSQL (setting `database_url`)",
            data_dir.display(),
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
}

/// `gatehouse serve`: runs until Ctrl-C or SIGTERM, then lets in-flight requests finish.
pub async fn serve(mut settings: Settings, unknown_env: &[String]) -> anyhow::Result<()> {
    // Dropped when `serve` returns: the last gathered log lines are written then.
    let _log = telemetry::init(settings.log_format);
    if !unknown_env.is_empty() {
        tracing::warn!(
            unknown = %unknown_env.join(", "),
            "ignoring unknown environment variable(s); Gatehouse reads {}",
            crate::config::known_env().join(", ")
        );
    }
    // Held until the process ends: the operating system drops the lock with the process.
    let _lock = lock_sqlite_data_dir(&settings)?;
    crate::check::refuse_damaged_sqlite(&settings.database_url).await?;
    let listening_file = settings.data_dir.join(LISTENING_FILE);
    // A file left by a server that did not stop cleanly names an address nobody holds.
    let _ = std::fs::remove_file(&listening_file);
    // Bound before the core is built: with port 0 the default public URL (links in mail and
    // pages) is the address the system chose.
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("setting `listen`: cannot listen on {}", settings.listen))?;
    let bound = listener
        .local_addr()
        .context("reading the address the server listens on")?;
    let public_url_given = settings
        .effective
        .iter()
        .any(|e| e.key == "public_url" && e.source != crate::config::Source::Default);
    if settings.listen.port() == 0 && !public_url_given {
        settings.public_url = format!("http://{bound}");
    }
    let accounts = open(&settings).await?;
    seal_stored_secrets(&accounts, &settings.keys).await?;
    let mailer = mail::configured_mailer(
        settings.smtp_url.as_deref(),
        &settings.mail_from,
        &settings.data_dir,
    )?;
    let mut state = AppState::new(Arc::clone(&accounts), Metrics::new(Arc::clone(&accounts)));
    state.client_addresses = Arc::new(ClientAddresses::new(
        settings.trusted_proxies.clone(),
        settings.client_address_header,
    ));
    state.metrics_token = settings.metrics.bearer_token.clone().map(Arc::new);
    state.surfaces = settings.surfaces;
    let metrics_listener = match settings.metrics.listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("setting `metrics_listen`: cannot listen on {addr}"))?,
        ),
        None => None,
    };

    // Other replicas' revocations (PostgreSQL LISTEN/NOTIFY); nothing to follow on SQLite.
    let follower = {
        let accounts = Arc::clone(&accounts);
        tokio::spawn(async move {
            if let Err(e) = accounts.follow_invalidations().await {
                tracing::error!(error = %e, "cannot follow other replicas' revocations; caches expire within a second");
            }
        })
    };

    let flusher = {
        let accounts = Arc::clone(&accounts);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(USAGE_FLUSH_EVERY);
            loop {
                tick.tick().await;
                if let Err(e) = accounts.flush_usage().await {
                    tracing::warn!(error = %e, "writing token last-used times failed; will retry");
                }
            }
        })
    };

    let pruner = {
        let accounts = Arc::clone(&accounts);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PRUNE_EVERY);
            loop {
                tick.tick().await;
                match accounts.prune_audit().await {
                    Ok(0) => {}
                    Ok(deleted) => {
                        tracing::info!(deleted, "deleted audit events past their retention");
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "deleting old audit events failed; will retry");
                    }
                }
                match accounts.prune_throttling().await {
                    Ok(0) => {}
                    Ok(deleted) => tracing::info!(deleted, "deleted expired throttling records"),
                    Err(e) => {
                        tracing::warn!(error = %e, "deleting throttling records failed; will retry");
                    }
                }
            }
        })
    };

    announce(&settings, bound, &accounts, &state).await?;
    crate::private_files::write_atomically(&listening_file, format!("{bound}\n").as_bytes())
        .with_context(|| format!("writing {}", listening_file.display()))?;
    // One stop signal for the HTTP server and the mail delivery loop.
    let (stop, stopped) = watch::channel(());
    let until_stopped = |mut rx: watch::Receiver<()>| async move {
        let _ = rx.changed().await;
    };
    let metrics_server = metrics_listener.map(|listener| {
        tokio::spawn(http::serve_metrics(
            listener,
            state.clone(),
            until_stopped(stop.subscribe()),
        ))
    });
    let delivery = tokio::spawn(mail::run_delivery(
        Arc::clone(&accounts),
        mailer,
        until_stopped(stopped),
    ));
    let options = http::ServeOptions {
        header_read_timeout: Duration::from_secs(settings.header_read_timeout_seconds),
        body_read_timeout: Duration::from_secs(settings.body_read_timeout_seconds),
        idle_timeout: Duration::from_secs(settings.idle_timeout_seconds),
        max_connections: settings.max_connections,
    };
    let served = http::serve_with(listener, state, options, async move {
        shutdown_signal().await;
        let _ = stop.send(());
    })
    .await;
    let _ = std::fs::remove_file(&listening_file);
    served?;
    if delivery.await.is_err() {
        tracing::error!("the mail delivery task failed");
    }
    if let Some(server) = metrics_server {
        if !matches!(server.await, Ok(Ok(()))) {
            tracing::error!("the metrics listener failed");
        }
    }
    flusher.abort();
    pruner.abort();
    follower.abort();
    accounts
        .flush_usage()
        .await
        .context("writing token last-used times at shutdown")?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

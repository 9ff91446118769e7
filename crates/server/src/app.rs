//! The composition root: builds the store, file store, hasher and core from the settings,
//! once, and hands them down. Nothing here is global.

use std::sync::Arc;
use std::time::Duration;

use accounts::files::FileStore;
use accounts::service::{SignupPolicy, ThrottlePolicy};
use accounts::Store;
use accounts::{Accounts, AccountsConfig, PasswordHasher, SystemClock};
use anyhow::Context;
use store_postgres::PostgresStore;
use store_sqlite::SqliteStore;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Settings;
use crate::files::DiskFileStore;
use crate::http::client_address::ClientAddresses;
use crate::http::{self, AppState};
use crate::mail;
use crate::metrics::Metrics;
use crate::object_files::ObjectFileStore;
use crate::telemetry;

/// How often batched last-used times are written.
const USAGE_FLUSH_EVERY: Duration = Duration::from_secs(5);

/// Opens (creating and migrating if needed) everything the core needs.
pub async fn open(settings: &Settings) -> anyhow::Result<Arc<Accounts>> {
    std::fs::create_dir_all(&settings.data_dir).with_context(|| {
        format!(
            "setting `data_dir`: cannot create {}",
            settings.data_dir.display()
        )
    })?;
    let store = open_store(&settings.database_url).await?;
    let files: Arc<dyn FileStore> = match &settings.files_url {
        Some(url) => Arc::new(ObjectFileStore::from_url(url).map_err(anyhow::Error::msg)?),
        None => Arc::new(
            DiskFileStore::new(settings.data_dir.join("files"))
                .context("creating the files directory")?,
        ),
    };
    let hasher = PasswordHasher::new(
        PasswordHasher::default_params(),
        settings.password_hash_workers,
    );
    let config = AccountsConfig {
        public_url: settings.public_url.clone(),
        max_picture_bytes: settings.max_picture_bytes,
        max_file_bytes: settings.max_file_bytes,
        file_quota_bytes: settings.file_quota_bytes,
        signup: SignupPolicy {
            enabled: settings.signup_enabled,
            allowed_domains: settings.signup_domains.clone(),
        },
        throttle: ThrottlePolicy {
            login_per_ip: settings.login_attempts_per_ip,
            login_per_account: settings.login_attempts_per_account,
            ..ThrottlePolicy::default()
        },
        ..AccountsConfig::default()
    };
    Ok(Arc::new(Accounts::new(
        store,
        files,
        Arc::new(SystemClock),
        hasher,
        config,
    )))
}

/// The store the URL names: PostgreSQL for `postgres://`, SQLite otherwise.
pub async fn open_store(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    let shown = crate::config::redact_url(url);
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = PostgresStore::connect(url)
            .await
            .with_context(|| format!("setting `database_url`: opening {shown}"))?;
        Ok(Arc::new(store))
    } else {
        let store = SqliteStore::connect(url)
            .await
            .with_context(|| format!("setting `database_url`: opening {shown}"))?;
        Ok(Arc::new(store))
    }
}

/// `gatehouse serve`: runs until Ctrl-C or SIGTERM, then lets in-flight requests finish.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    telemetry::init(settings.log_format);
    let accounts = open(&settings).await?;
    let mailer = mail::configured_mailer(
        settings.smtp_url.as_deref(),
        &settings.mail_from,
        &settings.data_dir,
    )?;
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("setting `listen`: cannot listen on {}", settings.listen))?;
    let mut state = AppState::new(Arc::clone(&accounts), Metrics::new(Arc::clone(&accounts)));
    state.client_addresses = Arc::new(ClientAddresses::new(
        settings.trusted_proxies.clone(),
        settings.client_address_header,
    ));

    // Other replicas' revocations (PostgreSQL LISTEN/NOTIFY); nothing to follow on SQLite.
    let follower = {
        let accounts = Arc::clone(&accounts);
        tokio::spawn(async move {
            if let Err(e) = accounts.follow_invalidations().await {
                tracing::error!(error = %e, "cannot follow other replicas' revocations; caches expire within a second instead");
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

    let data_dir = settings.data_dir.display();
    let public = &settings.public_url;
    if accounts.needs_first_admin().await? {
        let token = state.setup.open();
        eprintln!(
            "Gatehouse is listening on {} (data in {data_dir}).\n\
             This instance has no administrator yet. Create the first one at\n  \
             {public}/setup?token={token}\n\
             (the link works once), or run in another terminal:\n  \
             gatehouse user create --data-dir {data_dir} --username admin --email you@example.com --admin --password-stdin\n\
             Account pages: {public}/  API description: {public}/auth/v1/openapi.json",
            settings.listen
        );
    } else {
        eprintln!(
            "Gatehouse is listening on {} (data in {data_dir}).\n\
             Account pages: {public}/  admin console: {public}/admin  API description: {public}/auth/v1/openapi.json",
            settings.listen
        );
    }
    // One stop signal for the HTTP server and the mail delivery loop.
    let (stop, stopped) = watch::channel(());
    let until_stopped = |mut rx: watch::Receiver<()>| async move {
        let _ = rx.changed().await;
    };
    let delivery = tokio::spawn(mail::run_delivery(
        Arc::clone(&accounts),
        mailer,
        until_stopped(stopped),
    ));
    http::serve(listener, state, async move {
        shutdown_signal().await;
        let _ = stop.send(());
    })
    .await?;
    if delivery.await.is_err() {
        tracing::error!("the mail delivery task failed");
    }
    flusher.abort();
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

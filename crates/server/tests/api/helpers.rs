//! `TestApp`: the real application (SQLite store, disk file store, HTTP on a loopback port),
//! built in-process with a manual clock and cheap password hashing.

use std::io::Cursor;
use std::sync::Arc;

use accounts::service::NewUser;
use accounts::testkit::{cheap_hasher, ManualClock, MemoryMailer};
use accounts::OutgoingMail;
use accounts::Store;
use accounts::{Accounts, AccountsConfig, EmailAddress, Password, UserId, UserStatus, Username};
use gatehouse::files::DiskFileStore;
use gatehouse::http::{self, AppState};
use gatehouse::metrics::Metrics;
use reqwest::header::AUTHORIZATION;
use reqwest::{Client, RequestBuilder, Response};
use store_postgres::testkit::{scratch_database, small_store, ScratchDatabase};
use store_sqlite::SqliteStore;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub const PASSWORD: &str = "correct horse battery staple";
pub const MAX_TOKENS: usize = 5;
pub const MAX_PICTURE: usize = 64 * 1024;

/// Which store the whole suite runs on: `GATEHOUSE_TEST_BACKEND=postgres` (scripts/test.sh
/// runs the suite once per backend), SQLite otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn backend() -> Backend {
    match std::env::var("GATEHOUSE_TEST_BACKEND").as_deref() {
        Ok("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    }
}

pub struct TestApp {
    pub base: String,
    pub accounts: Arc<Accounts>,
    /// The app's store, for tests that look at what is stored.
    pub store: Arc<dyn Store>,
    pub clock: Arc<ManualClock>,
    pub client: Client,
    pub dir: TempDir,
    /// Receives the outbox when a test calls [`TestApp::mail_to`].
    pub mailer: MemoryMailer,
    /// The scratch database when the tests run on PostgreSQL (dropped with the app).
    pub postgres: Option<ScratchDatabase>,
    /// The first-run setup page's gate (closed unless a test opens it).
    pub setup: Arc<gatehouse::http::ui::SetupGate>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

pub struct TestUser {
    pub id: UserId,
    /// An API token secret.
    pub token: String,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// An app whose core configuration the test adjusts first.
    pub async fn spawn_with(adjust: impl FnOnce(&mut AccountsConfig)) -> Self {
        Self::spawn_with_state(adjust, |_| {}).await
    }

    /// An app whose core configuration and HTTP state (trusted proxies, the metrics token,
    /// ...) the test adjusts first.
    pub async fn spawn_with_state(
        adjust: impl FnOnce(&mut AccountsConfig),
        adjust_state: impl FnOnce(&mut AppState),
    ) -> Self {
        Self::spawn_configured(adjust, adjust_state, http::ServeOptions::default()).await
    }

    /// An app with its own timeouts and connection limit.
    pub async fn spawn_serving(options: http::ServeOptions) -> Self {
        Self::spawn_configured(|_| {}, |_| {}, options).await
    }

    async fn spawn_configured(
        adjust: impl FnOnce(&mut AccountsConfig),
        adjust_state: impl FnOnce(&mut AppState),
        options: http::ServeOptions,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (store, postgres): (Arc<dyn Store>, Option<ScratchDatabase>) = match backend() {
            Backend::Sqlite => (
                Arc::new(SqliteStore::open_in(dir.path()).await.unwrap()),
                None,
            ),
            Backend::Postgres => {
                let db = scratch_database()
                    .await
                    .expect("GATEHOUSE_TEST_BACKEND=postgres needs a reachable PostgreSQL");
                (Arc::new(small_store(&db).await), Some(db))
            }
        };
        let files = DiskFileStore::new(dir.path().join("files")).unwrap();
        let clock = Arc::new(ManualClock::new());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut config = AccountsConfig {
            public_url: base.clone(),
            max_tokens_per_user: MAX_TOKENS,
            max_picture_bytes: MAX_PICTURE,
            ..AccountsConfig::default()
        };
        adjust(&mut config);
        let accounts = Arc::new(Accounts::new(
            store.clone(),
            Arc::new(files),
            clock.clone(),
            cheap_hasher(),
            config,
        ));
        let mut state = AppState::new(accounts.clone(), Metrics::new(accounts.clone()));
        adjust_state(&mut state);
        let setup = state.setup.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(http::serve_with(listener, state, options, async {
            let _ = rx.await;
        }));
        Self {
            base,
            accounts,
            store,
            clock,
            client: Client::new(),
            dir,
            mailer: MemoryMailer::new(),
            postgres,
            setup,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// Tells the server to stop; it stops accepting and lets in-flight requests finish.
    pub fn shut_down(&mut self) -> tokio::task::JoinHandle<std::io::Result<()>> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.server.take().expect("the server runs")
    }

    /// Delivers the outbox and returns every message `address` has received so far.
    pub async fn mail_to(&self, address: &str) -> Vec<OutgoingMail> {
        self.accounts.deliver_mail(&self.mailer, 100).await.unwrap();
        self.mailer.sent_to(address)
    }

    /// The code in the latest message to `address` (6-digit verification codes, 8-digit
    /// reset codes): the first run of 6 to 10 digits, which comes before the link.
    pub async fn latest_code(&self, address: &str) -> String {
        let mails = self.mail_to(address).await;
        let last = mails.last().expect("a message was sent");
        last.text
            .split(|c: char| !c.is_ascii_digit())
            .find(|run| (6..=10).contains(&run.len()))
            .expect("the message has a code")
            .to_owned()
    }

    /// The link token in the latest message to `address`.
    pub async fn latest_link_token(&self, address: &str) -> String {
        let mails = self.mail_to(address).await;
        let text = &mails.last().expect("a message was sent").text;
        let start = text.find("token=").expect("the message has a link") + "token=".len();
        text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect()
    }

    /// `--database-url` for a `gatehouse` process on this app's database.
    pub fn database_url(&self) -> String {
        match &self.postgres {
            Some(db) => db.url.clone(),
            None => format!(
                "sqlite://{}",
                self.dir.path().join("gatehouse.db").display()
            ),
        }
    }

    /// Every row of every table a call could change, as text, in a stable order: two equal
    /// snapshots around a refused call prove it changed nothing. Left out: what a refusal
    /// itself may write (the audit trail, throttling counters, known client addresses) and
    /// the usage times an authenticated caller's own credential gets.
    pub async fn snapshot(&self) -> Vec<String> {
        use sqlx::Connection;
        const VOLATILE_TABLES: [&str; 4] = [
            "audit_events",
            "rate_limits",
            "known_addresses",
            "_sqlx_migrations",
        ];
        const VOLATILE_COLUMNS: [&str; 2] = ["last_used_at", "last_seen_at"];
        // One query over every table, built once per backend (the schema is the same for
        // every app of a run).
        static POSTGRES: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
        static SQLITE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
        let rows: Vec<String> = match &self.postgres {
            Some(db) => {
                let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
                let sql = POSTGRES
                    .get_or_init(|| async {
                        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
                        let tables: Vec<String> = sqlx::query_scalar(
                            "SELECT table_name::text FROM information_schema.tables \
                             WHERE table_schema = current_schema() ORDER BY 1",
                        )
                        .fetch_all(&mut conn)
                        .await
                        .unwrap();
                        let dropped = VOLATILE_COLUMNS.map(|c| format!(" - '{c}'")).concat();
                        let selects: Vec<String> = tables
                            .iter()
                            .filter(|t| !VOLATILE_TABLES.contains(&t.as_str()))
                            .map(|t| {
                                format!(
                                    "SELECT '{t}: ' || (to_jsonb(x){dropped})::text FROM \"{t}\" x"
                                )
                            })
                            .collect();
                        format!("{} ORDER BY 1", selects.join(" UNION ALL "))
                    })
                    .await;
                sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
            }
            None => {
                let path = self.dir.path().join("gatehouse.db");
                let url = format!("sqlite://{}", path.display());
                let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
                let sql = SQLITE
                    .get_or_init(|| async {
                        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
                        let tables: Vec<String> = sqlx::query_scalar(
                            "SELECT name FROM sqlite_master WHERE type = 'table' \
                             AND name NOT LIKE 'sqlite_%' ORDER BY 1",
                        )
                        .fetch_all(&mut conn)
                        .await
                        .unwrap();
                        let mut selects = Vec::new();
                        for t in tables
                            .iter()
                            .filter(|t| !VOLATILE_TABLES.contains(&t.as_str()))
                        {
                            let columns: Vec<String> = sqlx::query_scalar(&format!(
                                "SELECT name FROM pragma_table_info('{t}')"
                            ))
                            .fetch_all(&mut conn)
                            .await
                            .unwrap();
                            let quoted: Vec<String> = columns
                                .iter()
                                .filter(|c| !VOLATILE_COLUMNS.contains(&c.as_str()))
                                .map(|c| format!("quote(\"{c}\")"))
                                .collect();
                            selects.push(format!(
                                "SELECT '{t}: ' || {} FROM \"{t}\"",
                                quoted.join(" || ',' || ")
                            ));
                        }
                        format!("{} ORDER BY 1", selects.join(" UNION ALL "))
                    })
                    .await;
                sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
            }
        };
        assert!(
            rows.iter().any(|r| r.starts_with("users: ")),
            "a snapshot sees the users: {rows:?}"
        );
        rows
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A new active user with the password [`PASSWORD`] and one API token.
    /// Signs in with the password and returns the session token.
    pub async fn login(&self, login: &str, password: &str) -> reqwest::Response {
        self.client
            .post(self.url("/auth/v1/login"))
            .json(&serde_json::json!({"login": login, "password": password}))
            .send()
            .await
            .unwrap()
    }

    pub async fn session(&self, login: &str, password: &str) -> String {
        let r = self.login(login, password).await;
        assert_eq!(r.status(), 200);
        r.json::<serde_json::Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn user(&self, name: &str) -> TestUser {
        self.account(name, false).await
    }

    /// Like [`TestApp::user`], holding the built-in admin role.
    pub async fn admin(&self, name: &str) -> TestUser {
        self.account(name, true).await
    }

    /// The `digits`-long code in the latest message to `address`.
    #[cfg_attr(not(feature = "glowmarkt"), allow(dead_code))] // Glowmarkt's tests use it
    pub async fn latest_code_of(&self, address: &str, digits: usize) -> String {
        let mails = self.mail_to(address).await;
        let last = mails.last().expect("a message was sent");
        accounts::testkit::code_in(&last.text, digits)
            .expect("the message has a code")
            .to_owned()
    }

    async fn account(&self, name: &str, is_admin: bool) -> TestUser {
        let user = self
            .accounts
            .create_user(NewUser {
                username: Username::parse(name).unwrap(),
                email: EmailAddress::parse(&format!("{name}@example.com")).unwrap(),
                password: Some(Password::new_checked(PASSWORD.into()).unwrap()),
                is_admin,
                status: UserStatus::Active,
                email_verified: true,
            })
            .await
            .unwrap();
        let (_, secret) = self
            .accounts
            .create_token(
                &accounts::Actor::operator(),
                user.id,
                Some("test".into()),
                None,
            )
            .await
            .unwrap();
        TestUser {
            id: user.id,
            token: secret.expose().to_owned(),
        }
    }

    pub fn get(&self, path: &str, token: &str) -> RequestBuilder {
        self.client
            .get(self.url(path))
            .header(AUTHORIZATION, format!("Bearer {token}"))
    }

    pub fn post(&self, path: &str, token: &str) -> RequestBuilder {
        self.client
            .post(self.url(path))
            .header(AUTHORIZATION, format!("Bearer {token}"))
    }

    pub fn put(&self, path: &str, token: &str) -> RequestBuilder {
        self.client
            .put(self.url(path))
            .header(AUTHORIZATION, format!("Bearer {token}"))
    }

    pub fn patch(&self, path: &str, token: &str) -> RequestBuilder {
        self.client
            .patch(self.url(path))
            .header(AUTHORIZATION, format!("Bearer {token}"))
    }

    pub fn delete(&self, path: &str, token: &str) -> RequestBuilder {
        self.client
            .delete(self.url(path))
            .header(AUTHORIZATION, format!("Bearer {token}"))
    }

    /// The items of the first page of a native list (`field`: `tokens`, `sessions`, ...),
    /// at the largest page size.
    pub async fn items(&self, path: &str, token: &str, field: &str) -> Vec<serde_json::Value> {
        let joiner = if path.contains('?') { '&' } else { '?' };
        let r = self
            .get(&format!("{path}{joiner}limit=200"), token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "GET {path}");
        let mut page: serde_json::Value = r.json().await.unwrap();
        match page[field].take() {
            serde_json::Value::Array(items) => items,
            other => panic!("GET {path}: `{field}` is not an array: {other}"),
        }
    }

    /// Every item of a native list, following `next` from page to page.
    pub async fn all_items(&self, path: &str, token: &str, field: &str) -> Vec<serde_json::Value> {
        let joiner = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut query = "limit=200".to_owned();
        loop {
            let r = self
                .get(&format!("{path}{joiner}{query}"), token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "GET {path}");
            let mut page: serde_json::Value = r.json().await.unwrap();
            match page[field].take() {
                serde_json::Value::Array(more) => items.extend(more),
                other => panic!("GET {path}: `{field}` is not an array: {other}"),
            }
            match page["next"].as_str() {
                Some(next) => query = format!("limit=200&after={next}"),
                None => return items,
            }
        }
    }

    /// Status of `GET path` with the given bearer token.
    pub async fn status_with(&self, path: &str, token: &str) -> u16 {
        self.get(path, token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

/// Asserts an RFC 9457 problem response with the given status and code; returns the body.
pub async fn assert_problem(response: Response, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["type"], format!("urn:gatehouse:problem:{code}"));
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    body
}

/// A small PNG with a comment chunk and trailing bytes that re-encoding must drop.
pub fn png_with_metadata(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(width, height, image::Rgb([200, 30, 60]));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    let mut bytes = out.into_inner();
    bytes.extend_from_slice(b"GPS:51.5N,0.1W secret trailer");
    bytes
}

pub fn multipart_file(bytes: Vec<u8>, filename: &str) -> reqwest::multipart::Form {
    let part = reqwest::multipart::Part::bytes(bytes).file_name(filename.to_owned());
    reqwest::multipart::Form::new().part("file", part)
}

/// `gatehouse serve --listen 127.0.0.1:0 --data-dir <data_dir>`: SQLite in the data
/// directory, on a port the system picks, without the `GATEHOUSE_*` variables of the test's
/// environment that would change what it serves; standard output dropped, standard error
/// piped (`serve_on_free_port` reports it when the server fails). Callers add flags and
/// variables (`--database-url` for PostgreSQL) and may redirect standard error.
pub fn serve_command(data_dir: &std::path::Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env_remove("GATEHOUSE_DATABASE_URL")
        .env_remove("GATEHOUSE_CONFIG")
        .env_remove("GATEHOUSE_SURFACES")
        .env_remove("GATEHOUSE_PUBLIC_URL")
        .env_remove("GATEHOUSE_SMTP_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    command
}

/// Starts `command` (a `gatehouse serve` listening on `127.0.0.1:0`, as [`serve_command`]
/// makes it) and waits (up to 10 s) until `/readyz` answers 200; returns the process and its
/// base URL, read from `<data-dir>/listening`, where the server writes the address it got,
/// so no port is probed, closed and raced for. The command must name its data directory
/// (`--data-dir`) and pipe its standard error or send it to a file; a server that exits or
/// never answers fails the test with what it wrote.
pub async fn serve_on_free_port(
    mut command: tokio::process::Command,
) -> (tokio::process::Child, String) {
    let data_dir = data_dir_of(command.as_std())
        .expect("serve_on_free_port: the command names no --data-dir to find `listening` in");
    let listening = data_dir.join("listening");
    let client = Client::new();
    // A server killed earlier in the test (SIGKILL skips its clean-up) left a file naming an
    // address nobody holds; the new server removes it too, but maybe after the first read.
    let _ = std::fs::remove_file(&listening);
    let mut child = command.kill_on_drop(true).spawn().unwrap();
    let started = std::time::Instant::now();
    let mut base = None;
    while started.elapsed() < std::time::Duration::from_secs(10) {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        // Written whole (renamed into place) once the socket is bound.
        base = std::fs::read_to_string(&listening)
            .ok()
            .map(|address| format!("http://{}", address.trim()));
        if let Some(base) = &base {
            let ready = client
                .get(format!("{base}/readyz"))
                .timeout(std::time::Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ready {
                return (child, base.clone());
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    child.start_kill().ok();
    let mut said = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        use tokio::io::AsyncReadExt as _;
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            stderr.read_to_string(&mut said),
        )
        .await;
    }
    panic!("gatehouse serve did not become ready (address: {base:?}); it said:\n{said}");
}

/// The `--data-dir` (or `GATEHOUSE_DATA_DIR`) a command names.
fn data_dir_of(command: &std::process::Command) -> Option<std::path::PathBuf> {
    let mut args = command.get_args();
    while let Some(arg) = args.next() {
        if arg == "--data-dir" {
            return args.next().map(std::path::PathBuf::from);
        }
        if let Some(dir) = arg.to_str().and_then(|a| a.strip_prefix("--data-dir=")) {
            return Some(dir.into());
        }
    }
    command
        .get_envs()
        .find(|(key, _)| *key == "GATEHOUSE_DATA_DIR")
        .and_then(|(_, value)| value.map(std::path::PathBuf::from))
}

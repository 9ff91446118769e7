//! Sign-in throttling against real `gatehouse serve` processes, as attackers and owners meet
//! it (issue 14): guesses are counted per account and address before their hash, so a flood
//! is evaluated a budget's worth of times; the owner is never locked out from elsewhere; one
//! account has one budget whatever login names it; HTTP-basic clients cost one hash; waits are
//! real; mail to one recipient is capped; and all of it holds across replicas on PostgreSQL.
//! The server's own `gatehouse_password_verifications` metric counts the hashes evaluated.

use std::net::IpAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use store_postgres::testkit::scratch_database;

use crate::helpers::PASSWORD;

const METRICS_TOKEN: &str = "metrics-token-for-tests";

/// A `gatehouse serve` process, killed when dropped.
struct Server {
    base: String,
    data_dir: std::path::PathBuf,
    database_url: Option<String>,
    _child: tokio::process::Child,
}

impl Server {
    async fn start(dir: &Path, database_url: Option<&str>, args: &[&str]) -> Self {
        Self::start_logging(dir, database_url, args, None).await
    }

    /// `start`, with the server's standard error written to `log`.
    async fn start_logging(
        dir: &Path,
        database_url: Option<&str>,
        args: &[&str],
        log: Option<&Path>,
    ) -> Self {
        let log = log.map(Path::to_owned);
        let mut command = crate::helpers::serve_command(dir);
        command
            .args(args)
            .env("GATEHOUSE_METRICS_TOKEN", METRICS_TOKEN)
            .stderr(match &log {
                Some(path) => Stdio::from(std::fs::File::create(path).unwrap()),
                // Not piped: hundreds of failed sign-ins would fill an unread pipe.
                None => Stdio::null(),
            });
        if let Some(url) = database_url {
            command.args(["--database-url", url]);
        }
        let (child, base) = crate::helpers::serve_on_free_port(command).await;
        Self {
            base,
            data_dir: dir.to_owned(),
            database_url: database_url.map(str::to_owned),
            _child: child,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Runs the CLI on this server's database (beside the running server).
    fn cli(&self, args: &[&str], stdin: &str) -> String {
        let out = crate::cli::gatehouse_on(
            &self.data_dir,
            self.database_url.as_deref(),
            args,
            Some(stdin),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn create_user(&self, name: &str, admin: bool) {
        let email = format!("{name}@example.com");
        let mut args = vec![
            "user",
            "create",
            "--username",
            name,
            "--email",
            &email,
            "--password-stdin",
        ];
        if admin {
            args.push("--admin");
        }
        self.cli(&args, &format!("{PASSWORD}\n"));
    }

    /// Password verifications the server has run, from its own metric.
    async fn verifications(&self) -> u64 {
        let text = reqwest::Client::new()
            .get(self.url("/metrics"))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find(|l| l.starts_with("gatehouse_password_verifications"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no verification counter in /metrics:\n{text}"))
    }

    fn mails_written(&self) -> usize {
        std::fs::read_dir(self.data_dir.join("mail"))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

/// A client whose connections come from `address` (any 127.0.0.0/8 address is loopback).
fn client_from(address: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(address.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn login_status(client: &reqwest::Client, server: &Server, login: &str, pw: &str) -> u16 {
    client
        .post(server.url("/auth/v1/login"))
        .json(&json!({"login": login, "password": pw}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A sign-in through a proxy that says the client is `forwarded_for`.
async fn forwarded_login(
    proxy: &reqwest::Client,
    server: &Server,
    forwarded_for: &str,
    login: &str,
    password: &str,
) -> reqwest::Response {
    proxy
        .post(server.url("/auth/v1/login"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"login": login, "password": password}))
        .send()
        .await
        .unwrap()
}

/// `GET path` with a bearer token, as JSON.
async fn get_json(client: &reqwest::Client, server: &Server, path: &str, token: &str) -> Value {
    client
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `count` wrong passwords for `login`, `parallel` at a time, spread over `servers`;
/// the statuses seen.
async fn guess(
    client: &reqwest::Client,
    servers: &[&Server],
    login: &str,
    count: usize,
    parallel: usize,
) -> Vec<u16> {
    let gate = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut tasks = Vec::new();
    for i in 0..count {
        let request = client
            .post(servers[i % servers.len()].url("/auth/v1/login"))
            .json(&json!({"login": login, "password": format!("wrong guess {i}")}));
        let gate = Arc::clone(&gate);
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            request.send().await.unwrap().status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses
}

#[tokio::test]
async fn a_parallel_flood_of_guesses_is_evaluated_a_budget_and_the_owner_still_signs_in() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None, &[]).await;
    server.create_user("alice", false);
    let before = server.verifications().await;

    let attacker = client_from("127.0.0.1");
    let statuses = guess(&attacker, &[&server], "alice", 300, 64).await;
    let evaluated = server.verifications().await - before;
    assert!(evaluated <= 20, "{evaluated} of 300 guesses were evaluated");
    assert!(
        statuses.iter().all(|s| [401, 429].contains(s)),
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count() as u64,
        evaluated
    );

    // The owner, from another address, is not held back by the flood.
    let owner = client_from("127.0.0.2");
    assert_eq!(login_status(&owner, &server, "alice", PASSWORD).await, 200);
}

#[tokio::test]
async fn guessing_by_username_then_by_email_draws_on_one_budget() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None, &[]).await;
    server.create_user("bob", false);
    let client = client_from("127.0.0.1");
    let start = server.verifications().await;
    for _ in 0..10 {
        login_status(&client, &server, "bob", "wrong guess").await;
    }
    let by_username = server.verifications().await - start;
    for _ in 0..10 {
        login_status(&client, &server, "bob@example.com", "wrong guess").await;
    }
    let by_email = server.verifications().await - start - by_username;
    // The documented budget is 10 per account and address.
    assert!(
        by_username + by_email <= 12 && by_email <= 2,
        "{by_username} evaluated by username, {by_email} by e-mail"
    );
}

#[cfg(feature = "cloudsmith")]
#[tokio::test]
async fn an_http_basic_client_calling_fifty_times_costs_one_hash() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None, &[]).await;
    server.create_user("carol", false);
    let client = reqwest::Client::new();
    let before = server.verifications().await;
    for i in 0..50 {
        let status = client
            .get(server.url("/v1/user/self/"))
            .basic_auth("carol", Some(PASSWORD))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "call {i}");
    }
    assert_eq!(server.verifications().await - before, 1);

    // A changed password ends the remembered pair at once: the old one is refused.
    let session: Value = client
        .post(server.url("/auth/v1/login"))
        .json(&json!({"login": "carol", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = session["token"].as_str().unwrap();
    let changed = client
        .post(server.url("/auth/v1/password/change"))
        .bearer_auth(token)
        .json(&json!({"current_password": PASSWORD, "new_password": "a different long passphrase 42"}))
        .send()
        .await
        .unwrap();
    assert!(changed.status().is_success(), "{}", changed.status());
    let old = client
        .get(server.url("/v1/user/self/"))
        .basic_auth("carol", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 401);
}

#[tokio::test]
async fn failures_forwarded_by_a_trusted_proxy_do_not_slow_another_forwarded_client() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None, &["--trusted-proxies", "127.0.0.1/32"]).await;
    server.create_user("dave", false);
    server.create_user("root", true);
    let proxy = reqwest::Client::new();
    let failed_from = |address: &'static str, i: usize| {
        proxy
            .post(server.url("/auth/v1/login"))
            .header("x-forwarded-for", address)
            .json(&json!({"login": format!("nobody{i}"), "password": "wrong guess"}))
            .send()
    };
    let mut throttled = 0;
    for i in 0..150 {
        if failed_from("203.0.113.7", i).await.unwrap().status() == 429 {
            throttled += 1;
        }
    }
    assert!(throttled >= 40, "only {throttled} of 150 were throttled");
    let other = forwarded_login(&proxy, &server, "198.51.100.9", "dave", PASSWORD).await;
    assert_eq!(other.status(), 200);

    // The audit log records each forwarded address, not the proxy's.
    let admin: Value = forwarded_login(&proxy, &server, "198.51.100.10", "root", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let token = admin["token"].as_str().unwrap();
    let page = get_json(&proxy, &server, "/auth/v1/admin/audit?limit=100", token).await;
    let events = page["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no events in {page}"));
    let from = |ip: &str| events.iter().filter(|e| e["client_ip"] == ip).count();
    assert!(from("203.0.113.7") >= 50, "{events:?}");
    assert_eq!(from("198.51.100.9"), 1);
    assert_eq!(from("127.0.0.1"), 0);

    // Without the setting the header is ignored: the same flood throttles everyone.
    let dir = tempfile::tempdir().unwrap();
    let direct = Server::start(dir.path(), None, &[]).await;
    direct.create_user("dave", false);
    for i in 0..110 {
        proxy
            .post(direct.url("/auth/v1/login"))
            .header("x-forwarded-for", "203.0.113.7")
            .json(&json!({"login": format!("nobody{i}"), "password": "wrong guess"}))
            .send()
            .await
            .unwrap();
    }
    let other = forwarded_login(&proxy, &direct, "198.51.100.9", "dave", PASSWORD).await;
    assert_eq!(other.status(), 429);
}

#[tokio::test]
async fn waiting_out_retry_after_lets_the_next_guess_be_evaluated() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        None,
        &[
            "--login-attempts-per-account",
            "2",
            "--login-first-wait-seconds",
            "1",
        ],
    )
    .await;
    server.create_user("erin", false);
    let client = reqwest::Client::new();
    for _ in 0..2 {
        assert_eq!(
            login_status(&client, &server, "erin", "wrong guess").await,
            401
        );
    }
    let refused = client
        .post(server.url("/auth/v1/login"))
        .json(&json!({"login": "erin", "password": "wrong guess"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "Retry-After: {wait}");
    let before = server.verifications().await;
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(
        login_status(&client, &server, "erin", "wrong guess").await,
        401
    );
    assert_eq!(server.verifications().await - before, 1);
    // The next wait is twice as long.
    let refused = client
        .post(server.url("/auth/v1/login"))
        .json(&json!({"login": "erin", "password": "wrong guess"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "2");
}

#[tokio::test]
async fn forgot_password_from_twenty_addresses_cannot_mail_bomb_one_recipient() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None, &["--trusted-proxies", "127.0.0.1/32"]).await;
    server.create_user("frank", false);
    let client = reqwest::Client::new();
    let mut answers = Vec::new();
    for i in 0..20 {
        let status = client
            .post(server.url("/auth/v1/password/forgot"))
            .header("x-forwarded-for", format!("203.0.113.{}", 10 + i))
            .json(&json!({"login": "frank@example.com"}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        answers.push(status);
    }
    assert!(
        answers.iter().all(|s| [202, 204, 200, 429].contains(s)),
        "{answers:?}"
    );
    // Give the mail round its moment, then count what was written.
    let mut written = 0;
    for _ in 0..50 {
        written = server.mails_written();
        if written >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let written_later = server.mails_written();
    assert_eq!(written, written_later, "mail kept coming");
    assert!(
        (1..=5).contains(&written),
        "{written} mails to one recipient from 20 requests"
    );
}

#[tokio::test]
async fn cross_site_simple_requests_cannot_make_the_mail_endpoints_send_mail() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None, &[]).await;
    server.create_user("gina", false);
    let client = reqwest::Client::new();
    let form_like = |path: &str, body: &str, content_type: Option<&str>| {
        let mut request = client.post(server.url(path)).body(body.to_owned());
        if let Some(t) = content_type {
            request = request.header("content-type", t);
        }
        request.send()
    };
    let bodies = [
        ("/auth/v1/password/forgot", r#"{"login":"gina"}"#),
        (
            "/auth/v1/signup",
            r#"{"username":"x1","email":"victim@example.com","password":"a long passphrase 77"}"#,
        ),
        (
            "/auth/v1/verify-email/resend",
            r#"{"email":"gina@example.com"}"#,
        ),
        (
            "/api/users/forgotten-password",
            r#"{"email":"gina@example.com"}"#,
        ),
        ("/api/v0-1/user/resetpassword", r#"{"username":"gina"}"#),
        (
            "/api/v0-1/register",
            r#"{"username":"x2","email":"victim@example.com","password":"a long passphrase 77"}"#,
        ),
    ];
    for (path, body) in bodies {
        for content_type in [
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            None,
        ] {
            let status = form_like(path, body, content_type).await.unwrap().status();
            assert!(
                status == 415 || status == 404,
                "{path} with {content_type:?} answered {status}"
            );
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.mails_written(), 0);
}

#[tokio::test]
async fn two_replicas_on_one_postgres_share_one_guessing_budget() {
    let Some(db) = scratch_database().await else {
        return;
    };
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let one = Server::start(dirs.0.path(), Some(&db.url), &[]).await;
    let two = Server::start(dirs.1.path(), Some(&db.url), &[]).await;
    one.create_user("hank", false);
    let before = one.verifications().await + two.verifications().await;
    let attacker = client_from("127.0.0.1");
    guess(&attacker, &[&one, &two], "hank", 300, 64).await;
    let evaluated = one.verifications().await + two.verifications().await - before;
    assert!(
        evaluated <= 20,
        "{evaluated} of 300 guesses were evaluated on two replicas"
    );
    let owner = client_from("127.0.0.2");
    assert_eq!(login_status(&owner, &two, "hank", PASSWORD).await, 200);
    assert_eq!(login_status(&owner, &one, "hank", PASSWORD).await, 200);
}

/// Counts the SQL statements sqlx runs on this thread (its `sqlx::query` events).
struct CountStatements(Arc<std::sync::atomic::AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountStatements {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// A forgotten-password request does the same work before its answer for an account and for
/// a login nobody holds: the same statements and no hash, so neither timing nor load tells
/// them apart; the known account's code and mail come after the answer. Counted on
/// PostgreSQL, whose statements run on the calling task (this test's one thread; SQLite runs
/// them on a worker thread of its own, where this count cannot see them).
#[tokio::test]
async fn forgot_password_works_alike_for_known_and_unknown_logins_before_answering() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::Layer as _;
    if crate::helpers::backend() != crate::helpers::Backend::Postgres {
        eprintln!("skipped on SQLite: the statement count needs the PostgreSQL backend");
        return;
    }
    let statements = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let layer = CountStatements(Arc::clone(&statements)).with_filter(
        tracing_subscriber::filter::Targets::new()
            .with_target("sqlx::query", tracing::Level::DEBUG),
    );
    let _counting = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));

    let app = crate::helpers::TestApp::spawn().await;
    app.user("ivy").await;
    let mut work = Vec::new();
    for login in ["ivy@example.com", "nobody@example.com", "ivy", "nobody"] {
        let (hashes, count) = (
            app.accounts.password_verifications(),
            statements.load(std::sync::atomic::Ordering::SeqCst),
        );
        let answer = app
            .client
            .post(app.url("/auth/v1/password/forgot"))
            .json(&json!({"login": login}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 202, "{login}");
        work.push((
            login,
            statements.load(std::sync::atomic::Ordering::SeqCst) - count,
            app.accounts.password_verifications() - hashes,
        ));
    }
    assert!(work[0].1 > 0, "no statements counted: {work:?}");
    assert!(
        work.iter().all(|w| (w.1, w.2) == (work[0].1, 0)),
        "statements and hashes before each answer differ: {work:?}"
    );
    // The known account's code comes after the answer.
    assert_eq!(app.mail_to("ivy@example.com").await.len(), 2);
    assert!(app.mail_to("nobody@example.com").await.is_empty());
}

/// The CLI beside a SQLite server cannot tell it about a change; the remembered basic pair
/// still ends within the users cache's second, not the pair's minute.
#[cfg(feature = "cloudsmith")]
#[tokio::test]
async fn a_password_set_by_the_cli_beside_the_server_ends_a_remembered_basic_pair() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None, &[]).await;
    server.create_user("jack", false);
    let client = reqwest::Client::new();
    let call = || {
        client
            .get(server.url("/v1/user/self/"))
            .basic_auth("jack", Some(PASSWORD))
            .send()
    };
    assert_eq!(call().await.unwrap().status(), 200);
    server.cli(
        &["user", "set-password", "--user", "jack", "--password-stdin"],
        "another long passphrase 93\n",
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(call().await.unwrap().status(), 401);
}

/// Behind a proxy that sets `X-Forwarded-For`, a `Forwarded` header the client sent itself
/// (nginx and Caddy pass it through) must not choose the address limits count against.
#[tokio::test]
async fn a_client_sent_forwarded_header_cannot_choose_its_address_behind_the_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None, &["--trusted-proxies", "127.0.0.1/32"]).await;
    server.create_user("kim", false);
    let proxy = reqwest::Client::new();
    // The attacker rotates `Forwarded` on every guess; the proxy says who they are.
    let mut statuses = Vec::new();
    for i in 0..12 {
        let status = proxy
            .post(server.url("/auth/v1/login"))
            .header("x-forwarded-for", "203.0.113.7")
            .header("forwarded", format!("for=192.0.2.{i}"))
            .json(&json!({"login": "kim", "password": "wrong guess"}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        statuses.push(status);
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(&statuses[10..], &[429; 2], "{statuses:?}");
    // The owner, forwarded from elsewhere, signs in; the session records that address.
    let owner: Value = proxy
        .post(server.url("/auth/v1/login"))
        .header("x-forwarded-for", "198.51.100.9")
        .header("forwarded", "for=203.0.113.7")
        .json(&json!({"login": "kim", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = owner["token"].as_str().unwrap();
    let page = get_json(&proxy, &server, "/auth/v1/sessions", token).await;
    let sessions = page["sessions"]
        .as_array()
        .unwrap_or_else(|| panic!("no sessions in {page}"));
    assert_eq!(sessions[0]["client_ip"], "198.51.100.9", "{sessions:?}");
}

/// An operator sees failed sign-ins and throttling in the log: one WARN line per failed
/// sign-in (bounded by the throttles), one per throttled limit and key every few minutes,
/// and never the password tried.
#[tokio::test]
async fn failed_sign_ins_and_throttling_are_logged_as_warnings_without_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("server.log");
    let server =
        Server::start_logging(dir.path(), None, &["--log-format", "json"], Some(&log)).await;
    server.create_user("lena", false);
    let client = reqwest::Client::new();
    for _ in 0..15 {
        login_status(&client, &server, "lena", "hunter2-wrong-guess").await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let warnings = |message: &str| {
        lines
            .iter()
            .filter(|l| l["level"] == "WARN" && l["message"] == message)
            .count()
    };
    assert_eq!(warnings("sign-in failed"), 10, "{text}");
    assert_eq!(warnings("throttled"), 1, "{text}");
    assert!(!text.contains("hunter2-wrong-guess"));
}

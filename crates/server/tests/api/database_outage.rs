//! A PostgreSQL that goes away and comes back, on a server this test starts itself (initdb
//! and pg_ctl, run as the `postgres` user when the test runs as root): `/readyz` answers 503
//! within a second, requests fail with 503 and `Retry-After` within the database wait, and
//! everything recovers by itself when the database returns, the replicas' invalidation
//! listener included. Skipped, saying so, only when PostgreSQL's binaries are absent; with
//! `GATEHOUSE_REQUIRE_POSTGRES=1` (CI) their absence fails the test.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::PASSWORD;

/// The newest `/usr/lib/postgresql/*/bin` with `initdb` and `pg_ctl`.
fn postgres_bin() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A PostgreSQL cluster in a temporary directory, stopped and removed when dropped.
struct OwnPostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl OwnPostgres {
    fn run(&self, program: &str, args: &[&str]) {
        let path = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let out = cmd
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", path.display()));
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn init() -> Self {
        let bin = postgres_bin().expect("checked by the caller");
        let dir = tempfile::Builder::new()
            .prefix("gatehouse-pg-")
            .tempdir_in("/tmp")
            .unwrap();
        let as_postgres = running_as_root();
        if as_postgres {
            // initdb and pg_ctl refuse root: the cluster belongs to `postgres`.
            let out = Command::new("chown")
                .args(["postgres:", &dir.path().display().to_string()])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = Self {
            bin,
            dir,
            port,
            as_postgres,
        };
        pg.run(
            "initdb",
            &[
                "-D",
                &pg.data(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
            ],
        );
        pg.start();
        pg
    }

    fn start(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "start",
            ],
        );
    }

    fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = Command::new(if self.as_postgres { "runuser" } else { "true" })
            .args(if self.as_postgres {
                vec!["-u", "postgres", "--"]
            } else {
                vec![]
            })
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", &self.data(), "-m", "immediate", "stop"])
            .output();
    }
}

/// A `gatehouse serve` on `database_url`, killed when dropped.
struct Server {
    base: String,
    _child: tokio::process::Child,
}

async fn serve(database_url: &str, dir: &Path, wait_seconds: u64) -> Server {
    let mut command = crate::helpers::serve_command(dir);
    command
        .args(["--database-url", database_url, "--database-wait-seconds"])
        .arg(wait_seconds.to_string())
        .stderr(Stdio::null());
    let (child, base) = crate::helpers::serve_on_free_port(command).await;
    Server {
        base,
        _child: child,
    }
}

fn cli(database_url: &str, args: &[&str], stdin: &str) -> String {
    let out = crate::cli::gatehouse_on(
        Path::new("/nonexistent-unused"),
        Some(database_url),
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

async fn me(client: &reqwest::Client, server: &Server, token: &str) -> reqwest::Response {
    client
        .get(format!("{}/auth/v1/me", server.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn when_postgres_goes_away_readiness_fails_at_once_requests_get_503_and_all_recovers() {
    if postgres_bin().is_none() {
        assert!(
            std::env::var("GATEHOUSE_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "no PostgreSQL binaries under /usr/lib/postgresql/*/bin and \
             GATEHOUSE_REQUIRE_POSTGRES=1"
        );
        eprintln!(
            "skipped: no PostgreSQL binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin"
        );
        return;
    }
    let pg = OwnPostgres::init();
    let url = pg.url();
    let wait = 2;
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let alice = cli(
        &url,
        &[
            "user",
            "create",
            "--username",
            "alice",
            "--email",
            "alice@example.com",
            "--password-stdin",
        ],
        PASSWORD,
    );
    let owner = cli(&url, &["token", "create", "--user", "alice"], "");
    let a = serve(&url, dirs.0.path(), wait).await;
    let b = serve(&url, dirs.1.path(), wait).await;
    let client = reqwest::Client::new();
    assert_eq!(me(&client, &a, &owner).await.status(), 200);

    pg.stop();
    let stopped = Instant::now();
    let ready = client
        .get(format!("{}/readyz", a.base))
        .send()
        .await
        .unwrap();
    let took = stopped.elapsed();
    println!("/readyz answered {} in {took:?}", ready.status());
    assert_eq!(ready.status(), 503);
    assert!(took < Duration::from_secs(1), "{took:?}");

    // A sign-in needs the database (throttling counters, the user): a 503 in the native
    // shape with Retry-After, once the wait is over, and no later.
    let started = Instant::now();
    let login = client
        .post(format!("{}/auth/v1/login", a.base))
        .json(&json!({"login": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    println!("a sign-in answered {} in {took:?}", login.status());
    assert_eq!(login.status(), 503);
    assert!(login.headers().contains_key("retry-after"));
    assert_eq!(login.headers()["content-type"], "application/problem+json");
    let problem: Value = login.json().await.unwrap();
    assert_eq!(problem["code"], "unavailable");
    assert!(took < Duration::from_secs(wait + 2), "{took:?}");

    // Each dialect answers 503 in its own shape, with Retry-After. B has never seen this
    // token, so every one of them must ask the database; they wait at once.
    let get = |path: String, header: &'static str, value: String| {
        client
            .get(format!("{}{path}", b.base))
            .header(header, value)
            .send()
    };
    let started = Instant::now();
    let answers = tokio::join!(
        get(
            "/api/v1/account/details".into(),
            "authorization",
            format!("Bearer {owner}")
        ),
        get("/api/users/whoami".into(), "x-api-key", owner.clone()),
        get("/v1/user/self/".into(), "x-api-key", owner.clone()),
        get(
            format!("/api/user/files/{alice}"),
            "authorization",
            owner.clone()
        ),
    );
    let took = started.elapsed();
    let answers = [
        ("FreeChat", answers.0.unwrap(), "text/plain"),
        ("Alsid", answers.1.unwrap(), "application/json"),
        ("Cloudsmith", answers.2.unwrap(), "application/json"),
        ("Trieve", answers.3.unwrap(), "application/json"),
    ];
    for (dialect, answer, content_type) in answers {
        println!("{dialect} answered {}", answer.status());
        assert_eq!(answer.status(), 503, "{dialect}");
        assert!(answer.headers().contains_key("retry-after"), "{dialect}");
        let given = answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(given.starts_with(content_type), "{dialect}: {given}");
        let body = answer.text().await.unwrap();
        assert!(
            !body.is_empty() && !body.contains("sqlx"),
            "{dialect}: {body}"
        );
    }
    println!("the dialects answered within {took:?}");
    assert!(took < Duration::from_secs(wait + 2), "{took:?}");

    pg.start();
    let back = Instant::now();
    for server in [&a, &b] {
        assert!(
            answers_ok_within_10s(&client, format!("{}/readyz", server.base)).await,
            "not ready again after the database returned"
        );
    }
    println!(
        "both ready {:?} after the database returned",
        back.elapsed()
    );
    let login = client
        .post(format!("{}/auth/v1/login", a.base))
        .json(&json!({"login": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);

    // B's listener comes back by itself: it retries every second, and on reconnecting it
    // flushes B's caches (it may have missed messages). Wait for that, bounded: a token
    // disabled through A is refused by B within 10 s.
    let probe: Value = client
        .post(format!("{}/auth/v1/tokens", a.base))
        .bearer_auth(&owner)
        .json(&json!({"name": "probe"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let probe_token = probe["token"].as_str().unwrap().to_owned();
    assert_eq!(me(&client, &b, &probe_token).await.status(), 200);
    let r = client
        .post(format!(
            "{}/auth/v1/tokens/{}/disable",
            a.base,
            probe["id"].as_str().unwrap()
        ))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let waiting = Instant::now();
    while me(&client, &b, &probe_token).await.status() != 401 {
        assert!(
            waiting.elapsed() < Duration::from_secs(10),
            "B never refused the probe"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Give a reconnect in progress its moment, then the real check: a token disabled through
    // A is refused by B well before B's cached entry (at most a second old) would expire,
    // which only the listener can do.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let created: Value = client
        .post(format!("{}/auth/v1/tokens", a.base))
        .bearer_auth(&owner)
        .json(&json!({"name": "after-outage"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    let cached = Instant::now();
    assert_eq!(me(&client, &b, &token).await.status(), 200);
    let r = client
        .post(format!("{}/auth/v1/tokens/{id}/disable", a.base))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    loop {
        if me(&client, &b, &token).await.status() == 401 {
            break;
        }
        assert!(
            cached.elapsed() < Duration::from_millis(900),
            "B still accepts the disabled token: its invalidation listener did not come back"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!(
        "the invalidation reached B {:?} after B cached the token",
        cached.elapsed()
    );
}

/// Whether `url` answers 200 within 10 s (polled every 100 ms): a server process started by a
/// test is ready.
async fn answers_ok_within_10s(
    client: &reqwest::Client,
    url: impl reqwest::IntoUrl + Clone,
) -> bool {
    for _ in 0..100 {
        if client
            .get(url.clone())
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

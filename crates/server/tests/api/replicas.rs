//! Two `gatehouse serve` processes on one PostgreSQL database behave as one service:
//! revocations reach the other replica within a second although its caches keep entries for
//! 30 s (so only LISTEN/NOTIFY can have told it), a replica whose listener lost its
//! connection flushes its caches and hears later revocations, throttling counts are shared,
//! and queued mail is delivered once. Skipped (saying so) when PostgreSQL is not reachable.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[cfg(feature = "freechat")]
use accounts::store::LifecycleStore as _;
use serde_json::json;
use serde_json::Value;
use store_postgres::testkit::scratch_database;

use crate::helpers::PASSWORD;

/// How long the replicas keep cached credentials: far longer than any wait below, so a
/// revocation seen in time was seen through a notification, not through expiry.
const CACHE_TTL_SECONDS: &str = "30";

/// A server process, killed when dropped.
struct Replica {
    base: String,
    #[cfg_attr(not(feature = "freechat"), allow(dead_code))]
    mail_dir: PathBuf,
    _child: tokio::process::Child,
}

async fn start_replica(database_url: &str, dir: &Path) -> Replica {
    let mut command = crate::helpers::serve_command(dir);
    command
        .args(["--database-url", database_url])
        .args(["--cache-ttl-seconds", CACHE_TTL_SECONDS])
        .stderr(Stdio::null());
    let (child, base) = crate::helpers::serve_on_free_port(command).await;
    Replica {
        base,
        mail_dir: dir.join("mail"),
        _child: child,
    }
}

fn cli(database_url: &str, args: &[&str], stdin: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .args([
            "--database-url",
            database_url,
            "--data-dir",
            "/nonexistent-unused",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

async fn status(client: &reqwest::Client, replica: &Replica, token: &str) -> u16 {
    client
        .get(format!("{}/auth/v1/me", replica.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Polls `replica` until `token` is refused; returns how long that took. Gives up after 5 s,
/// well under the replicas' cache TTL.
async fn time_until_refused(client: &reqwest::Client, replica: &Replica, token: &str) -> Duration {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        if status(client, replica, token).await == 401 {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the other replica still accepts the revoked token after 5 s");
}

/// A user `alice` (made by the CLI) and an API token of hers.
fn alice_with_token(database_url: &str) -> String {
    cli(
        database_url,
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
    cli(database_url, &["token", "create", "--user", "alice"], "")
}

#[cfg(feature = "freechat")]
#[tokio::test]
async fn two_replicas_on_one_postgres_behave_as_one_service() {
    let Some(db) = scratch_database().await else {
        return;
    };
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // The schema is migrated once before two processes start at the same moment.
    let _first = store_postgres::PostgresStore::connect(&db.url)
        .await
        .unwrap();
    let a = start_replica(&db.url, dirs.0.path()).await;
    let b = start_replica(&db.url, dirs.1.path()).await;
    let client = reqwest::Client::new();
    let owner = alice_with_token(&db.url);

    // A token made through one replica works on the other, and both have it cached.
    let created: Value = client
        .post(format!("{}/auth/v1/tokens", a.base))
        .bearer_auth(&owner)
        .json(&json!({"name": "shared"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    for replica in [&a, &b] {
        assert_eq!(status(&client, replica, &token).await, 200);
    }

    // Disabled through A: refused by B within a second.
    let r = client
        .post(format!("{}/auth/v1/tokens/{id}/disable", a.base))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let took = time_until_refused(&client, &b, &token).await;
    println!("disable reached the other replica in {took:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");

    // Rotated through B: the old secret is refused by A within a second.
    client
        .post(format!("{}/auth/v1/tokens/{id}/enable", b.base))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(
        status(&client, &a, &token).await,
        200,
        "re-enabled, cached again on A"
    );
    let rotated: Value = client
        .post(format!("{}/auth/v1/tokens/{id}/rotate", b.base))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let took = time_until_refused(&client, &a, &token).await;
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(
        status(&client, &a, rotated["token"].as_str().unwrap()).await,
        200
    );

    // Deleted through FreeChat on A: refused by B.
    let fresh = client
        .post(format!("{}/api/v1/account/token", a.base))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(status(&client, &b, &fresh).await, 200);
    client
        .delete(format!("{}/api/v1/account/token/{fresh}", a.base))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert!(time_until_refused(&client, &b, &fresh).await < Duration::from_secs(1));

    // Throttling is counted once for both: 10 attempts per account per window in all.
    let login = |replica: &Replica, password: &str| {
        client
            .post(format!("{}/auth/v1/login", replica.base))
            .json(&json!({"login": "alice", "password": password}))
            .send()
    };
    for i in 0..10 {
        let replica = if i % 2 == 0 { &a } else { &b };
        assert_eq!(login(replica, "wrong guess").await.unwrap().status(), 401);
    }
    assert_eq!(login(&a, PASSWORD).await.unwrap().status(), 429);
    assert_eq!(login(&b, PASSWORD).await.unwrap().status(), 429);

    // Mail queued once is delivered once, by whichever worker claims it.
    let r = client
        .post(format!("{}/auth/v1/signup", b.base))
        .json(&json!({"username": "newcomer", "email": "new@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let count = || {
        [&a.mail_dir, &b.mail_dir]
            .iter()
            .map(|d| {
                std::fs::read_dir(d).map_or(0, |entries| {
                    entries
                        .filter(|e| {
                            e.as_ref()
                                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "eml"))
                        })
                        .count()
                })
            })
            .sum::<usize>()
    };
    // Once the outbox says it was sent, no worker can claim it again: a second copy would
    // have come from a worker that claimed it while the first one's lease was live.
    let started = Instant::now();
    loop {
        let mail = _first.mail_counts().await.unwrap();
        if mail.sent == 1 && mail.queued == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not delivered in 10 s: {mail:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(count(), 1);
}

#[tokio::test]
async fn a_replica_whose_listener_lost_its_connection_flushes_its_caches_and_still_hears_revocations(
) {
    let Some(db) = scratch_database().await else {
        return;
    };
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let _first = store_postgres::PostgresStore::connect(&db.url)
        .await
        .unwrap();
    let a = start_replica(&db.url, dirs.0.path()).await;
    let b = start_replica(&db.url, dirs.1.path()).await;
    let client = reqwest::Client::new();
    let owner = alice_with_token(&db.url);
    let token = cli(
        &db.url,
        &[
            "token",
            "create",
            "--user",
            "alice",
            "--name",
            "behind-its-back",
        ],
        "",
    );
    assert_eq!(status(&client, &b, &token).await, 200);

    // Disabled behind every replica's back (no notification): B's cache still holds it, for
    // up to its 30 s TTL.
    let disabled = db
        .execute("UPDATE api_tokens SET disabled = TRUE WHERE name = 'behind-its-back'")
        .await;
    assert_eq!(disabled, 1);
    // Past the 1 s an unfollowed cache would keep it: B follows the others, so its entries
    // live the TTL set (which is what makes the other tests' sub-second revocations proof
    // of a notification).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        status(&client, &b, &token).await,
        200,
        "served from B's cache: entries live the 30 s set"
    );

    // B's listener loses its connection (as in a network failure or a database restart):
    // it may have missed notifications, so when it reconnects it flushes everything.
    assert!(db.terminate_listeners().await >= 2);
    let took = time_until_refused(&client, &b, &token).await;
    println!("B refused the token changed behind its back {took:?} after its listener died");

    // Listening again: a revocation through A reaches B within a second. (The native API,
    // so the test runs on a build without dialects too.)
    let created: Value = client
        .post(format!("{}/auth/v1/tokens", a.base))
        .bearer_auth(&owner)
        .json(&json!({"name": "after-reconnect"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let fresh = created["token"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap();
    assert_eq!(status(&client, &b, &fresh).await, 200);
    let deleted = client
        .delete(format!("{}/auth/v1/tokens/{id}", a.base))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());
    let took = time_until_refused(&client, &b, &fresh).await;
    assert!(took < Duration::from_secs(1), "{took:?}");
}

#[tokio::test]
async fn migrate_copies_a_sqlite_deployment_that_then_serves_from_postgres() {
    let Some(db) = scratch_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("gatehouse.db").display());
    cli(
        &sqlite,
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
    let token = cli(
        &sqlite,
        &["token", "create", "--user", "alice", "--name", "old"],
        "",
    );

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["migrate", "--from", &sqlite, "--to", &db.url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("users") && report.contains("api_tokens"),
        "{report}"
    );

    // The copied deployment serves the same account and token from PostgreSQL.
    let served_dir = tempfile::tempdir().unwrap();
    let served = start_replica(&db.url, served_dir.path()).await;
    let client = reqwest::Client::new();
    assert_eq!(status(&client, &served, &token).await, 200);
    let r = client
        .post(format!("{}/auth/v1/login", served.base))
        .json(&json!({"login": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // A second copy into a database that now holds data is refused.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["migrate", "--from", &sqlite, "--to", &db.url])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds data"));
}

//! The `gatehouse` binary: operator commands on a data directory a server is using, config
//! refusals, and a real `serve` process with graceful shutdown.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::helpers::{TestApp, PASSWORD};

fn gatehouse(data_dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    gatehouse_on(data_dir, None, args, stdin)
}

/// The binary on `data_dir`, and on `database_url` when given (the app's PostgreSQL).
fn gatehouse_on(
    data_dir: &Path,
    database_url: Option<&str>,
    args: &[&str],
    stdin: Option<&str>,
) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.args(args).arg("--data-dir").arg(data_dir);
    if let Some(url) = database_url {
        cmd.arg("--database-url").arg(url);
    }
    cmd.env_remove("GATEHOUSE_DATABASE_URL")
        .env_remove("GATEHOUSE_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone())
        .unwrap()
        .trim()
        .to_owned()
}

#[tokio::test]
async fn cli_users_and_tokens_work_against_a_running_server() {
    let app = TestApp::spawn().await;
    let dir = app.dir.path();
    let db = app.database_url();
    let gatehouse =
        |dir: &Path, args: &[&str], stdin: Option<&str>| gatehouse_on(dir, Some(&db), args, stdin);

    let id = stdout(&gatehouse(
        dir,
        &[
            "user",
            "create",
            "--username",
            "ops",
            "--email",
            "ops@example.com",
            "--password-stdin",
        ],
        Some(&format!("{PASSWORD}\n")),
    ));
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "prints the id: {id}");

    // Flags after the subcommand and before it are both accepted.
    let token = stdout(&gatehouse(
        dir,
        &[
            "token",
            "create",
            "--user",
            "ops",
            "--name",
            "deploy",
            "--expires-in",
            "3600",
        ],
        None,
    ));
    assert!(
        token.starts_with("gh_") && !token.contains(char::is_whitespace),
        "only the secret: {token}"
    );
    assert_eq!(
        app.status_with("/api/v1/account/details", &token).await,
        200
    );

    let listing = stdout(&gatehouse(
        dir,
        &["token", "list", "--user", "ops@example.com"],
        None,
    ));
    assert!(listing.contains("deploy") && !listing.contains(&token));

    let out = gatehouse(
        dir,
        &["token", "revoke", "--user", "ops", "--token", &token],
        None,
    );
    assert!(out.status.success());
    // Another process revoked it: the server's cache lets it through for at most its TTL.
    app.clock.advance(chrono::Duration::seconds(2));
    assert_eq!(
        app.status_with("/api/v1/account/details", &token).await,
        401
    );

    let out = gatehouse(
        dir,
        &["user", "set-password", "--user", &id, "--password-stdin"],
        Some("a brand new passphrase\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let login = |password: &'static str| {
        app.client
            .post(app.url("/auth/v1/login"))
            .json(&serde_json::json!({"login": "ops", "password": password}))
            .send()
    };
    assert_eq!(login("a brand new passphrase").await.unwrap().status(), 200);
    assert_eq!(login(PASSWORD).await.unwrap().status(), 401);
}

#[test]
fn cli_refuses_bad_input_with_a_reason_and_no_write() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = gatehouse(
        d,
        &[
            "user",
            "create",
            "--username",
            "x y",
            "--email",
            "a@example.com",
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("username"));
    let out = gatehouse(
        d,
        &[
            "user",
            "create",
            "--username",
            "shorty",
            "--email",
            "s@example.com",
            "--password-stdin",
        ],
        Some("short\n"),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 8"));
    stdout(&gatehouse(
        d,
        &[
            "user",
            "create",
            "--username",
            "taken",
            "--email",
            "t@example.com",
        ],
        None,
    ));
    let out = gatehouse(
        d,
        &[
            "user",
            "create",
            "--username",
            "taken",
            "--email",
            "t2@example.com",
        ],
        None,
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("username is taken"));
    let out = gatehouse(d, &["token", "create", "--user", "nobody"], None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such user"));
    let out = gatehouse(
        d,
        &["token", "create", "--user", "taken", "--expires-in", "0"],
        None,
    );
    assert!(!out.status.success());
}

#[test]
fn config_mistakes_are_refused_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let run = |env: &[(&str, &str)], args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        cmd.args(args).arg("--data-dir").arg(dir.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success(), "{args:?} {env:?} should fail");
        String::from_utf8(out.stderr).unwrap()
    };
    assert!(run(&[("GATEHOUSE_LISTEN", "localhost")], &["serve"]).contains("GATEHOUSE_LISTEN"));
    assert!(run(&[], &["serve", "--listen", "1.2.3.4:99999"]).contains("`listen`"));
    assert!(run(
        &[("GATEHOUSE_DATABASE_URL", "mysql://x")],
        &["check-config"]
    )
    .contains("database_url"));
    let file = dir.path().join("gatehouse.toml");
    std::fs::write(&file, "listen = 5\n").unwrap();
    assert!(run(&[], &["check-config", "--config", file.to_str().unwrap()]).contains("config"));

    // An unknown GATEHOUSE_* variable is probably a typo, or injected by an orchestrator:
    // warned about, not fatal.
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["check-config", "--data-dir"])
        .arg(dir.path())
        .env("GATEHOUSE_LISTNE", "x")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("configuration is valid"));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("warning: ignoring unknown environment variable(s) GATEHOUSE_LISTNE"));
}

#[tokio::test]
async fn serve_starts_with_no_config_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = dir.path().join("fresh");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(&data)
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/readyz");
    let mut ready = false;
    for _ in 0..100 {
        if client
            .get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "server did not become ready");
    assert!(
        data.join("gatehouse.db").exists(),
        "created its data directory and database"
    );

    let pid = child.id().unwrap().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "clean exit on SIGTERM: {status}");
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr)
        .await
        .unwrap();
    assert!(
        stderr.contains("--admin"),
        "tells how to create the first admin: {stderr}"
    );
}

//! The `gatehouse` binary: operator commands on a data directory a server is using, config
//! refusals, and a real `serve` process with graceful shutdown.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use accounts::access::{OrgId, OrgRole, RoleId};
use accounts::{Patch, ProfileUpdate};
use serde_json::{json, Value};

use crate::helpers::{serve_command, TestApp, PASSWORD};

fn gatehouse(data_dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    gatehouse_on(data_dir, None, args, stdin)
}

/// The binary on `data_dir`, and on `database_url` when given (the app's PostgreSQL).
pub(crate) fn gatehouse_on(
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
    assert_eq!(app.status_with("/auth/v1/me", &token).await, 200);

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
    assert_eq!(app.status_with("/auth/v1/me", &token).await, 401);

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

/// Runs `gatehouse <command>` with `GATEHOUSE_<KEY>=value`; `Some(output)` when it exited
/// within 20 s, `None` (after killing it) when it kept running.
fn run_with_setting(
    dir: &Path,
    command: &str,
    key: &str,
    env: &str,
    value: &str,
) -> Option<Output> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.arg(command);
    // The setting under test comes from the environment, so no flag may override it.
    if key != "data_dir" {
        cmd.arg("--data-dir").arg(dir);
    }
    if key != "listen" {
        cmd.args(["--listen", "127.0.0.1:0"]);
    }
    cmd.env_remove("GATEHOUSE_DATABASE_URL")
        .env_remove("GATEHOUSE_CONFIG")
        .env(env, value)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return Some(child.wait_with_output().unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    None
}

#[test]
fn check_config_refuses_exactly_what_serve_refuses_for_every_declared_setting() {
    let dir = tempfile::tempdir().unwrap();
    for s in gatehouse::config::SETTINGS {
        let env = s.env();
        for command in ["check-config", "serve"] {
            let out = run_with_setting(dir.path(), command, s.key, &env, s.bad_example)
                .unwrap_or_else(|| panic!("{command} accepted {env}={:?}", s.bad_example));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success()
                    && stderr.contains(&format!("`{}`", s.key))
                    && stderr.contains(&env),
                "{command} with {env}={:?} should be refused naming the setting: {stderr}",
                s.bad_example
            );
        }
    }
    // What both accept, check-config prints with its source; flags work anywhere on the line.
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["--listen", "127.0.0.1:9999", "check-config", "--data-dir"])
        .arg(dir.path())
        .args([
            "--database-url",
            "postgres://u:p@ss@zq9tail@db.example/gatehouse",
        ])
        .env("GATEHOUSE_SIGNUP", "closed")
        .env_remove("GATEHOUSE_CONFIG")
        .output()
        .unwrap();
    let text = stdout(&out);
    for key in gatehouse::config::SETTINGS.iter().map(|s| s.key) {
        assert!(
            text.contains(&format!("\n{key} ")),
            "{key} missing from:\n{text}"
        );
    }
    assert!(text.contains("127.0.0.1:9999  (flag)"), "{text}");
    assert!(text.contains("closed  (environment)"), "{text}");
    assert!(
        text.contains("postgres://u:***@db.example/gatehouse"),
        "{text}"
    );
    assert!(!text.contains("zq9tail"), "{text}");
}

#[tokio::test]
async fn serve_starts_with_no_config_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh");
    // No config file and no GATEHOUSE_* variables; waits until it is ready.
    let (mut child, _) = crate::helpers::serve_on_free_port(serve_command(&data)).await;
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

#[tokio::test]
async fn json_logs_hold_one_access_line_per_request_and_never_the_setup_link_or_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let user_id = stdout(&gatehouse(
        &data,
        &[
            "user",
            "create",
            "--username",
            "logged",
            "--email",
            "logged@example.com",
            "--password-stdin",
        ],
        Some(&format!("{PASSWORD}\n")),
    ));
    let token = stdout(&gatehouse(
        &data,
        &["token", "create", "--user", "logged"],
        None,
    ));
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut command = serve_command(&data);
    command
        .args(["--log-format", "json"])
        .env_remove("RUST_LOG")
        // Its warning is a log line like any other: JSON too.
        .env("GATEHOUSE_LISTNE", "x")
        .stderr(Stdio::from(log));
    // Its readiness probes are health probes, which the access log leaves out.
    let (mut child, base) = crate::helpers::serve_on_free_port(command).await;
    let client = reqwest::Client::new();

    // Four requests that are not health probes, two carrying secrets.
    let secret = "gh_zq9SECRETinTHEpath";
    let statuses = [
        client
            .get(format!("{base}/auth/v1/me"))
            .bearer_auth(secret)
            .send()
            .await
            .unwrap()
            .status(),
        client
            .post(format!("{base}/auth/v1/login"))
            .json(&json!({"login": "nobody", "password": "zq9PASSWORDvalue"}))
            .send()
            .await
            .unwrap()
            .status(),
        client
            .delete(format!("{base}/api/v1/account/token/{secret}"))
            .send()
            .await
            .unwrap()
            .status(),
        client
            .get(format!("{base}/no/such/page"))
            .send()
            .await
            .unwrap()
            .status(),
    ];
    assert!(statuses.iter().all(|s| s.is_client_error()), "{statuses:?}");
    let me = client
        .get(format!("{base}/auth/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);

    let pid = child.id().unwrap().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();

    let text = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let access: Vec<&Value> = lines
        .iter()
        .filter(|l| l["target"] == "gatehouse::access")
        .collect();
    assert_eq!(
        access.len(),
        5,
        "one line per request, probes left out:\n{text}"
    );
    let signed_in: Vec<&&Value> = access
        .iter()
        .filter(|l| l["span"]["user_id"].is_string())
        .collect();
    assert_eq!(
        signed_in.len(),
        1,
        "only the token's request has a user:\n{text}"
    );
    assert_eq!(signed_in[0]["span"]["user_id"], user_id.as_str());
    assert_eq!(signed_in[0]["status"], 200);
    for line in &access {
        assert!(line["span"]["route"].is_string(), "{line}");
        assert_eq!(line["span"]["client"], "127.0.0.1", "{line}");
        assert!(
            line["status"].is_u64() && line["latency_ms"].is_number(),
            "{line}"
        );
        assert!(line["span"]["request_id"].is_string(), "{line}");
    }
    assert!(
        !text.contains("zq9SECRET") && !text.contains("zq9PASSWORD") && !text.contains(&token),
        "{text}"
    );

    // The setup link is in a file only this user can read, and not in the log.
    let link_file = data.join("setup-link");
    let link = std::fs::read_to_string(&link_file).unwrap();
    let token = link.trim().split("token=").nth(1).unwrap();
    assert!(token.len() > 20, "{link}");
    assert!(!text.contains(token), "the setup token leaked into the log");
    assert!(
        text.contains("setup-link"),
        "the log names the file: {text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&link_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
}

#[test]
fn version_names_the_release_and_the_commit() {
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("--version")
        .output()
        .unwrap();
    let text = stdout(&out);
    let commit = text
        .strip_prefix(&format!("gatehouse {} (commit ", env!("CARGO_PKG_VERSION")))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{text}"
    );
}

#[tokio::test]
async fn a_second_serve_on_one_sqlite_data_directory_is_refused_while_the_cli_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut first, _) = crate::helpers::serve_on_free_port(serve_command(&data)).await;

    let second = serve_command(&data).kill_on_drop(true).spawn().unwrap();
    let out = tokio::time::timeout(Duration::from_secs(20), second.wait_with_output())
        .await
        .expect("the second serve kept running beside the first")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("already using") && stderr.contains("PostgreSQL"),
        "{stderr}"
    );

    // Operator commands keep working beside the running server.
    let created = gatehouse(
        &data,
        &[
            "user",
            "create",
            "--username",
            "ops",
            "--email",
            "ops@example.com",
        ],
        None,
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );

    first.start_kill().unwrap();
    first.wait().await.unwrap();
    // Once the first has stopped, the directory can be served again (serve_on_free_port
    // fails the test, with the server's words, if it does not become ready).
    let (mut again, _) = crate::helpers::serve_on_free_port(serve_command(&data)).await;
    again.start_kill().unwrap();
}

/// On SQLite nothing tells a running server about the CLI's changes, so its caches keep
/// entries at most `UNFOLLOWED_CACHE_TTL` (1 s) whatever `cache_ttl_seconds` says: a token
/// revoked by an operator stops working within that, not within the setting's 30 s.
#[tokio::test]
async fn a_token_revoked_by_the_cli_on_sqlite_stops_working_within_a_second_whatever_the_cache_setting(
) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut command = serve_command(&data);
    command.args(["--cache-ttl-seconds", "30"]);
    let (_server, base) = crate::helpers::serve_on_free_port(command).await;
    stdout(&gatehouse(
        &data,
        &[
            "user",
            "create",
            "--username",
            "ops",
            "--email",
            "ops@example.com",
        ],
        None,
    ));
    let token = stdout(&gatehouse(
        &data,
        &["token", "create", "--user", "ops"],
        None,
    ));
    let client = reqwest::Client::new();
    let status = || async {
        client
            .get(format!("{base}/auth/v1/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(status().await, 200, "cached by the server now");

    stdout(&gatehouse(
        &data,
        &["token", "revoke", "--user", "ops", "--token", &token],
        None,
    ));
    let revoked = std::time::Instant::now();
    while status().await != 401 {
        assert!(
            revoked.elapsed() < Duration::from_secs(5),
            "the revoked token still works 5 s later"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = revoked.elapsed();
    println!("the server refused the token the CLI revoked after {took:?}");
    // The 1 s bound, and time for a loaded machine to answer the last request.
    assert!(took < Duration::from_millis(1500), "{took:?}");
}

/// `gatehouse ARGS` on the app's data directory and database.
fn gatehouse_for(app: &TestApp, args: &[&str]) -> Output {
    gatehouse_on(app.dir.path(), Some(&app.database_url()), args, None)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write_lines(app: &TestApp, name: &str, lines: &[String]) -> String {
    let path = app.dir.path().join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test]
async fn export_then_import_into_a_fresh_app_keeps_ids_roles_claims_and_passwords() {
    let source = TestApp::spawn().await;
    let alice = source.user("alice").await;
    let root = source.admin("root").await;
    source
        .accounts
        .update_profile(
            &accounts::Actor::operator(),
            alice.id,
            ProfileUpdate {
                name: Patch::Set("Alice Liddell".into()),
                ..ProfileUpdate::default()
            },
        )
        .await
        .unwrap();

    let file = source.dir.path().join("users.jsonl");
    let out = gatehouse_for(
        &source,
        &["user", "export", "--output", file.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "the users went to the file");
    assert!(
        stderr(&out).contains("exported 2 user(s)"),
        "{}",
        stderr(&out)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "password hashes are for the owner's eyes only"
        );
    }
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["password_hash"]
        .as_str()
        .unwrap()
        .starts_with("$argon2id$")));
    // Without --output, the same lines on standard output.
    let out = gatehouse_for(&source, &["user", "export"]);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), text);

    let target = TestApp::spawn().await;
    let out = gatehouse_for(&target, &["user", "import", file.to_str().unwrap()]);
    assert_eq!(stdout(&out), "imported 2 user(s)");
    assert_eq!(target.login("alice", PASSWORD).await.status(), 200);
    assert_eq!(target.login("root", PASSWORD).await.status(), 200);
    let imported = target
        .accounts
        .find_user("alice@example.com")
        .await
        .unwrap();
    assert_eq!(imported.id, alice.id);
    assert_eq!(imported.profile.name.as_deref(), Some("Alice Liddell"));
    let roles = target.accounts.roles_of(root.id).await.unwrap();
    assert!(roles.iter().any(|r| r.id == RoleId::ADMIN));

    // Again: every line is now taken, so nothing is imported and each is named.
    let out = gatehouse_for(&target, &["user", "import", file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("line 1: "), "{}", stderr(&out));
    assert!(stderr(&out).contains("line 2: "), "{}", stderr(&out));
}

#[tokio::test]
async fn an_imported_bcrypt_hash_logs_in_and_is_rehashed_to_argon2id() {
    let app = TestApp::spawn().await;
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let line = json!({
        "username": "legacy",
        "email": "legacy@example.com",
        "email_verified": true,
        "password_hash": hash,
    });
    let file = write_lines(&app, "legacy.jsonl", &[line.to_string()]);
    assert_eq!(
        stdout(&gatehouse_for(&app, &["user", "import", &file])),
        "imported 1 user(s)"
    );

    let stored = |app: &TestApp| {
        let accounts = app.accounts.clone();
        async move {
            let lines = accounts.export_users(None, 10).await.unwrap();
            let line = lines.into_iter().find(|l| l.username == "legacy").unwrap();
            line.password_hash.unwrap()
        }
    };
    assert!(stored(&app).await.starts_with("$2b$"));
    assert_eq!(app.login("legacy", "not the password").await.status(), 401);
    assert!(
        stored(&app).await.starts_with("$2b$"),
        "a wrong password changes nothing"
    );
    assert_eq!(app.login("legacy", PASSWORD).await.status(), 200);
    assert!(
        stored(&app).await.starts_with("$argon2id$"),
        "rehashed at login"
    );
    assert_eq!(app.login("legacy", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn a_bad_line_imports_nothing_and_is_named_unless_skipped() {
    let app = TestApp::spawn().await;
    let lines = [
        json!({"username": "first", "email": "first@example.com"}).to_string(),
        r#"{"username": "broken", "#.to_owned(),
        String::new(),
        json!({"username": "third", "email": "third@example.com"}).to_string(),
        json!({"username": "fourth", "email": "not-an-address"}).to_string(),
    ];
    let file = write_lines(&app, "users.jsonl", &lines);
    let out = gatehouse_for(&app, &["user", "import", &file]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("line 2: "), "{err}");
    assert!(err.contains("line 5: "), "{err}");
    assert!(
        !err.contains("line 1: ") && !err.contains("line 4: "),
        "{err}"
    );
    assert!(err.contains("nothing imported"), "{err}");
    assert!(out.stdout.is_empty());
    for name in ["first", "third"] {
        assert!(
            app.accounts.find_user(name).await.is_err(),
            "{name} was imported"
        );
    }

    let out = gatehouse_for(&app, &["user", "import", &file, "--skip-bad"]);
    assert_eq!(stdout(&out), "imported 2 user(s)");
    assert!(stderr(&out).contains("line 2: "));
    for name in ["first", "third"] {
        assert!(
            app.accounts.find_user(name).await.is_ok(),
            "{name} was not imported"
        );
    }

    let out = gatehouse_for(&app, &["user", "import", "/nonexistent/users.jsonl"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("/nonexistent/users.jsonl"));
}

#[tokio::test]
async fn org_create_prints_an_id_that_add_member_accepts() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let id = stdout(&gatehouse_for(
        &app,
        &["org", "create", "--name", "Acme Energy"],
    ));
    let id = id.as_str();
    let org = OrgId(uuid::Uuid::parse_str(id).expect("only the id on stdout"));

    let out = gatehouse_for(
        &app,
        &[
            "org",
            "add-member",
            "--org",
            id,
            "--user",
            "alice@example.com",
            "--role",
            "admin",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        app.accounts.membership(org, alice.id).await.unwrap(),
        Some(OrgRole::Admin)
    );
    // The server sees it (another process wrote it: within the cache's TTL).
    app.clock.advance(chrono::Duration::seconds(2));
    let orgs: Value = app
        .get("/auth/v1/orgs", &alice.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(orgs["organizations"][0]["id"], id);
    assert_eq!(orgs["organizations"][0]["name"], "Acme Energy");

    // Users imported into it become members.
    let file = write_lines(
        &app,
        "members.jsonl",
        &[json!({"username": "member", "email": "member@example.com"}).to_string()],
    );
    stdout(&gatehouse_for(
        &app,
        &["user", "import", &file, "--org", id],
    ));
    let member = app.accounts.find_user("member").await.unwrap();
    assert_eq!(
        app.accounts.membership(org, member.id).await.unwrap(),
        Some(OrgRole::Member)
    );

    for (args, complaint) in [
        (
            vec![
                "org",
                "add-member",
                "--org",
                id,
                "--user",
                "alice",
                "--role",
                "emperor",
            ],
            "role",
        ),
        (
            vec![
                "org",
                "add-member",
                "--org",
                "not-an-id",
                "--user",
                "alice",
                "--role",
                "member",
            ],
            "not-an-id",
        ),
        (
            vec![
                "org",
                "add-member",
                "--org",
                id,
                "--user",
                "nobody",
                "--role",
                "member",
            ],
            "no such user",
        ),
        (vec!["org", "create", "--name", " "], "name"),
    ] {
        let out = gatehouse_for(&app, &args);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            stderr(&out).contains(complaint),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    let unknown = uuid::Uuid::now_v7().to_string();
    let out = gatehouse_for(
        &app,
        &[
            "org",
            "add-member",
            "--org",
            &unknown,
            "--user",
            "alice",
            "--role",
            "member",
        ],
    );
    assert!(!out.status.success());
    // Importing into an organisation that does not exist imports nothing.
    let out = gatehouse_for(&app, &["user", "import", &file, "--org", &unknown]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no such organisation"),
        "{}",
        stderr(&out)
    );
}

#[cfg(unix)]
fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

/// Another local user reads nothing in the data directory: it is created 0700 and its
/// files 0600 whatever the umask, and what an older version left open is tightened.
#[cfg(unix)]
#[test]
fn other_local_users_cannot_read_the_data_directory() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    let create = |dir: &Path, name: &str| {
        gatehouse(
            dir,
            &[
                "user",
                "create",
                "--username",
                name,
                "--email",
                &format!("{name}@example.com"),
            ],
            None,
        )
    };
    stdout(&create(&dir, "first"));
    assert_eq!(mode_of(&dir), 0o700, "data directory");
    for name in ["gatehouse.db", "secret.key"] {
        assert_eq!(mode_of(&dir.join(name)), 0o600, "{name}");
    }
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode_of(&path) & 0o077, 0, "{}", path.display());
    }

    // As an older version left it: everything readable by all.
    std::fs::create_dir_all(dir.join("mail")).unwrap();
    std::fs::write(dir.join("mail/reset.eml"), "a live reset link").unwrap();
    for (path, mode) in [
        (dir.clone(), 0o755),
        (dir.join("mail"), 0o755),
        (dir.join("mail/reset.eml"), 0o644),
        (dir.join("gatehouse.db"), 0o644),
    ] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let out = create(&dir, "second");
    stdout(&out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("warning"),
        "the operator is told"
    );
    assert_eq!(mode_of(&dir), 0o700);
    assert_eq!(mode_of(&dir.join("mail")), 0o700);
    assert_eq!(mode_of(&dir.join("mail/reset.eml")), 0o600);
    assert_eq!(mode_of(&dir.join("gatehouse.db")), 0o600);
}

/// A link planted where the export is to be written is refused, never written through, and
/// an existing file is not overwritten.
#[cfg(unix)]
#[test]
fn user_export_refuses_to_write_through_a_planted_symlink() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    let victim = root.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let link = root.path().join("export.jsonl");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let out = gatehouse(
        &dir,
        &["user", "export", "--output", link.to_str().unwrap()],
        None,
    );
    assert!(!out.status.success(), "export wrote through the link");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refusing"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let out = gatehouse(
        &dir,
        &["user", "export", "--output", victim.to_str().unwrap()],
        None,
    );
    assert!(!out.status.success(), "export overwrote a file");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");

    let fresh = root.path().join("fresh.jsonl");
    stdout(&gatehouse(
        &dir,
        &["user", "export", "--output", fresh.to_str().unwrap()],
        None,
    ));
    assert_eq!(mode_of(&fresh), 0o600);
}

/// `check-config` and every message show URLs without their password, even one holding
/// `@` (where splitting at the first `@` printed the password's tail).
#[test]
fn check_config_never_prints_a_database_password() {
    let root = tempfile::tempdir().unwrap();
    let out = gatehouse_on(
        root.path(),
        Some("postgres://gate:hunter2@pa$$@db.internal:5432/gatehouse"),
        &[
            "check-config",
            "--smtp-url",
            "smtp://mailer:s3cr@t@smtp.example.com:587",
        ],
        None,
    );
    let text = stdout(&out);
    for secret in ["hunter2", "pa$$", "s3cr", "t@smtp"] {
        assert!(!text.contains(secret), "{secret} printed:\n{text}");
    }
    assert!(
        text.contains("postgres://gate:***@db.internal:5432/gatehouse"),
        "{text}"
    );
}

/// Root running an operator command on the service user's data directory (a packaged
/// install's /var/lib/gatehouse) is told to run it as that user, and writes nothing there.
/// Needs root to hand a directory to another user; elsewhere the unit test in
/// private_files.rs covers the rule.
#[cfg(unix)]
#[test]
fn root_is_told_to_run_the_cli_as_the_owner_of_the_data_directory() {
    if gatehouse::private_files::effective_uid() != Some(0) {
        eprintln!("skipped: needs root to give a directory to another user");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
    for args in [
        &[
            "user",
            "create",
            "--username",
            "ops",
            "--email",
            "ops@example.com",
        ][..],
        &["token", "list", "--user", "ops"][..],
        &["serve", "--listen", "127.0.0.1:0"][..],
    ] {
        let out = gatehouse(&dir, args, None);
        assert!(!out.status.success(), "{args:?}");
        let text = stderr(&out);
        assert!(
            text.contains("runs as root") && text.contains(" gatehouse ..."),
            "{args:?}: {text}"
        );
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "{args:?} wrote into the service user's directory"
        );
    }
}

/// The packaged /etc/gatehouse/gatehouse.toml: every setting a config file takes, each
/// commented out, and the file as generated is a valid config that changes nothing.
#[test]
fn example_config_comments_out_every_setting_and_is_accepted_as_is() {
    let root = tempfile::tempdir().unwrap();
    let out = gatehouse(root.path(), &["check-config", "--example-config"], None);
    let text = stdout(&out);
    for s in gatehouse::config::SETTINGS
        .iter()
        .filter(|s| s.key != "config")
    {
        assert!(
            text.contains(&format!("\n# {} = ", s.key)),
            "{} missing:\n{text}",
            s.key
        );
    }
    assert!(
        text.lines().all(|l| l.is_empty() || l.starts_with('#')),
        "every line is a comment:\n{text}"
    );
    let file = root.path().join("gatehouse.toml");
    std::fs::write(&file, &text).unwrap();
    let checked = stdout(&gatehouse(
        &root.path().join("data"),
        &["check-config", "--config", file.to_str().unwrap()],
        None,
    ));
    assert!(
        !checked.contains("(file "),
        "nothing set by the file:\n{checked}"
    );
}

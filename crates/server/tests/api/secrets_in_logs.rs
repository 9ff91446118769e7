//! The attack: someone who can read the server's logs (a log shipper, a support bundle, a
//! shared terminal) harvests credentials from them. A real `gatehouse serve` process logs at
//! `RUST_LOG=trace`, the most it ever says, while a client signs up, verifies its address,
//! signs in, makes API tokens (FreeChat puts them in paths), uses HTTP basic (Cloudsmith) and resets its
//! password; then the log is searched for every secret that went over the wire or into the
//! mail: none may appear.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::helpers::PASSWORD;

const NEW_PASSWORD: &str = "an entirely new passphrase 7";

/// The newest message to `address` in the server's mail folder, waiting up to 10 s for one
/// newer than `after` (how many messages it had already seen).
async fn mail_to(mail_dir: &Path, address: &str, after: usize) -> String {
    let started = Instant::now();
    loop {
        let mut names: Vec<PathBuf> = std::fs::read_dir(mail_dir)
            .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        names.sort();
        let to_address: Vec<String> = names
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .filter(|text| text.contains(&format!("To: {address}")))
            .collect();
        if to_address.len() > after {
            return to_address.last().unwrap().clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no mail to {address}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The code and the link token in a message (its quoted-printable text).
fn code_and_link(message: &str) -> (String, String) {
    let text = message.replace("=\r\n", "").replace("=3D", "=");
    let after = |marker: &str| -> String {
        text.split(marker)
            .nth(1)
            .unwrap_or_else(|| panic!("no {marker:?} in {text}"))
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect()
    };
    (after("Your code: "), after("token="))
}

#[tokio::test]
async fn reading_the_trace_log_yields_no_password_token_code_or_link() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log_path = dir.path().join("server.log");
    let mut command = crate::helpers::serve_command(&data);
    command
        .env("RUST_LOG", "trace")
        .stderr(Stdio::from(std::fs::File::create(&log_path).unwrap()));
    let (mut server, base) = crate::helpers::serve_on_free_port(command).await;
    let client = reqwest::Client::new();
    let mail_dir = data.join("mail");
    let mut secrets: Vec<(&str, String)> = vec![
        ("the password", PASSWORD.to_owned()),
        ("the new password", NEW_PASSWORD.to_owned()),
    ];
    let setup_link = std::fs::read_to_string(data.join("setup-link")).unwrap();
    secrets.push((
        "the setup token",
        setup_link.trim().split("token=").nth(1).unwrap().to_owned(),
    ));

    // Sign up and verify the address with the mailed code.
    let r = client
        .post(format!("{base}/auth/v1/signup"))
        .json(&json!({"username": "alice", "email": "alice@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let (code, link) = code_and_link(&mail_to(&mail_dir, "alice@example.com", 0).await);
    let r = client
        .post(format!("{base}/auth/v1/verify-email"))
        .json(&json!({"email": "alice@example.com", "code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    secrets.push(("the verification code", code));
    secrets.push(("the verification link", link));

    // A session, an API token, and FreeChat tokens made, used and deleted by path.
    let login: Value = client
        .post(format!("{base}/auth/v1/login"))
        .json(&json!({"login": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session = login["token"].as_str().unwrap().to_owned();
    let created: Value = client
        .post(format!("{base}/auth/v1/tokens"))
        .bearer_auth(&session)
        .json(&json!({"name": "ci"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let api_token = created["token"].as_str().unwrap().to_owned();
    let freechat = client
        .post(format!("{base}/api/v1/account/token"))
        .bearer_auth(&api_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(freechat.starts_with("gh_"), "{freechat}");
    for path in ["details", &format!("token/{freechat}")] {
        let r = client
            .get(format!("{base}/api/v1/account/{path}"))
            .bearer_auth(&freechat)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success() || r.status() == 405,
            "{path}: {}",
            r.status()
        );
    }
    let r = client
        .delete(format!("{base}/api/v1/account/token/{freechat}"))
        .bearer_auth(&api_token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    // HTTP basic, as Cloudsmith's clients send it.
    let r = client
        .get(format!("{base}/v1/user/self/"))
        .header("Accept", "application/json")
        .basic_auth("alice", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    secrets.push(("the session", session));
    secrets.push(("the API token", api_token));
    secrets.push(("the FreeChat token", freechat));
    secrets.push((
        "the HTTP basic credentials",
        base64::engine::general_purpose::STANDARD.encode(format!("alice:{PASSWORD}")),
    ));

    // A password reset by the mailed code.
    let r = client
        .post(format!("{base}/auth/v1/password/forgot"))
        .json(&json!({"login": "alice@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let (code, link) = code_and_link(&mail_to(&mail_dir, "alice@example.com", 1).await);
    let r = client
        .post(format!("{base}/auth/v1/password/reset"))
        .json(&json!({"email": "alice@example.com", "code": code, "new_password": NEW_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    secrets.push(("the reset code", code));
    secrets.push(("the reset link", link));
    let r = client
        .post(format!("{base}/auth/v1/login"))
        .json(&json!({"login": "alice@example.com", "password": NEW_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    server.start_kill().unwrap();
    server.wait().await.unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    // Nothing in the build logs at TRACE; DEBUG shows the filter was opened past INFO (every
    // SQL statement is there).
    assert!(
        log.contains("DEBUG") && log.contains("sqlx::query"),
        "the server logged past INFO:\n{log}"
    );
    for (what, secret) in &secrets {
        assert!(
            !appears_in(&log, secret),
            "{what} ({secret}) is in the log:\n{}",
            log.lines()
                .filter(|l| l.contains(secret.as_str()))
                .take(5)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// Whether `secret` is in `log`; a code of digits only where it stands alone and is not the
/// fraction of a timestamp (`18:40:20.123456Z`), which any code matches now and then.
fn appears_in(log: &str, secret: &str) -> bool {
    if !secret.bytes().all(|b| b.is_ascii_digit()) {
        return log.contains(secret);
    }
    log.match_indices(secret).any(|(at, _)| {
        let before = log[..at].chars().next_back();
        let after = log[at + secret.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit() || c == '.')
            && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

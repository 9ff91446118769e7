//! Client addresses behind a reverse proxy: per-address limits, sessions and the audit log use
//! the address a trusted proxy reports, and nobody else's word for it.

use std::sync::Arc;

use gatehouse::http::client_address::{ClientAddressHeader, ClientAddresses};
use serde_json::{json, Value};

use crate::helpers::{TestApp, PASSWORD};

/// An app that trusts a proxy on 127.0.0.1 (where the tests connect from).
async fn behind_proxy(header: ClientAddressHeader) -> TestApp {
    TestApp::spawn_with_state(
        |_| {},
        |state| {
            state.client_addresses = Arc::new(ClientAddresses::new(
                vec!["127.0.0.1/32".parse().unwrap()],
                header,
            ))
        },
    )
    .await
}

/// A login through the proxy for the client at `forwarded`, with `extra` headers.
async fn login_from(
    app: &TestApp,
    forwarded: &str,
    login: &str,
    password: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/auth/v1/login"))
        .header("x-forwarded-for", forwarded)
        .json(&json!({"login": login, "password": password}));
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

async fn failed_logins_from(app: &TestApp, forwarded: &str, count: usize) -> usize {
    let mut throttled = 0;
    for i in 0..count {
        let r = login_from(app, forwarded, &format!("nobody{i}"), "wrong password", &[]).await;
        assert!(matches!(r.status().as_u16(), 401 | 429), "{}", r.status());
        if r.status() == 429 {
            throttled += 1;
        }
    }
    throttled
}

#[tokio::test]
async fn one_client_guessing_behind_the_proxy_does_not_block_everyone_else() {
    let app = behind_proxy(ClientAddressHeader::XForwardedFor).await;
    app.user("alice").await;
    let admin = app.admin("root").await;
    // 150 failures from one client behind the proxy exhaust that client's budget (100) ...
    assert!(failed_logins_from(&app, "203.0.113.7", 150).await > 0);
    // ... and not anyone else's.
    let r = login_from(&app, "198.51.100.9", "alice", PASSWORD, &[]).await;
    assert_eq!(r.status(), 200);
    let token = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Sessions and the audit log record the forwarded address, not the proxy's.
    let sessions: Value = app
        .get("/auth/v1/sessions", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        sessions["sessions"][0]["client_ip"], "198.51.100.9",
        "{sessions}"
    );
    let audit: Value = app
        .get("/auth/v1/admin/audit", &admin.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let addresses: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["client_ip"].as_str())
        .collect();
    assert!(addresses.contains(&"198.51.100.9"), "{audit}");
    assert!(addresses.contains(&"203.0.113.7"), "{audit}");
    assert!(!addresses.contains(&"127.0.0.1"), "{audit}");
}

#[tokio::test]
async fn a_forged_x_forwarded_for_is_ignored_without_trusted_proxies() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    // Without the setting, rotating the header escapes nothing: all 150 count for the peer.
    assert!(failed_logins_from(&app, "203.0.113.7", 150).await > 0);
    let r = login_from(&app, "198.51.100.9", "alice", PASSWORD, &[]).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn a_client_sent_forwarded_header_is_ignored_when_the_proxy_sets_x_forwarded_for() {
    let app = behind_proxy(ClientAddressHeader::XForwardedFor).await;
    app.user("alice").await;
    let r = login_from(
        &app,
        "198.51.100.9",
        "alice",
        PASSWORD,
        &[("forwarded", "for=192.0.2.66")],
    )
    .await;
    assert_eq!(r.status(), 200);
    let token = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let sessions: Value = app
        .get("/auth/v1/sessions", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        sessions["sessions"][0]["client_ip"], "198.51.100.9",
        "{sessions}"
    );
}

//! The FreeChat account API at `/api/v1/account`, wire shapes as `freechat-sdk` 0.1.0 sends
//! and reads them. (The SDK itself drives these endpoints in `tests/freechat/`.)

use serde_json::{json, Value};

use crate::helpers::{multipart_file, png_with_metadata, TestApp, MAX_PICTURE, MAX_TOKENS};

const BASE: &str = "/api/v1/account";

fn path(p: &str) -> String {
    format!("{BASE}{p}")
}

async fn text_of(r: reqwest::Response) -> String {
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    r.text().await.unwrap()
}

#[tokio::test]
async fn create_token_answers_unquoted_text_that_works() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let token = text_of(
        app.post(&path("/token"), &alice.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(token.starts_with("gh_") && !token.contains('"'));
    let details: Value = app
        .get(&path("/details"), &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(details["username"], "alice");
}

#[tokio::test]
async fn timed_tokens_expire_and_bad_durations_are_400() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let token = text_of(
        app.post(&path("/token/30"), &alice.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(app.status_with(&path("/details"), &token).await, 200);
    app.clock.advance(chrono::Duration::seconds(31));
    assert_eq!(app.status_with(&path("/details"), &token).await, 401);
    let listed: Vec<String> = app
        .get(&path("/tokens"), &alice.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "expired tokens are not listed: {listed:?}");

    for bad in ["0", "-1", "abc", "1.5", "99999999999999999999"] {
        let r = app
            .post(&path(&format!("/token/{bad}")), &alice.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "duration {bad}");
    }
}

#[tokio::test]
async fn list_shows_masks_that_delete_and_disable_accept() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let t1 = text_of(
        app.post(&path("/token"), &alice.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let t2 = text_of(
        app.post(&path("/token"), &alice.token)
            .send()
            .await
            .unwrap(),
    )
    .await;

    let listed: Vec<String> = app
        .get(&path("/tokens"), &alice.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 3);
    for secret in [&alice.token, &t1, &t2] {
        assert!(!listed.contains(secret), "secrets are never listed");
    }
    let mask_of = |secret: &str| {
        listed
            .iter()
            .find(|m| secret.starts_with(&m[..9]))
            .unwrap()
            .clone()
    };

    // Disable t1 by its mask: answered with the mask, t1 stops working and leaves the list.
    let m1 = mask_of(&t1);
    let answer = text_of(
        app.put(&path(&format!("/token/{m1}")), &alice.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer, m1);
    assert_eq!(app.status_with(&path("/details"), &t1).await, 401);

    // Delete t2 by the full token (percent-encoded as the SDK sends it).
    let answer = text_of(
        app.delete(&path(&format!("/token/{t2}")), &alice.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer, t2);
    assert_eq!(app.status_with(&path("/details"), &t2).await, 401);

    let listed: Vec<String> = app
        .get(&path("/tokens"), &alice.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed, vec![mask_of(&alice.token)]);
}

#[tokio::test]
async fn another_users_or_unknown_tokens_get_403() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let mallory = app.user("mallory").await;
    let listed: Vec<String> = app
        .get(&path("/tokens"), &alice.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let unknown = accounts::TokenSecret::generate(accounts::CredentialKind::ApiToken);
    for target in [
        alice.token.as_str(),
        listed[0].as_str(),
        unknown.expose(),
        "nonsense",
    ] {
        for request in [
            app.put(&path(&format!("/token/{target}")), &mallory.token),
            app.delete(&path(&format!("/token/{target}")), &mallory.token),
        ] {
            assert_eq!(request.send().await.unwrap().status(), 403, "{target}");
        }
    }
    assert_eq!(app.status_with(&path("/details"), &alice.token).await, 200);
}

#[tokio::test]
async fn every_endpoint_refuses_missing_wrong_and_revoked_tokens() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let revoked = text_of(
        app.post(&path("/token"), &alice.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    text_of(
        app.delete(&path(&format!("/token/{revoked}")), &alice.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let endpoints = [
        ("POST", path("/token")),
        ("POST", path("/token/60")),
        ("PUT", path(&format!("/token/{}", alice.token))),
        ("DELETE", path(&format!("/token/{}", alice.token))),
        ("GET", path("/tokens")),
        ("GET", path("/basic/alice")),
        ("GET", path("/details")),
        ("PUT", path("/details")),
        ("POST", path("/picture")),
    ];
    for credential in [None, Some("garbage"), Some(revoked.as_str())] {
        for (method, p) in &endpoints {
            let mut request = app.client.request(method.parse().unwrap(), app.url(p));
            if let Some(c) = credential {
                request = request.bearer_auth(c);
            }
            let r = request.send().await.unwrap();
            assert_eq!(r.status(), 401, "{method} {p} with {credential:?}");
        }
    }
    assert_eq!(
        app.status_with(&path("/details"), &alice.token).await,
        200,
        "nothing was revoked"
    );
}

#[tokio::test]
async fn basic_info_by_username() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    app.put(&path("/details"), &bob.token)
        .json(&json!({"nickname": "Bobby"}))
        .send()
        .await
        .unwrap();
    let r = app
        .get(&path("/basic/bob"), &alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let basic: Value = r.json().await.unwrap();
    assert_eq!(basic["username"], "bob");
    assert_eq!(basic["nickname"], "Bobby");
    assert_eq!(basic["picture"], Value::Null);
    assert!(basic["requestId"].is_string());
    assert!(
        basic.get("email").is_none(),
        "basic info is public: no e-mail"
    );
    assert_eq!(
        app.get(&path("/basic/nobody"), &alice.token)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        app.get(&path("/basic/x"), &alice.token)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn details_round_trip_in_the_sdks_shapes() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    // Exactly what the probe saw the SDK send, plus an extra property.
    let r = app
        .put(&path("/details"), &alice.token)
        .json(&json!({"nickname": "Al", "birthdate": "1990-05-01T00:00:00+00:00", "enabled": true, "givenName": "Alice", "phoneNumber": "+44 20 7946 0000", "address": "1 Main St", "extraThing": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "true");

    let d: Value = app
        .get(&path("/details"), &alice.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["username"], "alice");
    assert_eq!(d["email"], "alice@example.com");
    assert_eq!(d["nickname"], "Al");
    assert_eq!(d["givenName"], "Alice");
    assert_eq!(d["phoneNumber"], "+44 20 7946 0000");
    assert_eq!(d["address"], "1 Main St");
    assert_eq!(d["birthdate"], "1990-05-01T00:00:00Z");
    assert_eq!(d["enabled"], true);
    assert_eq!(d["locked"], false);
    assert!(d["updatedAt"].is_string());

    for (bad, why) in [
        (json!({"nickname": 5}), "wrong type"),
        (json!({"website": "not a url"}), "invalid claim"),
        (json!({"birthdate": "yesterday"}), "invalid date"),
    ] {
        let r = app
            .put(&path("/details"), &alice.token)
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{why}: {}", r.status());
    }
    let r = app
        .put(&path("/details"), &alice.token)
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let d: Value = app
        .get(&path("/details"), &alice.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["nickname"], "Al", "failed updates wrote nothing");
}

#[tokio::test]
async fn picture_upload_answers_a_url_that_serves_the_image() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let r = app
        .post(&path("/picture"), &alice.token)
        .multipart(multipart_file(png_with_metadata(5, 5), "me.png"))
        .send()
        .await
        .unwrap();
    let url = text_of(r).await;
    let served = app.client.get(&url).send().await.unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "image/png");
    let d: Value = app
        .get(&path("/details"), &alice.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["picture"], url.as_str());
    let b: Value = app
        .get(&path("/basic/alice"), &alice.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(b["picture"], url.as_str());

    let r = app
        .post(&path("/picture"), &alice.token)
        .multipart(multipart_file(b"%PDF-1.4 not an image".to_vec(), "me.png"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = app
        .post(&path("/picture"), &alice.token)
        .multipart(multipart_file(vec![1u8; MAX_PICTURE * 2], "big.png"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = app
        .post(&path("/picture"), &alice.token)
        .body("raw")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn too_many_tokens_is_429() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    for _ in 1..MAX_TOKENS {
        text_of(
            app.post(&path("/token"), &alice.token)
                .send()
                .await
                .unwrap(),
        )
        .await;
    }
    let r = app
        .post(&path("/token"), &alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
}

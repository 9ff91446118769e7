//! `/auth/v1/tokens`: create, list, get, disable, enable, rotate, delete, expiry, limits.

use serde_json::{json, Value};

use crate::helpers::{assert_problem, TestApp, MAX_TOKENS};

async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    let r = app
        .post("/auth/v1/tokens", token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

#[tokio::test]
async fn a_created_token_is_shown_once_and_listed_masked() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let created = create(&app, &alice.token, json!({"name": "ci"})).await;
    let secret = created["token"].as_str().unwrap();
    assert!(secret.starts_with("gh_"));
    assert_eq!(created["name"], "ci");
    assert_eq!(created["expires_at"], Value::Null);
    assert_eq!(app.status_with("/auth/v1/me", secret).await, 200);

    let listed: Vec<Value> = app.items("/auth/v1/tokens", &alice.token, "tokens").await;
    assert_eq!(listed.len(), 2);
    let text = serde_json::to_string(&listed).unwrap();
    assert!(
        !text.contains(secret),
        "a listing must never contain a secret"
    );
    assert!(!text.contains(&alice.token));
    let ours = listed.iter().find(|t| t["id"] == created["id"]).unwrap();
    assert_eq!(ours["masked"], created["masked"]);
    assert!(secret.starts_with(&ours["masked"].as_str().unwrap()[..9]));

    // By id and by masked form.
    for key in [
        created["id"].as_str().unwrap(),
        created["masked"].as_str().unwrap(),
    ] {
        let one: Value = app
            .get(&format!("/auth/v1/tokens/{key}"), &alice.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(one["id"], created["id"]);
    }
}

#[tokio::test]
async fn disable_enable_rotate_delete_take_effect_at_once() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let created = create(&app, &alice.token, json!({"name": "x"})).await;
    let id = created["id"].as_str().unwrap();
    let secret = created["token"].as_str().unwrap().to_owned();
    // Warm the cache so revocation must invalidate it, not just miss it.
    assert_eq!(app.status_with("/auth/v1/me", &secret).await, 200);

    let r = app
        .post(&format!("/auth/v1/tokens/{id}/disable"), &alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["disabled"], true);
    assert_eq!(app.status_with("/auth/v1/me", &secret).await, 401);

    let r = app
        .post(&format!("/auth/v1/tokens/{id}/enable"), &alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["disabled"], false);
    assert_eq!(app.status_with("/auth/v1/me", &secret).await, 200);

    let r = app
        .post(&format!("/auth/v1/tokens/{id}/rotate"), &alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rotated: Value = r.json().await.unwrap();
    let new_secret = rotated["token"].as_str().unwrap();
    assert_eq!(rotated["id"], created["id"], "rotation keeps the identity");
    assert_ne!(new_secret, secret);
    assert!(rotated["rotated_at"].is_string());
    assert_eq!(app.status_with("/auth/v1/me", &secret).await, 401);
    assert_eq!(app.status_with("/auth/v1/me", new_secret).await, 200);

    let r = app
        .delete(&format!("/auth/v1/tokens/{id}"), &alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(app.status_with("/auth/v1/me", new_secret).await, 401);
    let r = app
        .get(&format!("/auth/v1/tokens/{id}"), &alice.token)
        .send()
        .await
        .unwrap();
    assert_problem(r, 404, "token_not_found").await;
}

#[tokio::test]
async fn timed_tokens_stop_working_after_their_duration() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let created = create(&app, &alice.token, json!({"expires_in": 60})).await;
    let secret = created["token"].as_str().unwrap();
    assert!(created["expires_at"].is_string());
    assert_eq!(app.status_with("/auth/v1/me", secret).await, 200);
    app.clock.advance(chrono::Duration::seconds(59));
    assert_eq!(app.status_with("/auth/v1/me", secret).await, 200);
    app.clock.advance(chrono::Duration::seconds(2));
    assert_eq!(app.status_with("/auth/v1/me", secret).await, 401);
    let listed: Vec<Value> = app.items("/auth/v1/tokens", &alice.token, "tokens").await;
    let ours = listed.iter().find(|t| t["id"] == created["id"]).unwrap();
    assert_eq!(ours["expired"], true);
}

#[tokio::test]
async fn another_users_token_is_not_found_for_every_operation() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let mallory = app.user("mallory").await;
    let created = create(&app, &alice.token, json!({})).await;
    let id = created["id"].as_str().unwrap();
    let secret = created["token"].as_str().unwrap();

    let r = app
        .get(&format!("/auth/v1/tokens/{id}"), &mallory.token)
        .send()
        .await
        .unwrap();
    assert_problem(r, 404, "token_not_found").await;
    for action in ["disable", "enable", "rotate"] {
        let r = app
            .post(&format!("/auth/v1/tokens/{id}/{action}"), &mallory.token)
            .send()
            .await
            .unwrap();
        assert_problem(r, 404, "token_not_found").await;
    }
    let r = app
        .delete(&format!("/auth/v1/tokens/{id}"), &mallory.token)
        .send()
        .await
        .unwrap();
    assert_problem(r, 404, "token_not_found").await;
    assert_eq!(
        app.status_with("/auth/v1/me", secret).await,
        200,
        "still works for its owner"
    );
}

#[tokio::test]
async fn bad_token_requests_are_refused_clearly() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    for body in [
        json!({"expires_in": 0}),
        json!({"expires_in": -5}),
        json!({"expires_in": 10_i64.pow(12)}),
        json!({"name": "x".repeat(101)}),
    ] {
        let r = app
            .post("/auth/v1/tokens", &alice.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_problem(r, 400, "invalid_input").await;
    }
    let r = app
        .post("/auth/v1/tokens", &alice.token)
        .json(&json!({"expires_in": "soon"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 422, "malformed_body").await;
    let r = app
        .post("/auth/v1/tokens", &alice.token)
        .json(&json!({"nmae": "typo"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 422, "malformed_body").await;
    let r = app
        .get("/auth/v1/tokens/not-a-token", &alice.token)
        .send()
        .await
        .unwrap();
    assert_problem(r, 404, "token_not_found").await;
    assert_eq!(
        app.accounts
            .list_tokens(&accounts::Actor::operator(), alice.id)
            .await
            .unwrap()
            .len(),
        1,
        "nothing was written"
    );
}

#[tokio::test]
async fn the_per_user_token_limit_holds_under_parallel_creation() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await; // already holds one token
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let request = app.post("/auth/v1/tokens", &alice.token).json(&json!({}));
        tasks.push(tokio::spawn(async move {
            request.send().await.unwrap().status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        MAX_TOKENS - 1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    assert_eq!(
        app.accounts
            .list_tokens(&accounts::Actor::operator(), alice.id)
            .await
            .unwrap()
            .len(),
        MAX_TOKENS
    );
}

#[tokio::test]
async fn missing_malformed_and_unknown_credentials_get_401() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let r = app
        .client
        .get(app.url("/auth/v1/tokens"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert_problem(r, 401, "unauthorized").await;
    let mut tampered = alice.token.clone().into_bytes();
    tampered[10] = if tampered[10] == b'A' { b'B' } else { b'A' };
    let unknown = accounts::TokenSecret::generate(accounts::CredentialKind::ApiToken);
    for bad in [
        "garbage",
        std::str::from_utf8(&tampered).unwrap(),
        unknown.expose(),
    ] {
        let r = app.get("/auth/v1/tokens", bad).send().await.unwrap();
        assert_problem(r, 401, "unauthorized").await;
    }
}

#[tokio::test]
async fn last_used_time_is_recorded_in_batches() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let before = &app
        .accounts
        .list_tokens(&accounts::Actor::operator(), alice.id)
        .await
        .unwrap()[0];
    assert_eq!(before.last_used_at, None);
    assert_eq!(app.status_with("/auth/v1/me", &alice.token).await, 200);
    // Shown at once (merged from memory) ...
    let listed: Vec<Value> = app.items("/auth/v1/tokens", &alice.token, "tokens").await;
    assert!(listed[0]["last_used_at"].is_string());
    // ... and written by the batch flush.
    assert!(app.accounts.flush_usage().await.unwrap() >= 1);
    assert_eq!(app.accounts.flush_usage().await.unwrap(), 0);
    let after = &app
        .accounts
        .list_tokens(&accounts::Actor::operator(), alice.id)
        .await
        .unwrap()[0];
    assert_eq!(after.last_used_at, Some(app.accounts.now()));
}

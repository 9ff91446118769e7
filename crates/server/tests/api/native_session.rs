//! `/auth/v1/login` and `/auth/v1/logout`.

use serde_json::json;

use crate::helpers::{assert_problem, TestApp, PASSWORD};

#[tokio::test]
async fn login_returns_a_session_that_works_until_logout() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;

    let response = app
        .client
        .post(app.url("/auth/v1/login"))
        .json(&json!({"login": "Alice@Example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    let session = body["token"].as_str().unwrap().to_owned();
    assert!(session.starts_with("ghs_"));
    assert_eq!(body["user"]["username"], "alice");
    assert_eq!(body["user"]["id"], alice.id.to_string());

    assert_eq!(app.status_with("/auth/v1/me", &session).await, 200);
    let response = app.post("/auth/v1/logout", &session).send().await.unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(app.status_with("/auth/v1/me", &session).await, 401);
    // The API token is untouched by logging out a session.
    assert_eq!(app.status_with("/auth/v1/me", &alice.token).await, 200);
}

#[tokio::test]
async fn logout_with_an_api_token_is_refused_and_revokes_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let response = app
        .post("/auth/v1/logout", &alice.token)
        .send()
        .await
        .unwrap();
    assert_problem(response, 400, "not_a_session").await;
    assert_eq!(app.status_with("/auth/v1/me", &alice.token).await, 200);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_answer() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    let mut bodies = Vec::new();
    for (login, password) in [("alice", "wrong password!"), ("nobody", PASSWORD)] {
        let response = app
            .client
            .post(app.url("/auth/v1/login"))
            .json(&json!({"login": login, "password": password}))
            .send()
            .await
            .unwrap();
        bodies.push(assert_problem(response, 401, "invalid_credentials").await);
    }
    assert_eq!(bodies[0], bodies[1]);
}

#[tokio::test]
async fn malformed_login_requests_get_clear_4xx_problems() {
    let app = TestApp::spawn().await;
    let url = app.url("/auth/v1/login");
    let r = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_problem(r, 400, "malformed_body").await;

    let r = app
        .client
        .post(&url)
        .header("content-type", "text/plain")
        .body(r#"{"login":"a","password":"b"}"#)
        .send()
        .await
        .unwrap();
    assert_problem(r, 415, "unsupported_media_type").await;

    let r = app
        .client
        .post(&url)
        .json(&json!({"login": 5, "password": "x"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 422, "malformed_body").await;

    let r = app
        .client
        .post(&url)
        .json(&json!({"login": "a"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 422, "malformed_body").await;

    let huge = json!({"login": "a", "password": "x".repeat(100 * 1024)});
    let r = app.client.post(&url).json(&huge).send().await.unwrap();
    assert_problem(r, 413, "too_large").await;
}

#[tokio::test]
async fn sessions_expire() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    let body: serde_json::Value = app
        .client
        .post(app.url("/auth/v1/login"))
        .json(&json!({"login": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session = body["token"].as_str().unwrap();
    assert_eq!(app.status_with("/auth/v1/me", session).await, 200);
    app.clock
        .advance(app.accounts.config().session_ttl + chrono::Duration::seconds(1));
    assert_eq!(app.status_with("/auth/v1/me", session).await, 401);
}

//! One account, every surface: a user made through one vendor's API signs in through
//! another's and is seen through a third, as the same person.

use accounts::Actor;
use serde_json::{json, Value};

use crate::helpers::{TestApp, PASSWORD};

/// What the generated Glowmarkt client sends: JSON content type always, host `/api/v0-1`.
fn glowmarkt(app: &TestApp, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    app.client
        .request(method, app.url(&format!("/api/v0-1{path}")))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
}

#[tokio::test]
async fn registered_through_glowmarkt_signs_in_through_alsid_and_is_seen_through_freechat() {
    let app = TestApp::spawn().await;
    let application = app
        .accounts
        .create_org(&Actor::Operator, "Energy app")
        .await
        .unwrap()
        .id
        .to_string();
    let email = "dana@example.com";

    // Glowmarkt: register into the application, then verify with the 4-digit code mailed.
    let r = glowmarkt(&app, reqwest::Method::POST, "/register")
        .json(&json!({
            "name": "Dana Scully", "username": email, "email": email,
            "password": PASSWORD, "directoryId": "default", "applicationId": application,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let code = app.latest_code_of(email, 4).await;
    let r = glowmarkt(&app, reqwest::Method::PUT, "/user/verify")
        .json(&json!({
            "token": code, "username": email, "password": PASSWORD, "applicationId": application,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let verified: Value = r.json().await.unwrap();
    assert_eq!(verified["valid"], true);
    let user_id = verified["userId"].as_str().unwrap().to_owned();

    // Alsid: log in with the same e-mail and password; the authToken is the caller's key.
    let r = app
        .client
        .post(app.url("/api/login"))
        .header("Content-Type", "application/json")
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let key = r.json::<Value>().await.unwrap()["authToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let whoami: Value = app
        .client
        .get(app.url("/api/users/whoami"))
        .header("x-api-key", &key)
        .header("Content-Type", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(whoami["email"], email);

    // FreeChat: the Alsid key is a Bearer credential there; the profile is the same person.
    let details: Value = app
        .get("/api/v1/account/details", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(details["email"], email);
    let me: Value = app
        .get("/auth/v1/me", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], user_id.as_str());
    assert_eq!(me["name"], "Dana Scully");
    assert_eq!(me["status"], "active");
    assert_eq!(details["username"], me["username"]);

    // A FreeChat token works on Alsid, and Alsid's logout ends the session on every surface.
    let r = app
        .post("/api/v1/account/token", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let freechat_token = r.text().await.unwrap();
    let r = app
        .client
        .get(app.url("/api/users/whoami"))
        .header("x-api-key", &freechat_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .client
        .post(app.url("/api/logout"))
        .header("x-api-key", &key)
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(app.status_with("/api/v1/account/details", &key).await, 401);
    assert_eq!(app.status_with("/auth/v1/me", &key).await, 401);
    assert_eq!(
        app.status_with("/api/v1/account/details", &freechat_token)
            .await,
        200
    );
}

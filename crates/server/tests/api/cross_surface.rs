//! One account, every surface: a user made through one vendor's API signs in through
//! another's and is seen through a third, as the same person; a credential issued through
//! any surface works through every surface that takes one, and one revoked through any
//! surface stops working on all of them at once.

use accounts::access::OrgRole;
use accounts::{Actor, UserId};
use reqwest::Method;
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
        .create_org(&Actor::operator(), "Energy app")
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

/// The surfaces that take a credential, each asked "who am I?" in its own way.
#[derive(Debug, Clone, Copy)]
enum Surface {
    /// `Authorization: Bearer`, `GET /auth/v1/me`.
    Native,
    /// `Authorization: Bearer`, `GET /api/v1/account/details`.
    FreeChat,
    /// `x-api-key`, `GET /api/users/whoami`.
    Alsid,
    /// `X-Api-Key`, `GET /v1/user/self/`.
    Cloudsmith,
    /// The raw key as `Authorization`, `GET /api/user/{own id}/1`.
    Trieve,
    /// `token` and `applicationId` (an organisation the holder belongs to), `GET /auth`.
    Glowmarkt,
}

const EVERY_SURFACE: [Surface; 6] = [
    Surface::Native,
    Surface::FreeChat,
    Surface::Alsid,
    Surface::Cloudsmith,
    Surface::Trieve,
    Surface::Glowmarkt,
];

/// Where a credential comes from.
#[derive(Debug, Clone, Copy)]
enum Issue {
    /// `POST /auth/v1/tokens`.
    Native,
    /// `POST /api/v1/account/token`.
    FreeChat,
    /// `POST /v1/user/tokens/` (one per user: the holder makes no other).
    Cloudsmith,
    /// `POST /api/user/set_api_key`.
    Trieve,
    /// A session: `POST /api/login`.
    AlsidLogin,
}

/// How a credential is revoked.
#[derive(Debug, Clone, Copy)]
enum Revoke {
    /// `DELETE /auth/v1/tokens/{id}`.
    Native,
    /// `DELETE /api/v1/account/token/{token}`.
    FreeChat,
    /// `DELETE /api/user/delete_api_key {"api_key_id": <the key>}`.
    Trieve,
    /// `POST /api/logout` with the session itself.
    AlsidLogout,
    /// An instance admin's `DELETE /auth/v1/admin/users/{id}/tokens`: every token goes.
    NativeAdmin,
}

/// The account every credential belongs to.
struct Holder {
    id: UserId,
    email: String,
    /// A Glowmarkt application (organisation) the holder is a member of.
    org: String,
    /// The holder's own API token, which issues and revokes the others.
    key: String,
}

/// A credential, and its token's id when the surface that issued it shows one.
struct Issued {
    how: Issue,
    secret: String,
    id: Option<String>,
}

/// An answer, read once.
struct Answer {
    status: u16,
    content_type: String,
    www_authenticate: Option<String>,
    text: String,
}

impl Answer {
    async fn read(response: reqwest::Response) -> Self {
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header(reqwest::header::CONTENT_TYPE).unwrap_or_default();
        let www_authenticate = header(reqwest::header::WWW_AUTHENTICATE);
        Self {
            status: response.status().as_u16(),
            content_type,
            www_authenticate,
            text: response.text().await.unwrap(),
        }
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    Answer::read(request.send().await.unwrap()).await
}

/// The surface's "who am I?", with `secret` where that surface takes it.
async fn whoami(app: &TestApp, surface: Surface, secret: &str, holder: &Holder) -> Answer {
    let request = match surface {
        Surface::Native => app.get("/auth/v1/me", secret),
        Surface::FreeChat => app.get("/api/v1/account/details", secret),
        Surface::Alsid => app
            .client
            .get(app.url("/api/users/whoami"))
            .header("x-api-key", secret),
        Surface::Cloudsmith => app
            .client
            .get(app.url("/v1/user/self/"))
            .header("X-Api-Key", secret),
        Surface::Trieve => app
            .client
            .get(app.url(&format!("/api/user/{}/1", holder.id)))
            .header("Authorization", secret),
        Surface::Glowmarkt => glowmarkt(app, Method::GET, "/auth")
            .header("token", secret)
            .header("applicationId", &holder.org),
    };
    send(request).await
}

/// `secret` is accepted by every surface, as the holder.
async fn assert_works_everywhere(app: &TestApp, secret: &str, holder: &Holder, what: &str) {
    for surface in EVERY_SURFACE {
        let answer = whoami(app, surface, secret, holder).await;
        assert_eq!(answer.status, 200, "{what} on {surface:?}: {}", answer.text);
        let body = answer.json();
        let id = holder.id.to_string();
        let (field, expected) = match surface {
            Surface::Native | Surface::Trieve => ("id", id.as_str()),
            Surface::Glowmarkt => ("accountId", id.as_str()),
            Surface::FreeChat | Surface::Alsid | Surface::Cloudsmith => {
                ("email", holder.email.as_str())
            }
        };
        assert_eq!(body[field], expected, "{what} on {surface:?}: {body}");
        match surface {
            Surface::Cloudsmith => assert_eq!(body["authenticated"], true, "{what}: {body}"),
            Surface::Glowmarkt => assert_eq!(body["valid"], true, "{what}: {body}"),
            _ => {}
        }
    }
}

/// `secret` is refused by every surface, with that surface's own 401.
async fn assert_refused_everywhere(app: &TestApp, secret: &str, holder: &Holder, what: &str) {
    for surface in EVERY_SURFACE {
        let answer = whoami(app, surface, secret, holder).await;
        assert_eq!(answer.status, 401, "{what} on {surface:?}: {}", answer.text);
        let body = answer.json();
        let bearer = answer.www_authenticate.as_deref() == Some("Bearer");
        let own_shape = match surface {
            Surface::Native => {
                answer.content_type == "application/problem+json"
                    && body["code"] == "unauthorized"
                    && bearer
            }
            Surface::FreeChat => {
                answer.content_type.starts_with("text/plain") && !answer.text.is_empty() && bearer
            }
            Surface::Alsid => body["error"] == "unauthorized" && body["message"].is_string(),
            Surface::Cloudsmith => body["detail"].is_string(),
            Surface::Trieve => body["message"].is_string(),
            Surface::Glowmarkt => body["error"].is_string(),
        };
        assert!(
            own_shape,
            "{what} on {surface:?}: not this surface's 401: {} {:?}",
            answer.content_type, answer.text
        );
    }
}

/// A new credential for the holder, issued through `how` (with the holder's key, or their
/// password for a login).
async fn issue(app: &TestApp, how: Issue, holder: &Holder) -> Issued {
    let key = holder.key.as_str();
    let (secret, id) = match how {
        Issue::Native => {
            let r = send(
                app.post("/auth/v1/tokens", key)
                    .json(&json!({"name": "native"})),
            )
            .await;
            assert_eq!(r.status, 201, "{}", r.text);
            let body = r.json();
            (body["token"].clone(), Some(body["id"].clone()))
        }
        Issue::FreeChat => {
            let r = send(app.post("/api/v1/account/token", key)).await;
            assert_eq!(r.status, 200, "{}", r.text);
            (Value::String(r.text), None)
        }
        Issue::Cloudsmith => {
            let request = app
                .client
                .post(app.url("/v1/user/tokens/"))
                .header("X-Api-Key", key)
                .header("Content-Type", "application/json")
                .body("{}");
            let r = send(request).await;
            assert_eq!(r.status, 201, "{}", r.text);
            let body = r.json();
            // `slug_perm` is the token id without dashes.
            let slug = body["slug_perm"].as_str().unwrap();
            let id = uuid::Uuid::parse_str(slug).unwrap().to_string();
            (body["key"].clone(), Some(Value::String(id)))
        }
        Issue::Trieve => {
            let request = app
                .client
                .post(app.url("/api/user/set_api_key"))
                .header("Authorization", key)
                .json(&json!({"name": "trieve"}));
            let r = send(request).await;
            assert_eq!(r.status, 200, "{}", r.text);
            (r.json()["api_key"].clone(), None)
        }
        Issue::AlsidLogin => {
            let request = app
                .client
                .post(app.url("/api/login"))
                .json(&json!({"email": holder.email, "password": PASSWORD}));
            let r = send(request).await;
            assert_eq!(r.status, 200, "{}", r.text);
            (r.json()["authToken"].clone(), None)
        }
    };
    let text = |v: Value| v.as_str().expect("a string").to_owned();
    Issued {
        how,
        secret: text(secret),
        id: id.map(text),
    }
}

/// Revokes `target` through `how`: with the holder's key, the session itself (logout), or
/// an instance admin's credential.
async fn revoke(app: &TestApp, how: Revoke, target: &Issued, holder: &Holder, admin: &str) {
    let key = holder.key.as_str();
    let (request, expected) = match how {
        Revoke::Native => {
            let id = target
                .id
                .as_deref()
                .expect("the issuing surface shows the id");
            (app.delete(&format!("/auth/v1/tokens/{id}"), key), 204)
        }
        Revoke::FreeChat => (
            app.delete(&format!("/api/v1/account/token/{}", target.secret), key),
            200,
        ),
        Revoke::Trieve => (
            app.client
                .delete(app.url("/api/user/delete_api_key"))
                .header("Authorization", key)
                .json(&json!({"api_key_id": target.secret})),
            200,
        ),
        Revoke::AlsidLogout => (
            app.client
                .post(app.url("/api/logout"))
                .header("x-api-key", &target.secret)
                .json(&json!({})),
            200,
        ),
        Revoke::NativeAdmin => (
            app.delete(&format!("/auth/v1/admin/users/{}/tokens", holder.id), admin),
            200,
        ),
    };
    let r = send(request).await;
    assert_eq!(r.status, expected, "{how:?}: {}", r.text);
}

#[tokio::test]
async fn a_credential_from_any_surface_works_on_all_and_dies_on_all_when_revoked_anywhere() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    let erin = app.user("erin").await;
    let org = app
        .accounts
        .create_org(&Actor::operator(), "Energy app")
        .await
        .unwrap()
        .id;
    app.accounts
        .set_member(&Actor::operator(), org, erin.id, OrgRole::Member)
        .await
        .unwrap();
    let holder = Holder {
        id: erin.id,
        email: "erin@example.com".into(),
        org: org.to_string(),
        key: erin.token.clone(),
    };

    // Each credential is revoked through another surface than the one that issued it,
    // except the Alsid session, which only logging out ends. The admin's deletion comes
    // last: it takes every token, the holder's own key included.
    let plan = [
        (Issue::Cloudsmith, Revoke::Native),
        (Issue::Native, Revoke::FreeChat),
        (Issue::FreeChat, Revoke::Trieve),
        (Issue::AlsidLogin, Revoke::AlsidLogout),
        (Issue::Trieve, Revoke::NativeAdmin),
    ];

    let mut issued = Vec::new();
    for (how, _) in plan {
        let credential = issue(&app, how, &holder).await;
        let what = format!("issued through {how:?}");
        assert_works_everywhere(&app, &credential.secret, &holder, &what).await;
        issued.push(credential);
    }

    for (i, (_, how)) in plan.into_iter().enumerate() {
        let target = &issued[i];
        revoke(&app, how, target, &holder, &admin.token).await;
        let what = format!("issued through {:?}, revoked through {how:?}", target.how);
        assert_refused_everywhere(&app, &target.secret, &holder, &what).await;
        // Revoking one credential leaves the others alone (the admin's takes them all).
        if !matches!(how, Revoke::NativeAdmin) {
            for other in &issued[i + 1..] {
                let what = format!("issued through {:?}, after {how:?}", other.how);
                assert_works_everywhere(&app, &other.secret, &holder, &what).await;
            }
        }
    }
    assert_refused_everywhere(&app, &holder.key, &holder, "the holder's own key").await;
}

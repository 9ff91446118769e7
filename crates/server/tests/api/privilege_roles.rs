//! Privilege boundaries between roles (hardening issue 13, points 1-4): custom roles never
//! reach an account more powerful than their holder, never write or grant a permission
//! their holder lacks, listed ids are typed by entity, and an effective administrator is
//! reported and admitted as one. Each test is named after the attack it stops.

use serde_json::{json, Value};

use crate::browser::Browser;
use crate::helpers::{TestApp, TestUser, PASSWORD};

const STOLEN: &str = "a brand new passphrase 42";

/// A custom role with `permissions` (native JSON form), made by the instance admin.
async fn custom_role(app: &TestApp, admin: &TestUser, name: &str, permissions: Value) -> i64 {
    let response = app
        .post("/auth/v1/admin/roles", &admin.token)
        .json(&json!({"name": name, "permissions": permissions}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    response.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap()
}

/// `user` gets the built-in `user` role and `role`, from the instance admin.
async fn grant(app: &TestApp, admin: &TestUser, user: &TestUser, role: i64) {
    let response = app
        .put(
            &format!("/auth/v1/admin/users/{}/roles", user.id),
            &admin.token,
        )
        .json(&json!({"roles": [2, role]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

/// A world: `root` (instance admin), `bob` (plain), `dave` holding `user` + a custom role
/// with `permissions`.
async fn world(permissions: Value) -> (TestApp, TestUser, TestUser, TestUser, i64) {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let bob = app.user("bob").await;
    let dave = app.user("dave").await;
    let role = custom_role(&app, &root, "custom", permissions).await;
    grant(&app, &root, &dave, role).await;
    (app, root, bob, dave, role)
}

async fn number_of(app: &TestApp, user: &TestUser) -> i64 {
    app.accounts.user(user.id).await.unwrap().number
}

async fn status(request: reqwest::RequestBuilder) -> u16 {
    request.send().await.unwrap().status().as_u16()
}

/// Every way to take over or lock out `target` through the native admin API; each must be
/// refused with 403, and the target's password must still be the old one.
async fn assert_cannot_take_over(app: &TestApp, actor: &TestUser, target: &TestUser, name: &str) {
    let path = format!("/auth/v1/admin/users/{}", target.id);
    let t = &actor.token;
    let attempts = [
        (
            "password",
            status(app.patch(&path, t).json(&json!({"password": STOLEN}))),
        ),
        (
            "email",
            status(
                app.patch(&path, t)
                    .json(&json!({"email": "mine@example.com"})),
            ),
        ),
        (
            "reset-password",
            status(
                app.post(&format!("{path}/reset-password"), t)
                    .json(&json!({"password": STOLEN})),
            ),
        ),
        (
            "reset-second-factor",
            status(app.post(&format!("{path}/reset-second-factor"), t)),
        ),
        ("disable", status(app.post(&format!("{path}/disable"), t))),
        (
            "roles",
            status(
                app.put(&format!("{path}/roles"), t)
                    .json(&json!({"roles": [2]})),
            ),
        ),
        ("tokens", status(app.delete(&format!("{path}/tokens"), t))),
        ("delete", status(app.delete(&path, t))),
    ];
    let mut allowed = Vec::new();
    for (what, got) in attempts {
        let got = got.await;
        if got != 403 {
            allowed.push(format!("{what}: {got}"));
        }
    }
    assert!(allowed.is_empty(), "not refused on {name}: {allowed:?}");
    assert_eq!(app.login(name, STOLEN).await.status(), 401);
    assert_eq!(app.login(name, PASSWORD).await.status(), 200);
}

// ------------------------------------------------------------ point 1

#[tokio::test]
async fn custom_role_with_user_update_cannot_take_over_an_admin() {
    let (app, root, bob, dave, _) =
        world(json!([{"entity": "user", "action": "update", "scope": "all"}])).await;
    assert_cannot_take_over(&app, &dave, &root, "root").await;
    // Not vacuous: the role still administers accounts no more powerful than its holder.
    let response = app
        .patch(&format!("/auth/v1/admin/users/{}", bob.id), &dave.token)
        .json(&json!({"email": "bob2@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

#[tokio::test]
async fn custom_role_with_listed_user_ids_cannot_take_over_an_admin() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let bob = app.user("bob").await;
    let dave = app.user("dave").await;
    let ids = vec![number_of(&app, &root).await, number_of(&app, &bob).await];
    let role = custom_role(
        &app,
        &root,
        "listed",
        json!([{"entity": "user", "action": "update", "scope": "ids", "ids": ids}]),
    )
    .await;
    grant(&app, &root, &dave, role).await;
    assert_cannot_take_over(&app, &dave, &root, "root").await;
    let bob_path = format!("/auth/v1/admin/users/{}", bob.id);
    let response = app
        .patch(&bob_path, &dave.token)
        .json(&json!({"nickname": "b"}));
    assert_eq!(status(response).await, 200);
}

#[tokio::test]
async fn custom_role_with_user_update_cannot_take_over_an_organisation_owner() {
    let (app, root, bob, dave, _) =
        world(json!([{"entity": "user", "action": "update", "scope": "all"}])).await;
    let org = app
        .post("/auth/v1/orgs", &root.token)
        .json(&json!({"name": "Acme"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let joined = app
        .put(
            &format!("/auth/v1/orgs/{org}/members/{}", bob.id),
            &root.token,
        )
        .json(&json!({"role": "owner"}));
    assert_eq!(status(joined).await, 204);
    assert_cannot_take_over(&app, &dave, &bob, "bob").await;
}

#[tokio::test]
async fn custom_role_with_user_update_cannot_take_over_an_admin_in_the_console() {
    let (app, root, _, _, _) =
        world(json!([{"entity": "user", "action": "update", "scope": "all"}])).await;
    let mut browser = Browser::new(&app);
    browser.get("/signin").await;
    browser.sign_in("dave", PASSWORD).await;
    let path = format!("/admin/users/{}", root.id);
    for action in [
        "reset-password",
        "reset-second-factor",
        "disable",
        "end-sessions",
        "revoke-tokens",
        "delete",
    ] {
        let answer = browser
            .post(&format!("{path}/{action}"), &[("confirm", "on")])
            .await;
        assert_eq!(answer.status, 403, "{action}: {}", answer.html);
    }
    assert_eq!(app.login("root", PASSWORD).await.status(), 200);
}

// ------------------------------------------------------------ point 2

#[tokio::test]
async fn custom_role_with_role_update_cannot_make_itself_admin() {
    let (app, root, bob, dave, role) =
        world(json!([{"entity": "role", "action": "update", "scope": "all"}])).await;
    // Rewriting its own role to every permission.
    let rewrite = app
        .put(&format!("/auth/v1/admin/roles/{role}"), &dave.token)
        .json(&json!({"name": "custom", "permissions": [{"scope": "all"}]}));
    assert_eq!(status(rewrite).await, 403);
    // Granting itself the admin role.
    let own = app
        .put(
            &format!("/auth/v1/admin/users/{}/roles", dave.id),
            &dave.token,
        )
        .json(&json!({"roles": [1, 2, role]}));
    assert_eq!(status(own).await, 403);
    // Nothing changed: dave still cannot administer anyone, bob is still plain.
    let patch = app
        .patch(&format!("/auth/v1/admin/users/{}", root.id), &dave.token)
        .json(&json!({"password": STOLEN}));
    assert_eq!(status(patch).await, 403);
    let roles = app
        .get(
            &format!("/auth/v1/admin/users/{}/roles", bob.id),
            &root.token,
        )
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let ids: Vec<&Value> = roles["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["id"])
        .collect();
    assert_eq!(ids, vec![&json!(2)], "{roles}");
    // Not vacuous: a permission the holder has may be written.
    let keep = app
        .put(&format!("/auth/v1/admin/roles/{role}"), &dave.token)
        .json(&json!({"name": "renamed", "permissions": [
            {"entity": "role", "action": "update", "scope": "all"}
        ]}));
    assert_eq!(status(keep).await, 200);
}

#[tokio::test]
async fn custom_role_with_role_and_user_update_cannot_grant_admin_to_an_accomplice() {
    let (app, _, bob, dave, _) = world(json!([
        {"entity": "role", "action": "update", "scope": "all"},
        {"entity": "user", "action": "update", "scope": "all"}
    ]))
    .await;
    let grant_admin = app
        .put(
            &format!("/auth/v1/admin/users/{}/roles", bob.id),
            &dave.token,
        )
        .json(&json!({"roles": [1, 2]}));
    assert_eq!(status(grant_admin).await, 403);
    assert!(!app.accounts.user(bob.id).await.unwrap().is_admin);
}

#[tokio::test]
async fn custom_role_with_role_create_cannot_write_permissions_it_lacks() {
    let (app, _, _, dave, _) =
        world(json!([{"entity": "role", "action": "create", "scope": "all"}])).await;
    let everything = app
        .post("/auth/v1/admin/roles", &dave.token)
        .json(&json!({"name": "mine", "permissions": [{"scope": "all"}]}));
    assert_eq!(status(everything).await, 403);
    let users = app.post("/auth/v1/admin/roles", &dave.token).json(
        &json!({"name": "mine", "permissions": [
            {"entity": "user", "action": "update", "scope": "all"}
        ]}),
    );
    assert_eq!(status(users).await, 403);
    let held = app.post("/auth/v1/admin/roles", &dave.token).json(
        &json!({"name": "mine", "permissions": [
            {"entity": "token", "action": "read", "scope": "own"}
        ]}),
    );
    assert_eq!(status(held).await, 201);
}

#[tokio::test]
async fn custom_role_with_role_update_cannot_make_itself_admin_in_the_console() {
    let (app, _, _, _, role) =
        world(json!([{"entity": "role", "action": "update", "scope": "all"}])).await;
    let mut browser = Browser::new(&app);
    browser.get("/signin").await;
    browser.sign_in("dave", PASSWORD).await;
    let answer = browser
        .post(
            &format!("/admin/roles/{role}"),
            &[("name", "custom"), ("permissions", "*:*:all")],
        )
        .await;
    assert_eq!(answer.status, 403, "{}", answer.html);
    let roles = app
        .accounts
        .list_roles(&accounts::Actor::operator())
        .await
        .unwrap();
    let custom = roles.iter().find(|r| r.id.0 == role).unwrap();
    assert_eq!(custom.permissions.len(), 1);
}

// ------------------------------------------------------------ point 3

#[tokio::test]
async fn user_number_in_an_ids_scope_does_not_grant_the_role_with_that_id() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let bob = app.user("bob").await;
    let dave = app.user("dave").await;
    // Meant for the users numbered 1 and bob: "update these accounts, whatever part of them".
    let bob_number = number_of(&app, &bob).await;
    let role = custom_role(
        &app,
        &root,
        "numbers",
        json!([{"action": "update", "scope": "ids", "ids": [1, bob_number]}]),
    )
    .await;
    grant(&app, &root, &dave, role).await;
    let grant_admin = app
        .put(
            &format!("/auth/v1/admin/users/{}/roles", bob.id),
            &dave.token,
        )
        .json(&json!({"roles": [1, 2]}));
    assert_eq!(status(grant_admin).await, 403);
    let rewrite_admin = app
        .put("/auth/v1/admin/roles/1", &dave.token)
        .json(&json!({"name": "admin", "permissions": []}));
    assert_eq!(status(rewrite_admin).await, 403);
    // The ids are users' numbers: bob's account is reached.
    let nickname = app
        .patch(&format!("/auth/v1/admin/users/{}", bob.id), &dave.token)
        .json(&json!({"nickname": "b"}));
    assert_eq!(status(nickname).await, 200);
}

// ------------------------------------------------------------ point 4

/// Every permission, spelt out one entity kind at a time.
#[cfg(feature = "glowmarkt")]
fn everything_by_entity() -> Value {
    let entities = [
        "user",
        "role",
        "organization",
        "token",
        "session",
        "audit",
        "mail",
        "file",
        "chunk",
    ];
    Value::Array(
        entities
            .iter()
            .map(|e| json!({"entity": e, "scope": "all"}))
            .collect(),
    )
}

#[cfg(feature = "glowmarkt")]
#[tokio::test]
async fn custom_role_covering_everything_is_reported_and_admitted_as_admin() {
    let (app, root, _, dave, _) = world(everything_by_entity()).await;
    let me = app
        .get("/auth/v1/me", &dave.token)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(me["is_admin"], json!(true), "{me}");
    let listed = app
        .get(&format!("/auth/v1/admin/users/{}", dave.id), &root.token)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(listed["is_admin"], json!(true), "{listed}");
    // An application admits instance admins: so it admits dave.
    let org = app
        .post("/auth/v1/orgs", &root.token)
        .json(&json!({"name": "Energy"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let login = app
        .client
        .post(app.url("/api/v0-1/auth"))
        .header("applicationId", &org)
        .json(&json!({"username": "dave", "password": PASSWORD}));
    assert_eq!(status(login).await, 200);
    // And the admin it is may act on the built-in admin, like any instance admin.
    let nickname = app
        .patch(&format!("/auth/v1/admin/users/{}", root.id), &dave.token)
        .json(&json!({"nickname": "r"}));
    assert_eq!(status(nickname).await, 200);
}

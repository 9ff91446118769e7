//! The Alsid user API at `/api/login`, `/api/logout` and `/api/users`, with requests shaped
//! exactly as the seed client `ad` (swagger-codegen) sends them: `Accept` and
//! `Content-Type: application/json` on every request (GET included, with an empty body),
//! `{}` as the body of DELETE and logout, and its `User-Agent`. (pyTenable drives the same
//! endpoints in `tests/alsid/`.)

use accounts::service::NewUser;
use accounts::{EmailAddress, Password, UserStatus, Username};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};

use crate::helpers::{TestApp, PASSWORD};

const NEW_PASSWORD: &str = "plum orchard kettle drum";

/// A request as the seed client builds it; `key` goes in `x-api-key`.
fn seed(app: &TestApp, method: Method, path: &str, key: Option<&str>) -> RequestBuilder {
    let send_empty_object = method == Method::DELETE;
    let mut request = app
        .client
        .request(method, app.url(path))
        .header("Accept", "application/json")
        .header("Content-Type", "application/json")
        .header("User-Agent", "Swagger-Codegen/1.0.0/python");
    if send_empty_object {
        request = request.body("{}");
    }
    match key {
        Some(key) => request.header("x-api-key", key),
        None => request,
    }
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> Response {
    let request = seed(app, method, path, key);
    let request = match body {
        Some(body) => request.body(body.to_string()),
        None => request,
    };
    request.send().await.unwrap()
}

async fn get(app: &TestApp, path: &str, key: &str) -> Response {
    call(app, Method::GET, path, Some(key), None).await
}

/// Asserts the status and a JSON body; returns the body.
async fn json_of(response: Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    response.json().await.unwrap()
}

/// Asserts an Alsid error: the status and `{"error": code, "message": ...}`.
async fn assert_error(response: Response, status: u16, code: &str) -> Value {
    let body = json_of(response, status).await;
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    body
}

/// The public number (Alsid id) of a user made by `app.user`.
async fn number_of(app: &TestApp, id: accounts::UserId) -> i64 {
    app.accounts.user(id).await.unwrap().number
}

async fn login(app: &TestApp, email: &str, password: &str) -> Response {
    call(
        app,
        Method::POST,
        "/api/login",
        None,
        Some(json!({"email": email, "password": password})),
    )
    .await
}

async fn auth_token(app: &TestApp, email: &str, password: &str) -> String {
    let body = json_of(login(app, email, password).await, 200).await;
    body["authToken"].as_str().unwrap().to_owned()
}

/// An `ApiUsersBody` as the seed client serialises it: `active: false` unless set.
fn new_user(name: &str, email: &str) -> Value {
    json!({"name": name, "email": email, "password": PASSWORD, "active": false})
}

async fn users_count(app: &TestApp, key: &str) -> usize {
    json_of(get(app, "/api/users", key).await, 200)
        .await
        .as_array()
        .unwrap()
        .len()
}

// ------------------------------------------------------------------ auth

#[tokio::test]
async fn a_missing_bad_or_revoked_key_is_401() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;

    let r = call(&app, Method::GET, "/api/users/whoami", None, None).await;
    assert_error(r, 401, "unauthorized").await;
    let r = get(&app, "/api/users/whoami", "gh_notarealtoken").await;
    assert_error(r, 401, "unauthorized").await;
    let r = get(&app, "/api/users/whoami", "").await;
    assert_error(r, 401, "unauthorized").await;
    // A bearer header is another API's scheme.
    let r = app
        .get("/api/users/whoami", &alice.token)
        .send()
        .await
        .unwrap();
    assert_error(r, 401, "unauthorized").await;
    // Header names are case-insensitive (pyTenable sends `X-API-Key`).
    let r = app
        .client
        .get(app.url("/api/users/whoami"))
        .header("X-API-Key", &alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let session = auth_token(&app, "alice@example.com", PASSWORD).await;
    assert_eq!(get(&app, "/api/users/whoami", &session).await.status(), 200);
    let r = call(&app, Method::POST, "/api/logout", Some(&session), None).await;
    assert_eq!(r.status(), 200);
    let r = get(&app, "/api/users/whoami", &session).await;
    assert_error(r, 401, "unauthorized").await;
    let r = call(&app, Method::POST, "/api/logout", Some(&session), None).await;
    assert_error(r, 401, "unauthorized").await;
}

#[tokio::test]
async fn login_answers_an_auth_token_that_works_as_the_key() {
    let app = TestApp::spawn().await;
    app.user("alice").await;

    let body = json_of(login(&app, "alice@example.com", PASSWORD).await, 200).await;
    let token = body["authToken"].as_str().unwrap();
    assert!(token.starts_with("ghs_"));
    let me = json_of(get(&app, "/api/users/whoami", token).await, 200).await;
    assert_eq!(me["email"], "alice@example.com");

    let r = login(&app, "alice@example.com", "wrong password entirely").await;
    assert_error(r, 401, "invalid_credentials").await;
    let r = login(&app, "nobody@example.com", PASSWORD).await;
    assert_error(r, 401, "invalid_credentials").await;
    let r = call(
        &app,
        Method::POST,
        "/api/login",
        None,
        Some(json!({"email": "alice@example.com"})),
    )
    .await;
    assert_error(r, 400, "invalid_body").await;
    let r = call(
        &app,
        Method::POST,
        "/api/login",
        None,
        Some(json!({"email": 5, "password": PASSWORD})),
    )
    .await;
    assert_error(r, 400, "invalid_body").await;
    let r = seed(&app, Method::POST, "/api/login", None)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "invalid_body").await;
}

#[tokio::test]
async fn pending_and_disabled_accounts_cannot_log_in() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    app.accounts
        .create_user(NewUser {
            username: Username::parse("pat").unwrap(),
            email: EmailAddress::parse("pat@example.com").unwrap(),
            password: Some(Password::new_checked(PASSWORD.into()).unwrap()),
            is_admin: false,
            status: UserStatus::Pending,
            email_verified: false,
        })
        .await
        .unwrap();
    let r = login(&app, "pat@example.com", PASSWORD).await;
    assert_error(r, 403, "email_not_verified").await;

    let bob = app.user("bob").await;
    let bob_number = number_of(&app, bob.id).await;
    let r = call(
        &app,
        Method::PATCH,
        &format!("/api/users/{bob_number}"),
        Some(&admin.token),
        Some(json!({"active": false})),
    )
    .await;
    assert_eq!(json_of(r, 200).await["active"], false);
    let r = login(&app, "bob@example.com", PASSWORD).await;
    assert_error(r, 403, "account_disabled").await;
}

#[tokio::test]
async fn too_many_logins_are_429_with_retry_after() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    let mut last = None;
    for _ in 0..12 {
        let r = login(&app, "alice@example.com", "not the password at all").await;
        if r.status() == 429 {
            last = Some(r);
            break;
        }
        assert_eq!(r.status(), 401);
    }
    let r = last.expect("login is throttled");
    let seconds: i64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(seconds >= 1);
    assert_error(r, 429, "throttled").await;
}

#[tokio::test]
async fn logout_with_an_api_token_is_a_no_op() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let r = call(&app, Method::POST, "/api/logout", Some(&alice.token), None).await;
    assert_eq!(r.status(), 200);
    // The seed client also sends `{}`; the body is never read.
    let r = seed(&app, Method::POST, "/api/logout", Some(&alice.token))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(r, 200).await, json!("ok"));
    assert_eq!(
        get(&app, "/api/users/whoami", &alice.token).await.status(),
        200
    );
}

// ------------------------------------------------------------------ whoami

#[tokio::test]
async fn whoami_spells_out_roles_and_permissions() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let root = app.admin("root").await;

    let me = json_of(get(&app, "/api/users/whoami", &alice.token).await, 200).await;
    assert_eq!(me["id"], number_of(&app, alice.id).await);
    assert_eq!(me["name"], "alice", "no given name: the username");
    assert_eq!(me["email"], "alice@example.com");
    assert_eq!(me["provider"], "alsid");
    assert_eq!(me["eulaVersion"], 1);
    assert_eq!(me["internal"], false);
    assert_eq!(me["active"], true);
    assert_eq!(me["department"], Value::Null);
    let roles = me["roles"].as_array().unwrap();
    assert_eq!(roles.len(), 1);
    assert_eq!(roles[0]["id"], 2);
    assert!(roles[0]["name"].is_string() && roles[0]["description"].is_string());
    let permissions = roles[0]["permissions"].as_array().unwrap();
    assert!(permissions.contains(&json!({
        "entityName": "user", "action": "read", "entityIds": [], "dynamicId": "self-user-id"
    })));
    assert!(permissions.contains(&json!({
        "entityName": "token", "action": "*", "entityIds": [], "dynamicId": "self-user-id"
    })));
    for p in permissions {
        assert!(p["entityIds"].is_array(), "entityIds is never null: {p}");
    }

    let me = json_of(get(&app, "/api/users/whoami", &root.token).await, 200).await;
    let admin_role = me["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == 1)
        .expect("the admin role")
        .clone();
    assert_eq!(
        admin_role["permissions"],
        json!([{"entityName": "*", "action": "*", "entityIds": [], "dynamicId": null}])
    );
}

// ------------------------------------------------------------------ list

#[tokio::test]
async fn admins_list_every_user_and_plain_users_may_not() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let alice = app.user("alice").await;

    let users = json_of(get(&app, "/api/users", &root.token).await, 200).await;
    let users = users.as_array().unwrap();
    assert_eq!(users.len(), 2);
    let a = users
        .iter()
        .find(|u| u["identifier"] == "alice")
        .expect("alice is listed");
    assert_eq!(
        *a,
        json!({
            "id": number_of(&app, alice.id).await,
            "surname": null,
            "name": "alice",
            "email": "alice@example.com",
            "department": null,
            "biography": null,
            "active": true,
            "picture": null,
            "roles": [2],
            "identifier": "alice",
            "provider": "alsid",
            "eulaVersion": 1,
        })
    );

    let r = get(&app, "/api/users", &alice.token).await;
    assert_error(r, 403, "forbidden").await;
}

#[tokio::test]
async fn listing_pages_through_more_than_one_store_page() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let batch: Vec<Value> = (0..230)
        .map(|i| json!({"name": format!("U{i}"), "email": format!("u{i}@example.com"), "password": PASSWORD}))
        .collect();
    let r = call(
        &app,
        Method::POST,
        "/api/users",
        Some(&root.token),
        Some(Value::Array(batch)),
    )
    .await;
    assert_eq!(json_of(r, 200).await.as_array().unwrap().len(), 230);
    assert_eq!(users_count(&app, &root.token).await, 231);
}

// ------------------------------------------------------------------ create

#[tokio::test]
async fn create_makes_active_accounts_in_order_with_derived_usernames() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    app.user("carol").await;

    let body = json!([
        {"name": "Carol", "surname": "Jones", "email": "Carol@Elsewhere.org", "password": PASSWORD,
         "department": "Sales", "biography": "Sells things.", "active": false},
        new_user("Carol Two", "carol@third.org"),
        new_user("Dave", "dave+ops@example.com"),
    ]);
    let r = call(
        &app,
        Method::POST,
        "/api/users",
        Some(&root.token),
        Some(body),
    )
    .await;
    let created = json_of(r, 200).await;
    let created = created.as_array().unwrap();
    assert_eq!(created.len(), 3);
    assert_eq!(created[0]["email"], "carol@elsewhere.org");
    assert_eq!(created[0]["name"], "Carol");
    assert_eq!(created[0]["surname"], "Jones");
    assert_eq!(created[0]["department"], "Sales");
    assert_eq!(created[0]["biography"], "Sells things.");
    assert_eq!(created[0]["identifier"], "carol2", "carol is taken");
    assert_eq!(created[1]["identifier"], "carol3", "carol2 is this batch's");
    assert_eq!(created[2]["identifier"], "dave-ops");
    for user in created {
        assert_eq!(user["active"], true, "`active: false` is the seed default");
        assert_eq!(user["roles"], json!([2]));
        assert_eq!(user["provider"], "alsid");
        assert!(user["id"].as_i64().is_some_and(|id| id > 0));
    }

    // They can sign in, and their number is their id.
    let token = auth_token(&app, "carol@elsewhere.org", PASSWORD).await;
    let me = json_of(get(&app, "/api/users/whoami", &token).await, 200).await;
    assert_eq!(me["id"], created[0]["id"]);
    assert_eq!(me["department"], "Sales");
}

#[tokio::test]
async fn create_is_all_or_none() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let before = users_count(&app, &root.token).await;

    // The same address twice in one batch.
    let body = json!([
        new_user("Eve", "eve@example.com"),
        new_user("Frank", "frank@example.com"),
        new_user("Eve again", "EVE@example.com"),
    ]);
    let r = call(
        &app,
        Method::POST,
        "/api/users",
        Some(&root.token),
        Some(body),
    )
    .await;
    assert_error(r, 409, "email_taken").await;
    assert_eq!(users_count(&app, &root.token).await, before);
    let r = login(&app, "frank@example.com", PASSWORD).await;
    assert_eq!(r.status(), 401, "frank was not created");

    // An address an existing account holds.
    let body = json!([
        new_user("Gina", "gina@example.com"),
        new_user("Root", "root@example.com")
    ]);
    let r = call(
        &app,
        Method::POST,
        "/api/users",
        Some(&root.token),
        Some(body),
    )
    .await;
    assert_error(r, 409, "email_taken").await;

    // A weak password anywhere in the batch.
    let body = json!([
        new_user("Gina", "gina@example.com"),
        {"name": "Hal", "email": "hal@example.com", "password": "password"},
    ]);
    let r = call(
        &app,
        Method::POST,
        "/api/users",
        Some(&root.token),
        Some(body),
    )
    .await;
    assert_error(r, 400, "weak_password").await;

    // A bad address.
    let body = json!([new_user("Ida", "not an address")]);
    let r = call(
        &app,
        Method::POST,
        "/api/users",
        Some(&root.token),
        Some(body),
    )
    .await;
    assert_error(r, 400, "invalid_input").await;
    assert_eq!(users_count(&app, &root.token).await, before);
}

#[tokio::test]
async fn create_rejects_bad_shapes_and_plain_users() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let alice = app.user("alice").await;

    let a = |extra: Value| {
        let mut user = json!({"name": "A", "email": "a@example.com", "password": PASSWORD});
        user.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        user
    };
    for (bad, code) in [
        (a(json!({})), "invalid_body"),
        (json!([a(json!({"name": 5}))]), "invalid_body"),
        (
            json!([{"email": "a@example.com", "password": PASSWORD}]),
            "invalid_body",
        ),
        (json!([a(json!({"active": "yes"}))]), "invalid_body"),
        (json!([a(json!({"picture": [1, 2]}))]), "unsupported_field"),
    ] {
        let r = call(
            &app,
            Method::POST,
            "/api/users",
            Some(&root.token),
            Some(bad),
        )
        .await;
        assert_error(r, 400, code).await;
    }
    let r = call(&app, Method::POST, "/api/users", Some(&root.token), None).await;
    assert_error(r, 400, "invalid_body").await;

    let r = call(
        &app,
        Method::POST,
        "/api/users",
        Some(&alice.token),
        Some(json!([new_user("Zed", "zed@example.com")])),
    )
    .await;
    assert_error(r, 403, "forbidden").await;
    let r = login(&app, "zed@example.com", PASSWORD).await;
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn bodies_are_read_without_or_with_another_content_type() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let body = json!([new_user("Kim", "kim@example.com")]).to_string();
    let r = app
        .client
        .post(app.url("/api/users"))
        .header("x-api-key", &root.token)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .client
        .post(app.url("/api/login"))
        .header("Content-Type", "text/plain")
        .body(json!({"email": "kim@example.com", "password": PASSWORD}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

// ------------------------------------------------------------------ by id

#[tokio::test]
async fn get_by_id_shows_the_short_form_to_those_allowed() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let alice_number = number_of(&app, alice.id).await;
    let path = format!("/api/users/{alice_number}");

    let shown = json_of(get(&app, &path, &root.token).await, 200).await;
    assert_eq!(
        shown,
        json!({
            "id": alice_number, "surname": null, "name": "alice", "email": "alice@example.com",
            "department": null, "biography": null, "active": true, "picture": null, "roles": [2],
        })
    );
    assert_eq!(
        get(&app, &path, &alice.token).await.status(),
        200,
        "oneself"
    );
    assert_error(get(&app, &path, &bob.token).await, 403, "forbidden").await;

    // Nobody has this number (numbers start at 1); a plain user cannot tell.
    assert_error(
        get(&app, "/api/users/0", &root.token).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        get(&app, "/api/users/0", &bob.token).await,
        403,
        "forbidden",
    )
    .await;
    for bad in ["abc", "1.5", "99999999999999999999999", "-"] {
        let r = get(&app, &format!("/api/users/{bad}"), &root.token).await;
        assert_error(r, 404, "not_found").await;
    }
}

// ------------------------------------------------------------------ update

#[tokio::test]
async fn patch_changes_only_what_is_sent() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let alice = app.user("alice").await;
    let path = format!("/api/users/{}", number_of(&app, alice.id).await);

    let r = call(
        &app,
        Method::PATCH,
        &path,
        Some(&root.token),
        Some(
            json!({"name": "Alice", "surname": "Liddell", "department": "R&D", "biography": "Hi."}),
        ),
    )
    .await;
    let user = json_of(r, 200).await;
    assert_eq!(user["name"], "Alice");
    assert_eq!(user["surname"], "Liddell");
    assert_eq!(user["department"], "R&D");
    assert_eq!(user["identifier"], "alice");
    assert_eq!(user["provider"], "alsid");

    // `null` clears a nullable field; what is not sent stays.
    let r = call(
        &app,
        Method::PATCH,
        &path,
        Some(&root.token),
        Some(json!({"surname": null, "email": "Alice@New.example"})),
    )
    .await;
    let user = json_of(r, 200).await;
    assert_eq!(user["surname"], Value::Null);
    assert_eq!(user["name"], "Alice");
    assert_eq!(user["department"], "R&D");
    assert_eq!(user["biography"], "Hi.");
    assert_eq!(user["email"], "alice@new.example");

    // A new password from an administrator: the old one stops working.
    let r = call(
        &app,
        Method::PATCH,
        &path,
        Some(&root.token),
        Some(json!({"password": NEW_PASSWORD})),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        login(&app, "alice@new.example", PASSWORD).await.status(),
        401
    );
    assert_eq!(
        login(&app, "alice@new.example", NEW_PASSWORD)
            .await
            .status(),
        200
    );

    for (bad, code) in [
        (json!({"name": 5}), "invalid_body"),
        (json!({"active": "no"}), "invalid_body"),
        (json!({"email": "nope"}), "invalid_input"),
        (json!({"password": "password"}), "weak_password"),
        (json!({"picture": [1]}), "unsupported_field"),
    ] {
        let r = call(&app, Method::PATCH, &path, Some(&root.token), Some(bad)).await;
        assert_error(r, 400, code).await;
    }
    let r = call(
        &app,
        Method::PATCH,
        "/api/users/0",
        Some(&root.token),
        Some(json!({})),
    )
    .await;
    assert_error(r, 404, "not_found").await;
}

#[tokio::test]
async fn active_false_disables_and_true_enables() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let alice = app.user("alice").await;
    let path = format!("/api/users/{}", number_of(&app, alice.id).await);

    let r = call(
        &app,
        Method::PATCH,
        &path,
        Some(&root.token),
        Some(json!({"active": false})),
    )
    .await;
    assert_eq!(json_of(r, 200).await["active"], false);
    let r = get(&app, "/api/users/whoami", &alice.token).await;
    assert_error(r, 401, "unauthorized").await;
    assert_eq!(
        json_of(get(&app, &path, &root.token).await, 200).await["active"],
        false
    );

    let r = call(
        &app,
        Method::PATCH,
        &path,
        Some(&root.token),
        Some(json!({"active": true})),
    )
    .await;
    assert_eq!(json_of(r, 200).await["active"], true);
    assert_eq!(
        get(&app, "/api/users/whoami", &alice.token).await.status(),
        200
    );
}

#[tokio::test]
async fn plain_users_edit_their_own_profile_only() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let alice_path = format!("/api/users/{}", number_of(&app, alice.id).await);
    let bob_path = format!("/api/users/{}", number_of(&app, bob.id).await);

    let r = call(
        &app,
        Method::PATCH,
        &alice_path,
        Some(&alice.token),
        Some(json!({"name": "Al"})),
    )
    .await;
    assert_eq!(json_of(r, 200).await["name"], "Al");
    let r = call(
        &app,
        Method::PATCH,
        &bob_path,
        Some(&alice.token),
        Some(json!({"name": "x"})),
    )
    .await;
    assert_error(r, 403, "forbidden").await;
    // Status and password need an administrator (their own goes through /password).
    for body in [json!({"active": false}), json!({"password": NEW_PASSWORD})] {
        let r = call(
            &app,
            Method::PATCH,
            &alice_path,
            Some(&alice.token),
            Some(body),
        )
        .await;
        assert_error(r, 403, "forbidden").await;
    }
    let r = call(
        &app,
        Method::PATCH,
        "/api/users/0",
        Some(&alice.token),
        Some(json!({})),
    )
    .await;
    assert_error(r, 403, "forbidden").await;
}

// ------------------------------------------------------------------ delete

#[tokio::test]
async fn delete_answers_an_empty_object_and_the_user_is_gone() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let path = format!("/api/users/{}", number_of(&app, alice.id).await);

    let r = call(&app, Method::DELETE, &path, Some(&bob.token), None).await;
    assert_error(r, 403, "forbidden").await;
    let r = call(&app, Method::DELETE, &path, Some(&alice.token), None).await;
    assert_error(r, 403, "forbidden").await;

    let r = call(&app, Method::DELETE, &path, Some(&root.token), None).await;
    assert_eq!(json_of(r, 200).await, json!({}));
    assert_error(get(&app, &path, &root.token).await, 404, "not_found").await;
    let r = get(&app, "/api/users/whoami", &alice.token).await;
    assert_error(r, 401, "unauthorized").await;
    let r = call(&app, Method::DELETE, &path, Some(&root.token), None).await;
    assert_error(r, 404, "not_found").await;
    let r = call(
        &app,
        Method::DELETE,
        "/api/users/abc",
        Some(&root.token),
        None,
    )
    .await;
    assert_error(r, 404, "not_found").await;
}

// ------------------------------------------------------------------ roles

#[tokio::test]
async fn put_roles_replaces_them() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let path = format!("/api/users/{}/roles", number_of(&app, alice.id).await);

    let r = call(
        &app,
        Method::PUT,
        &path,
        Some(&root.token),
        Some(json!({"roles": [1, 2]})),
    )
    .await;
    let mut roles: Vec<i64> =
        serde_json::from_value(json_of(r, 200).await["roles"].clone()).unwrap();
    roles.sort_unstable();
    assert_eq!(roles, vec![1, 2]);
    // Alice is an admin now.
    assert_eq!(get(&app, "/api/users", &alice.token).await.status(), 200);

    let r = call(
        &app,
        Method::PUT,
        &path,
        Some(&root.token),
        Some(json!({"roles": [2]})),
    )
    .await;
    assert_eq!(json_of(r, 200).await, json!({"roles": [2]}));
    assert_eq!(get(&app, "/api/users", &alice.token).await.status(), 403);

    let r = call(
        &app,
        Method::PUT,
        &path,
        Some(&root.token),
        Some(json!({"roles": [999]})),
    )
    .await;
    assert_error(r, 400, "invalid_input").await;
    let r = call(
        &app,
        Method::PUT,
        &path,
        Some(&root.token),
        Some(json!({"roles": ["1"]})),
    )
    .await;
    assert_error(r, 400, "invalid_body").await;
    let r = call(&app, Method::PUT, &path, Some(&root.token), Some(json!({}))).await;
    assert_error(r, 400, "invalid_body").await;
    let r = call(
        &app,
        Method::PUT,
        &path,
        Some(&bob.token),
        Some(json!({"roles": [1]})),
    )
    .await;
    assert_error(r, 403, "forbidden").await;
    let own = format!("/api/users/{}/roles", number_of(&app, bob.id).await);
    let r = call(
        &app,
        Method::PUT,
        &own,
        Some(&bob.token),
        Some(json!({"roles": [1, 2]})),
    )
    .await;
    assert_error(r, 403, "forbidden").await;
    let r = call(
        &app,
        Method::PUT,
        "/api/users/0/roles",
        Some(&root.token),
        Some(json!({"roles": [2]})),
    )
    .await;
    assert_error(r, 404, "not_found").await;
}

// ------------------------------------------------------------------ passwords

#[tokio::test]
async fn change_password_answers_null_and_keeps_other_credentials() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let other_session = auth_token(&app, "alice@example.com", PASSWORD).await;

    let r = call(
        &app,
        Method::PATCH,
        "/api/users/password",
        Some(&alice.token),
        Some(json!({"oldPassword": PASSWORD, "newPassword": NEW_PASSWORD})),
    )
    .await;
    assert_eq!(json_of(r, 200).await, Value::Null);
    assert_eq!(
        login(&app, "alice@example.com", PASSWORD).await.status(),
        401
    );
    assert_eq!(
        login(&app, "alice@example.com", NEW_PASSWORD)
            .await
            .status(),
        200
    );
    assert_eq!(
        get(&app, "/api/users/whoami", &other_session)
            .await
            .status(),
        200
    );
    assert_eq!(
        get(&app, "/api/users/whoami", &alice.token).await.status(),
        200
    );

    let r = call(
        &app,
        Method::PATCH,
        "/api/users/password",
        Some(&alice.token),
        Some(json!({"oldPassword": "not it at all", "newPassword": PASSWORD})),
    )
    .await;
    assert_error(r, 400, "wrong_password").await;
    let r = call(
        &app,
        Method::PATCH,
        "/api/users/password",
        Some(&alice.token),
        Some(json!({"oldPassword": NEW_PASSWORD, "newPassword": "alice123"})),
    )
    .await;
    assert_error(r, 400, "weak_password").await;
    let r = call(
        &app,
        Method::PATCH,
        "/api/users/password",
        Some(&alice.token),
        Some(json!({"newPassword": PASSWORD})),
    )
    .await;
    assert_error(r, 400, "invalid_body").await;
    let r = call(
        &app,
        Method::PATCH,
        "/api/users/password",
        None,
        Some(json!({"oldPassword": NEW_PASSWORD, "newPassword": PASSWORD})),
    )
    .await;
    assert_error(r, 401, "unauthorized").await;
    // The fixed word wins over `{id}`; a method it lacks is 405, not a user look-up.
    let r = get(&app, "/api/users/password", &alice.token).await;
    assert_eq!(r.status(), 405);
}

#[tokio::test]
async fn forgotten_and_retrieve_password_reset_with_the_mailed_link() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;

    for email in ["alice@example.com", "nobody@example.com"] {
        let r = call(
            &app,
            Method::POST,
            "/api/users/forgotten-password",
            None,
            Some(json!({"email": email})),
        )
        .await;
        assert_eq!(json_of(r, 200).await, Value::Null, "{email}");
    }
    assert!(app.mail_to("nobody@example.com").await.is_empty());
    let token = app.latest_link_token("alice@example.com").await;

    let r = call(
        &app,
        Method::POST,
        "/api/users/retrieve-password",
        None,
        Some(json!({"token": token, "newPassword": "password"})),
    )
    .await;
    assert_error(r, 400, "weak_password").await;
    let r = call(
        &app,
        Method::POST,
        "/api/users/retrieve-password",
        None,
        Some(json!({"token": "not-the-token", "newPassword": NEW_PASSWORD})),
    )
    .await;
    assert_error(r, 400, "invalid_token").await;
    let r = call(
        &app,
        Method::POST,
        "/api/users/retrieve-password",
        None,
        Some(json!({"token": token, "newPassword": NEW_PASSWORD})),
    )
    .await;
    assert_eq!(json_of(r, 200).await, Value::Null);
    assert_eq!(
        login(&app, "alice@example.com", NEW_PASSWORD)
            .await
            .status(),
        200
    );
    // A reset ends sessions and API tokens; the link works once.
    assert_eq!(
        get(&app, "/api/users/whoami", &alice.token).await.status(),
        401
    );
    let r = call(
        &app,
        Method::POST,
        "/api/users/retrieve-password",
        None,
        Some(json!({"token": token, "newPassword": "another fine passphrase"})),
    )
    .await;
    assert_error(r, 400, "invalid_token").await;

    let r = call(
        &app,
        Method::POST,
        "/api/users/forgotten-password",
        None,
        Some(json!({})),
    )
    .await;
    assert_error(r, 400, "invalid_body").await;
}

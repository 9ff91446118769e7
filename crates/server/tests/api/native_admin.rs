//! The native administration API: users, roles and organisations under `/auth/v1/admin` and
//! `/auth/v1/orgs`, who may call each endpoint, and the self-service endpoints' own check.

use std::collections::HashSet;

use reqwest::{Method, Response};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{assert_problem, multipart_file, png_with_metadata, TestApp, PASSWORD};

const USERS: &str = "/auth/v1/admin/users";
const ROLES: &str = "/auth/v1/admin/roles";
const ORGS: &str = "/auth/v1/orgs";

/// The body of a response with `status`, as JSON (`null` when empty).
async fn expect(response: Response, status: u16) -> Value {
    let got = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    }
}

fn user_path(id: impl std::fmt::Display, rest: &str) -> String {
    format!("{USERS}/{id}{rest}")
}

/// `method path` with a bearer token and an optional JSON body.
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> Response {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.unwrap()
}

async fn create_users(app: &TestApp, token: &str, body: Value) -> Value {
    expect(
        app.post(USERS, token).json(&body).send().await.unwrap(),
        201,
    )
    .await
}

async fn create_role(app: &TestApp, token: &str, name: &str, permissions: Value) -> i64 {
    let role = expect(
        app.post(ROLES, token)
            .json(&json!({"name": name, "permissions": permissions}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    role["id"].as_i64().unwrap()
}

async fn create_org(app: &TestApp, token: &str, name: &str) -> String {
    let org = expect(
        app.post(ORGS, token)
            .json(&json!({"name": name}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    org["id"].as_str().unwrap().to_owned()
}

/// An organisation founded by an instance admin (founding is an instance-level grant) and
/// handed to `owner`: the admin makes them its owner and leaves.
async fn org_owned_by(app: &TestApp, admin: &str, owner: uuid::Uuid, name: &str) -> String {
    let org = create_org(app, admin, name).await;
    assert_eq!(
        set_member(app, admin, &org, owner, "owner").await.status(),
        204
    );
    let root = app.accounts.find_user("root").await.unwrap().id;
    assert_eq!(
        app.delete(&format!("{ORGS}/{org}/members/{root}"), admin)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    org
}

async fn set_member(
    app: &TestApp,
    token: &str,
    org: &str,
    user: impl std::fmt::Display,
    role: &str,
) -> Response {
    app.put(&format!("{ORGS}/{org}/members/{user}"), token)
        .json(&json!({"role": role}))
        .send()
        .await
        .unwrap()
}

async fn number_of(app: &TestApp, admin: &str, id: impl std::fmt::Display) -> i64 {
    let user = expect(
        app.get(&user_path(id, ""), admin).send().await.unwrap(),
        200,
    )
    .await;
    user["number"].as_i64().unwrap()
}

#[tokio::test]
async fn a_plain_user_gets_403_from_every_admin_endpoint_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let plain = app.user("plain").await;
    let other = app.user("other").await;
    let role = create_role(
        &app,
        &root.token,
        "readers",
        json!([{"entity": "user", "action": "read", "scope": "all"}]),
    )
    .await;
    let role_body = json!({"name": "renamed", "permissions": []});
    let u = user_path(other.id, "");
    let unknown = user_path(Uuid::now_v7(), "");
    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, USERS.into(), None),
        (Method::GET, format!("{USERS}?q=oth"), None),
        (
            Method::POST,
            USERS.into(),
            Some(json!({"username": "sneaky", "email": "sneaky@example.com"})),
        ),
        (Method::GET, u.clone(), None),
        (Method::PATCH, u.clone(), Some(json!({"name": "Hijacked"}))),
        (Method::DELETE, u.clone(), None),
        (Method::POST, format!("{u}/disable"), None),
        (Method::POST, format!("{u}/enable"), None),
        (Method::GET, format!("{u}/roles"), None),
        (
            Method::PUT,
            format!("{u}/roles"),
            Some(json!({"roles": [1, 2]})),
        ),
        (
            Method::PUT,
            user_path(plain.id, "/roles"),
            Some(json!({"roles": [1, 2]})),
        ),
        (
            Method::POST,
            format!("{u}/reset-password"),
            Some(json!({"password": "an entirely new passphrase"})),
        ),
        (Method::POST, format!("{u}/reset-password"), Some(json!({}))),
        (Method::DELETE, format!("{u}/sessions"), None),
        (Method::DELETE, format!("{u}/tokens"), None),
        // No probing: an unknown id is answered like a known one.
        (Method::GET, unknown.clone(), None),
        (Method::DELETE, unknown, None),
        (Method::GET, ROLES.into(), None),
        (Method::POST, ROLES.into(), Some(role_body.clone())),
        (
            Method::PUT,
            format!("{ROLES}/{role}"),
            Some(role_body.clone()),
        ),
        (Method::DELETE, format!("{ROLES}/{role}"), None),
        (Method::PUT, format!("{ROLES}/999"), Some(role_body)),
        (Method::GET, "/auth/v1/admin/audit".into(), None),
    ];
    for (method, path, body) in cases {
        let r = call(&app, method.clone(), &path, &plain.token, body.as_ref()).await;
        assert_eq!(r.status(), 403, "{method} {path}");
        assert_problem(r, 403, "forbidden").await;
    }
    // Nothing happened.
    assert_eq!(app.status_with("/auth/v1/me", &other.token).await, 200);
    let other_user = expect(app.get(&u, &root.token).send().await.unwrap(), 200).await;
    assert_eq!(other_user["status"], "active");
    assert_eq!(other_user["name"], Value::Null);
    let roles = expect(app.get(ROLES, &root.token).send().await.unwrap(), 200).await;
    assert!(roles["roles"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["name"] == "readers"));
    let plain_roles = expect(
        app.get(&user_path(plain.id, "/roles"), &root.token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(plain_roles["roles"].as_array().unwrap().len(), 1);
    assert!(app.accounts.find_user("sneaky").await.is_err());
    // On their own account the `user` role's own-scope permissions apply here as well: they
    // may read it and change their claims, but not their address or status.
    let me = user_path(plain.id, "");
    assert_eq!(
        app.get(&me, &plain.token).send().await.unwrap().status(),
        200
    );
    let r = app
        .patch(&me, &plain.token)
        .json(&json!({"email": "new@example.com"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 403, "forbidden").await;
    let r = app
        .post(&format!("{me}/disable"), &plain.token)
        .send()
        .await
        .unwrap();
    assert_problem(r, 403, "forbidden").await;
}

#[tokio::test]
async fn unknown_ids_are_404_for_admins_and_malformed_ids_400() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let nobody = Uuid::now_v7();
    let u = user_path(nobody, "");
    let org = create_org(&app, &root.token, "Real").await;
    let no_org = Uuid::now_v7();
    let role_body = json!({"name": "ghost", "permissions": []});
    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, u.clone(), None),
        (Method::PATCH, u.clone(), Some(json!({"name": "Nobody"}))),
        (Method::DELETE, u.clone(), None),
        (Method::POST, format!("{u}/disable"), None),
        (Method::POST, format!("{u}/enable"), None),
        (Method::GET, format!("{u}/roles"), None),
        (
            Method::PUT,
            format!("{u}/roles"),
            Some(json!({"roles": [2]})),
        ),
        (Method::POST, format!("{u}/reset-password"), Some(json!({}))),
        (Method::DELETE, format!("{u}/sessions"), None),
        (Method::DELETE, format!("{u}/tokens"), None),
        (Method::PUT, format!("{ROLES}/999"), Some(role_body)),
        (Method::DELETE, format!("{ROLES}/999"), None),
        (Method::GET, format!("{ORGS}/{no_org}"), None),
        (
            Method::PATCH,
            format!("{ORGS}/{no_org}"),
            Some(json!({"name": "X"})),
        ),
        (Method::DELETE, format!("{ORGS}/{no_org}"), None),
        (Method::GET, format!("{ORGS}/{no_org}/members"), None),
        (
            Method::PUT,
            format!("{ORGS}/{no_org}/members/{}", root.id),
            Some(json!({"role": "member"})),
        ),
        (
            Method::DELETE,
            format!("{ORGS}/{no_org}/members/{}", root.id),
            None,
        ),
        (
            Method::PUT,
            format!("{ORGS}/{org}/members/{nobody}"),
            Some(json!({"role": "member"})),
        ),
        (
            Method::DELETE,
            format!("{ORGS}/{org}/members/{nobody}"),
            None,
        ),
        (
            Method::POST,
            format!("{USERS}?org={no_org}"),
            Some(json!({"username": "orphan", "email": "orphan@example.com"})),
        ),
    ];
    for (method, path, body) in cases {
        let r = call(&app, method.clone(), &path, &root.token, body.as_ref()).await;
        assert_eq!(r.status(), 404, "{method} {path}");
        assert_problem(r, 404, "not_found").await;
    }
    for path in [
        user_path("not-a-uuid", ""),
        format!("{ROLES}/abc"),
        format!("{ORGS}/42"),
    ] {
        let r = call(&app, Method::DELETE, &path, &root.token, None).await;
        assert_problem(r, 400, "invalid_path").await;
    }
}

#[tokio::test]
async fn bad_cursors_and_query_parameters_are_400() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    app.user("alice").await;
    for query in [
        "after=!!!",
        "after=a",
        "after=dTphbA",              // "u:al" without the list's name
        "after=dXNlcnN8eDox",        // "users|x:1": an unknown kind
        "after=dXNlcnN8aTpub3QtaWQ", // "users|i:not-id"
        "after=dXNlcnN8dTphbA",      // a username cursor, but this listing is by id
        "before=dXNlcnN8dTphbA",
        "q=a&after=dXNlcnN8aTpub3QtaWQ",
        "q=a@&after=dXNlcnN8dTphbA", // a username cursor on an e-mail listing
        "after=dXNlcnN8dTphbA&before=dXNlcnN8dTphbA",
        "limit=0",
        "limit=201",
        "status=sleeping",
        "limit=many",
        "role=admin",
        "org=nope",
        "colour=blue",
    ] {
        let r = app
            .get(&format!("{USERS}?{query}"), &root.token)
            .send()
            .await
            .unwrap();
        let problem = assert_problem(r, 400, "invalid_query").await;
        if query.contains("after=") && !query.contains("before=") {
            assert_eq!(problem["field"], "after", "{query}");
        }
    }
    // The same username cursor is fine where it belongs.
    let page = expect(
        app.get(&format!("{USERS}?q=a&after=dXNlcnN8dTphbA"), &root.token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let names: Vec<_> = page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].clone())
        .collect();
    assert_eq!(names, vec![json!("alice")]);
}

#[tokio::test]
async fn admins_list_and_filter_users() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let helper = create_role(&app, &root.token, "helper", json!([])).await;
    create_users(
        &app,
        &root.token,
        json!([
            {"username": "anna", "email": "anna@north.example", "roles": [2, helper]},
            {"username": "andrew", "email": "andrew@south.example", "status": "pending"},
            {"username": "bella", "email": "bella@north.example", "status": "disabled"},
        ]),
    )
    .await;
    let org = create_org(&app, &root.token, "North").await;
    let bella = app.accounts.find_user("bella").await.unwrap();
    assert_eq!(
        set_member(&app, &root.token, &org, bella.id, "member")
            .await
            .status(),
        204
    );

    let names = |page: &Value| -> Vec<String> {
        page["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_owned())
            .collect()
    };
    let list = |query: String| {
        let app = &app;
        let token = root.token.clone();
        async move {
            expect(
                app.get(&format!("{USERS}{query}"), &token)
                    .send()
                    .await
                    .unwrap(),
                200,
            )
            .await
        }
    };
    let all = list(String::new()).await;
    assert_eq!(
        names(&all),
        ["root", "anna", "andrew", "bella"],
        "creation order"
    );
    assert_eq!(all["next"], Value::Null);
    assert_eq!(
        names(&list("?q=AN".into()).await),
        ["andrew", "anna"],
        "username prefix, by username"
    );
    assert_eq!(
        names(&list("?q=%40".into()).await).len(),
        0,
        "an e-mail prefix starts with the local part"
    );
    assert_eq!(names(&list("?q=bella%40north".into()).await), ["bella"]);
    assert_eq!(names(&list("?status=pending".into()).await), ["andrew"]);
    assert_eq!(names(&list("?status=disabled".into()).await), ["bella"]);
    assert_eq!(names(&list(format!("?role={helper}")).await), ["anna"]);
    assert_eq!(names(&list("?role=1".into()).await), ["root"]);
    assert_eq!(
        names(&list(format!("?org={org}")).await),
        ["root", "bella"],
        "its creator owns it"
    );
    assert_eq!(names(&list("?q=a&status=active".into()).await), ["anna"]);
    let page = list("?limit=2".into()).await;
    assert_eq!(names(&page), ["root", "anna"]);
    assert!(page["next"].is_string() && page["prev"].is_null());
    let next = page["next"].as_str().unwrap();
    let rest = list(format!("?limit=2&after={next}")).await;
    assert_eq!(names(&rest), ["andrew", "bella"]);
    assert!(rest["next"].is_null(), "the last page says so: {rest}");
    let prev = rest["prev"].as_str().unwrap();
    let back = list(format!("?limit=2&before={prev}")).await;
    assert_eq!(names(&back), ["root", "anna"]);
    assert!(back["prev"].is_null() && back["next"].is_string());
    let anna = &all["users"][1];
    assert_eq!(anna["roles"], json!([2, helper]));
    assert_eq!(anna["email"], "anna@north.example");
    assert!(anna["number"].as_i64().unwrap() > 0);
}

#[tokio::test]
async fn creating_users_one_or_many_all_or_none() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let one = create_users(
        &app,
        &root.token,
        json!({"username": "Solo", "email": "solo@example.com", "password": PASSWORD, "name": "Han Solo", "locale": "en-GB"}),
    )
    .await;
    assert!(one.is_object(), "an object for an object: {one}");
    assert_eq!(one["username"], "solo");
    assert_eq!(one["status"], "active");
    assert_eq!(one["email_verified"], false);
    assert_eq!(one["roles"], json!([2]));
    assert_eq!(one["name"], "Han Solo");
    assert_eq!(one["locale"], "en-GB");
    assert!(
        one["number"].is_i64() && one["created_at"].is_string() && one["updated_at"].is_string()
    );
    assert!(Uuid::parse_str(one["id"].as_str().unwrap()).is_ok());
    assert!(one.get("password").is_none() && one.get("password_hash").is_none());
    assert_eq!(app.login("solo", PASSWORD).await.status(), 200);

    let many = create_users(
        &app,
        &root.token,
        json!([
            {"username": "twin1", "email": "twin1@example.com", "email_verified": true},
            {"username": "twin2", "email": "twin2@example.com", "status": "pending", "roles": []},
        ]),
    )
    .await;
    let many = many.as_array().expect("an array for an array");
    assert_eq!(many.len(), 2);
    assert_eq!(many[0]["email_verified"], true);
    assert_eq!(many[1]["status"], "pending");
    assert_eq!(many[1]["roles"], json!([2]), "no roles means the user role");

    // A duplicate inside the body, or of an existing account: 409 and nothing created.
    let r = app
        .post(USERS, &root.token)
        .json(&json!([
            {"username": "fresh1", "email": "fresh1@example.com"},
            {"username": "dup", "email": "dup1@example.com"},
            {"username": "dup", "email": "dup2@example.com"},
        ]))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(r, 409, "username_taken").await;
    assert_eq!(problem["field"], "username");
    let r = app
        .post(USERS, &root.token)
        .json(&json!([
            {"username": "fresh2", "email": "fresh2@example.com"},
            {"username": "fresh3", "email": "solo@example.com"},
        ]))
        .send()
        .await
        .unwrap();
    assert_problem(r, 409, "email_taken").await;
    for name in ["fresh1", "dup", "fresh2", "fresh3"] {
        assert!(
            app.accounts.find_user(name).await.is_err(),
            "{name} was created"
        );
    }
    let page = expect(
        app.get(&format!("{USERS}?q=fresh"), &root.token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(page["users"], json!([]));

    // Bad input names the item and field; nothing is created.
    let r = app
        .post(USERS, &root.token)
        .json(&json!([
            {"username": "okay", "email": "okay@example.com"},
            {"username": "x y", "email": "xy@example.com"},
        ]))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(r, 400, "invalid_input").await;
    assert_eq!(problem["field"], "[1].username");
    let r = app
        .post(USERS, &root.token)
        .json(&json!({"username": "bad", "email": "no-at-sign"}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(r, 400, "invalid_input").await;
    assert_eq!(problem["field"], "email");
    let r = app
        .post(USERS, &root.token)
        .json(&json!({"username": "bad", "email": "bad@example.com", "website": "ftp://x"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 400, "invalid_input").await;
    let r = app
        .post(USERS, &root.token)
        .json(&json!({"username": "bad", "email": "bad@example.com", "password": "password"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 400, "weak_password").await;
    let r = app
        .post(USERS, &root.token)
        .json(&json!({"username": "bad", "email": "bad@example.com", "roles": [999]}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(r, 400, "invalid_input").await;
    assert_eq!(problem["field"], "roles");
    let r = app
        .post(USERS, &root.token)
        .json(&json!({"username": "bad", "email": "bad@example.com", "colour": "red"}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(r, 422, "malformed_body").await;
    assert_eq!(problem["field"], "colour");
    let r = app
        .post(USERS, &root.token)
        .json(&json!([{"username": "bad", "email": "bad@example.com", "status": "asleep"}]))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(r, 422, "malformed_body").await;
    assert!(
        problem["detail"].as_str().unwrap().starts_with("[0]."),
        "{problem}"
    );
    let r = app
        .post(USERS, &root.token)
        .json(&json!({"email": "bad@example.com"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 422, "malformed_body").await;
    assert!(app.accounts.find_user("okay").await.is_err());
    assert!(app.accounts.find_user("bad").await.is_err());
}

#[tokio::test]
async fn admins_update_accounts() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let bob = app.user("bob").await;
    app.user("carol").await;
    let session = app.session("bob", PASSWORD).await;
    let path = user_path(bob.id, "");
    let patch = |body: Value| {
        let app = &app;
        let token = root.token.clone();
        let path = path.clone();
        async move { app.patch(&path, &token).json(&body).send().await.unwrap() }
    };
    let updated = expect(
        patch(json!({"username": "robert", "email": "robert@example.com", "email_verified": false, "name": "Robert", "nickname": "Bob"})).await,
        200,
    )
    .await;
    assert_eq!(updated["username"], "robert");
    assert_eq!(updated["email"], "robert@example.com");
    assert_eq!(updated["email_verified"], false);
    assert_eq!(updated["name"], "Robert");
    let updated = expect(patch(json!({"nickname": null})).await, 200).await;
    assert_eq!(updated["nickname"], Value::Null, "null clears a claim");
    assert_eq!(updated["name"], "Robert", "a missing claim is kept");
    assert_problem(
        patch(json!({"email": "carol@example.com"})).await,
        409,
        "email_taken",
    )
    .await;
    assert_problem(
        patch(json!({"username": "carol"})).await,
        409,
        "username_taken",
    )
    .await;
    assert_problem(patch(json!({"email": "nope"})).await, 400, "invalid_input").await;
    assert_problem(
        patch(json!({"password": "short"})).await,
        400,
        "weak_password",
    )
    .await;
    assert_problem(
        patch(json!({"is_admin": true})).await,
        422,
        "malformed_body",
    )
    .await;

    // A new password ends the sessions.
    assert_eq!(app.status_with("/auth/v1/me", &session).await, 200);
    expect(
        patch(json!({"password": "a completely different passphrase"})).await,
        200,
    )
    .await;
    assert_eq!(app.status_with("/auth/v1/me", &session).await, 401);
    assert_eq!(
        app.login("robert", "a completely different passphrase")
            .await
            .status(),
        200
    );
    assert_eq!(app.login("robert", PASSWORD).await.status(), 401);
}

#[tokio::test]
async fn disabling_ends_sessions_and_stops_tokens_until_enabled() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let bob = app.user("bob").await;
    let session = app.session("bob", PASSWORD).await;
    assert_eq!(app.status_with("/auth/v1/me", &bob.token).await, 200);

    let disabled = expect(
        app.post(&user_path(bob.id, "/disable"), &root.token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(disabled["status"], "disabled");
    assert_eq!(app.status_with("/auth/v1/me", &bob.token).await, 401);
    assert_eq!(app.status_with("/auth/v1/me", &session).await, 401);
    let audit = expect(
        app.get("/auth/v1/admin/audit?action=user.update", &root.token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        audit["events"][0]["client_ip"], "127.0.0.1",
        "admin acts record where they came from: {audit}"
    );
    assert_problem(app.login("bob", PASSWORD).await, 403, "account_disabled").await;

    let enabled = expect(
        app.post(&user_path(bob.id, "/enable"), &root.token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(enabled["status"], "active");
    assert_eq!(app.status_with("/auth/v1/me", &bob.token).await, 200);
    assert_eq!(
        app.status_with("/auth/v1/me", &session).await,
        401,
        "ended sessions stay ended"
    );
    assert_eq!(app.login("bob", PASSWORD).await.status(), 200);

    // Nobody disables themselves.
    let r = app
        .post(&user_path(root.id, "/disable"), &root.token)
        .send()
        .await
        .unwrap();
    assert_problem(r, 403, "forbidden").await;
}

#[tokio::test]
async fn deleting_a_user_removes_them_and_their_tokens() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let bob = app.user("bob").await;
    let session = app.session("bob", PASSWORD).await;
    let r = app
        .delete(&user_path(bob.id, ""), &root.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(app.status_with("/auth/v1/me", &bob.token).await, 401);
    assert_eq!(app.status_with("/auth/v1/me", &session).await, 401);
    assert_eq!(app.store.list_tokens(bob.id).await.unwrap().len(), 0);
    assert_problem(
        app.get(&user_path(bob.id, ""), &root.token)
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.delete(&user_path(bob.id, ""), &root.token)
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    // The name is free again.
    create_users(
        &app,
        &root.token,
        json!({"username": "bob", "email": "bob@example.com"}),
    )
    .await;
}

#[tokio::test]
async fn admins_end_sessions_and_revoke_tokens() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let bob = app.user("bob").await;
    let first = app.session("bob", PASSWORD).await;
    let second = app.session("bob", PASSWORD).await;
    let ended = expect(
        app.delete(&user_path(bob.id, "/sessions"), &root.token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(ended, json!({"ended": 2}));
    assert_eq!(app.status_with("/auth/v1/me", &first).await, 401);
    assert_eq!(app.status_with("/auth/v1/me", &second).await, 401);
    assert_eq!(
        app.status_with("/auth/v1/me", &bob.token).await,
        200,
        "tokens are not sessions"
    );
    let revoked = expect(
        app.delete(&user_path(bob.id, "/tokens"), &root.token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(revoked, json!({"revoked": 1}));
    assert_eq!(app.status_with("/auth/v1/me", &bob.token).await, 401);
    assert_eq!(
        app.login("bob", PASSWORD).await.status(),
        200,
        "the account itself is fine"
    );
}

#[tokio::test]
async fn admins_set_passwords_or_mail_reset_codes() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let dave = app.user("dave").await;
    let session = app.session("dave", PASSWORD).await;
    let path = user_path(dave.id, "/reset-password");

    let r = app
        .post(&path, &root.token)
        .json(&json!({"password": "short"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 400, "weak_password").await;
    let r = app
        .post(&path, &root.token)
        .json(&json!({"password": "dave's shiny new passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        app.status_with("/auth/v1/me", &session).await,
        401,
        "sessions end"
    );
    assert_eq!(app.login("dave", PASSWORD).await.status(), 401);
    assert_eq!(
        app.login("dave", "dave's shiny new passphrase")
            .await
            .status(),
        200
    );

    let before = app.mail_to("dave@example.com").await.len();
    let r = app
        .post(&path, &root.token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let accepted = expect(r, 202).await;
    assert_eq!(accepted["status"], "accepted");
    let code = app.latest_code("dave@example.com").await;
    assert_eq!(app.mail_to("dave@example.com").await.len(), before + 1);
    let r = app
        .client
        .post(app.url("/auth/v1/password/reset"))
        .json(&json!({"email": "dave@example.com", "code": code, "new_password": "the third passphrase of dave"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        app.login("dave", "the third passphrase of dave")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn roles_are_listed_created_replaced_and_deleted() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let roles = expect(app.get(ROLES, &root.token).send().await.unwrap(), 200).await;
    let roles = roles["roles"].as_array().unwrap();
    let admin = roles.iter().find(|r| r["id"] == 1).unwrap();
    assert_eq!(admin["name"], "admin");
    assert_eq!(admin["builtin"], true);
    assert_eq!(
        admin["permissions"],
        json!([{"entity": null, "action": null, "scope": "all"}])
    );
    let user = roles.iter().find(|r| r["id"] == 2).unwrap();
    assert!(user["permissions"]
        .as_array()
        .unwrap()
        .contains(&json!({"entity": "token", "action": null, "scope": "own"})));

    let permissions = json!([
        {"entity": "user", "action": "read", "scope": "ids", "ids": [7, 8]},
        {"entity": "audit", "action": "read", "scope": "all"},
        {"scope": "own"},
    ]);
    let created = expect(
        app.post(ROLES, &root.token)
            .json(&json!({"name": "auditor", "description": "Reads the log", "permissions": permissions}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let id = created["id"].as_i64().unwrap();
    assert!(id > 2);
    assert_eq!(created["builtin"], false);
    assert_eq!(created["description"], "Reads the log");
    assert_eq!(
        created["permissions"][0],
        json!({"entity": "user", "action": "read", "scope": "ids", "ids": [7, 8]})
    );
    assert_eq!(
        created["permissions"][2],
        json!({"entity": null, "action": null, "scope": "own"})
    );

    let r = app
        .post(ROLES, &root.token)
        .json(&json!({"name": "auditor", "permissions": []}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 409, "role_name_taken").await;
    let replaced = expect(
        app.put(&format!("{ROLES}/{id}"), &root.token)
            .json(&json!({"name": "log-reader", "permissions": [{"entity": "audit", "action": "read", "scope": "all"}]}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(replaced["name"], "log-reader");
    assert_eq!(replaced["description"], "");
    assert_eq!(replaced["permissions"].as_array().unwrap().len(), 1);

    for builtin in [1, 2] {
        let r = app
            .put(&format!("{ROLES}/{builtin}"), &root.token)
            .json(&json!({"name": "x", "permissions": []}))
            .send()
            .await
            .unwrap();
        assert_problem(r, 409, "builtin_role").await;
        let r = app
            .delete(&format!("{ROLES}/{builtin}"), &root.token)
            .send()
            .await
            .unwrap();
        assert_problem(r, 409, "builtin_role").await;
    }
    for (body, status, code, field) in [
        (
            json!({"name": "x", "permissions": [{"entity": "user", "scope": "ids"}]}),
            400,
            "invalid_input",
            Some("permissions[0].ids"),
        ),
        (
            json!({"name": "x", "permissions": [{"scope": "all", "ids": [1]}]}),
            400,
            "invalid_input",
            Some("permissions[0].ids"),
        ),
        (
            json!({"name": "", "permissions": []}),
            400,
            "invalid_input",
            Some("name"),
        ),
        (
            json!({"name": "x", "permissions": [{"entity": "planet", "scope": "all"}]}),
            422,
            "malformed_body",
            None,
        ),
        (
            json!({"name": "x", "permissions": [{"scope": "some"}]}),
            422,
            "malformed_body",
            None,
        ),
        (json!({"name": "x"}), 422, "malformed_body", None),
    ] {
        let r = app
            .post(ROLES, &root.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let problem = assert_problem(r, status, code).await;
        if let Some(field) = field {
            assert_eq!(problem["field"], field, "{body}");
        }
    }

    let bob = app.user("bob").await;
    expect(
        app.put(&user_path(bob.id, "/roles"), &root.token)
            .json(&json!({"roles": [2, id]}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        app.delete(&format!("{ROLES}/{id}"), &root.token)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let held = expect(
        app.get(&user_path(bob.id, "/roles"), &root.token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        held["roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [2]
    );
    let roles = expect(app.get(ROLES, &root.token).send().await.unwrap(), 200).await;
    assert_eq!(roles["roles"].as_array().unwrap().len(), 2);
    assert_problem(
        app.delete(&format!("{ROLES}/{id}"), &root.token)
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn setting_a_users_roles() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let bob = app.user("bob").await;
    let helper = create_role(
        &app,
        &root.token,
        "helper",
        json!([{"entity": "user", "action": "read", "scope": "all"}]),
    )
    .await;
    let path = user_path(bob.id, "/roles");
    let set = expect(
        app.put(&path, &root.token)
            .json(&json!({"roles": [helper, 2]}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let mut ids: Vec<i64> = set["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_i64().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, [2, helper]);
    let held = expect(app.get(&path, &root.token).send().await.unwrap(), 200).await;
    let helper_role = held["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == helper)
        .unwrap();
    assert_eq!(
        helper_role["permissions"],
        json!([{"entity": "user", "action": "read", "scope": "all"}])
    );
    // The new role works at once: bob may now list users.
    assert_eq!(app.status_with(USERS, &bob.token).await, 200);
    let r = app
        .put(&path, &root.token)
        .json(&json!({"roles": [2, 999]}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(r, 400, "invalid_input").await;
    assert_eq!(problem["field"], "roles");
    let r = app
        .put(&path, &root.token)
        .json(&json!({"roles": "all"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 422, "malformed_body").await;
    expect(
        app.put(&path, &root.token)
            .json(&json!({"roles": [2]}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(app.status_with(USERS, &bob.token).await, 403);
}

#[tokio::test]
async fn self_service_endpoints_need_the_user_role() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let carol = app.user("carol").await;
    let session = app.session("carol", PASSWORD).await;
    let tokens = expect(
        app.get("/auth/v1/tokens", &carol.token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let token_id = tokens["tokens"][0]["id"].as_str().unwrap().to_owned();

    expect(
        app.put(&user_path(carol.id, "/roles"), &root.token)
            .json(&json!({"roles": []}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;

    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/auth/v1/me".into(), None),
        (
            Method::PATCH,
            "/auth/v1/me".into(),
            Some(json!({"name": "Carol"})),
        ),
        (Method::GET, "/auth/v1/tokens".into(), None),
        (
            Method::POST,
            "/auth/v1/tokens".into(),
            Some(json!({"name": "more"})),
        ),
        (Method::GET, format!("/auth/v1/tokens/{token_id}"), None),
        (
            Method::POST,
            format!("/auth/v1/tokens/{token_id}/disable"),
            None,
        ),
        (
            Method::POST,
            format!("/auth/v1/tokens/{token_id}/enable"),
            None,
        ),
        (
            Method::POST,
            format!("/auth/v1/tokens/{token_id}/rotate"),
            None,
        ),
        (Method::DELETE, format!("/auth/v1/tokens/{token_id}"), None),
        (Method::GET, "/auth/v1/sessions".into(), None),
        (Method::DELETE, "/auth/v1/sessions".into(), None),
        (Method::POST, "/auth/v1/sessions/end-others".into(), None),
        (
            Method::DELETE,
            format!("/auth/v1/sessions/{}", Uuid::now_v7()),
            None,
        ),
        (
            Method::POST,
            "/auth/v1/password/change".into(),
            Some(
                json!({"current_password": PASSWORD, "new_password": "carol's brand new passphrase"}),
            ),
        ),
    ];
    for credential in [&carol.token, &session] {
        for (method, path, body) in &cases {
            let r = call(&app, method.clone(), path, credential, body.as_ref()).await;
            assert_eq!(r.status(), 403, "{method} {path}");
            assert_problem(r, 403, "forbidden").await;
        }
        let r = app
            .put("/auth/v1/me/picture", credential)
            .multipart(multipart_file(png_with_metadata(4, 4), "me.png"))
            .send()
            .await
            .unwrap();
        assert_problem(r, 403, "forbidden").await;
    }
    // Signing out only gives up access: the core lets anyone end the session they hold.
    let spare = app.session("carol", PASSWORD).await;
    let r = app.post("/auth/v1/logout", &spare).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(app.status_with("/auth/v1/me", &spare).await, 401);
    // Nothing else was done: the token and the session still authenticate, the password is the same.
    assert_eq!(
        app.accounts
            .list_tokens(&accounts::Actor::operator(), carol.id)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(app.login("carol", PASSWORD).await.status(), 200);

    expect(
        app.put(&user_path(carol.id, "/roles"), &root.token)
            .json(&json!({"roles": [2]}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(app.status_with("/auth/v1/me", &carol.token).await, 200);
    assert_eq!(app.status_with("/auth/v1/sessions", &session).await, 200);
    assert_eq!(
        app.post("/auth/v1/logout", &session)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
}

#[tokio::test]
async fn a_role_scoped_to_ids_reads_exactly_the_listed_users() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let a = app.user("usera").await;
    let b = app.user("userb").await;
    let c = app.user("userc").await;
    let reader = app.user("reader").await;
    let numbers = [
        number_of(&app, &root.token, a.id).await,
        number_of(&app, &root.token, b.id).await,
    ];
    let role = create_role(
        &app,
        &root.token,
        "reads-a-and-b",
        json!([{"entity": "user", "action": "read", "scope": "ids", "ids": numbers}]),
    )
    .await;
    expect(
        app.put(&user_path(reader.id, "/roles"), &root.token)
            .json(&json!({"roles": [2, role]}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;

    for id in [a.id, b.id] {
        let user = expect(
            app.get(&user_path(id, ""), &reader.token)
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        assert_eq!(user["id"], id.to_string());
        assert_eq!(
            app.status_with(&user_path(id, "/roles"), &reader.token)
                .await,
            200
        );
    }
    assert_problem(
        app.get(&user_path(c.id, ""), &reader.token)
            .send()
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        app.get(&user_path(root.id, ""), &reader.token)
            .send()
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        app.get(&user_path(Uuid::now_v7(), ""), &reader.token)
            .send()
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        app.get(USERS, &reader.token).send().await.unwrap(),
        403,
        "forbidden",
    )
    .await;
    let r = app
        .patch(&user_path(a.id, ""), &reader.token)
        .json(&json!({"name": "A"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 403, "forbidden").await;
    assert_problem(
        app.delete(&user_path(a.id, "/tokens"), &reader.token)
            .send()
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn organisations_belong_to_their_owners_and_members() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let olive = app.user("olive").await;
    let mia = app.user("mia").await;
    let stranger = app.user("stranger").await;

    // Founding an organisation is an instance-level grant.
    assert_problem(
        app.post(ORGS, &olive.token)
            .json(&json!({"name": "Acme Energy"}))
            .send()
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;
    let org = org_owned_by(&app, &root.token, olive.id.0, "Acme Energy").await;
    let path = format!("{ORGS}/{org}");
    let mine = expect(app.get(ORGS, &olive.token).send().await.unwrap(), 200).await;
    assert_eq!(mine["organizations"].as_array().unwrap().len(), 1);
    assert_eq!(mine["organizations"][0]["name"], "Acme Energy");
    let members = expect(
        app.get(&format!("{path}/members"), &olive.token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(members["members"].as_array().unwrap().len(), 1);
    assert_eq!(members["members"][0]["user_id"], olive.id.to_string());
    assert_eq!(members["members"][0]["role"], "owner");

    // An owner cannot pull an existing account into their organisation (its admins could
    // then manage that account); joining is the person's own act or an instance admin's.
    assert_problem(
        set_member(&app, &olive.token, &org, mia.id, "member").await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(
        set_member(&app, &root.token, &org, mia.id, "member")
            .await
            .status(),
        204
    );
    let got = expect(app.get(&path, &mia.token).send().await.unwrap(), 200).await;
    assert_eq!(got["id"], org);
    assert_eq!(
        app.status_with(&format!("{path}/members"), &mia.token)
            .await,
        200
    );
    assert_problem(
        set_member(&app, &mia.token, &org, stranger.id, "member").await,
        403,
        "forbidden",
    )
    .await;
    let r = app
        .patch(&path, &mia.token)
        .json(&json!({"name": "Mia's"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 403, "forbidden").await;

    // Strangers see nothing of it; instance admins see everything.
    assert_eq!(
        expect(app.get(ORGS, &stranger.token).send().await.unwrap(), 200).await["organizations"],
        json!([])
    );
    for (method, p) in [
        (Method::GET, path.clone()),
        (Method::GET, format!("{path}/members")),
        (Method::DELETE, path.clone()),
        (Method::DELETE, format!("{path}/members/{}", mia.id)),
    ] {
        let r = call(&app, method.clone(), &p, &stranger.token, None).await;
        assert_problem(r, 403, "forbidden").await;
    }
    let all = expect(app.get(ORGS, &root.token).send().await.unwrap(), 200).await;
    assert_eq!(all["organizations"].as_array().unwrap().len(), 1);

    let renamed = expect(
        app.patch(&path, &olive.token)
            .json(&json!({"name": "Acme Power"}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(renamed["name"], "Acme Power");
    let r = app
        .patch(&path, &olive.token)
        .json(&json!({"name": "  "}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(r, 400, "invalid_input").await;
    assert_eq!(problem["field"], "name");
    let r = set_member(&app, &olive.token, &org, mia.id, "emperor").await;
    assert_problem(r, 422, "malformed_body").await;

    // Members may leave.
    assert_eq!(
        app.delete(&format!("{path}/members/{}", mia.id), &mia.token)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_problem(
        app.get(&path, &mia.token).send().await.unwrap(),
        403,
        "forbidden",
    )
    .await;

    assert_eq!(
        app.delete(&path, &olive.token)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_problem(
        app.get(&path, &root.token).send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    assert_eq!(
        app.accounts.find_user("mia").await.unwrap().id,
        mia.id,
        "accounts stay"
    );
}

#[tokio::test]
async fn an_org_admin_manages_their_own_members_only_and_grants_no_instance_roles() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let olive = app.user("olive").await;
    let amy = app.user("amy").await;
    let mel = app.user("mel").await;
    let oscar = app.user("oscar").await;
    let outsider = app.user("outsider").await;
    let acme = org_owned_by(&app, &root.token, olive.id.0, "Acme").await;
    let other = org_owned_by(&app, &root.token, oscar.id.0, "Other").await;
    assert_eq!(
        set_member(&app, &root.token, &acme, amy.id, "admin")
            .await
            .status(),
        204
    );
    assert_eq!(
        set_member(&app, &root.token, &acme, mel.id, "member")
            .await
            .status(),
        204
    );
    assert_eq!(
        set_member(&app, &root.token, &other, outsider.id, "member")
            .await
            .status(),
        204
    );

    // Members of their organisation: change, remove; read and change their accounts. An
    // existing account outside it cannot be pulled in, even a plain one.
    let newbie = app.user("newbie").await;
    assert_problem(
        set_member(&app, &amy.token, &acme, newbie.id, "member").await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(
        set_member(&app, &root.token, &acme, newbie.id, "member")
            .await
            .status(),
        204
    );
    assert_eq!(
        app.delete(&format!("{ORGS}/{acme}/members/{}", newbie.id), &amy.token)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        app.status_with(&user_path(mel.id, ""), &amy.token).await,
        200
    );
    let changed = expect(
        app.patch(&user_path(mel.id, ""), &amy.token)
            .json(&json!({"name": "Mel"}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(changed["name"], "Mel");
    let page = expect(
        app.get(&format!("{USERS}?org={acme}"), &amy.token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let names: HashSet<_> = page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        HashSet::from(["olive".to_owned(), "amy".to_owned(), "mel".to_owned()])
    );
    let r = app
        .post(&format!("{USERS}?org={acme}"), &amy.token)
        .json(&json!({"username": "hired2", "email": "hired2@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "org admins create members of their org");
    let hired2 = app.accounts.find_user("hired2").await.unwrap();
    assert!(app
        .accounts
        .membership(accounts::access::OrgId(acme.parse().unwrap()), hired2.id)
        .await
        .unwrap()
        .is_some());

    // Not owners, not instance roles.
    assert_problem(
        set_member(&app, &amy.token, &acme, olive.id, "member").await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        set_member(&app, &amy.token, &acme, mel.id, "owner").await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        app.patch(&user_path(olive.id, ""), &amy.token)
            .json(&json!({"name": "Owned"}))
            .send()
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;
    let r = app
        .put(&user_path(mel.id, "/roles"), &amy.token)
        .json(&json!({"roles": [1, 2]}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 403, "forbidden").await;
    let r = app
        .post(&format!("{USERS}?org={acme}"), &amy.token)
        .json(&json!({"username": "boss", "email": "boss@example.com", "roles": [1]}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 403, "forbidden").await;
    assert!(app.accounts.find_user("boss").await.is_err());
    assert_problem(
        app.delete(&format!("{ORGS}/{acme}"), &amy.token)
            .send()
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;

    // Nothing of the other organisation.
    assert_problem(
        set_member(&app, &amy.token, &other, mel.id, "member").await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        app.get(&format!("{ORGS}/{other}"), &amy.token)
            .send()
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        app.get(&user_path(outsider.id, ""), &amy.token)
            .send()
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        app.get(&format!("{USERS}?org={other}"), &amy.token)
            .send()
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        app.get(USERS, &amy.token).send().await.unwrap(),
        403,
        "forbidden",
    )
    .await;
    let r = app
        .post(&format!("{USERS}?org={other}"), &amy.token)
        .json(&json!({"username": "spy", "email": "spy@example.com"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 403, "forbidden").await;

    // Mel's roles are unchanged.
    let roles = app.accounts.roles_of(mel.id).await.unwrap();
    assert_eq!(roles.iter().map(|r| r.id.0).collect::<Vec<_>>(), [2]);
}

/// Pages through `GET /auth/v1/admin/users` with `limit`; returns every user in order.
async fn every_page(app: &TestApp, token: &str, q: Option<&str>, limit: usize) -> Vec<Value> {
    let mut users = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..100 {
        let mut query = vec![("limit", limit.to_string())];
        if let Some(q) = q {
            query.push(("q", q.to_owned()));
        }
        if let Some(after) = &after {
            query.push(("after", after.clone()));
        }
        let page = expect(
            app.get(USERS, token).query(&query).send().await.unwrap(),
            200,
        )
        .await;
        let batch = page["users"].as_array().unwrap();
        assert!(batch.len() <= limit);
        users.extend(batch.iter().cloned());
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return users,
        }
    }
    panic!("the listing did not end");
}

#[tokio::test]
async fn paging_in_every_order_returns_each_user_exactly_once() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    // Usernames and addresses in different orders from each other and from creation.
    let specs: Vec<Value> = (0..30)
        .map(|i| {
            json!({
                "username": format!("pager{:02}", (i * 7) % 30),
                "email": format!("pager@d{:02}.example.com", (i * 11) % 30),
            })
        })
        .collect();
    let created = create_users(&app, &root.token, Value::Array(specs)).await;
    let created: HashSet<String> = created
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(created.len(), 30);

    for (q, key) in [
        (None, "id"),
        (Some("Pager"), "username"),
        (Some("pager@"), "email"),
    ] {
        let users = every_page(&app, &root.token, q, 7).await;
        let ids: Vec<String> = users
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_owned())
            .collect();
        let unique: HashSet<_> = ids.iter().cloned().collect();
        assert_eq!(unique.len(), ids.len(), "{key}: a user came twice");
        assert!(created.is_subset(&unique), "{key}: a user is missing");
        let expected = if q.is_none() { 31 } else { 30 };
        assert_eq!(ids.len(), expected, "{key}");
        let keys: Vec<String> = users
            .iter()
            .map(|u| u[key].as_str().unwrap().to_owned())
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "ordered by {key}");
    }
}

/// The takeover a review found: create an organisation, pull someone's account into it,
/// then change their e-mail and password as its owner. Each step is refused.
#[tokio::test]
async fn nobody_takes_over_an_account_through_an_organisation() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let mallory = app.user("mallory").await;
    let victim = app.user("victim").await;
    // Founding one is not for everyone any more; but even an appointed owner gets nowhere.
    assert_problem(
        app.post(ORGS, &mallory.token)
            .json(&json!({"name": "Trap"}))
            .send()
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;
    let org = org_owned_by(&app, &root.token, mallory.id.0, "Trap").await;

    for target in [&root, &victim] {
        assert_problem(
            set_member(&app, &mallory.token, &org, target.id, "member").await,
            403,
            "forbidden",
        )
        .await;
        assert_problem(
            app.patch(&user_path(target.id, ""), &mallory.token)
                .json(&json!({"email": "mallory+owned@example.com"}))
                .send()
                .await
                .unwrap(),
            403,
            "forbidden",
        )
        .await;
    }

    // Even where an instance admin is a member (added by an instance admin), an
    // organisation owner never reaches their account.
    let org_id = accounts::access::OrgId(org.parse().unwrap());
    app.accounts
        .set_member(
            &accounts::Actor::operator(),
            org_id,
            root.id,
            accounts::access::OrgRole::Member,
        )
        .await
        .unwrap();
    for (method, body) in [
        (
            Method::PATCH,
            Some(json!({"password": "a brand new passphrase 42"})),
        ),
        (Method::POST, None),
    ] {
        let path = if method == Method::POST {
            user_path(root.id, "/disable")
        } else {
            user_path(root.id, "")
        };
        let r = call(&app, method, &path, &mallory.token, body.as_ref()).await;
        assert_problem(r, 403, "forbidden").await;
    }
    assert_problem(
        app.delete(&user_path(root.id, ""), &mallory.token)
            .send()
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;
    assert_eq!(app.status_with("/auth/v1/me", &root.token).await, 200);
    assert_eq!(app.status_with("/auth/v1/me", &victim.token).await, 200);
}

/// Organisation owners manage plain accounts only, and vouch for no address.
#[tokio::test]
async fn an_organisation_admin_cannot_reach_the_owner_of_another_organisation() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let dave = app.user("dave").await;
    let org_a = org_owned_by(&app, &root.token, bob.id.0, "OrgA").await;
    let _org_b = org_owned_by(&app, &root.token, carol.id.0, "OrgB").await;
    for user in [carol.id, dave.id] {
        assert_eq!(
            set_member(&app, &root.token, &org_a, user, "member")
                .await
                .status(),
            204
        );
    }
    // Dave is only OrgA's: its owner reaches him. Carol also owns OrgB: nobody of OrgA does.
    let r = app
        .post(&user_path(dave.id, "/disable"), &bob.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for suffix in ["/disable", "/reset-second-factor"] {
        assert_problem(
            app.post(&user_path(carol.id, suffix), &bob.token)
                .send()
                .await
                .unwrap(),
            403,
            "forbidden",
        )
        .await;
    }
    assert_problem(
        app.delete(&user_path(carol.id, ""), &bob.token)
            .send()
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;
    assert!(app
        .accounts
        .find_user("carol")
        .await
        .unwrap()
        .can_authenticate());
}

#[tokio::test]
async fn organisation_owners_reach_plain_accounts_only_and_vouch_for_no_address() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let olive = app.user("olive").await;
    let helper = app.user("helper").await;
    let org = org_owned_by(&app, &root.token, olive.id.0, "Acme").await;
    assert_eq!(
        set_member(&app, &root.token, &org, helper.id, "member")
            .await
            .status(),
        204
    );
    // A member with a custom role (user:update on everyone) is out of the owner's reach:
    // reaching them would reach everyone they can reach.
    let helpdesk = create_role(
        &app,
        &root.token,
        "helpdesk",
        json!([{"entity": "user", "action": "update", "scope": "all"}]),
    )
    .await;
    let r = app
        .put(&user_path(helper.id, "/roles"), &root.token)
        .json(&json!({"roles": [2, helpdesk]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_problem(
        app.patch(&user_path(helper.id, ""), &olive.token)
            .json(&json!({"password": "a brand new passphrase 42"}))
            .send()
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;

    // Accounts the owner creates, or whose address they change, are not verified.
    let created = expect(
        app.post(&format!("{USERS}?org={org}"), &olive.token)
            .json(&json!({"username": "hired", "email": "ceo@victim.example", "email_verified": true}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    assert_eq!(created["email_verified"], false, "{created}");
    let hired = created["id"].as_str().unwrap().to_owned();
    let changed = expect(
        app.patch(&format!("{USERS}/{hired}"), &olive.token)
            .json(&json!({"email": "cfo@victim.example"}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(changed["email_verified"], false, "{changed}");
    assert_problem(
        app.patch(&format!("{USERS}/{hired}"), &olive.token)
            .json(&json!({"email_verified": true}))
            .send()
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;
    // An instance admin still vouches.
    let vouched = expect(
        app.patch(&format!("{USERS}/{hired}"), &root.token)
            .json(&json!({"email_verified": true}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(vouched["email_verified"], true);
}

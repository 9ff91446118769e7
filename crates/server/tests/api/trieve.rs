//! The Trieve `UserApi` at `/api/user...`, with requests shaped as trieve-python-client
//! 1.0.0 sends them: the raw key in `Authorization` (the SDK has no auth scheme; callers
//! add the header), `Accept` and, with a body, `Content-Type: application/json`, a JSON body
//! on DELETE. Errors are `{"message": "<text>"}`. (The SDK itself drives the same endpoints
//! in `tests/trieve/`.)

use std::collections::HashSet;

use accounts::access::{OrgId, OrgRole};
use accounts::content::{NewChunk, Upload};
use accounts::{Actor, ClientInfo, TokenRef, UserId};
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};

use crate::helpers::{TestApp, TestUser};

const NIL_UUID: &str = "00000000-0000-0000-0000-000000000000";

// ------------------------------------------------------------------ helpers

/// A request as the SDK builds it, with `key` as the whole `Authorization` value.
fn trieve(app: &TestApp, method: Method, path: &str, key: Option<&str>) -> RequestBuilder {
    let request = app
        .client
        .request(method, app.url(path))
        .header("Accept", "application/json")
        .header("User-Agent", "OpenAPI-Generator/1.0.0/python");
    match key {
        Some(key) => request.header("Authorization", key),
        None => request,
    }
}

/// The request with a JSON body, as the SDK sends it.
fn with_json(request: RequestBuilder, body: &Value) -> RequestBuilder {
    request
        .header("Content-Type", "application/json")
        .body(body.to_string())
}

/// Sends; returns the status and the JSON body (every answer here is JSON).
async fn call(request: RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    assert!(
        content_type.starts_with("application/json"),
        "{status} {content_type}: {text}"
    );
    (status, serde_json::from_str(&text).unwrap())
}

/// Asserts a `DefaultError`: the status and `{"message": "<non-empty text>"}`.
async fn assert_error(request: RequestBuilder, status: u16) -> String {
    let (got, body) = call(request).await;
    assert_eq!(got, status, "{body}");
    let message = body["message"].as_str().unwrap_or_default().to_owned();
    assert!(!message.is_empty(), "{body}");
    message
}

async fn ok(request: RequestBuilder) -> Value {
    let (status, body) = call(request).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn put_user(app: &TestApp, key: &str, body: &Value) -> RequestBuilder {
    with_json(trieve(app, Method::PUT, "/api/user", Some(key)), body)
}

fn delete_key(app: &TestApp, key: &str, body: &Value) -> RequestBuilder {
    with_json(
        trieve(app, Method::DELETE, "/api/user/delete_api_key", Some(key)),
        body,
    )
}

/// `NaiveDateTime` as Trieve writes it: `2024-01-01T12:00:00.123456`, no timezone.
fn assert_naive(value: &Value) {
    let s = value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is no string"));
    let shape: String = s
        .chars()
        .map(|c| if c.is_ascii_digit() { 'd' } else { c })
        .collect();
    assert_eq!(shape, "dddd-dd-ddTdd:dd:dd.dddddd", "{s}");
}

fn assert_api_key_dto(key: &Value, user: UserId) {
    assert!(
        uuid::Uuid::parse_str(key["id"].as_str().unwrap()).is_ok(),
        "{key}"
    );
    assert!(key["name"].is_string(), "{key}");
    assert_eq!(key["user_id"], user.to_string());
    assert_naive(&key["created_at"]);
    assert_naive(&key["updated_at"]);
}

async fn org(app: &TestApp, name: &str) -> OrgId {
    app.accounts
        .create_org(&Actor::operator(), name)
        .await
        .unwrap()
        .id
}

async fn member(app: &TestApp, name: &str, org: OrgId, role: OrgRole) -> TestUser {
    let user = app.user(name).await;
    app.accounts
        .set_member(&Actor::operator(), org, user.id, role)
        .await
        .unwrap();
    user
}

async fn role_in(app: &TestApp, org: OrgId, user: UserId) -> Option<OrgRole> {
    app.accounts.membership(org, user).await.unwrap()
}

async fn new_key(app: &TestApp, user: UserId, name: &str) -> (String, String, String) {
    let (token, secret) = app
        .accounts
        .create_token(&accounts::Actor::operator(), user, Some(name.into()), None)
        .await
        .unwrap();
    (token.id.to_string(), token.mask, secret.expose().to_owned())
}

// ------------------------------------------------------------------ authentication

#[tokio::test]
async fn the_key_is_the_raw_authorization_value_or_a_bearer() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let body = ok(put_user(&app, &alice.token, &json!({}))).await;
    assert_eq!(body["id"], alice.id.to_string());
    let bearer = format!("Bearer {}", alice.token);
    let body = ok(put_user(&app, &bearer, &json!({}))).await;
    assert_eq!(body["id"], alice.id.to_string());
    // A session secret is a key too.
    let session = app.session("alice", crate::helpers::PASSWORD).await;
    ok(put_user(&app, &session, &json!({}))).await;
}

#[tokio::test]
async fn a_missing_or_invalid_key_is_401_on_every_endpoint() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let me = alice.id;
    // The real token with its last character changed (never to itself).
    let last = if alice.token.ends_with('x') { 'y' } else { 'x' };
    let forged = format!("{}{last}", &alice.token[..alice.token.len() - 1]);
    for key in [None, Some("gh_nope"), Some(""), Some(forged.as_str())] {
        assert_error(
            with_json(trieve(&app, Method::PUT, "/api/user", key), &json!({})),
            401,
        )
        .await;
        assert_error(
            with_json(
                trieve(&app, Method::POST, "/api/user/set_api_key", key),
                &json!({"name": "x"}),
            ),
            401,
        )
        .await;
        assert_error(
            with_json(
                trieve(&app, Method::DELETE, "/api/user/delete_api_key", key),
                &json!({"api_key_id": alice.token}),
            ),
            401,
        )
        .await;
        assert_error(
            trieve(&app, Method::GET, &format!("/api/user/files/{me}"), key),
            401,
        )
        .await;
        assert_error(
            trieve(&app, Method::GET, &format!("/api/user/{me}/1"), key),
            401,
        )
        .await;
    }
    // Nothing was deleted.
    ok(put_user(&app, &alice.token, &json!({}))).await;
}

#[tokio::test]
async fn the_organisation_header_must_be_a_uuid_the_caller_may_read() {
    let app = TestApp::spawn().await;
    let acme = org(&app, "Acme").await;
    let other = org(&app, "Other").await;
    let alice = member(&app, "alice", acme, OrgRole::Member).await;
    let root = app.admin("root").await;
    let with_org =
        |key: &str, org: &str| put_user(&app, key, &json!({})).header("TR-Organization", org);

    ok(with_org(&alice.token, &acme.to_string())).await;
    assert_error(with_org(&alice.token, "not-a-uuid"), 400).await;
    assert_error(with_org(&alice.token, &other.to_string()), 403).await;
    // An unknown organisation looks the same as someone else's to a plain user ...
    assert_error(with_org(&alice.token, &OrgId::new().to_string()), 403).await;
    // ... and is 404 to an instance administrator, who may read every organisation.
    assert_error(with_org(&root.token, &OrgId::new().to_string()), 404).await;
    ok(with_org(&root.token, &other.to_string())).await;
}

// ------------------------------------------------------------------ keys

#[tokio::test]
async fn set_api_key_returns_a_named_key_that_works_everywhere() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let body = ok(with_json(
        trieve(
            &app,
            Method::POST,
            "/api/user/set_api_key",
            Some(&alice.token),
        ),
        &json!({"name": "ci"}),
    ))
    .await;
    let key = body["api_key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("gh_"), "{body}");
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");

    let tokens = app
        .accounts
        .list_tokens(&accounts::Actor::operator(), alice.id)
        .await
        .unwrap();
    assert!(tokens.iter().any(|t| t.name == "ci"), "{tokens:?}");
    // The new key works here and on the native API.
    ok(put_user(&app, &key, &json!({}))).await;
    assert_eq!(app.status_with("/auth/v1/me", &key).await, 200);
}

#[tokio::test]
async fn set_api_key_refuses_bad_bodies() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let post = |body: &str| {
        trieve(
            &app,
            Method::POST,
            "/api/user/set_api_key",
            Some(&alice.token),
        )
        .header("Content-Type", "application/json")
        .body(body.to_owned())
    };
    assert_error(post("{}"), 400).await;
    assert_error(post(""), 400).await;
    assert_error(post(r#"{"name": 5}"#), 400).await;
    assert_error(post(r#"{"name": null}"#), 400).await;
    assert_error(post(r#"{"name": "x""#), 400).await;
    assert_error(post("[]"), 400).await;
    let long = json!({"name": "n".repeat(101)}).to_string();
    assert_error(post(&long), 400).await;
    assert_eq!(
        app.accounts
            .list_tokens(&accounts::Actor::operator(), alice.id)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn set_api_key_stops_at_the_token_limit() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    for n in 1..crate::helpers::MAX_TOKENS {
        new_key(&app, alice.id, &format!("k{n}")).await;
    }
    let message = assert_error(
        with_json(
            trieve(
                &app,
                Method::POST,
                "/api/user/set_api_key",
                Some(&alice.token),
            ),
            &json!({"name": "one too many"}),
        ),
        400,
    )
    .await;
    assert!(message.contains("too many"), "{message}");
}

#[tokio::test]
async fn delete_api_key_takes_the_id_the_mask_or_the_key_and_lists_what_remains() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let (by_id, _, by_id_secret) = new_key(&app, alice.id, "by id").await;
    let (_, by_mask, by_mask_secret) = new_key(&app, alice.id, "by mask").await;
    let (by_key_id, _, by_key) = new_key(&app, alice.id, "by key").await;

    let remaining = ok(delete_key(
        &app,
        &alice.token,
        &json!({"api_key_id": by_id}),
    ))
    .await;
    let listed = remaining.as_array().unwrap();
    assert_eq!(listed.len(), 3, "{remaining}");
    for key in listed {
        assert_api_key_dto(key, alice.id);
    }
    let names: HashSet<&str> = listed.iter().map(|k| k["name"].as_str().unwrap()).collect();
    assert_eq!(names, HashSet::from(["test", "by mask", "by key"]));

    let remaining = ok(delete_key(
        &app,
        &alice.token,
        &json!({"api_key_id": by_mask}),
    ))
    .await;
    assert_eq!(remaining.as_array().unwrap().len(), 2, "{remaining}");

    let remaining = ok(delete_key(
        &app,
        &alice.token,
        &json!({"api_key_id": by_key}),
    ))
    .await;
    let listed = remaining.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{remaining}");
    assert_eq!(listed[0]["name"], "test");
    assert_ne!(listed[0]["id"], by_key_id);

    // The deleted keys stop working on every surface.
    for secret in [by_id_secret, by_mask_secret, by_key] {
        assert_error(put_user(&app, &secret, &json!({})), 401).await;
        assert_eq!(app.status_with("/auth/v1/me", &secret).await, 401);
    }

    // Deleting the key in use answers the (empty) rest; the key is then dead.
    let remaining = ok(delete_key(
        &app,
        &alice.token,
        &json!({"api_key_id": alice.token}),
    ))
    .await;
    assert_eq!(remaining, json!([]));
    assert_error(put_user(&app, &alice.token, &json!({})), 401).await;
}

#[tokio::test]
async fn delete_api_key_refuses_unknown_keys_and_bad_bodies() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let bobs = app
        .accounts
        .list_tokens(&accounts::Actor::operator(), bob.id)
        .await
        .unwrap();

    let unknown = json!({"api_key_id": uuid::Uuid::now_v7().to_string()});
    assert_error(delete_key(&app, &alice.token, &unknown), 404).await;
    // Another user's key, by id and by secret, is unknown too.
    let bobs_id = json!({"api_key_id": bobs[0].id.to_string()});
    assert_error(delete_key(&app, &alice.token, &bobs_id), 404).await;
    assert_error(
        delete_key(&app, &alice.token, &json!({"api_key_id": bob.token})),
        404,
    )
    .await;
    assert_error(
        delete_key(&app, &alice.token, &json!({"api_key_id": "nonsense"})),
        400,
    )
    .await;
    assert_error(delete_key(&app, &alice.token, &json!({})), 400).await;
    assert_error(
        delete_key(&app, &alice.token, &json!({"api_key_id": 5})),
        400,
    )
    .await;
    assert_error(
        trieve(
            &app,
            Method::DELETE,
            "/api/user/delete_api_key",
            Some(&alice.token),
        ),
        400,
    )
    .await;
    assert_error(
        trieve(
            &app,
            Method::DELETE,
            "/api/user/delete_api_key",
            Some(&alice.token),
        )
        .header("Content-Type", "application/json")
        .body("{\"api_key_id\": "),
        400,
    )
    .await;

    assert_eq!(
        app.accounts
            .list_tokens(&accounts::Actor::operator(), alice.id)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        app.accounts
            .list_tokens(&accounts::Actor::operator(), bob.id)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(app
        .accounts
        .token(
            &accounts::Actor::operator(),
            bob.id,
            &TokenRef::parse(&bob.token).unwrap()
        )
        .await
        .is_ok());
}

// ------------------------------------------------------------------ update_user

#[tokio::test]
async fn update_user_changes_the_own_profile_and_answers_a_slim_user() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let body = ok(put_user(
        &app,
        &alice.token,
        &json!({
            "name": "Alice Liddell", "username": "alice2",
            "website": "https://alice.example.com", "visible_email": false,
        }),
    ))
    .await;
    assert_eq!(
        body,
        json!({
            "id": alice.id.to_string(), "email": "alice@example.com", "name": "Alice Liddell",
            "username": "alice2", "website": "https://alice.example.com",
            "visible_email": false, "orgs": [], "user_orgs": [],
        })
    );
    assert!(!app.accounts.user(alice.id).await.unwrap().email_visible);
    let user = app.accounts.user(alice.id).await.unwrap();
    assert_eq!(user.username.as_str(), "alice2");
    assert_eq!(user.profile.name.as_deref(), Some("Alice Liddell"));
    assert_eq!(
        user.profile.website.as_deref(),
        Some("https://alice.example.com")
    );

    // Missing and null keep a field; an empty string clears name and website.
    let body = ok(put_user(&app, &alice.token, &json!({"name": null}))).await;
    assert_eq!(body["name"], "Alice Liddell");
    let body = ok(put_user(&app, &alice.token, &json!({"website": ""}))).await;
    assert_eq!(body["website"], Value::Null);
    assert_eq!(body["name"], "Alice Liddell");
    // An empty body is `{}`.
    let body = ok(trieve(&app, Method::PUT, "/api/user", Some(&alice.token))).await;
    assert_eq!(body["username"], "alice2");
    // `user_id` naming oneself is the same as none.
    let body = ok(put_user(
        &app,
        &alice.token,
        &json!({"user_id": alice.id.to_string(), "name": "A. L."}),
    ))
    .await;
    assert_eq!(body["name"], "A. L.");
}

#[tokio::test]
async fn update_user_refuses_bad_input_with_400_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    app.user("bob").await;
    for body in [
        json!({"website": "javascript:alert(1)", "name": "X"}),
        json!({"username": "bob", "name": "X"}),
        json!({"username": "a b", "name": "X"}),
        json!({"name": 5}),
        json!({"visible_email": "yes"}),
        json!({"role": "1"}),
        json!({"user_id": 7}),
        json!({"user_id": "not-a-uuid", "name": "X"}),
        json!(["name"]),
    ] {
        assert_error(put_user(&app, &alice.token, &body), 400).await;
    }
    assert_error(
        trieve(&app, Method::PUT, "/api/user", Some(&alice.token))
            .header("Content-Type", "application/json")
            .body("{\"name\": "),
        400,
    )
    .await;
    let user = app.accounts.user(alice.id).await.unwrap();
    assert_eq!(user.username.as_str(), "alice");
    assert_eq!(user.profile.name, None);
}

#[tokio::test]
async fn update_user_lists_the_callers_organisations_with_roles() {
    let app = TestApp::spawn().await;
    let acme = org(&app, "Acme").await;
    let globex = org(&app, "Globex").await;
    let alice = member(&app, "alice", acme, OrgRole::Owner).await;
    app.accounts
        .set_member(&Actor::operator(), globex, alice.id, OrgRole::Member)
        .await
        .unwrap();
    let body = ok(put_user(&app, &alice.token, &json!({}))).await;
    let orgs = body["orgs"].as_array().unwrap();
    let user_orgs = body["user_orgs"].as_array().unwrap();
    assert_eq!(orgs.len(), 2, "{body}");
    assert_eq!(user_orgs.len(), 2, "{body}");
    for o in orgs {
        assert_naive(&o["created_at"]);
        assert_naive(&o["updated_at"]);
        assert!(o["registerable"].is_null());
    }
    let acme_org = orgs.iter().find(|o| o["id"] == acme.to_string()).unwrap();
    assert_eq!(acme_org["name"], "Acme");
    let role_of = |org: OrgId| {
        let m = user_orgs
            .iter()
            .find(|m| m["organization_id"] == org.to_string())
            .unwrap();
        assert_eq!(m["user_id"], alice.id.to_string());
        assert!(uuid::Uuid::parse_str(m["id"].as_str().unwrap()).is_ok());
        assert_naive(&m["created_at"]);
        m["role"].clone()
    };
    assert_eq!(role_of(acme), json!(2));
    assert_eq!(role_of(globex), json!(0));
}

#[tokio::test]
async fn owners_change_members_roles_in_the_header_organisation() {
    let app = TestApp::spawn().await;
    let acme = org(&app, "Acme").await;
    let other = org(&app, "Other").await;
    let owner = member(&app, "owner", acme, OrgRole::Owner).await;
    let carol = member(&app, "carol", acme, OrgRole::Member).await;
    app.accounts
        .set_member(&Actor::operator(), other, carol.id, OrgRole::Member)
        .await
        .unwrap();

    let body = ok(put_user(
        &app,
        &owner.token,
        &json!({"user_id": carol.id.to_string(), "role": 1}),
    )
    .header("TR-Organization", acme.to_string()))
    .await;
    assert_eq!(role_in(&app, acme, carol.id).await, Some(OrgRole::Admin));
    assert_eq!(body["id"], carol.id.to_string());
    // Only the header's organisation is shown, not carol's others.
    assert_eq!(body["orgs"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["orgs"][0]["id"], acme.to_string());
    assert_eq!(body["user_orgs"][0]["role"], 1);
    assert_eq!(body["user_orgs"][0]["user_id"], carol.id.to_string());

    // Owners may also make owners, and take it back; and change the member's profile.
    ok(put_user(
        &app,
        &owner.token,
        &json!({"user_id": carol.id.to_string(), "role": 2, "name": "Carol C."}),
    )
    .header("TR-Organization", acme.to_string()))
    .await;
    assert_eq!(role_in(&app, acme, carol.id).await, Some(OrgRole::Owner));
    let carol_now = app.accounts.user(carol.id).await.unwrap();
    assert_eq!(carol_now.profile.name.as_deref(), Some("Carol C."));
    ok(put_user(
        &app,
        &owner.token,
        &json!({"user_id": carol.id.to_string(), "role": 0}),
    )
    .header("TR-Organization", acme.to_string()))
    .await;
    assert_eq!(role_in(&app, acme, carol.id).await, Some(OrgRole::Member));
    // Her other membership is untouched.
    assert_eq!(role_in(&app, other, carol.id).await, Some(OrgRole::Member));
}

#[tokio::test]
async fn org_admins_manage_plain_members_but_make_no_admins_and_members_change_nothing() {
    let app = TestApp::spawn().await;
    let acme = org(&app, "Acme").await;
    let admin = member(&app, "admin", acme, OrgRole::Admin).await;
    let other_admin = member(&app, "admin2", acme, OrgRole::Admin).await;
    let dave = member(&app, "dave", acme, OrgRole::Member).await;
    let erin = member(&app, "erin", acme, OrgRole::Member).await;
    let acme_header = acme.to_string();
    let put = |key: &str, body: Value| {
        put_user(&app, key, &body).header("TR-Organization", acme_header.clone())
    };

    // An admin sets a plain member's role to plain member (unchanged) and edits them.
    let body = ok(put(
        &admin.token,
        json!({"user_id": dave.id.to_string(), "role": 0, "website": "https://dave.example"}),
    ))
    .await;
    assert_eq!(body["website"], "https://dave.example");
    assert_eq!(body["user_orgs"][0]["role"], 0);
    // The core's rule: only owners give or take the admin and owner roles.
    assert_error(
        put(
            &admin.token,
            json!({"user_id": dave.id.to_string(), "role": 1}),
        ),
        403,
    )
    .await;
    assert_eq!(role_in(&app, acme, dave.id).await, Some(OrgRole::Member));
    assert_error(
        put(
            &admin.token,
            json!({"user_id": other_admin.id.to_string(), "role": 0}),
        ),
        403,
    )
    .await;
    assert_eq!(
        role_in(&app, acme, other_admin.id).await,
        Some(OrgRole::Admin)
    );

    // A plain member changes nobody, and cannot promote themselves.
    assert_error(
        put(
            &erin.token,
            json!({"user_id": dave.id.to_string(), "role": 0}),
        ),
        403,
    )
    .await;
    assert_error(
        put(
            &erin.token,
            json!({"user_id": dave.id.to_string(), "name": "Mallory"}),
        ),
        403,
    )
    .await;
    assert_error(put(&erin.token, json!({"role": 2})), 403).await;
    assert_eq!(role_in(&app, acme, erin.id).await, Some(OrgRole::Member));
    assert_eq!(app.accounts.user(dave.id).await.unwrap().profile.name, None);
}

#[tokio::test]
async fn role_changes_need_the_header_a_valid_role_and_a_member() {
    let app = TestApp::spawn().await;
    let acme = org(&app, "Acme").await;
    let owner = member(&app, "owner", acme, OrgRole::Owner).await;
    let dave = member(&app, "dave", acme, OrgRole::Member).await;
    let outsider = app.user("outsider").await;
    let dave_id = dave.id.to_string();

    let message = assert_error(
        put_user(&app, &owner.token, &json!({"user_id": dave_id, "role": 1})),
        400,
    )
    .await;
    assert!(message.contains("TR-Organization"), "{message}");
    for role in [3, -1] {
        assert_error(
            put_user(
                &app,
                &owner.token,
                &json!({"user_id": dave_id, "role": role}),
            )
            .header("TR-Organization", acme.to_string()),
            400,
        )
        .await;
    }
    assert_error(
        put_user(
            &app,
            &owner.token,
            &json!({"user_id": outsider.id.to_string(), "role": 0}),
        )
        .header("TR-Organization", acme.to_string()),
        404,
    )
    .await;
    assert_eq!(role_in(&app, acme, outsider.id).await, None);
    // Another user without a role or header: the core decides (a plain owner of an
    // organisation the outsider is not in may not read them).
    assert_error(
        put_user(
            &app,
            &owner.token,
            &json!({"user_id": outsider.id.to_string()}),
        ),
        403,
    )
    .await;
    assert_eq!(role_in(&app, acme, dave.id).await, Some(OrgRole::Member));
}

// ------------------------------------------------------------------ files

async fn upload(app: &TestApp, owner: UserId, name: &str, bytes: &[u8]) -> String {
    app.accounts
        .upload_file(
            &Actor::operator(),
            owner,
            Upload {
                name: name.into(),
                content_type: Some("text/plain".into()),
                bytes: bytes.to_vec(),
                link: Some("https://example.com/doc".into()),
                metadata: Some(json!({"k": "v"})),
                tag_set: Some("a,b".into()),
            },
            &ClientInfo::default(),
        )
        .await
        .unwrap()
        .id
        .to_string()
}

#[tokio::test]
async fn files_lists_the_users_files_as_trieve_files() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let path = format!("/api/user/files/{}", alice.id);
    assert_eq!(
        ok(trieve(&app, Method::GET, &path, Some(&alice.token))).await,
        json!([])
    );

    let first = upload(&app, alice.id, "notes.txt", b"hello").await;
    app.clock.advance(chrono::Duration::seconds(1));
    let second = upload(&app, alice.id, "more.txt", b"hello world").await;
    let body = ok(trieve(&app, Method::GET, &path, Some(&alice.token))).await;
    let files = body.as_array().unwrap();
    assert_eq!(files.len(), 2, "{body}");
    assert_eq!(files[0]["id"], second, "newest first: {body}");
    assert_eq!(files[1]["id"], first);
    let f = &files[1];
    assert_eq!(f["file_name"], "notes.txt");
    assert_eq!(f["size"], 5);
    assert_eq!(f["user_id"], alice.id.to_string());
    assert_eq!(f["dataset_id"], NIL_UUID);
    assert_eq!(f["link"], "https://example.com/doc");
    assert_eq!(f["metadata"], json!({"k": "v"}));
    assert_eq!(f["tag_set"], "a,b");
    assert!(f["time_stamp"].is_null());
    assert_naive(&f["created_at"]);
    assert_naive(&f["updated_at"]);
}

#[tokio::test]
async fn another_users_files_are_refused_except_to_administrators() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let root = app.admin("root").await;
    upload(&app, alice.id, "secret.txt", b"s").await;
    let path = format!("/api/user/files/{}", alice.id);

    assert_error(trieve(&app, Method::GET, &path, Some(&bob.token)), 403).await;
    let body = ok(trieve(&app, Method::GET, &path, Some(&root.token))).await;
    assert_eq!(body.as_array().unwrap().len(), 1);

    // An unknown user: 403 to those who may read nobody's files, 404 to an administrator.
    let nobody = format!("/api/user/files/{}", UserId::new());
    assert_error(trieve(&app, Method::GET, &nobody, Some(&bob.token)), 403).await;
    assert_error(trieve(&app, Method::GET, &nobody, Some(&root.token)), 404).await;
    assert_error(
        trieve(&app, Method::GET, "/api/user/files/1", Some(&root.token)),
        400,
    )
    .await;
}

// ------------------------------------------------------------------ chunks

/// 25 chunks for `owner`, made through the core; returns their ids, oldest first.
async fn chunks(app: &TestApp, owner: UserId) -> Vec<String> {
    let mut ids = Vec::new();
    for n in 0..25 {
        let chunk = app
            .accounts
            .create_chunk(
                &Actor::operator(),
                owner,
                NewChunk {
                    content: format!("chunk {n}"),
                    html: Some(format!("<p>chunk {n}</p>")),
                    link: Some(format!("https://example.com/{n}")),
                    metadata: Some(json!({"n": n})),
                    tag_set: Some("t".into()),
                    weight: Some(f64::from(n) + 0.5),
                    tracking_id: Some(format!("track-{n}")),
                    file_id: None,
                },
            )
            .await
            .unwrap();
        ids.push(chunk.id.to_string());
        app.clock.advance(chrono::Duration::milliseconds(10));
    }
    ids
}

#[tokio::test]
async fn chunks_come_ten_a_page_newest_first_and_past_the_end_is_empty() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    ok(put_user(
        &app,
        &alice.token,
        &json!({"website": "https://a.example"}),
    ))
    .await;
    let created = chunks(&app, alice.id).await;
    let page = |n: &str| {
        trieve(
            &app,
            Method::GET,
            &format!("/api/user/{}/{n}", alice.id),
            Some(&alice.token),
        )
    };

    let mut seen = Vec::new();
    for (n, expected) in [("1", 10), ("2", 10), ("3", 5), ("4", 0), ("99", 0)] {
        let body = ok(page(n)).await;
        assert_eq!(body["id"], alice.id.to_string());
        assert_eq!(body["email"], "alice@example.com");
        assert_eq!(body["username"], "alice");
        assert_eq!(body["website"], "https://a.example");
        assert_eq!(body["visible_email"], true);
        assert_naive(&body["created_at"]);
        assert_eq!(body["total_chunks_created"], 25);
        let listed = body["chunks"].as_array().unwrap();
        assert_eq!(listed.len(), expected, "page {n}: {body}");
        seen.extend(listed.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
    }
    let newest_first: Vec<String> = created.into_iter().rev().collect();
    assert_eq!(seen, newest_first);

    let body = ok(page("1")).await;
    let c = &body["chunks"][0];
    assert_eq!(c["content"], "chunk 24");
    assert_eq!(c["qdrant_point_id"], c["id"]);
    assert_eq!(c["chunk_html"], "<p>chunk 24</p>");
    assert_eq!(c["link"], "https://example.com/24");
    assert_eq!(c["metadata"], json!({"n": 24}));
    assert_eq!(c["tag_set"], "t");
    assert_eq!(c["tracking_id"], "track-24");
    assert_eq!(c["weight"], 24.5);
    assert!(c["file_id"].is_null() && c["file_name"].is_null() && c["time_stamp"].is_null());
    assert_naive(&c["created_at"]);
    assert_naive(&c["updated_at"]);
    assert_eq!(c["author"]["id"], alice.id.to_string());
    assert_eq!(c["author"]["visible_email"], true);

    for bad in ["0", "-1", "x", "1.5"] {
        assert_error(page(bad), 400).await;
    }
}

#[tokio::test]
async fn a_user_without_chunks_has_an_empty_first_page_and_chunks_name_their_file() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let path = format!("/api/user/{}/1", alice.id);
    let body = ok(trieve(&app, Method::GET, &path, Some(&alice.token))).await;
    assert_eq!(body["chunks"], json!([]));
    assert_eq!(body["total_chunks_created"], 0);

    let file = upload(&app, alice.id, "source.txt", b"text").await;
    app.accounts
        .create_chunk(
            &Actor::operator(),
            alice.id,
            NewChunk {
                content: "from a file".into(),
                file_id: Some(accounts::FileId(file.parse().unwrap())),
                ..NewChunk::default()
            },
        )
        .await
        .unwrap();
    let body = ok(trieve(&app, Method::GET, &path, Some(&alice.token))).await;
    let c = &body["chunks"][0];
    assert_eq!(c["file_id"], file);
    assert_eq!(c["file_name"], "source.txt");
    assert_eq!(c["weight"], 1.0);
}

#[tokio::test]
async fn a_hidden_address_is_shown_to_its_owner_and_to_no_other_member() {
    let app = TestApp::spawn().await;
    let acme = org(&app, "Acme").await;
    let owner = member(&app, "owner", acme, OrgRole::Owner).await;
    let mel = member(&app, "mel", acme, OrgRole::Member).await;
    let root = app.admin("root").await;
    chunks(&app, mel.id).await;
    let chunks_path = format!("/api/user/{}/1", mel.id);
    // What the owner of the organisation sees of mel (`SlimUser`), changing her name.
    let owner_sees = |name: &str| {
        put_user(
            &app,
            &owner.token,
            &json!({"user_id": mel.id.to_string(), "name": name}),
        )
        .header("TR-Organization", acme.to_string())
    };
    let body = ok(owner_sees("Mel")).await;
    assert_eq!(
        (&body["email"], &body["visible_email"]),
        (&json!("mel@example.com"), &json!(true))
    );

    // Mel hides it: stored, and every answer to her still shows it to her.
    let body = ok(put_user(&app, &mel.token, &json!({"visible_email": false}))).await;
    assert_eq!(body["email"], "mel@example.com");
    assert_eq!(body["visible_email"], false);
    assert!(!app.accounts.user(mel.id).await.unwrap().email_visible);
    let own = ok(trieve(&app, Method::GET, &chunks_path, Some(&mel.token))).await;
    assert_eq!(own["email"], "mel@example.com");
    assert_eq!(own["chunks"][0]["author"]["email"], "mel@example.com");
    let body = ok(put_user(&app, &mel.token, &json!({"name": "Mel M."}))).await;
    assert_eq!(body["visible_email"], false, "another change keeps it");

    // Nobody else sees it: not the organisation's owner (the required string is empty),
    // not an instance administrator reading her chunks (null, as Trieve's own answers).
    let body = ok(owner_sees("Mel")).await;
    assert_eq!(body["email"], "", "{body}");
    assert_eq!(body["visible_email"], false);
    let theirs = ok(trieve(&app, Method::GET, &chunks_path, Some(&root.token))).await;
    assert!(theirs["email"].is_null(), "{theirs}");
    assert_eq!(theirs["visible_email"], false);
    for chunk in theirs["chunks"].as_array().unwrap() {
        assert!(chunk["author"]["email"].is_null(), "{chunk}");
        assert_eq!(chunk["author"]["visible_email"], false);
    }
    assert!(!theirs.to_string().contains("mel@example.com"), "{theirs}");

    // Shown again once she says so.
    ok(put_user(&app, &mel.token, &json!({"visible_email": true}))).await;
    let body = ok(owner_sees("Mel")).await;
    assert_eq!(body["email"], "mel@example.com");
    let theirs = ok(trieve(&app, Method::GET, &chunks_path, Some(&root.token))).await;
    assert_eq!(theirs["chunks"][0]["author"]["email"], "mel@example.com");
}

#[tokio::test]
async fn another_users_chunks_are_refused_except_to_administrators() {
    let app = TestApp::spawn().await;
    let acme = org(&app, "Acme").await;
    let alice = member(&app, "alice", acme, OrgRole::Member).await;
    let org_admin = member(&app, "boss", acme, OrgRole::Admin).await;
    let bob = app.user("bob").await;
    let root = app.admin("root").await;
    chunks(&app, alice.id).await;
    let path = format!("/api/user/{}/1", alice.id);

    assert_error(trieve(&app, Method::GET, &path, Some(&bob.token)), 403).await;
    // Organisation admins manage members' accounts, not their content (the core's rule).
    assert_error(
        trieve(&app, Method::GET, &path, Some(&org_admin.token))
            .header("TR-Organization", acme.to_string()),
        403,
    )
    .await;
    let body = ok(trieve(&app, Method::GET, &path, Some(&root.token))).await;
    assert_eq!(body["chunks"].as_array().unwrap().len(), 10);

    let nobody = format!("/api/user/{}/1", UserId::new());
    assert_error(trieve(&app, Method::GET, &nobody, Some(&bob.token)), 403).await;
    assert_error(trieve(&app, Method::GET, &nobody, Some(&root.token)), 404).await;
    assert_error(
        trieve(&app, Method::GET, "/api/user/alice/1", Some(&root.token)),
        400,
    )
    .await;
}

#[tokio::test]
async fn routes_are_exact_and_unknown_methods_are_refused() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    // Trailing slashes are not Trieve's paths.
    let r = put_user(&app, &alice.token, &json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = with_json(
        trieve(&app, Method::PUT, "/api/user/", Some(&alice.token)),
        &json!({}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 404);
    let r = trieve(
        &app,
        Method::GET,
        "/api/user/set_api_key",
        Some(&alice.token),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 405);
}

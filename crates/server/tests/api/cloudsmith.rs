//! The Cloudsmith `UserApi` at `/v1/user/...` and `/user/...`, sent exactly as the
//! generated client sends it: `Content-Type: application/json` on every request (GET too),
//! `{}` as the body of bodyless POST and PUT (the CLI sends nothing on `POST /user/tokens/`),
//! paths ending in `/`, the key in `X-Api-Key` or HTTP basic. Errors are `{"detail": ...}`.

use accounts::access::{Action, Entity, Permission, RoleSpec, Scope};
use accounts::{Actor, ClientInfo};
use chrono::Duration;
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};

use crate::helpers::{TestApp, TestUser, MAX_TOKENS, PASSWORD};

const ALREADY: &str = "User has already created an API key for this user.";

// ------------------------------------------------------------------ helpers

/// A request as cloudsmith-api builds it; bodyless POST and PUT send `{}`.
fn cs(app: &TestApp, method: Method, path: &str) -> RequestBuilder {
    let with_body = method == Method::POST || method == Method::PUT;
    let request = app
        .client
        .request(method, app.url(path))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .header("User-Agent", "Swagger-Codegen/2.0.42/python");
    if with_body {
        request.body("{}")
    } else {
        request
    }
}

fn keyed(app: &TestApp, method: Method, path: &str, key: &str) -> RequestBuilder {
    cs(app, method, path).header("X-Api-Key", key)
}

/// Sends; returns the status and the JSON body (every answer here is JSON), and checks that
/// no `X-RateLimit-Interval` header is sent (the CLI would sleep for it).
async fn call(request: RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    assert!(response.headers().get("x-ratelimit-interval").is_none());
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

/// Asserts a Cloudsmith error: the status and a non-empty `detail`; returns the body.
async fn assert_detail(request: RequestBuilder, status: u16) -> Value {
    let (got, body) = call(request).await;
    assert_eq!(got, status, "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    body
}

/// RFC 4648 base32 (no padding), as the enrolment shows the secret.
fn base32_decode(text: &str) -> Vec<u8> {
    let (mut out, mut buffer, mut bits) = (Vec::new(), 0u64, 0u32);
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {text}"),
        };
        buffer = (buffer << 5) | u64::from(value);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    out
}

/// Turns TOTP on for the user through the core, on a fresh session (an API token never
/// changes a second factor); returns the secret.
async fn enrol_totp(app: &TestApp, user: &TestUser) -> Vec<u8> {
    let name = app.accounts.user(user.id).await.unwrap().username;
    let session = app.session(name.as_str(), crate::helpers::PASSWORD).await;
    let principal = app.accounts.authenticate(&session).await.unwrap();
    let client = ClientInfo::default();
    let enrolment = app.accounts.begin_totp(&principal, &client).await.unwrap();
    let secret = base32_decode(&enrolment.secret);
    let code = code_now(app, &secret);
    app.accounts
        .confirm_totp(&principal, &code, &client)
        .await
        .unwrap();
    secret
}

/// The code of the current step, after moving the clock to a step not used yet.
fn next_code(app: &TestApp, secret: &[u8]) -> String {
    app.clock.advance(Duration::seconds(30));
    code_now(app, secret)
}

fn code_now(app: &TestApp, secret: &[u8]) -> String {
    accounts::totp::code_at(secret, accounts::totp::step_of(app.accounts.now()))
}

/// A code that is not `code`.
fn wrong(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

fn login_body(login: &str, password: &str) -> Value {
    json!({"email": login, "password": password})
}

/// `POST /user/token/` with e-mail and password in the body; the new key.
async fn key_by_login(app: &TestApp, prefix: &str, login: &str) -> String {
    let (status, body) = call(
        cs(app, Method::POST, &format!("{prefix}/user/token/")).json(&login_body(login, PASSWORD)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let key = body["token"].as_str().unwrap().to_owned();
    assert!(key.starts_with("gh_"), "{key}");
    key
}

/// Whether `key` works as a Bearer credential on the native API.
async fn works_natively(app: &TestApp, key: &str) -> bool {
    app.status_with("/auth/v1/me", key).await == 200
}

async fn id_simple(app: &TestApp, user: &TestUser, name: &str) -> String {
    app.accounts
        .list_tokens(&accounts::Actor::operator(), user.id)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.name == name)
        .unwrap()
        .id
        .0
        .simple()
        .to_string()
}

// ------------------------------------------------------------------ user_self

#[tokio::test]
async fn user_self_answers_anonymous_callers_with_authenticated_false() {
    let app = TestApp::spawn().await;
    for prefix in ["/v1", ""] {
        let (status, body) = call(cs(&app, Method::GET, &format!("{prefix}/user/self/"))).await;
        assert_eq!(status, 200);
        assert_eq!(body["authenticated"], false);
        for field in [
            "email",
            "name",
            "profile_url",
            "self_url",
            "slug",
            "slug_perm",
        ] {
            assert!(body[field].is_null(), "{field}: {body}");
        }
    }
}

#[tokio::test]
async fn user_self_describes_the_key_holder_under_both_prefixes() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    for prefix in ["/v1", ""] {
        let path = format!("{prefix}/user/self/");
        let (status, body) = call(keyed(&app, Method::GET, &path, &alice.token)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["authenticated"], true);
        assert_eq!(body["email"], "alice@example.com");
        assert_eq!(body["name"], "alice"); // no profile name: the username, never ""
        assert_eq!(body["slug"], "alice");
        assert_eq!(body["slug_perm"], alice.id.0.simple().to_string());
        assert_eq!(body["self_url"], app.url(&path));
        assert!(body["profile_url"].is_null());
    }
}

#[tokio::test]
async fn user_self_shows_the_profile_name_and_takes_a_session_secret() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let r = app
        .patch("/auth/v1/me", &alice.token)
        .json(&json!({"name": "Alice Liddell"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let session = app.session("alice", PASSWORD).await;
    let (status, body) = call(keyed(&app, Method::GET, "/v1/user/self/", &session)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "Alice Liddell");
    assert_eq!(body["slug"], "alice");
}

#[tokio::test]
async fn user_self_takes_http_basic_with_username_or_email() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    for login in ["alice", "alice@example.com"] {
        let request = cs(&app, Method::GET, "/v1/user/self/").basic_auth(login, Some(PASSWORD));
        let (status, body) = call(request).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["authenticated"], true);
        assert_eq!(body["slug"], "alice");
    }
}

#[tokio::test]
async fn bad_credentials_are_401_even_where_anonymous_callers_are_welcome() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    for key in ["gh_not_a_real_key", "nonsense"] {
        assert_detail(keyed(&app, Method::GET, "/v1/user/self/", key), 401).await;
    }
    let wrong_password = cs(&app, Method::GET, "/user/self/").basic_auth("alice", Some("nope"));
    assert_detail(wrong_password, 401).await;
    let unknown = cs(&app, Method::GET, "/user/self/").basic_auth("nobody", Some(PASSWORD));
    assert_detail(unknown, 401).await;
    let malformed = cs(&app, Method::GET, "/user/self/").header("Authorization", "Basic !!!");
    assert_detail(malformed, 401).await;
    // An empty key header is no key (the SDK skips empty ones anyway).
    let (status, body) = call(keyed(&app, Method::GET, "/user/self/", "")).await;
    assert_eq!((status, body["authenticated"].clone()), (200, json!(false)));
}

#[tokio::test]
async fn paths_need_their_trailing_slash_and_a_doubled_slash_is_answered() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    for path in [
        "/v1/user/self",
        "/user/self",
        "/v1/user/tokens",
        "/user/token",
    ] {
        let r = keyed(&app, Method::GET, path, &alice.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    // A host written with a trailing slash (`http://h/v1/`, `http://h/`) doubles it.
    for path in ["/v1//user/self/", "//user/self/"] {
        let (status, body) = call(keyed(&app, Method::GET, path, &alice.token)).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body["slug"], "alice");
    }
}

// ------------------------------------------------------------------ user_token_create

#[tokio::test]
async fn login_with_the_body_gives_an_api_token_that_works_on_every_surface() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    for (prefix, login) in [("/v1", "alice@example.com"), ("", "alice")] {
        let key = key_by_login(&app, prefix, login).await;
        let (status, body) = call(keyed(&app, Method::GET, "/user/self/", &key)).await;
        assert_eq!((status, body["slug"].clone()), (200, json!("alice")));
        assert!(works_natively(&app, &key).await);
    }
    // Each login is its own API token named "cloudsmith"; no session is left behind.
    let tokens = app
        .accounts
        .list_tokens(&accounts::Actor::operator(), alice.id)
        .await
        .unwrap();
    assert_eq!(tokens.iter().filter(|t| t.name == "cloudsmith").count(), 2);
    let sessions = app.store.list_sessions(alice.id, app.accounts.now()).await;
    assert!(sessions.unwrap().is_empty());
}

#[tokio::test]
async fn login_takes_http_basic_as_the_sdk_sends_it() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    let request = cs(&app, Method::POST, "/v1/user/token/").basic_auth("alice", Some(PASSWORD));
    let (status, body) = call(request).await;
    assert_eq!(status, 200, "{body}");
    assert!(works_natively(&app, body["token"].as_str().unwrap()).await);
}

#[tokio::test]
async fn login_failures_are_details_never_server_errors() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    let path = "/v1/user/token/";
    let wrong = cs(&app, Method::POST, path).json(&login_body("alice", "wrong password"));
    let body = assert_detail(wrong, 401).await;
    assert!(body.get("token").is_none());
    let by_basic = cs(&app, Method::POST, path).basic_auth("alice", Some("wrong password"));
    assert_detail(by_basic, 401).await;
    // No credentials at all (the SDK's `{}`, the CLI never does this).
    assert_detail(cs(&app, Method::POST, path), 401).await;
    // Half a login, blanks, wrong types, bad JSON, not an object.
    let half = assert_detail(
        cs(&app, Method::POST, path).json(&json!({"email": "alice"})),
        400,
    )
    .await;
    assert!(half["fields"]["password"].is_array(), "{half}");
    let typed = assert_detail(
        cs(&app, Method::POST, path).json(&json!({"email": 5, "password": ""})),
        400,
    )
    .await;
    assert!(typed["fields"]["email"].is_array(), "{typed}");
    assert!(typed["fields"]["password"].is_array(), "{typed}");
    assert_detail(cs(&app, Method::POST, path).body("{not json"), 400).await;
    assert_detail(cs(&app, Method::POST, path).body("[1, 2]"), 400).await;
    // A challenge answer without the code.
    let no_code = assert_detail(
        cs(&app, Method::POST, path).json(&json!({"two_factor_token": "ghc_x"})),
        400,
    )
    .await;
    assert!(no_code["fields"]["totp_token"].is_array(), "{no_code}");
}

#[tokio::test]
async fn login_with_totp_needs_the_challenge_and_a_fresh_code() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let secret = enrol_totp(&app, &alice).await;
    let path = "/v1/user/token/";

    // Step one: the password is right, a code is needed.
    let (status, body) =
        call(cs(&app, Method::POST, path).json(&login_body("alice@example.com", PASSWORD))).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["two_factor_required"], true);
    let challenge = body["two_factor_token"].as_str().unwrap().to_owned();
    assert!(!challenge.is_empty());
    assert!(body.get("token").is_none());

    // A wrong code is refused; the challenge survives it.
    let code = next_code(&app, &secret);
    let answer = |code: &str, challenge: &str| {
        cs(&app, Method::POST, path)
            .json(&json!({"totp_token": code, "two_factor_token": challenge}))
    };
    let refused = assert_detail(answer(&wrong(&code), &challenge), 400).await;
    assert!(refused["fields"]["totp_token"].is_array(), "{refused}");

    // The right code: a new API token.
    let (status, body) = call(answer(&code, &challenge)).await;
    assert_eq!(status, 200, "{body}");
    let key = body["token"].as_str().unwrap().to_owned();
    assert!(works_natively(&app, &key).await);
    let (status, me) = call(keyed(&app, Method::GET, "/user/self/", &key)).await;
    assert_eq!((status, me["slug"].clone()), (200, json!("alice")));

    // The challenge is spent, and the same code is a replay on a new challenge.
    assert_detail(answer(&code, &challenge), 400).await;
    let (status, body) =
        call(cs(&app, Method::POST, path).json(&login_body("alice", PASSWORD))).await;
    assert_eq!(status, 422);
    let second = body["two_factor_token"].as_str().unwrap().to_owned();
    assert_detail(answer(&code, &second), 400).await;
    // The next step's code goes through on that challenge.
    let (status, body) = call(answer(&next_code(&app, &secret), &second)).await;
    assert_eq!(status, 200, "{body}");

    // Password and code in one request (the SDK's UserAuthTokenRequest has both).
    let one_shot =
        json!({"email": "alice", "password": PASSWORD, "totp_token": next_code(&app, &secret)});
    let (status, body) = call(cs(&app, Method::POST, "/user/token/").json(&one_shot)).await;
    assert_eq!(status, 200, "{body}");
    assert!(works_natively(&app, body["token"].as_str().unwrap()).await);

    // A wrong password never reaches the second step.
    assert_detail(
        cs(&app, Method::POST, path).json(&login_body("alice", "wrong password")),
        401,
    )
    .await;
}

#[tokio::test]
async fn an_account_with_totp_cannot_use_http_basic_but_its_key_works() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    enrol_totp(&app, &alice).await;
    for path in ["/v1/user/self/", "/v1/user/tokens/"] {
        let request = cs(&app, Method::GET, path).basic_auth("alice", Some(PASSWORD));
        let body = assert_detail(request, 401).await;
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains("two-factor"), "{detail}");
        assert!(detail.contains("X-Api-Key"), "{detail}");
    }
    let (status, body) = call(keyed(&app, Method::GET, "/v1/user/self/", &alice.token)).await;
    assert_eq!((status, body["authenticated"].clone()), (200, json!(true)));
}

// ------------------------------------------------------------------ user_tokens_*

#[tokio::test]
async fn the_token_list_is_a_page_of_masked_keys() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    for prefix in ["/v1", ""] {
        let path = format!("{prefix}/user/tokens/");
        let (status, body) = call(keyed(&app, Method::GET, &path, &alice.token)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["count"], 1);
        assert!(
            body["next"].is_null() && body["previous"].is_null(),
            "{body}"
        );
        let token = &body["results"][0];
        let key = token["key"].as_str().unwrap();
        assert!(key.starts_with("gh_") && key.contains("..."), "{key}");
        assert_ne!(key, alice.token);
        assert_eq!(token["slug_perm"], id_simple(&app, &alice, "test").await);
        let created = token["created"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(created).is_ok(),
            "{created}"
        );
    }
}

#[tokio::test]
async fn the_token_list_honours_page_and_page_size_and_puts_the_cloudsmith_key_first() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let (status, _) = call(keyed(&app, Method::POST, "/v1/user/tokens/", &alice.token)).await;
    assert_eq!(status, 201);
    for n in 0..MAX_TOKENS - 2 {
        app.clock.advance(Duration::seconds(1));
        app.accounts
            .create_token(
                &accounts::Actor::operator(),
                alice.id,
                Some(format!("more{n}")),
                None,
            )
            .await
            .unwrap();
    }
    let list = |query: &str| {
        keyed(
            &app,
            Method::GET,
            &format!("/v1/user/tokens/{query}"),
            &alice.token,
        )
    };
    let (status, all) = call(list("")).await;
    assert_eq!((status, all["count"].clone()), (200, json!(MAX_TOKENS)));
    let cloudsmith = id_simple(&app, &alice, "cloudsmith").await;
    assert_eq!(all["results"][0]["slug_perm"], cloudsmith);

    let (status, first) = call(list("?page_size=2")).await;
    assert_eq!(status, 200);
    assert_eq!(first["results"].as_array().unwrap().len(), 2);
    assert_eq!(first["results"][0]["slug_perm"], cloudsmith);
    assert!(first["previous"].is_null());
    assert_eq!(
        first["next"],
        app.url("/v1/user/tokens/?page=2&page_size=2")
    );
    let (status, last) = call(list("?page=3&page_size=2")).await;
    assert_eq!(status, 200);
    assert_eq!(last["results"].as_array().unwrap().len(), 1);
    assert!(last["next"].is_null());
    assert_eq!(
        last["previous"],
        app.url("/v1/user/tokens/?page=2&page_size=2")
    );
    // Pages past the end and pages that are not pages: 404 "Invalid page.".
    for query in ["?page=4&page_size=2", "?page=0", "?page=x"] {
        let body = assert_detail(list(query), 404).await;
        assert_eq!(body["detail"], "Invalid page.");
    }
    // A page_size that is not a size is ignored.
    let (status, body) = call(list("?page_size=nope")).await;
    assert_eq!((status, body["count"].clone()), (200, json!(MAX_TOKENS)));
    assert_eq!(body["results"].as_array().unwrap().len(), MAX_TOKENS);
}

#[tokio::test]
async fn creating_a_key_answers_it_once_then_says_the_user_already_has_one() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    // The CLI: an empty body with a JSON content type.
    let request = keyed(&app, Method::POST, "/user/tokens/", &alice.token).body("");
    let (status, body) = call(request).await;
    assert_eq!(status, 201, "{body}");
    let key = body["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("gh_") && !key.contains("..."));
    assert_eq!(
        body["slug_perm"],
        id_simple(&app, &alice, "cloudsmith").await
    );
    assert!(works_natively(&app, &key).await);

    for prefix in ["/v1", ""] {
        let path = format!("{prefix}/user/tokens/");
        let body = assert_detail(keyed(&app, Method::POST, &path, &key), 400).await;
        assert_eq!(body["detail"], ALREADY);
    }
    // By HTTP basic too.
    let by_basic = cs(&app, Method::POST, "/v1/user/tokens/").basic_auth("alice", Some(PASSWORD));
    assert_eq!(assert_detail(by_basic, 400).await["detail"], ALREADY);
}

#[tokio::test]
async fn a_key_revoked_elsewhere_no_longer_counts_or_works() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let (status, body) = call(keyed(&app, Method::POST, "/v1/user/tokens/", &alice.token)).await;
    assert_eq!(status, 201);
    let key = body["key"].as_str().unwrap().to_owned();
    let id = id_simple(&app, &alice, "cloudsmith").await;

    // Deleted through the native API: 401 here at once, and it can be created again.
    let uuid = uuid::Uuid::parse_str(&id).unwrap();
    let r = app
        .delete(&format!("/auth/v1/tokens/{uuid}"), &alice.token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_detail(keyed(&app, Method::GET, "/v1/user/self/", &key), 401).await;
    assert_detail(keyed(&app, Method::GET, "/v1/user/tokens/", &key), 401).await;
    let (status, _) = call(keyed(&app, Method::POST, "/v1/user/tokens/", &alice.token)).await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn refreshing_rotates_the_key_under_both_prefixes() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let slug = id_simple(&app, &alice, "test").await;
    let mut current = alice.token.clone();
    for prefix in ["/v1", ""] {
        let path = format!("{prefix}/user/tokens/{slug}/refresh/");
        let (status, body) = call(keyed(&app, Method::PUT, &path, &current)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["slug_perm"], slug);
        let new_key = body["key"].as_str().unwrap().to_owned();
        assert!(new_key.starts_with("gh_") && !new_key.contains("..."));
        assert_ne!(new_key, current);
        // The old secret stops at once, here and on the native API; the new one works.
        assert_detail(keyed(&app, Method::GET, "/v1/user/self/", &current), 401).await;
        assert!(!works_natively(&app, &current).await);
        assert!(works_natively(&app, &new_key).await);
        current = new_key;
    }
    // A token made on the native API is refreshed here by its dashed id as well.
    let uuid = uuid::Uuid::parse_str(&slug).unwrap();
    let path = format!("/v1/user/tokens/{uuid}/refresh/");
    let (status, _) = call(keyed(&app, Method::PUT, &path, &current)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn refreshing_an_unknown_or_foreign_slug_is_not_found() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let bobs = id_simple(&app, &bob, "test").await;
    let unknown = uuid::Uuid::now_v7().simple().to_string();
    for slug in [unknown.as_str(), bobs.as_str(), "not-a-slug"] {
        let path = format!("/v1/user/tokens/{slug}/refresh/");
        let body = assert_detail(keyed(&app, Method::PUT, &path, &alice.token), 404).await;
        assert_eq!(body["detail"], "Not found.");
    }
    // Bob's key still works: nothing was rotated.
    assert!(works_natively(&app, &bob.token).await);
}

#[tokio::test]
async fn token_endpoints_need_a_credential() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let slug = id_simple(&app, &alice, "test").await;
    let refresh = format!("/v1/user/tokens/{slug}/refresh/");
    let calls = [
        (Method::GET, "/v1/user/tokens/"),
        (Method::POST, "/v1/user/tokens/"),
        (Method::PUT, refresh.as_str()),
    ];
    for (method, path) in calls {
        assert_detail(cs(&app, method.clone(), path), 401).await;
        assert_detail(keyed(&app, method.clone(), path, "gh_nope"), 401).await;
        let wrong = cs(&app, method, path).basic_auth("alice", Some("wrong password"));
        assert_detail(wrong, 401).await;
    }
    assert!(works_natively(&app, &alice.token).await);
}

#[tokio::test]
async fn a_caller_whose_roles_deny_tokens_is_forbidden() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let role = app
        .accounts
        .create_role(
            &Actor::operator(),
            RoleSpec {
                name: "read-only".into(),
                description: "reads their own account".into(),
                permissions: vec![Permission::new(Entity::User, Action::Read, Scope::Own)],
            },
        )
        .await
        .unwrap();
    app.accounts
        .set_user_roles(&Actor::operator(), alice.id, vec![role.id])
        .await
        .unwrap();
    let (status, body) = call(keyed(&app, Method::GET, "/v1/user/self/", &alice.token)).await;
    assert_eq!((status, body["slug"].clone()), (200, json!("alice")));
    let slug = id_simple(&app, &alice, "test").await;
    let refresh = format!("/v1/user/tokens/{slug}/refresh/");
    for (method, path) in [
        (Method::GET, "/v1/user/tokens/"),
        (Method::POST, "/v1/user/tokens/"),
        (Method::PUT, refresh.as_str()),
    ] {
        assert_detail(keyed(&app, method, path, &alice.token), 403).await;
    }
    // The password proves who they are, but no token is issued.
    let login = cs(&app, Method::POST, "/v1/user/token/").json(&login_body("alice", PASSWORD));
    assert_detail(login, 403).await;
    let tokens = app
        .accounts
        .list_tokens(&accounts::Actor::operator(), alice.id)
        .await
        .unwrap();
    assert_eq!(tokens.len(), 1);
    let sessions = app.store.list_sessions(alice.id, app.accounts.now()).await;
    assert!(sessions.unwrap().is_empty());
}

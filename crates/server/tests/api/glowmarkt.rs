//! The Glowmarkt `UserApi` at `/api/v0-1`, sent exactly as the generated client sends it:
//! `Content-Type: application/json` on every request (GET and DELETE too), `{}` as the body
//! of bodyless POST/PUT/DELETE, the `applicationId` and `token` headers, HTTP basic for
//! application keys. Errors are `{"error": "<text>"}`.

use accounts::access::{OrgId, OrgRole};
use accounts::Actor;
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};

use crate::helpers::{TestApp, TestUser, PASSWORD};

const NEW_PASSWORD: &str = "violet staircase under amber rain";

// ------------------------------------------------------------------ helpers

/// A request as the generated client builds it; bodyless non-GET calls send `{}`.
fn glow(app: &TestApp, method: Method, path: &str) -> RequestBuilder {
    let with_body = method != Method::GET;
    let request = app
        .client
        .request(method, app.url(&format!("/api/v0-1{path}")))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json");
    if with_body {
        request.body("{}")
    } else {
        request
    }
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

/// Asserts a Glowmarkt error: the status and `{"error": "<non-empty text>"}`.
async fn assert_error(request: RequestBuilder, status: u16) -> String {
    let (got, body) = call(request).await;
    assert_eq!(got, status, "{body}");
    let text = body["error"].as_str().unwrap_or_default().to_owned();
    assert!(!text.is_empty(), "{body}");
    text
}

/// An application with the seed's 4-digit reset codes (the Glowmarkt spec's prose), as an
/// instance admin chooses them for it.
async fn application(app: &TestApp, name: &str) -> OrgId {
    let org = app
        .accounts
        .create_org(&Actor::operator(), name)
        .await
        .unwrap()
        .id;
    app.accounts
        .set_org_short_reset_codes(&Actor::operator(), org, true)
        .await
        .unwrap();
    org
}

/// A new active user (`name@example.com`, [`PASSWORD`]) holding `role` in `org`.
async fn in_app(app: &TestApp, name: &str, org: OrgId, role: OrgRole) -> TestUser {
    let user = app.user(name).await;
    app.accounts
        .set_member(&Actor::operator(), org, user.id, role)
        .await
        .unwrap();
    user
}

fn register_body(org: OrgId, email: &str) -> Value {
    json!({
        "name": "Dana Scully", "username": email, "email": email, "password": PASSWORD,
        "directoryId": "default", "applicationId": org.to_string(),
    })
}

/// Registers `email` into `org` and verifies it with the mailed code; returns the user id.
async fn registered(app: &TestApp, org: OrgId, email: &str) -> String {
    let (status, _) =
        call(glow(app, Method::POST, "/register").json(&register_body(org, email))).await;
    assert_eq!(status, 200);
    let code = app.latest_code_of(email, 4).await;
    let (status, body) = call(glow(app, Method::PUT, "/user/verify").json(&json!({
        "token": code, "username": email, "password": PASSWORD, "applicationId": org.to_string(),
    })))
    .await;
    assert_eq!(status, 200, "{body}");
    body["userId"].as_str().unwrap().to_owned()
}

fn auth_request(app: &TestApp, org: OrgId, login: &str, password: &str) -> RequestBuilder {
    glow(app, Method::POST, "/auth")
        .header("applicationId", org.to_string())
        .json(&json!({"username": login, "password": password}))
}

/// The session token of a password login into `org`.
async fn token_of(app: &TestApp, org: OrgId, login: &str, password: &str) -> String {
    let (status, body) = call(auth_request(app, org, login, password)).await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// An admin-style call with HTTP basic and the `applicationId` header.
fn by_basic(request: RequestBuilder, login: &str, org: OrgId) -> RequestBuilder {
    request
        .basic_auth(login, Some(PASSWORD))
        .header("applicationId", org.to_string())
}

/// An admin-style or user call with the `token` and `applicationId` headers.
fn by_token(request: RequestBuilder, token: &str, org: OrgId) -> RequestBuilder {
    request
        .header("token", token)
        .header("applicationId", org.to_string())
}

fn reset_request(app: &TestApp, org: OrgId, login: &str) -> RequestBuilder {
    glow(app, Method::POST, "/user/resetpassword")
        .json(&json!({"username": login, "applicationId": org.to_string()}))
}

fn reset_confirm(app: &TestApp, org: OrgId, login: &str, code: &str) -> RequestBuilder {
    glow(app, Method::PUT, "/user/resetpassword").json(&json!({
        "username": login, "applicationId": org.to_string(), "token": code,
        "newPassword": NEW_PASSWORD,
    }))
}

/// A 4-digit code that is not `code`.
fn wrong(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:04}", (n + 1) % 10_000)
}

// ------------------------------------------------------------------ self-service

#[tokio::test]
async fn register_verify_and_sign_in_and_the_token_works_on_every_surface() {
    let app = TestApp::spawn().await;
    let org = application(&app, "Energy app").await;
    let email = "dana@example.org";

    let (status, body) =
        call(glow(&app, Method::POST, "/register").json(&register_body(org, email))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["active"], false);
    assert_eq!(body["status"], "unverified");
    assert_eq!(body["applications"][0]["applicationId"], org.to_string());
    assert_eq!(body["applications"][0]["active"], true);
    // The seed's `AddUserRes` in full (a taken address gets the same shape).
    without_ids(&body);
    let registered_id = body["userId"].as_str().unwrap().to_owned();

    // Not verified yet: no login.
    assert_error(auth_request(&app, org, email, PASSWORD), 401).await;

    // A new code: only for the password holder.
    let first = app.latest_code_of(email, 4).await;
    let resend = |password: &str| {
        glow(&app, Method::POST, "/user/verify").json(&json!({
            "username": email, "password": password, "applicationId": org.to_string(),
        }))
    };
    assert_error(resend("not the password at all"), 401).await;
    assert_eq!(app.mail_to(email).await.len(), 1);
    let (status, body) = call(resend(PASSWORD)).await;
    assert_eq!((status, &body), (200, &json!({"valid": true})));
    assert_eq!(app.mail_to(email).await.len(), 2);
    let code = app.latest_code_of(email, 4).await;
    assert_eq!(code.len(), 4);
    if first != code {
        // The new code replaced the first.
        let (status, _) = call(glow(&app, Method::PUT, "/user/verify").json(&json!({
            "token": first, "username": email, "password": PASSWORD,
            "applicationId": org.to_string(),
        })))
        .await;
        assert_eq!(status, 400);
    }

    let (status, verified) = call(glow(&app, Method::PUT, "/user/verify").json(&json!({
        "token": code, "username": email, "password": PASSWORD, "applicationId": org.to_string(),
    })))
    .await;
    assert_eq!(status, 200, "{verified}");
    assert_eq!(verified["valid"], true);
    assert_eq!(verified["status"], "active");
    let user_id = verified["userId"].as_str().unwrap().to_owned();
    assert_eq!(user_id, registered_id, "the registration named the account");

    let (status, signed_in) = call(auth_request(&app, org, email, PASSWORD)).await;
    assert_eq!(status, 200, "{signed_in}");
    assert_eq!(signed_in["valid"], true);
    assert_eq!(signed_in["accountId"], user_id.as_str());
    assert_eq!(signed_in["applicationId"], org.to_string());
    assert_eq!(signed_in["name"], "Dana Scully");
    let exp = signed_in["exp"].as_i64().unwrap();
    assert!(exp > app.accounts.now().timestamp() + 86_400);
    let token = signed_in["token"].as_str().unwrap();

    // GET /auth (here through the doubled slash of a host ending in `/`).
    let (status, checked) = call(
        app.client
            .get(app.url("/api/v0-1//auth"))
            .header("Content-Type", "application/json")
            .header("token", token)
            .header("applicationId", org.to_string()),
    )
    .await;
    assert_eq!(status, 200, "{checked}");
    assert_eq!(
        checked,
        json!({"valid": true, "accountId": user_id, "applicationId": org.to_string(), "exp": exp})
    );

    // The same session is a Bearer credential on the native API.
    let me: Value = app
        .get("/auth/v1/me", token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], user_id.as_str());
    assert_eq!(me["email"], email);
    assert_eq!(me["username"], "dana");
    assert_eq!(me["name"], "Dana Scully");

    // Verified already: asking for a code is fine and sends nothing.
    let (status, _) = call(resend(PASSWORD)).await;
    assert_eq!(status, 200);
    assert_eq!(app.mail_to(email).await.len(), 2);
}

#[tokio::test]
async fn auth_is_per_application() {
    let app = TestApp::spawn().await;
    let energy = application(&app, "Energy app").await;
    let other = application(&app, "Other app").await;
    registered(&app, energy, "dana@example.org").await;
    let outsider = app.user("olivia").await;
    let root = app.admin("root").await;

    // A member of another application is answered like a wrong password.
    let wrong_app =
        assert_error(auth_request(&app, other, "dana@example.org", PASSWORD), 401).await;
    let wrong_password = assert_error(
        auth_request(&app, energy, "dana@example.org", "nope nope nope"),
        401,
    )
    .await;
    assert_eq!(wrong_app, wrong_password);
    assert_error(auth_request(&app, energy, "olivia", PASSWORD), 401).await;
    // The refused login left no working session behind.
    let sessions = app
        .accounts
        .sessions(&principal(&app, &outsider.token).await)
        .await;
    assert!(sessions.unwrap().is_empty());

    // Instance admins sign in to any application.
    token_of(&app, energy, "root@example.com", PASSWORD).await;

    // A token is checked against the application it is shown with.
    let token = token_of(&app, energy, "dana@example.org", PASSWORD).await;
    let check = |org: OrgId, token: &str| by_token(glow(&app, Method::GET, "/auth"), token, org);
    assert_eq!(call(check(energy, &token)).await.0, 200);
    assert_error(check(other, &token), 401).await;
    assert_error(check(energy, "ghs_not-a-token"), 401).await;
    assert_error(
        glow(&app, Method::GET, "/auth").header("token", &token),
        400,
    )
    .await;
    // An API token without expiry has no `exp`.
    let (status, body) = call(check(other, &root.token)).await;
    assert_eq!(status, 200);
    assert!(body.get("exp").is_none(), "{body}");
    assert_error(
        glow(&app, Method::POST, "/auth").json(&json!({"username": "root", "password": PASSWORD})),
        400,
    )
    .await;
}

async fn principal(app: &TestApp, token: &str) -> accounts::Principal {
    app.accounts.authenticate(token).await.unwrap()
}

#[tokio::test]
async fn a_registrant_cannot_tell_from_answer_or_mail_whether_a_username_is_taken() {
    let app = TestApp::spawn().await;
    let org = application(&app, "Energy app").await;
    app.user("dana").await; // holds the core username `dana` (dana@example.com)

    let first =
        call(glow(&app, Method::POST, "/register").json(&register_body(org, "dana@example.org")))
            .await;
    let again =
        call(glow(&app, Method::POST, "/register").json(&register_body(org, "dana@example.org")))
            .await;
    assert_eq!(first.0, 200);
    assert_eq!(again.0, 200);
    assert_eq!(
        without_ids(&first.1),
        without_ids(&again.1),
        "a taken address is answered like a new one"
    );
    let mails = app.mail_to("dana@example.org").await;
    assert_eq!(mails.len(), 2);
    assert!(
        mails[1].subject.contains("already have an account"),
        "{}",
        mails[1].subject
    );

    // `dana` was taken, so the new account's core username is the next of the one rule.
    let id = {
        let code = accounts::testkit::code_in(&mails[0].text, 4)
            .unwrap()
            .to_owned();
        let (status, body) = call(glow(&app, Method::PUT, "/user/verify").json(&json!({
            "token": code, "username": "dana@example.org", "password": PASSWORD,
            "applicationId": org.to_string(),
        })))
        .await;
        assert_eq!(status, 200, "{body}");
        body["userId"].as_str().unwrap().parse().unwrap()
    };
    let user = app.accounts.user(id).await.unwrap();
    assert_eq!(user.username.as_str(), "dana2");
    assert!(
        !mails[0].text.contains("dana2"),
        "the mail greets the address's name, not the one picked: {}",
        mails[0].text
    );
    assert_eq!(
        first.1["userId"],
        id.to_string(),
        "the answer named the account"
    );

    // A plain (non-e-mail) username is the core username.
    let mut body = register_body(org, "fox@example.org");
    body["username"] = json!("fox.mulder");
    assert_eq!(
        call(glow(&app, Method::POST, "/register").json(&body))
            .await
            .0,
        200
    );
    let code = app.latest_code_of("fox@example.org", 4).await;
    let (status, _) = call(glow(&app, Method::PUT, "/user/verify").json(&json!({
        "token": code, "username": "fox.mulder", "password": PASSWORD,
        "applicationId": org.to_string(),
    })))
    .await;
    assert_eq!(status, 200);
    token_of(&app, org, "fox.mulder", PASSWORD).await;
}

/// An `AddUserRes` with its id and times replaced by their shapes: what must be equal
/// between any two answers to `register`.
fn without_ids(res: &Value) -> Value {
    let mut res = res.clone();
    let id = res["userId"].as_str().expect("userId").to_owned();
    assert!(id.parse::<uuid::Uuid>().is_ok(), "{id}");
    res["userId"] = json!("UUID");
    for at in ["createdAt", "updatedAt"] {
        let value = res[at].as_str().expect(at);
        assert!(
            chrono::DateTime::parse_from_rfc3339(value).is_ok(),
            "{value}"
        );
        res[at] = json!("TIME");
    }
    assert_eq!(res["createdAt"], res["updatedAt"]);
    for app in res["applications"].as_array_mut().expect("applications") {
        assert_eq!(app["accountId"].as_str(), Some(id.as_str()), "{app}");
        app["accountId"] = json!("UUID");
    }
    res
}

#[tokio::test]
async fn a_stranger_registering_a_taken_address_learns_nothing_and_gets_an_id_that_leads_nowhere() {
    let app = TestApp::spawn().await;
    let org = application(&app, "Energy app").await;
    app.admin("root").await;
    in_app(&app, "ann", org, OrgRole::Admin).await;
    let owner = registered(&app, org, "dana@example.org").await;

    // One argon2 run each, and the same shape, for a new address and a taken one.
    let register = |email: &str| {
        let request = glow(&app, Method::POST, "/register").json(&register_body(org, email));
        async {
            let before = app.accounts.password_work();
            let answer = call(request).await;
            (answer, app.accounts.password_work() - before)
        }
    };
    let ((status, fresh), fresh_work) = register("fox@example.org").await;
    assert_eq!(status, 200, "{fresh}");
    let ((status, stranger), stranger_work) = register("dana@example.org").await;
    assert_eq!(status, 200, "{stranger}");
    assert_eq!(
        (fresh_work, stranger_work),
        (1, 1),
        "one password hash each"
    );
    assert_eq!(without_ids(&fresh), without_ids(&stranger));
    assert_eq!(
        fresh.as_object().unwrap().keys().collect::<Vec<_>>(),
        stranger.as_object().unwrap().keys().collect::<Vec<_>>()
    );
    assert_eq!(stranger["status"], "unverified");
    assert_eq!(
        stranger["applications"][0]["applicationId"],
        org.to_string()
    );

    // The stranger's id is not the owner's and names no account: every call with it is
    // answered as for an id nobody ever had.
    let fake = stranger["userId"].as_str().unwrap().to_owned();
    assert_ne!(fake, owner);
    assert!(app.accounts.user(fake.parse().unwrap()).await.is_err());
    let never = uuid::Uuid::now_v7().to_string();
    for login in ["root", "ann"] {
        let answers = |id: &str| {
            let id = id.to_owned();
            let app = &app;
            async move {
                let mut out = Vec::new();
                for request in [
                    glow(app, Method::GET, &format!("/user/{id}")),
                    glow(app, Method::PUT, &format!("/user/{id}/username"))
                        .json(&json!({"username": "abc", "status": "active"})),
                    glow(app, Method::DELETE, &format!("/user/{id}")),
                ] {
                    out.push(call(by_basic(request, login, org)).await);
                }
                out
            }
        };
        assert_eq!(answers(&fake).await, answers(&never).await, "{login}");
    }
    // The owner's account is untouched, and the fresh registration's id is the account's.
    let (status, body) = call(by_basic(
        glow(&app, Method::GET, &format!("/user/{owner}")),
        "root",
        org,
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    let code = app.latest_code_of("fox@example.org", 4).await;
    let (status, verified) = call(glow(&app, Method::PUT, "/user/verify").json(&json!({
        "token": code, "username": "fox@example.org", "password": PASSWORD,
        "applicationId": org.to_string(),
    })))
    .await;
    assert_eq!(status, 200, "{verified}");
    assert_eq!(verified["userId"], fresh["userId"]);
    let (status, read) = call(by_basic(
        glow(
            &app,
            Method::GET,
            &format!("/user/{}", fresh["userId"].as_str().unwrap()),
        ),
        "root",
        org,
    ))
    .await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["createdAt"], fresh["createdAt"]);
}

#[tokio::test]
async fn registration_refuses_what_it_cannot_take() {
    let app = TestApp::spawn().await;
    let org = application(&app, "Energy app").await;
    let register = |body: Value| glow(&app, Method::POST, "/register").json(&body);
    let with = |key: &str, value: Value| {
        let mut body = register_body(org, "dana@example.org");
        body[key] = value;
        body
    };

    // The application must exist.
    let unknown = OrgId::new().to_string();
    assert_error(register(with("applicationId", json!(unknown))), 400).await;
    assert_error(register(with("applicationId", json!("energy"))), 400).await;
    // Header and body must agree; the header alone is enough.
    assert_error(
        register(register_body(org, "dana@example.org")).header("applicationId", &unknown),
        400,
    )
    .await;
    let mut no_app = register_body(org, "dana@example.org");
    no_app.as_object_mut().unwrap().remove("applicationId");
    assert_error(register(no_app.clone()), 400).await;
    assert_eq!(
        call(register(no_app).header("applicationId", org.to_string()))
            .await
            .0,
        200
    );

    // An e-mail-shaped username must be the address itself.
    assert_error(register(with("username", json!("fox@example.org"))), 400).await;
    assert_error(register(with("username", json!("no spaces please"))), 400).await;
    assert_error(register(with("email", json!("not-an-address"))), 400).await;
    let weak = assert_error(register(with("password", json!("password1"))), 400).await;
    assert!(weak.contains("password"), "{weak}");
    for field in ["username", "email", "password"] {
        let mut body = register_body(org, "x@example.org");
        body.as_object_mut().unwrap().remove(field);
        let text = assert_error(register(body), 400).await;
        assert!(text.contains(field), "{text}");
    }
    assert_error(register(with("password", json!(12345678))), 400).await;
    assert_error(register(with("name", json!(["Dana"]))), 400).await;
    assert_error(
        glow(&app, Method::POST, "/register").body("{\"username\": "),
        400,
    )
    .await;
    assert_error(glow(&app, Method::POST, "/register").body(""), 400).await;
    assert_error(glow(&app, Method::POST, "/register").body("[]"), 400).await;
    assert_error(glow(&app, Method::POST, "/register"), 400).await;
}

// ------------------------------------------------------------------ password reset

#[tokio::test]
async fn reset_with_a_four_digit_code_and_only_once() {
    let app = TestApp::spawn().await;
    let org = application(&app, "Energy app").await;
    let email = "dana@example.org";
    registered(&app, org, email).await;

    let (status, body) = call(reset_request(&app, org, email)).await;
    assert_eq!((status, body), (200, json!({"valid": true})));
    let code = app.latest_code_of(email, 4).await;

    // A weak password is refused with the reason, and the code survives it.
    let weak = glow(&app, Method::PUT, "/user/resetpassword").json(&json!({
        "username": email, "applicationId": org.to_string(), "token": code, "newPassword": "dana",
    }));
    let reason = assert_error(weak, 400).await;
    assert!(reason.contains("password"), "{reason}");

    let (status, body) = call(reset_confirm(&app, org, email, &code)).await;
    assert_eq!((status, body), (200, json!({"valid": true})));
    assert_error(auth_request(&app, org, email, PASSWORD), 401).await;
    token_of(&app, org, email, NEW_PASSWORD).await;

    // Used once, never again.
    assert_error(reset_confirm(&app, org, email, &code), 400).await;
}

#[tokio::test]
async fn five_wrong_codes_kill_the_code() {
    let app = TestApp::spawn().await;
    let org = application(&app, "Energy app").await;
    let email = "dana@example.org";
    registered(&app, org, email).await;
    call(reset_request(&app, org, email)).await;
    let code = app.latest_code_of(email, 4).await;
    for _ in 0..5 {
        assert_error(reset_confirm(&app, org, email, &wrong(&code)), 400).await;
    }
    assert_error(reset_confirm(&app, org, email, &code), 400).await;
    token_of(&app, org, email, PASSWORD).await;
}

#[tokio::test]
async fn codes_expire_after_ten_minutes() {
    let app = TestApp::spawn().await;
    let org = application(&app, "Energy app").await;
    let email = "dana@example.org";
    registered(&app, org, email).await;
    call(reset_request(&app, org, email)).await;
    let code = app.latest_code_of(email, 4).await;
    app.clock
        .advance(chrono::Duration::minutes(10) + chrono::Duration::seconds(1));
    assert_error(reset_confirm(&app, org, email, &code), 400).await;
    token_of(&app, org, email, PASSWORD).await;
}

#[tokio::test]
async fn resets_stay_inside_their_application() {
    let app = TestApp::spawn().await;
    let energy = application(&app, "Energy app").await;
    let other = application(&app, "Other app").await;
    let email = "dana@example.org";
    registered(&app, energy, email).await;

    // Asked through another application: the same answer, and no mail.
    let before = app.mail_to(email).await.len();
    assert_eq!(call(reset_request(&app, other, email)).await.0, 200);
    assert_eq!(
        call(reset_request(&app, energy, "nobody@example.org"))
            .await
            .0,
        200
    );
    assert_eq!(app.mail_to(email).await.len(), before);

    // A code from the Energy app's flow does not work in the other application's flow.
    call(reset_request(&app, energy, email)).await;
    let code = app.latest_code_of(email, 4).await;
    assert_error(reset_confirm(&app, other, email, &code), 400).await;
    assert_eq!(call(reset_confirm(&app, energy, email, &code)).await.0, 200);

    // Missing pieces are 400, not a silent success.
    for field in ["username", "token", "newPassword", "applicationId"] {
        let mut body = json!({
            "username": email, "applicationId": energy.to_string(), "token": "1234",
            "newPassword": NEW_PASSWORD,
        });
        body.as_object_mut().unwrap().remove(field);
        assert_error(
            glow(&app, Method::PUT, "/user/resetpassword").json(&body),
            400,
        )
        .await;
    }
    assert_error(glow(&app, Method::POST, "/user/resetpassword"), 400).await;
}

#[tokio::test]
async fn too_many_requests_are_429_with_retry_after() {
    let app = TestApp::spawn().await;
    let org = application(&app, "Energy app").await;
    let mut last = None;
    for _ in 0..6 {
        last = Some(
            reset_request(&app, org, "dana@example.org")
                .send()
                .await
                .unwrap(),
        );
    }
    let response = last.unwrap();
    assert_eq!(response.status(), 429);
    let retry: i64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
}

// ------------------------------------------------------------------ administration

#[tokio::test]
async fn application_admins_manage_their_users_by_basic() {
    let app = TestApp::spawn().await;
    let energy = application(&app, "Energy app").await;
    let other = application(&app, "Other app").await;
    in_app(&app, "ann", energy, OrgRole::Admin).await;
    in_app(&app, "mel", energy, OrgRole::Member).await;
    in_app(&app, "bob", other, OrgRole::Admin).await;
    app.admin("root").await;

    // Create: an active account without a password, in the application.
    let create = |login: &str, org: OrgId, username: &str| {
        by_basic(glow(&app, Method::POST, "/user"), login, org)
            .json(&json!({"username": username, "directoryId": "default"}))
    };
    let (status, created) = call(create("ann", energy, "dana@example.org")).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["status"], "active");
    assert_eq!(created["active"], true);
    let id = created["userId"].as_str().unwrap().to_owned();
    assert!(id.parse::<uuid::Uuid>().is_ok());
    assert_eq!(
        created["applications"],
        json!([{"accountId": id, "active": true, "applicationId": energy.to_string()}])
    );
    assert_error(create("mel", energy, "eve@example.org"), 401).await;
    assert_error(create("bob", energy, "eve@example.org"), 401).await;
    assert_error(create("ann", energy, "eve"), 400).await;
    assert_error(create("ann", energy, "dana@example.org"), 400).await;

    // Read by id: the application's admin (by username or e-mail), an instance admin.
    let get = |login: &str, org: OrgId| {
        by_basic(glow(&app, Method::GET, &format!("/user/{id}")), login, org)
    };
    for login in ["ann", "ann@example.com", "root"] {
        let (status, user) = call(get(login, energy)).await;
        assert_eq!(status, 200, "{login}: {user}");
        assert_eq!(user["userId"], id.as_str());
        assert_eq!(user["status"], "active");
        for at in ["createdAt", "updatedAt"] {
            let value = user[at].as_str().unwrap();
            assert!(
                chrono::DateTime::parse_from_rfc3339(value).is_ok(),
                "{value}"
            );
        }
        assert_eq!(user["applications"][0]["applicationId"], energy.to_string());
    }
    assert_error(get("mel", energy), 401).await;
    assert_error(get("bob", other), 401).await;
    assert_error(get("bob", energy), 401).await;
    assert_error(
        glow(&app, Method::GET, &format!("/user/{id}"))
            .basic_auth("ann", Some("wrong password here"))
            .header("applicationId", energy.to_string()),
        401,
    )
    .await;
    assert_error(glow(&app, Method::GET, &format!("/user/{id}")), 401).await;

    // Read by username (the e-mail, `@` sent as `%40`).
    let by_name = |login: &str, name: &str| {
        by_basic(
            glow(&app, Method::GET, &format!("/user?username={name}")),
            login,
            energy,
        )
    };
    let (status, user) = call(by_name("ann", "dana%40example.org")).await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["userId"], id.as_str());
    assert_error(by_name("mel", "dana%40example.org"), 401).await;
    assert_error(by_name("ann", "nobody%40example.org"), 401).await;
    assert_error(by_name("root", "nobody%40example.org"), 404).await;

    // The created user sets a password with the reset flow and signs in.
    call(reset_request(&app, energy, "dana@example.org")).await;
    let code = app.latest_code_of("dana@example.org", 4).await;
    assert_eq!(
        call(reset_confirm(&app, energy, "dana@example.org", &code))
            .await
            .0,
        200
    );
    token_of(&app, energy, "dana@example.org", NEW_PASSWORD).await;

    // Delete: refused to others, then done by the application's admin.
    let delete = |login: &str| {
        by_basic(
            glow(&app, Method::DELETE, &format!("/user/{id}")),
            login,
            energy,
        )
    };
    assert_error(delete("mel"), 401).await;
    assert_error(delete("bob"), 401).await;
    let (status, body) = call(delete("ann")).await;
    assert_eq!((status, body), (200, json!({"valid": true})));
    assert_error(get("root", energy), 404).await;
    assert_error(get("ann", energy), 401).await;
    assert_error(
        auth_request(&app, energy, "dana@example.org", NEW_PASSWORD),
        401,
    )
    .await;

    // An instance admin creates in any application, or with no application at all.
    let (status, created) = call(create("root", other, "eve@example.org")).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(
        created["applications"][0]["applicationId"],
        other.to_string()
    );
    let (status, created) = call(
        glow(&app, Method::POST, "/user")
            .basic_auth("root", Some(PASSWORD))
            .json(&json!({"username": "frank@example.org", "directoryId": "default"})),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["applications"], json!([]));
    // ...but not in an application that does not exist.
    assert_error(create("root", OrgId::new(), "gina@example.org"), 400).await;
}

#[tokio::test]
async fn admin_calls_take_the_token_header() {
    let app = TestApp::spawn().await;
    let energy = application(&app, "Energy app").await;
    let other = application(&app, "Other app").await;
    let ann = in_app(&app, "ann", energy, OrgRole::Admin).await;
    let mel = in_app(&app, "mel", energy, OrgRole::Member).await;
    let bob = in_app(&app, "bob", other, OrgRole::Admin).await;
    let session = token_of(&app, energy, "ann", PASSWORD).await;

    let (status, created) = call(
        by_token(glow(&app, Method::POST, "/user"), &session, energy)
            .json(&json!({"username": "dana@example.org", "directoryId": "default"})),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let id = created["userId"].as_str().unwrap().to_owned();
    let get = |token: &str| {
        by_token(
            glow(&app, Method::GET, &format!("/user/{id}")),
            token,
            energy,
        )
    };
    assert_eq!(call(get(&ann.token)).await.0, 200);
    assert_eq!(call(get(&session)).await.0, 200);
    assert_error(get(&mel.token), 401).await;
    assert_error(get(&bob.token), 401).await;
    assert_error(get("gh_not-a-token"), 401).await;
    let (status, user) = call(by_token(
        glow(&app, Method::GET, "/user?username=dana%40example.org"),
        &ann.token,
        energy,
    ))
    .await;
    assert_eq!((status, user["userId"].as_str()), (200, Some(id.as_str())));

    let delete = |token: &str| {
        by_token(
            glow(&app, Method::DELETE, &format!("/user/{id}")),
            token,
            energy,
        )
    };
    assert_error(delete(&mel.token), 401).await;
    assert_eq!(call(delete(&ann.token)).await.0, 200);
    // Deleting again: the admin can no longer act on that (gone) user.
    assert_error(delete(&ann.token), 401).await;
}

#[tokio::test]
async fn users_rename_themselves_and_admins_change_status() {
    let app = TestApp::spawn().await;
    let org = application(&app, "Energy app").await;
    let email = "dana@example.org";
    let id = registered(&app, org, email).await;
    let token = token_of(&app, org, email, PASSWORD).await;
    let ann = in_app(&app, "ann", org, OrgRole::Admin).await;
    let mel = in_app(&app, "mel", org, OrgRole::Member).await;
    let rename = |token: &str, body: Value| {
        by_token(
            glow(&app, Method::PUT, &format!("/user/{id}/username")),
            token,
            org,
        )
        .json(&body)
    };

    let (status, body) = call(rename(
        &token,
        json!({"username": "dana.s", "status": "active"}),
    ))
    .await;
    assert_eq!((status, body), (200, json!({"valid": true})));
    let me: Value = app
        .get("/auth/v1/me", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "dana.s");
    token_of(&app, org, "dana.s", PASSWORD).await;

    // The current address as username changes nothing; another address or status is for
    // administrators.
    let same = rename(&token, json!({"username": email, "status": "active"}));
    assert_eq!(call(same).await.0, 200);
    assert_error(
        rename(
            &token,
            json!({"username": "new@example.org", "status": "active"}),
        ),
        400,
    )
    .await;
    assert_error(
        rename(&token, json!({"username": "dana.s", "status": "disabled"})),
        400,
    )
    .await;
    assert_error(
        rename(&token, json!({"username": "no spaces", "status": "active"})),
        400,
    )
    .await;
    assert_error(
        rename(&token, json!({"username": "mel", "status": "active"})),
        400,
    )
    .await;
    assert_error(
        rename(&token, json!({"username": "dana.s", "status": "sleeping"})),
        400,
    )
    .await;
    assert_error(rename(&token, json!({"status": "active"})), 400).await;
    assert_error(
        rename(&mel.token, json!({"username": "mel.d", "status": "active"})),
        401,
    )
    .await;

    // The application's admin changes the address and disables the account.
    let (status, _) = call(rename(
        &ann.token,
        json!({"username": "scully@example.org", "status": "active"}),
    ))
    .await;
    assert_eq!(status, 200);
    token_of(&app, org, "scully@example.org", PASSWORD).await;
    let (status, _) = call(rename(
        &ann.token,
        json!({"username": "dana.s", "status": "disabled"}),
    ))
    .await;
    assert_eq!(status, 200);
    let (_, user) = call(by_token(
        glow(&app, Method::GET, &format!("/user/{id}")),
        &ann.token,
        org,
    ))
    .await;
    assert_eq!(
        (user["status"].as_str(), user["active"].as_bool()),
        (Some("disabled"), Some(false))
    );
    assert_error(by_token(glow(&app, Method::GET, "/auth"), &token, org), 401).await;
}

// ------------------------------------------------------------------ bad input

#[tokio::test]
async fn bad_input_is_a_json_4xx_never_a_500() {
    let app = TestApp::spawn().await;
    let org = application(&app, "Energy app").await;
    in_app(&app, "ann", org, OrgRole::Admin).await;
    // Two instance admins: each login may try 10 times per window, and this test calls often.
    app.admin("root").await;
    app.admin("rita").await;
    let unknown = uuid::Uuid::now_v7().to_string();

    let cases: Vec<(RequestBuilder, u16)> = vec![
        // Ids.
        (
            by_basic(glow(&app, Method::GET, "/user/42"), "root", org),
            400,
        ),
        (
            by_basic(
                glow(&app, Method::GET, &format!("/user/{unknown}")),
                "root",
                org,
            ),
            404,
        ),
        (
            by_basic(
                glow(&app, Method::GET, &format!("/user/{unknown}")),
                "ann",
                org,
            ),
            401,
        ),
        (
            by_basic(glow(&app, Method::DELETE, "/user/not-a-uuid"), "root", org),
            400,
        ),
        (
            by_basic(
                glow(&app, Method::DELETE, &format!("/user/{unknown}")),
                "root",
                org,
            ),
            404,
        ),
        (
            by_basic(glow(&app, Method::PUT, "/user/x/username"), "root", org)
                .json(&json!({"username": "abc", "status": "active"})),
            400,
        ),
        (
            by_basic(
                glow(&app, Method::PUT, &format!("/user/{unknown}/username")),
                "root",
                org,
            )
            .json(&json!({"username": "abc", "status": "active"})),
            404,
        ),
        // The application header.
        (
            glow(&app, Method::GET, &format!("/user/{unknown}"))
                .basic_auth("root", Some(PASSWORD))
                .header("applicationId", "energy"),
            400,
        ),
        (
            glow(&app, Method::POST, "/auth")
                .header("applicationId", "x")
                .json(&json!({"username": "root", "password": PASSWORD})),
            400,
        ),
        // Queries.
        (by_basic(glow(&app, Method::GET, "/user"), "rita", org), 400),
        (
            by_basic(glow(&app, Method::GET, "/user?username="), "rita", org),
            400,
        ),
        // Bodies: malformed, wrong types, missing fields.
        (
            by_basic(glow(&app, Method::POST, "/user"), "rita", org).body("{"),
            400,
        ),
        (
            by_basic(glow(&app, Method::POST, "/user"), "rita", org).body("null"),
            400,
        ),
        (
            by_basic(glow(&app, Method::POST, "/user"), "rita", org).json(&json!({"username": 7})),
            400,
        ),
        (
            by_basic(glow(&app, Method::POST, "/user"), "rita", org),
            400,
        ),
        (
            glow(&app, Method::PUT, "/user/verify").body("{\"token\": 1234}"),
            400,
        ),
        (
            glow(&app, Method::PUT, "/user/verify").json(&json!({"token": "1234"})),
            400,
        ),
        (
            glow(&app, Method::PUT, "/user/verify").json(&json!({
                "token": "1234", "username": "ann", "password": PASSWORD,
            })),
            400,
        ),
        (
            glow(&app, Method::POST, "/user/verify").json(&json!({"username": "ann"})),
            400,
        ),
        (
            glow(&app, Method::POST, "/auth")
                .header("applicationId", org.to_string())
                .body("]"),
            400,
        ),
        (
            glow(&app, Method::POST, "/auth").header("applicationId", org.to_string()),
            400,
        ),
        (
            glow(&app, Method::POST, "/auth")
                .header("applicationId", org.to_string())
                .json(&json!({"username": "ann", "password": false})),
            400,
        ),
        (
            glow(&app, Method::POST, "/user/resetpassword").json(&json!({"username": ["ann"]})),
            400,
        ),
        // Malformed basic credentials and no credentials at all.
        (
            glow(&app, Method::GET, &format!("/user/{unknown}"))
                .header("Authorization", "Basic !!!")
                .header("applicationId", org.to_string()),
            401,
        ),
        (glow(&app, Method::DELETE, &format!("/user/{unknown}")), 401),
    ];
    for (request, status) in cases {
        let described = format!("{request:?}");
        let (got, body) = call(request).await;
        assert_eq!(got, status, "{described}: {body}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{described}: {body}"
        );
    }

    // The calls that mail someone need the JSON type the client always sends (a cross-site
    // form must not make them); elsewhere no Content-Type and an empty body are fine.
    let (status, body) = call(
        app.client
            .post(app.url("/api/v0-1/user/resetpassword"))
            .header("applicationId", org.to_string())
            .body(r#"{"username": "ann"}"#),
    )
    .await;
    assert_eq!(status, 415, "{body}");
    assert!(body["error"]
        .as_str()
        .is_some_and(|e| e.contains("application/json")));
    let (status, _) = call(
        app.client
            .get(app.url(&format!("/api/v0-1/user/{unknown}")))
            .basic_auth("root", Some(PASSWORD)),
    )
    .await;
    assert_eq!(status, 404);
}

/// 4-digit codes against a patient guesser: the username and the e-mail address share one
/// budget, and a day's cap holds across windows.
#[tokio::test]
async fn code_guesses_share_one_budget_per_account_and_a_daily_cap() {
    let app = TestApp::spawn().await;
    let org = application(&app, "Energy app").await;
    in_app(&app, "dana", org, OrgRole::Member).await;
    let email = "dana@example.com";
    // Ten wrong guesses, alternating username and e-mail, exhaust the window's budget.
    for i in 0..10 {
        let login = if i % 2 == 0 { "dana" } else { email };
        let (status, _) = call(reset_confirm(&app, org, login, "0000")).await;
        assert_eq!(status, 400, "guess {i}");
    }
    assert_error(reset_confirm(&app, org, email, "0000"), 429).await;
    assert_error(reset_confirm(&app, org, "dana", "0000"), 429).await;
    // A new window allows ten more, then the day's cap (20) stops it for the day.
    app.clock.advance(chrono::Duration::minutes(16));
    for i in 0..10 {
        let (status, _) = call(reset_confirm(&app, org, "dana", "0000")).await;
        assert_eq!(status, 400, "guess {i} of the second window");
    }
    app.clock.advance(chrono::Duration::minutes(16));
    assert_error(reset_confirm(&app, org, "dana", "0000"), 429).await;
    app.clock.advance(chrono::Duration::hours(24));
    let (status, _) = call(reset_confirm(&app, org, "dana", "0000")).await;
    assert_eq!(status, 400, "a day later the account may try again");
}

/// An unverified account gets nothing from its password through HTTP basic.
#[tokio::test]
async fn an_unverified_account_cannot_use_http_basic() {
    let app = TestApp::spawn().await;
    let org = application(&app, "Energy app").await;
    let (status, _) =
        call(glow(&app, Method::POST, "/register").json(&register_body(org, "eve@example.com")))
            .await;
    assert_eq!(status, 200);
    // Glowmarkt's admin calls by basic.
    assert_error(
        by_basic(
            glow(&app, Method::GET, "/user?username=eve@example.com"),
            "eve@example.com",
            org,
        ),
        401,
    )
    .await;
    // Cloudsmith's API-key issuing by basic.
    let r = app
        .client
        .post(app.url("/v1/user/tokens/"))
        .basic_auth("eve@example.com", Some(PASSWORD))
        .header("Content-Type", "application/json")
        .send()
        .await
        .unwrap();
    assert!(
        r.status() == 401 || r.status() == 403,
        "pending account got {}",
        r.status()
    );
}

// ------------------------------------------------------------------ hardening (issue 13)

/// An application's admin asks about a member with another application's id in the header:
/// the answer lists only the applications the admin may read.
#[tokio::test]
async fn an_application_admin_cannot_learn_a_users_other_applications() {
    let app = TestApp::spawn().await;
    let energy = application(&app, "Energy app").await;
    let secret = application(&app, "Secret app").await;
    in_app(&app, "ann", energy, OrgRole::Admin).await;
    let dana = in_app(&app, "dana", energy, OrgRole::Member).await;
    app.accounts
        .set_member(&Actor::operator(), secret, dana.id, OrgRole::Member)
        .await
        .unwrap();
    let path = format!("/user/{}", dana.id);
    for asked in [secret, energy] {
        let (status, user) = call(by_basic(glow(&app, Method::GET, &path), "ann", asked)).await;
        assert_eq!(status, 200, "{user}");
        let listed: Vec<&str> = user["applications"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["applicationId"].as_str().unwrap())
            .collect();
        assert!(
            !listed.contains(&secret.to_string().as_str()),
            "asked with {asked}: {user}"
        );
    }
    // An instance admin asking with that application's id sees the membership.
    app.admin("root").await;
    let (_, seen) = call(by_basic(glow(&app, Method::GET, &path), "root", secret)).await;
    assert_eq!(seen["applications"][0]["applicationId"], secret.to_string());
}

/// A code mailed by an application's reset flow is bound to it: the native reset, which
/// would take it as well, refuses it.
#[tokio::test]
async fn an_application_reset_code_cannot_be_redeemed_on_the_native_reset() {
    let app = TestApp::spawn().await;
    let org = application(&app, "Energy app").await;
    let email = "dana@example.org";
    registered(&app, org, email).await;
    call(reset_request(&app, org, email)).await;
    let mails = app.mail_to(email).await;
    let code = crate::account_hardening::first_code(&mails.last().unwrap().text);
    let native = app
        .client
        .post(app.url("/auth/v1/password/reset"))
        .json(&json!({"email": email, "code": code, "new_password": NEW_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        native.status(),
        400,
        "the native reset took an application's code"
    );
    assert_eq!(call(reset_confirm(&app, org, email, &code)).await.0, 200);
}

/// The seed's 4-digit reset codes are an organisation's explicit, weaker choice, made by an
/// instance admin; by default an application's reset codes are as long as the native ones.
#[tokio::test]
async fn four_digit_reset_codes_are_only_an_organisations_explicit_choice() {
    let app = TestApp::spawn().await;
    let org = app
        .accounts
        .create_org(&Actor::operator(), "Energy app")
        .await
        .unwrap()
        .id;
    let email = "dana@example.org";
    registered(&app, org, email).await;
    call(reset_request(&app, org, email)).await;
    assert!(app.latest_code_of(email, 8).await.len() == 8);

    let owner = in_app(&app, "olive", org, OrgRole::Owner).await;
    let root = app.admin("root").await;
    let path = format!("/auth/v1/orgs/{org}/short-reset-codes");
    let set = |token: &str| app.put(&path, token).json(&json!({"enabled": true}));
    assert_eq!(set(&owner.token).send().await.unwrap().status(), 403);
    let r = set(&root.token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let view: Value = r.json().await.unwrap();
    assert_eq!(view["short_reset_codes"], true, "{view}");

    call(reset_request(&app, org, email)).await;
    assert_eq!(app.latest_code_of(email, 4).await.len(), 4);
}

/// 4-digit verification codes get 3 tries each.
#[tokio::test]
async fn application_verification_codes_die_after_three_wrong_tries() {
    let app = TestApp::spawn().await;
    let org = application(&app, "Energy app").await;
    let email = "dana@example.org";
    let (status, _) =
        call(glow(&app, Method::POST, "/register").json(&register_body(org, email))).await;
    assert_eq!(status, 200);
    let code = app.latest_code_of(email, 4).await;
    let verify = |code: &str| {
        glow(&app, Method::PUT, "/user/verify").json(&json!({
            "token": code, "username": email, "password": PASSWORD,
            "applicationId": org.to_string(),
        }))
    };
    for _ in 0..3 {
        assert_error(verify(&wrong(&code)), 400).await;
    }
    assert_error(verify(&code), 400).await;
}

//! Attacks on accounts, second factors and one-time codes (hardening issue 13, points 5-8 and
//! two items of point 20), each test named after the attack it stops. The Glowmarkt ones are
//! in `glowmarkt.rs`, next to that dialect's helpers.

use accounts::access::{OrgId, OrgRole};
use accounts::totp::{code_at, step_of};
use accounts::{Actor, Clock};
use chrono::Duration;
use reqwest::Response;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, TestApp, TestUser, PASSWORD};
use crate::native_second_factor::base32_decode;

const USERS: &str = "/auth/v1/admin/users";
const ORGS: &str = "/auth/v1/orgs";
const NEW_PASSWORD: &str = "a completely new passphrase";
const REAUTH: &str = "/auth/v1/session/reauthenticate";

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

async fn post_json(app: &TestApp, path: &str, body: Value) -> Response {
    app.client
        .post(app.url(path))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The first run of 4 to 10 digits in `text`: the code (it comes before the link).
pub(crate) fn first_code(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|run| (4..=10).contains(&run.len()))
        .expect("the message has a code")
        .to_owned()
}

/// The one-time code, whatever its length, in the latest mail to `address`.
async fn any_code(app: &TestApp, address: &str) -> String {
    let mails = app.mail_to(address).await;
    first_code(&mails.last().expect("a message was sent").text)
}

/// Turns TOTP on for `user` through a fresh session; returns the secret and that session.
async fn enrolled(app: &TestApp, name: &str) -> (Vec<u8>, String) {
    let session = app.session(name, PASSWORD).await;
    let started = expect(
        app.post("/auth/v1/me/second-factor", &session)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let secret = base32_decode(started["secret"].as_str().unwrap());
    let code = code_at(&secret, step_of(app.clock.now()));
    expect(
        app.post("/auth/v1/me/second-factor/confirm", &session)
            .json(&json!({ "code": code }))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    (secret, session)
}

/// An organisation made by the operator with `name` as its owner and `admin` as its admin.
async fn org_with(app: &TestApp, owner: &TestUser, admin: Option<&TestUser>) -> OrgId {
    let org = app
        .accounts
        .create_org(&Actor::operator(), "Acme")
        .await
        .unwrap()
        .id;
    let operator = Actor::operator();
    app.accounts
        .set_member(&operator, org, owner.id, OrgRole::Owner)
        .await
        .unwrap();
    if let Some(admin) = admin {
        app.accounts
            .set_member(&operator, org, admin.id, OrgRole::Admin)
            .await
            .unwrap();
    }
    org
}

// ------------------------------------------------------------------ point 5

#[tokio::test]
async fn an_organisation_admin_cannot_choose_the_password_of_an_account_they_create() {
    let app = TestApp::spawn().await;
    let olive = app.user("olive").await;
    let amy = app.user("amy").await;
    let org = org_with(&app, &olive, Some(&amy)).await;

    // The admin picks a password for an address they do not own: refused, nothing created.
    let r = app
        .post(&format!("{USERS}?org={org}"), &amy.token)
        .json(&json!({"username": "ceo", "email": "ceo@victim.example", "password": NEW_PASSWORD}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(r, 400, "invalid_input").await;
    assert_eq!(problem["field"], "password", "{problem}");
    assert!(app.accounts.find_user("ceo").await.is_err());

    // Without one, the account is made and its address gets the link to set one.
    expect(
        app.post(&format!("{USERS}?org={org}"), &amy.token)
            .json(&json!({"username": "ceo", "email": "ceo@victim.example"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let token = app.latest_link_token("ceo@victim.example").await;
    expect(
        post_json(
            &app,
            "/auth/v1/password/reset",
            json!({"token": token, "new_password": NEW_PASSWORD}),
        )
        .await,
        204,
    )
    .await;
    assert_eq!(app.login("ceo", NEW_PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn an_organisation_admin_cannot_set_a_members_password() {
    let app = TestApp::spawn().await;
    let olive = app.user("olive").await;
    let amy = app.user("amy").await;
    let mel = app.user("mel").await;
    let org = org_with(&app, &olive, Some(&amy)).await;
    app.accounts
        .set_member(&Actor::operator(), org, mel.id, OrgRole::Member)
        .await
        .unwrap();

    let reset = format!("{USERS}/{}/reset-password", mel.id);
    let r = app
        .post(&reset, &amy.token)
        .json(&json!({"password": NEW_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 403, "forbidden").await;
    let r = app
        .patch(&format!("{USERS}/{}", mel.id), &amy.token)
        .json(&json!({"password": NEW_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 403, "forbidden").await;
    assert_eq!(app.login("mel", NEW_PASSWORD).await.status(), 401);
    assert_eq!(app.login("mel", PASSWORD).await.status(), 200);
    // Mailing the member a reset link stays open to the organisation's admins.
    expect(
        app.post(&reset, &amy.token)
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
        202,
    )
    .await;
}

// ------------------------------------------------------------------ point 6

#[tokio::test]
async fn a_stolen_api_token_cannot_enrol_a_second_factor() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let r = app
        .post("/auth/v1/me/second-factor", &alice.token)
        .send()
        .await
        .unwrap();
    assert_problem(r, 403, "session_required").await;
    let status = app
        .accounts
        .second_factor(&accounts::Actor::operator(), alice.id)
        .await
        .unwrap();
    assert!(!status.pending && !status.enabled);
    // The owner still signs in with the password alone.
    assert_eq!(app.login("alice", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn a_stolen_api_token_cannot_remove_or_replace_a_second_factor() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let (secret, _) = enrolled(&app, "alice").await;
    app.clock.advance(Duration::seconds(30));
    let code = code_at(&secret, step_of(app.clock.now()));
    let r = app
        .post("/auth/v1/me/second-factor/recovery-codes", &alice.token)
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap();
    assert_problem(r, 403, "session_required").await;
    let r = app
        .delete("/auth/v1/me/second-factor", &alice.token)
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap();
    assert_problem(r, 403, "session_required").await;
    assert!(
        app.accounts
            .second_factor(&accounts::Actor::operator(), alice.id)
            .await
            .unwrap()
            .enabled
    );
}

#[tokio::test]
async fn a_session_left_open_cannot_change_the_second_factor_without_proving_again() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    let session = app.session("alice", PASSWORD).await;
    app.clock.advance(Duration::minutes(11));
    let begin = || app.post("/auth/v1/me/second-factor", &session).send();
    assert_problem(begin().await.unwrap(), 403, "reauthentication_required").await;

    // A wrong password proves nothing; an API token cannot be re-proved.
    let r = app
        .post(REAUTH, &session)
        .json(&json!({"password": "not the password at all"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 401, "invalid_credentials").await;
    assert_problem(begin().await.unwrap(), 403, "reauthentication_required").await;

    expect(
        app.post(REAUTH, &session)
            .json(&json!({ "password": PASSWORD }))
            .send()
            .await
            .unwrap(),
        204,
    )
    .await;
    expect(begin().await.unwrap(), 200).await;
}

#[tokio::test]
async fn a_session_left_open_needs_a_fresh_code_to_turn_the_second_factor_off() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let (secret, session) = enrolled(&app, "alice").await;
    app.clock.advance(Duration::minutes(11));
    let code = code_at(&secret, step_of(app.clock.now()));
    let r = app
        .delete("/auth/v1/me/second-factor", &session)
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap();
    assert_problem(r, 403, "reauthentication_required").await;
    // Re-proved with a code of the second factor, the change goes through.
    expect(
        app.post(REAUTH, &session)
            .json(&json!({ "code": code }))
            .send()
            .await
            .unwrap(),
        204,
    )
    .await;
    app.clock.advance(Duration::seconds(30));
    let code = code_at(&secret, step_of(app.clock.now()));
    expect(
        app.delete("/auth/v1/me/second-factor", &session)
            .json(&json!({ "code": code }))
            .send()
            .await
            .unwrap(),
        204,
    )
    .await;
    assert!(
        !app.accounts
            .second_factor(&accounts::Actor::operator(), alice.id)
            .await
            .unwrap()
            .enabled
    );
}

#[tokio::test]
async fn api_tokens_and_sessions_do_not_survive_a_password_reset() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    for (name, how) in [("alice", "code"), ("bob", "link"), ("carol", "admin")] {
        let user = app.user(name).await;
        let session = app.session(name, PASSWORD).await;
        let address = format!("{name}@example.com");
        match how {
            "code" | "link" => {
                expect(
                    post_json(&app, "/auth/v1/password/forgot", json!({"login": name})).await,
                    202,
                )
                .await;
                let mail = app.mail_to(&address).await.pop().unwrap();
                assert!(mail.text.contains("API tokens"), "{}", mail.text);
                let body = if how == "code" {
                    let code = any_code(&app, &address).await;
                    json!({"email": address, "code": code, "new_password": NEW_PASSWORD})
                } else {
                    let token = app.latest_link_token(&address).await;
                    json!({"token": token, "new_password": NEW_PASSWORD})
                };
                expect(post_json(&app, "/auth/v1/password/reset", body).await, 204).await;
            }
            _ => {
                expect(
                    app.post(&format!("{USERS}/{}/reset-password", user.id), &root.token)
                        .json(&json!({ "password": NEW_PASSWORD }))
                        .send()
                        .await
                        .unwrap(),
                    204,
                )
                .await;
            }
        }
        assert_eq!(
            app.status_with("/auth/v1/me", &user.token).await,
            401,
            "{name}'s API token after a reset by {how}"
        );
        assert_eq!(
            app.status_with("/auth/v1/me", &session).await,
            401,
            "{name}'s session after a reset by {how}"
        );
        assert_eq!(app.login(name, NEW_PASSWORD).await.status(), 200);
    }
}

// ------------------------------------------------------------------ point 20

#[tokio::test]
async fn a_sign_in_challenge_does_not_survive_a_password_reset() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let alice = app.user("alice").await;
    let (secret, _) = enrolled(&app, "alice").await;
    // Someone with the old password gets as far as the challenge ...
    let first = expect(app.login("alice", PASSWORD).await, 202).await;
    let challenge = first["challenge"].as_str().unwrap().to_owned();
    // ... the owner's password is reset ...
    expect(
        app.post(&format!("{USERS}/{}/reset-password", alice.id), &root.token)
            .json(&json!({ "password": NEW_PASSWORD }))
            .send()
            .await
            .unwrap(),
        204,
    )
    .await;
    // ... and the challenge is dead, even with a right code.
    app.clock.advance(Duration::seconds(30));
    let code = code_at(&secret, step_of(app.clock.now()));
    let r = post_json(
        &app,
        "/auth/v1/login/second-factor",
        json!({"challenge": challenge, "code": code}),
    )
    .await;
    assert_problem(r, 400, "invalid_code").await;
}

#[tokio::test]
async fn an_organisation_cannot_be_left_without_an_owner() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let olive = app.user("olive").await;
    let amy = app.user("amy").await;
    let org = org_with(&app, &olive, Some(&amy)).await;
    let member = |id| format!("{ORGS}/{org}/members/{id}");

    // The last owner cannot step down, leave, be removed, or have their account deleted.
    let r = app
        .put(&member(olive.id), &olive.token)
        .json(&json!({"role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 409, "last_owner").await;
    let r = app
        .delete(&member(olive.id), &olive.token)
        .send()
        .await
        .unwrap();
    assert_problem(r, 409, "last_owner").await;
    let r = app
        .delete(&member(olive.id), &root.token)
        .send()
        .await
        .unwrap();
    assert_problem(r, 409, "last_owner").await;
    let r = app
        .delete(&format!("{USERS}/{}", olive.id), &root.token)
        .send()
        .await
        .unwrap();
    assert_problem(r, 409, "last_owner").await;
    assert_eq!(
        app.accounts.membership(org, olive.id).await.unwrap(),
        Some(OrgRole::Owner)
    );

    // With a second owner, the first may go.
    expect(
        app.put(&member(amy.id), &olive.token)
            .json(&json!({"role": "owner"}))
            .send()
            .await
            .unwrap(),
        204,
    )
    .await;
    expect(
        app.delete(&member(olive.id), &olive.token)
            .send()
            .await
            .unwrap(),
        204,
    )
    .await;
}

// ------------------------------------------------------------------ point 8

#[tokio::test]
async fn password_reset_codes_are_too_long_to_guess_in_a_day() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    expect(
        post_json(&app, "/auth/v1/password/forgot", json!({"login": "alice"})).await,
        202,
    )
    .await;
    let code = any_code(&app, "alice@example.com").await;
    // 20 tries a day against 10^8 codes: 1 in 5,000,000 (docs/security.md).
    assert_eq!(code.len(), 8, "{code}");
}

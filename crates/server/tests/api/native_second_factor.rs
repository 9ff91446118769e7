//! The TOTP second factor through `/auth/v1`: enrolment, the two-step login, replays,
//! dead and expired challenges, recovery codes, turning it off, the administrator's reset;
//! and the surfaces without a second step (Alsid, Glowmarkt) refusing the password alone.
//! Codes are computed from the enrolment's secret at the app's manual clock.

#[cfg(all(feature = "alsid", feature = "glowmarkt"))]
use accounts::access::OrgRole;
use accounts::totp::{code_at, step_of, STEP_SECONDS};
#[cfg(all(feature = "alsid", feature = "glowmarkt"))]
use accounts::Actor;
use accounts::Clock;
use chrono::Duration;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, TestApp, TestUser, PASSWORD};

/// RFC 4648 base32 (no padding), as the enrolment shows the secret.
pub(crate) fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u64, 0);
    for c in text.chars().filter(|c| *c != '=') {
        let value = ALPHABET.find(c.to_ascii_uppercase()).expect("base32") as u64;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// An enrolled and confirmed user: their secret and recovery codes.
struct Enrolled {
    user: TestUser,
    secret: Vec<u8>,
    recovery_codes: Vec<String>,
}

impl Enrolled {
    /// The code of the clock's current step.
    fn code(&self, app: &TestApp) -> String {
        code_at(&self.secret, step_of(app.clock.now()))
    }
}

/// A six-digit code that is none of the codes the window around now accepts.
fn wrong_code(secret: &[u8], app: &TestApp) -> String {
    let step = step_of(app.clock.now());
    let valid: Vec<String> = (step - 1..=step + 1).map(|s| code_at(secret, s)).collect();
    (0..)
        .map(|n: u32| format!("{:06}", (n * 7919) % 1_000_000))
        .find(|c| !valid.contains(c))
        .unwrap()
}

/// Moves the clock to the next 30-second step, so a new code is not a replay.
fn next_step(app: &TestApp) {
    app.clock.advance(Duration::seconds(STEP_SECONDS));
}

async fn json_ok(response: reqwest::Response, status: u16) -> Value {
    let got = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(got, status, "{body}");
    body
}

/// Enrols `name` through a fresh session (an API token never changes a second factor);
/// `Enrolled::user.token` is that session.
async fn enrol(app: &TestApp, name: &str) -> Enrolled {
    let created = app.user(name).await;
    let user = TestUser {
        id: created.id,
        token: app.session(name, PASSWORD).await,
    };
    let started = json_ok(
        app.post("/auth/v1/me/second-factor", &user.token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let secret_text = started["secret"].as_str().unwrap();
    let uri = started["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={secret_text}")), "{uri}");
    assert!(started["qr_svg"].as_str().unwrap().contains("<svg"));
    let secret = base32_decode(secret_text);
    assert_eq!(secret.len(), 20);

    let status = json_ok(
        app.get("/auth/v1/me/second-factor", &user.token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        status,
        json!({"enabled": false, "pending": true, "recovery_codes_left": 0})
    );

    let code = code_at(&secret, step_of(app.clock.now()));
    let confirmed = json_ok(
        app.post("/auth/v1/me/second-factor/confirm", &user.token)
            .json(&json!({ "code": code }))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let recovery_codes: Vec<String> =
        serde_json::from_value(confirmed["recovery_codes"].clone()).unwrap();
    assert_eq!(recovery_codes.len(), 10);
    Enrolled {
        user,
        secret,
        recovery_codes,
    }
}

/// The first step: asserts the 202 challenge and returns it.
async fn challenge(app: &TestApp, name: &str) -> String {
    let body = json_ok(app.login(name, PASSWORD).await, 202).await;
    assert_eq!(body["second_factor_required"], true);
    assert!(body.get("token").is_none(), "no session in the first step");
    assert!(body["expires_at"].is_string());
    let challenge = body["challenge"].as_str().unwrap().to_owned();
    assert!(challenge.starts_with("ghc_"), "{challenge}");
    challenge
}

async fn second_step(app: &TestApp, challenge: &str, code: &str) -> reqwest::Response {
    app.client
        .post(app.url("/auth/v1/login/second-factor"))
        .json(&json!({"challenge": challenge, "code": code}))
        .send()
        .await
        .unwrap()
}

/// Asserts a session answer and returns the session token.
async fn signed_in(response: reqwest::Response) -> String {
    let body = json_ok(response, 200).await;
    let token = body["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("ghs_"), "{body}");
    token
}

async fn status_of(app: &TestApp, token: &str) -> Value {
    json_ok(
        app.get("/auth/v1/me/second-factor", token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await
}

#[tokio::test]
async fn enrolment_makes_login_take_two_steps() {
    let app = TestApp::spawn().await;
    let alice = enrol(&app, "alice").await;
    assert_eq!(
        status_of(&app, &alice.user.token).await,
        json!({"enabled": true, "pending": false, "recovery_codes_left": 10})
    );

    let challenge = challenge(&app, "alice").await;
    // The challenge is not a credential.
    assert_eq!(app.status_with("/auth/v1/me", &challenge).await, 401);
    next_step(&app);
    let session = signed_in(second_step(&app, &challenge, &alice.code(&app)).await).await;
    assert_eq!(app.status_with("/auth/v1/me", &session).await, 200);
    // A used challenge is gone, even with a fresh code.
    next_step(&app);
    let r = second_step(&app, &challenge, &alice.code(&app)).await;
    assert_problem(r, 400, "invalid_code").await;

    // Enrolling again while on is refused.
    let r = app
        .post("/auth/v1/me/second-factor", &alice.user.token)
        .send()
        .await
        .unwrap();
    assert_problem(r, 409, "second_factor_enabled").await;
    // A wrong password still gets the ordinary answer, no challenge.
    let r = app.login("alice", "not the password at all").await;
    assert_problem(r, 401, "invalid_credentials").await;
}

#[tokio::test]
async fn confirming_needs_the_right_code_and_a_started_enrolment() {
    let app = TestApp::spawn().await;
    let created = app.user("bob").await;
    let bob = TestUser {
        id: created.id,
        token: app.session("bob", PASSWORD).await,
    };
    let r = app
        .post("/auth/v1/me/second-factor/confirm", &bob.token)
        .json(&json!({"code": "123456"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 409, "no_enrolment_pending").await;

    let started = json_ok(
        app.post("/auth/v1/me/second-factor", &bob.token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let secret = base32_decode(started["secret"].as_str().unwrap());
    let r = app
        .post("/auth/v1/me/second-factor/confirm", &bob.token)
        .json(&json!({ "code": wrong_code(&secret, &app) }))
        .send()
        .await
        .unwrap();
    let body = assert_problem(r, 400, "invalid_code").await;
    assert_eq!(body["field"], "code");
    // Not on yet: the password alone still signs in.
    signed_in(app.login("bob", PASSWORD).await).await;
}

#[tokio::test]
async fn a_wrong_or_replayed_code_is_refused() {
    let app = TestApp::spawn().await;
    let alice = enrol(&app, "alice").await;

    // The confirmation spent the current step: its code does not sign in.
    let challenge = challenge(&app, "alice").await;
    let r = second_step(&app, &challenge, &alice.code(&app)).await;
    assert_problem(r, 400, "invalid_code").await;
    let r = second_step(&app, &challenge, &wrong_code(&alice.secret, &app)).await;
    let body = assert_problem(r, 400, "invalid_code").await;
    assert_eq!(body["field"], "code");

    // A new step's code works once (the challenge survived two wrong codes)...
    next_step(&app);
    let code = alice.code(&app);
    signed_in(second_step(&app, &challenge, &code).await).await;
    // ...and not again, on a new challenge, within its window.
    let again = self::challenge(&app, "alice").await;
    let r = second_step(&app, &again, &code).await;
    assert_problem(r, 400, "invalid_code").await;
    next_step(&app);
    signed_in(second_step(&app, &again, &alice.code(&app)).await).await;
}

#[tokio::test]
async fn five_wrong_codes_kill_the_challenge() {
    let app = TestApp::spawn().await;
    let alice = enrol(&app, "alice").await;
    next_step(&app);
    let challenge = challenge(&app, "alice").await;
    let wrong = wrong_code(&alice.secret, &app);
    for _ in 0..5 {
        let r = second_step(&app, &challenge, &wrong).await;
        assert_problem(r, 400, "invalid_code").await;
    }
    // The right code no longer helps this challenge, and was not spent by trying.
    let code = alice.code(&app);
    let r = second_step(&app, &challenge, &code).await;
    assert_problem(r, 400, "invalid_code").await;
    let fresh = self::challenge(&app, "alice").await;
    signed_in(second_step(&app, &fresh, &code).await).await;
}

#[tokio::test]
async fn an_expired_challenge_is_refused() {
    let app = TestApp::spawn().await;
    let alice = enrol(&app, "alice").await;
    let challenge = challenge(&app, "alice").await;
    app.clock
        .advance(Duration::minutes(5) + Duration::seconds(1));
    let code = alice.code(&app);
    let r = second_step(&app, &challenge, &code).await;
    assert_problem(r, 400, "invalid_code").await;
    // An unknown challenge gets the same answer.
    let r = second_step(&app, "ghc_nonsense", &code).await;
    assert_problem(r, 400, "invalid_code").await;
    let fresh = self::challenge(&app, "alice").await;
    signed_in(second_step(&app, &fresh, &code).await).await;
}

#[tokio::test]
async fn a_recovery_code_signs_in_once() {
    let app = TestApp::spawn().await;
    let alice = enrol(&app, "alice").await;
    let recovery = &alice.recovery_codes[3];

    let challenge = challenge(&app, "alice").await;
    let session = signed_in(second_step(&app, &challenge, recovery).await).await;
    assert_eq!(
        status_of(&app, &session).await["recovery_codes_left"],
        json!(9)
    );
    let challenge = self::challenge(&app, "alice").await;
    let r = second_step(&app, &challenge, recovery).await;
    assert_problem(r, 400, "invalid_code").await;
    // The others still work.
    signed_in(second_step(&app, &challenge, &alice.recovery_codes[4]).await).await;
}

#[tokio::test]
async fn new_recovery_codes_replace_the_old_ones() {
    let app = TestApp::spawn().await;
    let alice = enrol(&app, "alice").await;
    let path = "/auth/v1/me/second-factor/recovery-codes";

    // A recovery code does not renew the recovery codes; a wrong code neither.
    let r = app
        .post(path, &alice.user.token)
        .json(&json!({"code": alice.recovery_codes[0]}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 400, "invalid_code").await;

    next_step(&app);
    let renewed = json_ok(
        app.post(path, &alice.user.token)
            .json(&json!({"code": alice.code(&app)}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let fresh: Vec<String> = serde_json::from_value(renewed["recovery_codes"].clone()).unwrap();
    assert_eq!(fresh.len(), 10);
    assert!(fresh.iter().all(|c| !alice.recovery_codes.contains(c)));

    let challenge = challenge(&app, "alice").await;
    let r = second_step(&app, &challenge, &alice.recovery_codes[0]).await;
    assert_problem(r, 400, "invalid_code").await;
    signed_in(second_step(&app, &challenge, &fresh[0]).await).await;
}

#[tokio::test]
async fn turning_it_off_needs_a_code_or_a_recovery_code() {
    let app = TestApp::spawn().await;
    let alice = enrol(&app, "alice").await;
    let bob = enrol(&app, "bob").await;

    let r = app
        .delete("/auth/v1/me/second-factor", &alice.user.token)
        .json(&json!({ "code": wrong_code(&alice.secret, &app) }))
        .send()
        .await
        .unwrap();
    assert_problem(r, 400, "invalid_code").await;
    next_step(&app);
    let r = app
        .delete("/auth/v1/me/second-factor", &alice.user.token)
        .json(&json!({ "code": alice.code(&app) }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    signed_in(app.login("alice", PASSWORD).await).await;
    assert_eq!(
        status_of(&app, &alice.user.token).await,
        json!({"enabled": false, "pending": false, "recovery_codes_left": 0})
    );
    let r = app
        .delete("/auth/v1/me/second-factor", &alice.user.token)
        .json(&json!({ "code": alice.code(&app) }))
        .send()
        .await
        .unwrap();
    assert_problem(r, 409, "second_factor_not_enabled").await;

    let r = app
        .delete("/auth/v1/me/second-factor", &bob.user.token)
        .json(&json!({ "code": bob.recovery_codes[9] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    signed_in(app.login("bob", PASSWORD).await).await;
}

#[tokio::test]
async fn an_administrator_resets_a_lost_second_factor() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let mallory = app.user("mallory").await;
    let alice = enrol(&app, "alice").await;
    let path = format!("/auth/v1/admin/users/{}/reset-second-factor", alice.user.id);

    let r = app.post(&path, &mallory.token).send().await.unwrap();
    assert_problem(r, 403, "forbidden").await;
    challenge(&app, "alice").await;

    let r = app.post(&path, &root.token).send().await.unwrap();
    assert_eq!(r.status(), 204);
    signed_in(app.login("alice", PASSWORD).await).await;
    // She may enrol again.
    let r = app
        .post("/auth/v1/me/second-factor", &alice.user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let r = app
        .post(
            &format!(
                "/auth/v1/admin/users/{}/reset-second-factor",
                uuid::Uuid::nil()
            ),
            &root.token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[cfg(all(feature = "alsid", feature = "glowmarkt"))]
#[tokio::test]
async fn surfaces_without_a_second_step_refuse_the_password_alone() {
    let app = TestApp::spawn().await;
    let alice = enrol(&app, "alice").await;
    let org = app
        .accounts
        .create_org(&Actor::operator(), "Energy app")
        .await
        .unwrap()
        .id;
    app.accounts
        .set_member(&Actor::operator(), org, alice.user.id, OrgRole::Member)
        .await
        .unwrap();

    // Alsid: `POST /api/login`.
    let r = app
        .client
        .post(app.url("/api/login"))
        .header("Content-Type", "application/json")
        .body(json!({"email": "alice@example.com", "password": PASSWORD}).to_string())
        .send()
        .await
        .unwrap();
    let body = json_ok(r, 401).await;
    assert!(body.get("authToken").is_none(), "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("two-factor"),
        "{body}"
    );

    // Glowmarkt: `POST /api/v0-1/auth`.
    let r = app
        .client
        .post(app.url("/api/v0-1/auth"))
        .header("applicationId", org.to_string())
        .json(&json!({"username": "alice@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let body = json_ok(r, 401).await;
    assert!(body.get("token").is_none(), "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("two-factor"),
        "{body}"
    );

    // An application alice is not in answers her right password exactly like a wrong one:
    // nothing about her second factor shows to a non-member.
    let other = app
        .accounts
        .create_org(&Actor::operator(), "Other app")
        .await
        .unwrap()
        .id;
    let mut answers = Vec::new();
    for password in [PASSWORD, "not her password at all"] {
        let r = app
            .client
            .post(app.url("/api/v0-1/auth"))
            .header("applicationId", other.to_string())
            .json(&json!({"username": "alice@example.com", "password": password}))
            .send()
            .await
            .unwrap();
        answers.push(json_ok(r, 401).await);
    }
    assert_eq!(answers[0], answers[1]);

    // Neither left a session behind: only the one that enrolled is there.
    let principal = app.accounts.authenticate(&alice.user.token).await.unwrap();
    assert_eq!(app.accounts.sessions(&principal).await.unwrap().len(), 1);
}

// ---------------------------------------------------------------- secrets at rest

/// Whoever reads the database (a backup, a stolen file) finds no TOTP secret that makes
/// codes: it is sealed with the server key, which lives elsewhere.
#[tokio::test]
async fn reading_the_database_yields_no_working_totp_secret() {
    let app = TestApp::spawn().await;
    let alice = enrol(&app, "alice").await;
    let stored = app.store.totp(alice.user.id).await.unwrap().unwrap().secret;
    assert_ne!(
        stored, alice.secret,
        "the TOTP secret is stored in plaintext"
    );
    assert!(
        !stored
            .windows(alice.secret.len())
            .any(|w| w == alice.secret),
        "the secret is inside what is stored"
    );
    assert!(accounts::sealing::is_sealed(&stored));
    assert_ne!(code_at(&stored, step_of(app.clock.now())), alice.code(&app));
    // The server itself still reads it.
    next_step(&app);
    let challenge = challenge(&app, "alice").await;
    signed_in(second_step(&app, &challenge, &alice.code(&app)).await).await;
}

/// A server started with another key neither accepts nor misreads codes: it refuses, and
/// says which key the secret needs; at start it refuses to serve at all.
#[tokio::test]
async fn a_server_with_another_key_refuses_to_verify_and_names_the_key() {
    let app = TestApp::spawn().await;
    let alice = enrol(&app, "alice").await;
    let sealed_with = app.accounts.sealer().ring().current().id().to_string();
    let other = accounts::Accounts::new(
        app.store.clone(),
        std::sync::Arc::new(accounts::testkit::MemoryFileStore::default()),
        app.clock.clone(),
        accounts::testkit::cheap_hasher(),
        app.accounts.config().clone(),
    )
    .with_sealer(accounts::sealing::Sealer::ephemeral());
    next_step(&app);
    let challenge = challenge(&app, "alice").await;
    let err = other
        .login_second_factor(
            &challenge,
            &alice.code(&app),
            accounts::ClientInfo::default(),
        )
        .await
        .unwrap_err();
    let text = format!("{err}: {:?}", std::error::Error::source(&err));
    assert!(
        matches!(err, accounts::LoginError::Store(_)),
        "not a wrong code: {text}"
    );
    let keys = gatehouse::server_key::KeySettings::in_data_dir(app.dir.path());
    let refused = gatehouse::app::seal_stored_secrets(&other, &keys)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains(&sealed_with) && refused.contains("not the key"),
        "{refused}"
    );
}

/// Secrets stored in plaintext by earlier versions are sealed at start and keep working.
#[tokio::test]
async fn plaintext_totp_secrets_from_before_sealing_are_sealed_at_start() {
    use accounts::at_rest::SealPass;
    let app = TestApp::spawn().await;
    let bob = app.user("bob").await;
    let plain = accounts::totp::new_secret();
    let now = app.clock.now();
    assert!(app.store.begin_totp(bob.id, &plain, now).await.unwrap());
    assert!(app.store.confirm_totp(bob.id, 0, &[], now).await.unwrap());

    let report = app
        .accounts
        .seal_stored_secrets(SealPass::Migrate)
        .await
        .unwrap();
    assert_eq!(report.sealed_plaintext, 1, "{report:?}");
    let stored = app.store.totp(bob.id).await.unwrap().unwrap().secret;
    assert!(accounts::sealing::is_sealed(&stored));
    let again = app
        .accounts
        .seal_stored_secrets(SealPass::Migrate)
        .await
        .unwrap();
    assert_eq!((again.sealed_plaintext, again.kept), (0, 1));

    let challenge = challenge(&app, "bob").await;
    let code = code_at(&plain, step_of(app.clock.now()));
    signed_in(second_step(&app, &challenge, &code).await).await;
}

/// `gatehouse key rotate` with the key file: every secret is re-sealed under a new key, the
/// old key leaves the file, and a server that loaded the old file follows on its own.
#[tokio::test]
async fn rotating_the_key_reseals_every_secret_and_drops_the_old_key() {
    use accounts::sealing::Purpose;
    use gatehouse::server_key::{open_sealer, KeySettings};
    let app = TestApp::spawn().await;
    let data = tempfile::tempdir().unwrap();
    use gatehouse::config::{Given, Settings, Source};
    let settings = Settings::resolve(
        Given::default()
            .set(
                "data_dir",
                data.path().display().to_string(),
                Source::Environment,
            )
            .set("database_url", app.database_url(), Source::Environment),
    )
    .unwrap();
    let keys = KeySettings::in_data_dir(data.path());
    let running = gatehouse::app::open_with_key(&settings, &keys)
        .await
        .unwrap();
    let old = running.sealer().ring().current().id();
    let mut secrets = Vec::new();
    for name in ["carol", "dave"] {
        let user = app.user(name).await;
        let plain = accounts::totp::new_secret();
        let sealed = running
            .sealer()
            .seal(Purpose::Totp, &user.id.to_string(), &plain);
        assert!(app
            .store
            .begin_totp(user.id, &sealed, app.clock.now())
            .await
            .unwrap());
        secrets.push((user.id, plain));
    }

    gatehouse::cli::run_key_command(gatehouse::cli::KeyCommand::Rotate, &settings, &keys)
        .await
        .unwrap();

    let after = open_sealer(&keys).unwrap();
    let ring = after.ring();
    assert_ne!(ring.current().id(), old);
    assert_eq!(ring.keys().len(), 1, "the old key is dropped");
    for (user, plain) in &secrets {
        let stored = app.store.totp(*user).await.unwrap().unwrap().secret;
        assert!(after.is_current(&stored));
        assert_eq!(
            &after
                .open(Purpose::Totp, &user.to_string(), &stored)
                .unwrap(),
            plain
        );
        // The server started before the rotation rereads the key file.
        assert_eq!(
            &running
                .sealer()
                .open(Purpose::Totp, &user.to_string(), &stored)
                .unwrap(),
            plain
        );
    }
}

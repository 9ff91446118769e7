//! Sign-up, e-mail verification, password reset and change, sessions, throttling, audit:
//! every flow over HTTP, with its failures.

use serde_json::{json, Value};

use crate::helpers::{assert_problem, TestApp, PASSWORD};

const NEW_PASSWORD: &str = "a completely new passphrase";

async fn signup(app: &TestApp, username: &str, email: &str) -> reqwest::Response {
    app.client
        .post(app.url("/auth/v1/signup"))
        .json(&json!({"username": username, "email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
}

async fn post_json(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn sign_up_then_verify_with_the_emailed_code_then_sign_in() {
    let app = TestApp::spawn().await;
    let r = signup(&app, "newbie", "newbie@example.com").await;
    assert_eq!(r.status(), 202);

    let r = app.login("newbie", PASSWORD).await;
    assert_problem(r, 403, "email_not_verified").await;

    let code = app.latest_code("newbie@example.com").await;
    assert_eq!(code.len(), 6);
    let r = post_json(
        &app,
        "/auth/v1/verify-email",
        json!({"email": "newbie@example.com", "code": code}),
    )
    .await;
    assert_eq!(r.status(), 204);
    let token = app.session("newbie", PASSWORD).await;
    let me: Value = app
        .get("/auth/v1/me", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["status"], "active");
    assert_eq!(me["email_verified"], true);

    // The code was single use.
    let r = post_json(
        &app,
        "/auth/v1/verify-email",
        json!({"email": "newbie@example.com", "code": code}),
    )
    .await;
    assert_problem(r, 400, "invalid_code").await;
}

#[tokio::test]
async fn sign_up_answers_alike_for_taken_names_and_addresses() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    let fresh = signup(&app, "fresh", "fresh@example.com").await;
    let taken_email = signup(&app, "someone", "alice@example.com").await;
    let taken_name = signup(&app, "alice", "other@example.com").await;
    let mut bodies = Vec::new();
    for r in [fresh, taken_email, taken_name] {
        assert_eq!(r.status(), 202);
        bodies.push(r.text().await.unwrap());
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");

    // The owners of the addresses learn what happened by e-mail.
    let to_alice = app.mail_to("alice@example.com").await;
    assert_eq!(to_alice.len(), 1);
    assert!(to_alice[0].subject.contains("already have an account"));
    assert!(
        app.accounts.find_user("someone").await.is_err(),
        "nothing created"
    );
}

/// Whoever holds the address a sign-up names learns nothing about whether the username it
/// chose exists: the same mail comes either way (issue 13, point 20). The account is made
/// under the name with a suffix, which its owner sees once signed in.
#[tokio::test]
async fn a_stranger_cannot_learn_from_the_sign_up_mail_whether_a_username_exists() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    assert_eq!(
        signup(&app, "alice", "prober@example.com").await.status(),
        202
    );
    assert_eq!(
        signup(&app, "nobody-yet", "control@example.com")
            .await
            .status(),
        202
    );
    let probe = app.mail_to("prober@example.com").await;
    let control = app.mail_to("control@example.com").await;
    assert_eq!((probe.len(), control.len()), (1, 1));
    assert_eq!(probe[0].subject, control[0].subject);
    // The same text but for the name as typed, the code and the link.
    let shape = |text: &str, name: &str| {
        text.replace(name, "NAME")
            .split_whitespace()
            .filter(|w| !w.chars().any(|c| c.is_ascii_digit()) && !w.contains("token="))
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        shape(&probe[0].text, "alice"),
        shape(&control[0].text, "nobody-yet")
    );
    // The prober's account exists under a suffixed name and verifies like any other.
    let made = app.accounts.find_user("prober@example.com").await.unwrap();
    assert!(
        made.username.as_str().starts_with("alice-"),
        "{}",
        made.username
    );
    let alice = app.accounts.find_user("alice").await.unwrap();
    assert_eq!(alice.email.as_str(), "alice@example.com");
}

#[tokio::test]
async fn concurrent_sign_ups_with_one_address_create_exactly_one_account() {
    // Eight mails to one address: above the default cap per recipient, which is not tested here.
    let app = TestApp::spawn_with(|c| c.throttle.mail_per_recipient = 100).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let request = app
            .client
            .post(app.url("/auth/v1/signup"))
            .json(&json!({"username": format!("racer{i}"), "email": "race@example.com", "password": PASSWORD}));
        tasks.push(tokio::spawn(async move {
            request.send().await.unwrap().status().as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 202);
    }
    let mut owners = 0;
    for i in 0..8 {
        if app.accounts.find_user(&format!("racer{i}")).await.is_ok() {
            owners += 1;
        }
    }
    assert_eq!(owners, 1);
    let mails = app.mail_to("race@example.com").await;
    assert_eq!(mails.len(), 8);
    assert_eq!(
        mails
            .iter()
            .filter(|m| m.subject.contains("Confirm"))
            .count(),
        1
    );
}

#[tokio::test]
async fn five_wrong_codes_kill_the_code() {
    let app = TestApp::spawn().await;
    signup(&app, "guesser", "guesser@example.com").await;
    let code = app.latest_code("guesser@example.com").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        let r = post_json(
            &app,
            "/auth/v1/verify-email",
            json!({"email": "guesser@example.com", "code": wrong}),
        )
        .await;
        assert_problem(r, 400, "invalid_code").await;
    }
    let r = post_json(
        &app,
        "/auth/v1/verify-email",
        json!({"email": "guesser@example.com", "code": code}),
    )
    .await;
    assert_problem(r, 400, "invalid_code").await;

    // A new code (resend) works, and replaced the old one.
    let r = post_json(
        &app,
        "/auth/v1/verify-email/resend",
        json!({"email": "guesser@example.com"}),
    )
    .await;
    assert_eq!(r.status(), 202);
    let fresh = app.latest_code("guesser@example.com").await;
    let r = post_json(
        &app,
        "/auth/v1/verify-email",
        json!({"email": "guesser@example.com", "code": fresh}),
    )
    .await;
    assert_eq!(r.status(), 204);
}

#[tokio::test]
async fn expired_codes_and_codes_of_another_purpose_are_refused() {
    let app = TestApp::spawn().await;
    signup(&app, "slow", "slow@example.com").await;
    let code = app.latest_code("slow@example.com").await;
    app.clock.advance(chrono::Duration::minutes(11));
    let r = post_json(
        &app,
        "/auth/v1/verify-email",
        json!({"email": "slow@example.com", "code": code}),
    )
    .await;
    assert_problem(r, 400, "invalid_code").await;

    // A reset code cannot verify an address, and a verification code cannot reset.
    app.user("alice").await;
    post_json(&app, "/auth/v1/password/forgot", json!({"login": "alice"})).await;
    let reset_code = app.latest_code("alice@example.com").await;
    let r = post_json(
        &app,
        "/auth/v1/verify-email",
        json!({"email": "alice@example.com", "code": reset_code}),
    )
    .await;
    assert_problem(r, 400, "invalid_code").await;
    post_json(
        &app,
        "/auth/v1/verify-email/resend",
        json!({"email": "slow@example.com"}),
    )
    .await;
    let verify_code = app.latest_code("slow@example.com").await;
    let r = post_json(
        &app,
        "/auth/v1/password/reset",
        json!({"email": "slow@example.com", "code": verify_code, "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_problem(r, 400, "invalid_code").await;
}

#[tokio::test]
async fn password_reset_by_code_ends_every_session_and_never_reveals_accounts() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let session = app.session("alice", PASSWORD).await;

    let known = post_json(
        &app,
        "/auth/v1/password/forgot",
        json!({"login": "alice@example.com"}),
    )
    .await;
    let unknown = post_json(
        &app,
        "/auth/v1/password/forgot",
        json!({"login": "nobody@example.com"}),
    )
    .await;
    assert_eq!(known.status(), 202);
    assert_eq!(unknown.status(), 202);
    assert_eq!(known.text().await.unwrap(), unknown.text().await.unwrap());
    assert!(app.mail_to("nobody@example.com").await.is_empty());

    let code = app.latest_code("alice@example.com").await;
    let r = post_json(
        &app,
        "/auth/v1/password/reset",
        json!({"email": "alice@example.com", "code": code, "new_password": "short"}),
    )
    .await;
    assert_problem(r, 400, "weak_password").await;
    let r = post_json(
        &app,
        "/auth/v1/password/reset",
        json!({"email": "alice@example.com", "code": code, "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(r.status(), 204);

    assert_eq!(
        app.status_with("/auth/v1/me", &session).await,
        401,
        "sessions ended"
    );
    assert_eq!(
        app.status_with("/auth/v1/me", &alice.token).await,
        401,
        "API tokens are revoked too"
    );
    assert_eq!(app.login("alice", PASSWORD).await.status(), 401);
    assert_eq!(app.login("alice", NEW_PASSWORD).await.status(), 200);
    let r = post_json(&app, "/auth/v1/password/reset", json!({"email": "alice@example.com", "code": code, "new_password": "yet another passphrase!"})).await;
    assert_problem(r, 400, "invalid_code").await;
}

#[tokio::test]
async fn weak_and_personal_passwords_are_refused_at_sign_up_with_a_reason() {
    let app = TestApp::spawn().await;
    for (password, username) in [
        ("password1", "weakling"),
        ("weakling2024", "weakling"),
        ("short", "weakling"),
    ] {
        let r = post_json(
            &app,
            "/auth/v1/signup",
            json!({"username": username, "email": "w@example.com", "password": password}),
        )
        .await;
        let body = assert_problem(r, 400, "weak_password").await;
        assert_eq!(body["field"], "password");
    }
    let long = "x".repeat(60) + " a long passphrase is welcome here";
    let r = post_json(
        &app,
        "/auth/v1/signup",
        json!({"username": "longpass", "email": "l@example.com", "password": long}),
    )
    .await;
    assert_eq!(r.status(), 202);
}

#[tokio::test]
async fn sign_up_can_be_closed_or_limited_to_domains() {
    let app = TestApp::spawn_with(|c| c.signup.enabled = false).await;
    assert_problem(
        signup(&app, "xone", "x1@example.com").await,
        403,
        "signup_closed",
    )
    .await;
    let app = TestApp::spawn_with(|c| c.signup.allowed_domains = vec!["corp.example".into()]).await;
    assert_problem(
        signup(&app, "xtwo", "x2@example.com").await,
        403,
        "domain_not_allowed",
    )
    .await;
    assert_eq!(
        signup(&app, "xthree", "x3@corp.example").await.status(),
        202
    );
}

#[tokio::test]
async fn change_password_checks_the_current_one_and_can_end_other_sessions() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    let here = app.session("alice", PASSWORD).await;
    let elsewhere = app.session("alice", PASSWORD).await;
    let change = |current: &str, new: &str, end: bool| {
        app.post("/auth/v1/password/change", &here)
            .json(&json!({"current_password": current, "new_password": new, "end_other_sessions": end}))
            .send()
    };
    let r = change("wrong password!!", NEW_PASSWORD, true)
        .await
        .unwrap();
    assert_eq!(
        assert_problem(r, 400, "wrong_password").await["field"],
        "current_password"
    );
    let r = change(PASSWORD, "alice12345", true).await.unwrap();
    assert_eq!(
        assert_problem(r, 400, "weak_password").await["field"],
        "new_password"
    );

    let r = change(PASSWORD, NEW_PASSWORD, false).await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        app.status_with("/auth/v1/me", &elsewhere).await,
        200,
        "kept"
    );
    let r = change(NEW_PASSWORD, "the third passphrase of alice", true)
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        app.status_with("/auth/v1/me", &elsewhere).await,
        401,
        "ended"
    );
    assert_eq!(
        app.status_with("/auth/v1/me", &here).await,
        200,
        "the current session stays"
    );
    let notices = app.mail_to("alice@example.com").await;
    assert_eq!(
        notices
            .iter()
            .filter(|m| m.subject.contains("password was changed"))
            .count(),
        2
    );
}

#[tokio::test]
async fn sessions_are_listed_and_can_be_ended() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    let mallory = app.user("mallory").await;
    let a = app.session("alice", PASSWORD).await;
    let b = app.session("alice", PASSWORD).await;
    let c = app.session("alice", PASSWORD).await;
    let listed: Value = app
        .get("/auth/v1/sessions", &a)
        .header("user-agent", "spec-agent")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = listed["sessions"].as_array().unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed.iter().filter(|s| s["current"] == true).count(), 1);
    assert_eq!(listed[0]["client_ip"], "127.0.0.1");
    assert!(listed
        .iter()
        .all(|s| s.get("token").is_none() && s["created_at"].is_string()));

    let other_id = listed.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .delete(&format!("/auth/v1/sessions/{other_id}"), &mallory.token)
        .send()
        .await
        .unwrap();
    assert_problem(r, 404, "session_not_found").await;
    let r = app
        .delete(&format!("/auth/v1/sessions/{other_id}"), &a)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let left: Vec<Value> = app.items("/auth/v1/sessions", &a, "sessions").await;
    assert_eq!(left.len(), 2);

    let r = app
        .post("/auth/v1/sessions/end-others", &a)
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["ended"], 1);
    assert_eq!(app.status_with("/auth/v1/me", &b).await, 401);
    assert_eq!(app.status_with("/auth/v1/me", &c).await, 401);
    assert_eq!(app.status_with("/auth/v1/me", &a).await, 200);
    let r = app.delete("/auth/v1/sessions", &a).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["ended"], 1);
    assert_eq!(app.status_with("/auth/v1/me", &a).await, 401);
}

#[tokio::test]
async fn login_is_throttled_per_account_even_under_parallel_attempts() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    let mut tasks = Vec::new();
    for _ in 0..30 {
        let request = app
            .client
            .post(app.url("/auth/v1/login"))
            .json(&json!({"login": "alice", "password": "wrong guess"}));
        tasks.push(tokio::spawn(async move { request.send().await.unwrap() }));
    }
    let (mut refused, mut throttled) = (0, 0);
    for t in tasks {
        let r = t.await.unwrap();
        match r.status().as_u16() {
            401 => refused += 1,
            429 => {
                let retry: i64 = r.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!((1..=900).contains(&retry));
                throttled += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((refused, throttled), (10, 20));
    // Even the right password waits for the window ...
    assert_problem(app.login("alice", PASSWORD).await, 429, "throttled").await;
    // ... which ends: nobody is locked out for good.
    app.clock.advance(chrono::Duration::minutes(15));
    assert_eq!(app.login("alice", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn a_password_reset_lifts_the_login_throttle() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    for _ in 0..10 {
        app.login("alice", "wrong guess").await;
    }
    assert_eq!(app.login("alice", PASSWORD).await.status(), 429);
    post_json(&app, "/auth/v1/password/forgot", json!({"login": "alice"})).await;
    let code = app.latest_code("alice@example.com").await;
    let r = post_json(
        &app,
        "/auth/v1/password/reset",
        json!({"email": "alice@example.com", "code": code, "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(r.status(), 204);
    assert_eq!(app.login("alice", NEW_PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn code_entry_and_mail_requests_are_throttled() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(
            post_json(&app, "/auth/v1/password/forgot", json!({"login": "alice"}))
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [202, 202, 202, 202, 202, 429, 429]);
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let r = post_json(
            &app,
            "/auth/v1/verify-email",
            json!({"email": "alice@example.com", "code": "123456"}),
        )
        .await;
        statuses.push(r.status().as_u16());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        2,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn admins_read_the_audit_log_and_nobody_else_does() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    app.login("alice", "wrong password").await;
    app.session("alice", PASSWORD).await;
    let admin = app
        .accounts
        .create_user(accounts::NewUser {
            username: accounts::Username::parse("root").unwrap(),
            email: accounts::EmailAddress::parse("root@example.com").unwrap(),
            password: Some(accounts::Password::new_checked(PASSWORD.into()).unwrap()),
            is_admin: true,
            status: accounts::UserStatus::Active,
            email_verified: true,
        })
        .await
        .unwrap();
    let admin_session = app.session("root", PASSWORD).await;

    let r = app
        .get("/auth/v1/admin/audit", &alice.token)
        .send()
        .await
        .unwrap();
    assert_problem(r, 403, "forbidden").await;
    let r = app
        .client
        .get(app.url("/auth/v1/admin/audit"))
        .send()
        .await
        .unwrap();
    assert_problem(r, 401, "unauthorized").await;

    let url = format!("/auth/v1/admin/audit?action=login&user={}", alice.id);
    let events: Vec<Value> = app.items(&url, &admin_session, "events").await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["outcome"], "success");
    assert_eq!(events[1]["outcome"], "failure");
    assert_eq!(events[1]["client_ip"], "127.0.0.1");
    assert!(events.iter().all(|e| e["subject"] == alice.id.to_string()));
    let page: Value = app
        .get("/auth/v1/admin/audit?limit=1", &admin_session)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["events"].as_array().unwrap().len(), 1);
    assert_eq!(page["events"][0]["actor"], admin.id.to_string());
    assert!(page["next"].is_string() && page["prev"].is_null());
    let r = app
        .get("/auth/v1/admin/audit?limit=lots", &admin_session)
        .send()
        .await
        .unwrap();
    assert_problem(r, 400, "invalid_query").await;
}

/// Every audit event the admin API lists (newest first).
async fn audit_events(app: &TestApp, admin_token: &str) -> Vec<Value> {
    app.all_items("/auth/v1/admin/audit", admin_token, "events")
        .await
}

fn about_throttling(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| {
            e["action"] == "throttled"
                || e["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("throttled"))
        })
        .collect()
}

#[tokio::test]
async fn throttled_requests_write_one_audit_row_per_limit_and_key_not_one_each() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    app.user("alice").await;
    let long_agent = "x".repeat(512);
    let attempt = || {
        app.client
            .post(app.url("/auth/v1/login"))
            .header("user-agent", long_agent.as_str())
            .json(&json!({"login": "alice", "password": "wrong guess"}))
            .send()
    };
    for _ in 0..10 {
        assert_eq!(attempt().await.unwrap().status(), 401);
    }
    for _ in 0..50 {
        assert_eq!(attempt().await.unwrap().status(), 429);
    }
    let events = audit_events(&app, &root.token).await;
    let throttled = about_throttling(&events);
    assert_eq!(
        throttled.len(),
        1,
        "{} audit rows for 50 throttled requests",
        throttled.len()
    );
    let row = throttled[0];
    assert!(row["user_agent"].is_null(), "{row}");
    assert!(
        row["detail"].as_str().unwrap().contains("login:pair:user:"),
        "{row}"
    );

    // A few minutes later the wait is over for one more try, then refuses again (twice as
    // long); the next record carries the count.
    app.clock.advance(chrono::Duration::minutes(5));
    assert_eq!(attempt().await.unwrap().status(), 401);
    for _ in 0..2 {
        assert_eq!(attempt().await.unwrap().status(), 429);
    }
    let events = audit_events(&app, &root.token).await;
    let throttled = about_throttling(&events);
    assert_eq!(throttled.len(), 2, "{throttled:?}");
    let detail = throttled[0]["detail"].as_str().unwrap();
    assert!(detail.contains("50 refused"), "{detail}");
}

#[tokio::test]
async fn audit_events_older_than_the_retention_are_pruned() {
    let app = TestApp::spawn_with(|c| c.audit_retention = chrono::Duration::days(30)).await;
    let root = app.admin("root").await;
    app.user("alice").await;
    app.login("alice", "wrong password").await;
    app.clock.advance(chrono::Duration::days(31));
    app.login("alice", "wrong again").await;
    let failed_logins = |events: &[Value]| {
        events
            .iter()
            .filter(|e| e["detail"] == "invalid credentials")
            .count()
    };
    let before = audit_events(&app, &root.token).await;
    assert_eq!(failed_logins(&before), 2);
    let pruned = app.accounts.prune_audit().await.unwrap();
    let after = audit_events(&app, &root.token).await;
    assert!(pruned > 0, "nothing pruned");
    assert_eq!(pruned, (before.len() - after.len()) as u64);
    assert_eq!(failed_logins(&after), 1, "the recent event stays");
}

//! The web pages over HTTP: cookies and their attributes, CSRF refusals, security headers,
//! the e-mailed link pages, first-run setup, the account pages and their errors. The
//! headless-Chromium suite (tests/web) walks the same pages in a real browser.

use accounts::access::RoleId;
use accounts::totp::{code_at, step_of};
use accounts::Clock;

use crate::browser::Browser;
use crate::helpers::{multipart_file, png_with_metadata, TestApp, PASSWORD};
use crate::native_second_factor::base32_decode;

const NEW_PASSWORD: &str = "a brand new passphrase";

#[tokio::test]
async fn pages_carry_a_strict_content_security_policy_and_an_httponly_csrf_cookie() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new(&app);
    let page = browser.get("/signin").await;
    assert_eq!(page.status, 200);
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(part), "{part} in {csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert_eq!(page.headers["cache-control"], "no-store");
    assert!(!page.html.contains("<script>"), "no inline script");
    assert!(!page.html.contains("style=\""), "no inline style");
    let csrf_cookie = page
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("gatehouse_csrf="))
        .expect("a CSRF cookie");
    assert!(csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Lax"));
    assert!(!csrf_cookie.contains("Secure"), "plain http here");
    let token = browser.csrf().unwrap().to_owned();
    assert!(token.len() >= 43, "256 bits: {token}");
    assert!(
        page.html
            .contains(&format!("name=\"csrf\" value=\"{token}\"")),
        "the form carries the cookie's token"
    );
    for asset in ["/static/gatehouse.css", "/static/gatehouse.js"] {
        assert_eq!(browser.get(asset).await.status, 200, "{asset}");
    }
}

#[tokio::test]
async fn a_form_without_the_token_or_from_another_site_changes_nothing() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    let mut browser = Browser::new(&app);
    browser.get("/signin").await;
    let creds = [("login", "alice"), ("password", PASSWORD)];

    let missing = browser.post_exactly("/signin", &creds, &[]).await;
    assert_eq!(missing.status, 403);
    let wrong = browser
        .post_exactly(
            "/signin",
            &[creds[0], creds[1], ("csrf", "not-the-token")],
            &[],
        )
        .await;
    assert_eq!(wrong.status, 403);
    let token = browser.csrf().unwrap().to_owned();
    let cross_site = browser
        .post_exactly(
            "/signin",
            &[creds[0], creds[1], ("csrf", &token)],
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(cross_site.status, 403);
    assert!(cross_site
        .html
        .contains("expired or did not come from this site"));
    assert!(browser.session().is_none(), "no session was made");

    // With no CSRF cookie at all, a guessed field is refused too.
    let mut stranger = Browser::new(&app);
    let page = stranger
        .post_exactly("/signin", &[creds[0], creds[1], ("csrf", "x")], &[])
        .await;
    assert_eq!(page.status, 403);
}

#[tokio::test]
async fn signing_in_sets_a_new_httponly_session_cookie_each_time() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    let mut browser = Browser::new(&app);
    let before = {
        browser.get("/signin").await;
        browser.csrf().unwrap().to_owned()
    };
    let page = browser.sign_in("alice", PASSWORD).await;
    assert_eq!(page.location(), "/account");
    let cookie = page
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("gatehouse_session="))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert_ne!(
        browser.csrf().unwrap(),
        before,
        "the CSRF token is replaced"
    );
    let first = browser.session().unwrap().to_owned();
    assert_eq!(app.status_with("/auth/v1/me", &first).await, 200);
    let account = browser.get("/account").await;
    assert_eq!(account.status, 200);
    assert_eq!(account.text_of("account-username").unwrap(), "alice");

    // Signing in again rotates: the old session ends.
    browser.sign_in("alice", PASSWORD).await;
    let second = browser.session().unwrap().to_owned();
    assert_ne!(first, second);
    assert_eq!(app.status_with("/auth/v1/me", &first).await, 401);
    assert_eq!(app.status_with("/auth/v1/me", &second).await, 200);

    // Signing out ends the session and clears the cookie.
    let out = browser.post("/signout", &[]).await;
    assert_eq!(out.location(), "/signin");
    assert!(browser.session().is_none());
    assert_eq!(app.status_with("/auth/v1/me", &second).await, 401);
    assert_eq!(browser.get("/account").await.status, 303);
}

#[tokio::test]
async fn over_https_the_cookies_are_secure_and_host_only() {
    let app = TestApp::spawn_with(|c| c.public_url = "https://id.example.com".into()).await;
    app.user("alice").await;
    let mut browser = Browser::new(&app);
    let page = browser.get("/signin").await;
    let csrf = page.set_cookies().join("\n");
    assert!(
        csrf.contains("__Host-gatehouse_csrf=") && csrf.contains("; Secure"),
        "{csrf}"
    );
    let page = browser
        .post("/signin", &[("login", "alice"), ("password", PASSWORD)])
        .await;
    assert_eq!(page.status, 303);
    let session = page
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("__Host-gatehouse_session="))
        .expect("a host-only session cookie");
    assert!(session.contains("; Secure") && session.contains("HttpOnly"));
}

#[tokio::test]
async fn sign_in_errors_stand_next_to_the_password_and_do_not_tell_accounts_apart() {
    let app = TestApp::spawn_with(|c| c.throttle.login_per_account = 3).await;
    app.user("alice").await;
    let mut browser = Browser::new(&app);
    let wrong = browser
        .post(
            "/signin",
            &[("login", "alice"), ("password", "not it at all")],
        )
        .await;
    let unknown = browser
        .post(
            "/signin",
            &[("login", "nobody"), ("password", "not it at all")],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, 401);
    assert_eq!(
        wrong.text_of("password-error"),
        unknown.text_of("password-error")
    );
    assert!(wrong.html.contains("aria-invalid=\"true\""));
    assert!(wrong.html.contains("value=\"alice\""), "the login is kept");
    for _ in 0..3 {
        browser
            .post(
                "/signin",
                &[("login", "alice"), ("password", "still not it")],
            )
            .await;
    }
    let throttled = browser
        .post("/signin", &[("login", "alice"), ("password", PASSWORD)])
        .await;
    assert_eq!(throttled.status, 429);
    assert!(throttled.headers.contains_key("retry-after"));
    assert!(throttled.text_of("form-error").is_some());
}

#[tokio::test]
async fn pages_that_need_a_session_send_the_browser_to_sign_in_and_back() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    let mut browser = Browser::new(&app);
    let page = browser.get("/account/tokens").await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location(), "/signin?next=%2Faccount%2Ftokens");
    browser.get("/signin?next=%2Faccount%2Ftokens").await;
    let page = browser
        .post(
            "/signin",
            &[
                ("login", "alice"),
                ("password", PASSWORD),
                ("next", "/account/tokens"),
            ],
        )
        .await;
    assert_eq!(page.location(), "/account/tokens");

    // Only to a path on this site.
    for evil in [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "/\t/evil.example/x",
        "/\n/evil.example/x",
        "/\r/evil.example/x",
        "/ /evil.example/x",
    ] {
        let page = browser
            .post(
                "/signin",
                &[("login", "alice"), ("password", PASSWORD), ("next", evil)],
            )
            .await;
        assert_eq!(page.location(), "/account", "{evil}");
    }
    // An API token in the cookie is not a browser session.
    let api = app.user("bob").await;
    let mut other = Browser::new(&app);
    other.set_cookie("gatehouse_session", &api.token);
    assert_eq!(other.get("/account").await.status, 303);
}

#[tokio::test]
async fn sign_up_then_the_e_mailed_link_needs_a_click() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new(&app);
    browser.get("/signup").await;
    let page = browser
        .post(
            "/signup",
            &[
                ("username", "carol"),
                ("email", "carol@example.com"),
                ("name", "Carol"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location(), "/verify?login=carol%40example.com&sent=1");
    let mail = app.mail_to("carol@example.com").await;
    let text = &mail.last().unwrap().text;
    assert!(
        text.contains(&format!("{}/verify-email?token=", app.base)),
        "{text}"
    );
    let token = app.latest_link_token("carol@example.com").await;
    assert!(token.len() >= 22, "at least 128 bits: {token}");

    let link = browser.get(&format!("/verify-email?token={token}")).await;
    assert_eq!(link.status, 200);
    assert!(link.html.contains(&format!("value=\"{token}\"")));
    assert_eq!(
        app.login("carol", PASSWORD).await.status(),
        403,
        "opening the link confirmed nothing"
    );
    let confirmed = browser.post("/verify-email", &[("token", &token)]).await;
    assert_eq!(confirmed.location(), "/signin?done=verified");
    assert_eq!(app.login("carol", PASSWORD).await.status(), 200);
    let again = browser.post("/verify-email", &[("token", &token)]).await;
    assert_eq!(again.status, 400, "a used link is dead");
    let evil = browser.get("/verify-email?token=%22%3E%3Cscript%3E").await;
    assert!(!evil.html.contains("\"><script>"), "escaped");
}

#[tokio::test]
async fn sign_up_errors_stand_next_to_their_fields() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new(&app);
    let page = browser
        .post(
            "/signup",
            &[
                ("username", "d"),
                ("email", "not-an-address"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(page.text_of("username-error").is_some());
    assert!(page.text_of("email-error").is_some());
    let weak = browser
        .post(
            "/signup",
            &[
                ("username", "dave"),
                ("email", "dave@example.com"),
                ("password", "password"),
            ],
        )
        .await;
    assert_eq!(weak.status, 400);
    assert!(weak.text_of("password-error").is_some(), "{}", weak.html);
}

#[tokio::test]
async fn a_code_verifies_and_a_wrong_one_is_named_next_to_the_field() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new(&app);
    browser
        .post(
            "/signup",
            &[
                ("username", "erin"),
                ("email", "erin@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    let code = app.latest_code("erin@example.com").await;
    let wrong = browser
        .post("/verify", &[("login", "erin"), ("code", "000000")])
        .await;
    assert_eq!(wrong.status, 400);
    assert!(wrong.text_of("code-error").is_some());
    let right = browser
        .post("/verify", &[("login", "erin"), ("code", &code)])
        .await;
    assert_eq!(right.location(), "/signin?login=erin&done=verified");
    let page = browser.get(right.location()).await;
    assert!(page.text_of("note").unwrap().contains("confirmed"));
}

#[tokio::test]
async fn forgotten_password_answers_alike_and_resets_by_code_or_link() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    let mut browser = Browser::new(&app);
    let known = browser.post("/forgot", &[("login", "alice")]).await;
    let unknown = browser.post("/forgot", &[("login", "nobody")]).await;
    assert_eq!(known.status, 303);
    assert_eq!(unknown.status, 303);
    assert_eq!(known.location(), "/reset?login=alice&sent=1");
    assert_eq!(unknown.location(), "/reset?login=nobody&sent=1");

    let code = app.latest_code("alice@example.com").await;
    let reset = browser
        .post(
            "/reset",
            &[
                ("login", "alice"),
                ("code", &code),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(reset.location(), "/signin?login=alice&done=reset");
    assert_eq!(app.login("alice", NEW_PASSWORD).await.status(), 200);

    browser.post("/forgot", &[("login", "alice")]).await;
    let token = app.latest_link_token("alice@example.com").await;
    let page = browser.get(&format!("/reset-password?token={token}")).await;
    assert!(page.html.contains("new_password"));
    let weak = browser
        .post(
            "/reset-password",
            &[("token", &token), ("new_password", "password")],
        )
        .await;
    assert_eq!(weak.status, 400);
    assert!(weak.text_of("new_password-error").is_some());
    let done = browser
        .post(
            "/reset-password",
            &[
                ("token", &token),
                ("new_password", "and another passphrase"),
            ],
        )
        .await;
    assert_eq!(done.location(), "/signin?done=reset");
    assert_eq!(
        app.login("alice", "and another passphrase").await.status(),
        200
    );
}

#[tokio::test]
async fn first_run_setup_needs_the_printed_token_and_works_once() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new(&app);
    assert_eq!(browser.get("/setup?token=guess").await.status, 404);
    let token = app.setup.open();
    assert_eq!(browser.get("/setup").await.status, 404);
    let page = browser.get(&format!("/setup?token={token}")).await;
    assert_eq!(page.status, 200);

    let weak = browser
        .post(
            "/setup",
            &[
                ("token", &token),
                ("username", "root"),
                ("email", "root@example.com"),
                ("password", "password"),
            ],
        )
        .await;
    assert_eq!(weak.status, 400);
    assert!(weak.text_of("password-error").is_some());

    let created = browser
        .post(
            "/setup",
            &[
                ("token", &token),
                ("username", "root"),
                ("email", "root@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.html);
    assert_eq!(created.location(), "/admin");
    let root = app.accounts.find_user("root").await.unwrap();
    assert!(app.accounts.role_ids_of(&[root.id]).await.unwrap()[&root.id].contains(&RoleId::ADMIN));
    let session = browser.session().unwrap().to_owned();
    assert_eq!(app.status_with("/auth/v1/me", &session).await, 200);

    // The token is spent; and with an administrator the page stays closed.
    let again = browser
        .post(
            "/setup",
            &[
                ("token", &token),
                ("username", "root2"),
                ("email", "root2@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(again.status, 404);
    assert!(app.accounts.find_user("root2").await.is_err());
    assert!(!app.accounts.needs_first_admin().await.unwrap());
}

#[tokio::test]
async fn tokens_made_on_the_page_are_shown_once_and_work_on_the_api() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    let mut browser = Browser::new(&app);
    browser.sign_in("alice", PASSWORD).await;
    let page = browser
        .post(
            "/account/tokens",
            &[("name", "laptop"), ("expiry_days", "30")],
        )
        .await;
    assert_eq!(page.status, 201);
    let secret = page.text_of("new-token").unwrap();
    assert!(secret.starts_with("gh_"), "{secret}");
    let me = app.get("/auth/v1/me", &secret).send().await.unwrap();
    assert_eq!(me.status(), 200);
    let listed = browser.get("/account/tokens").await;
    assert!(!listed.html.contains(&secret), "shown once");
    assert!(listed.html.contains("laptop"));

    let bad = browser
        .post("/account/tokens", &[("name", "x"), ("expiry_days", "-3")])
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.text_of("expiry_days-error").is_some());

    let tokens = app
        .accounts
        .list_tokens(
            &accounts::Actor::operator(),
            app.accounts.find_user("alice").await.unwrap().id,
        )
        .await
        .unwrap();
    let laptop = tokens.iter().find(|t| t.name == "laptop").unwrap();
    let id = laptop.id.to_string();
    let disabled = browser
        .post(&format!("/account/tokens/{id}/disable"), &[])
        .await;
    assert_eq!(disabled.location(), "/account/tokens?done=token-disabled");
    assert_eq!(app.status_with("/auth/v1/me", &secret).await, 401);
    browser
        .post(&format!("/account/tokens/{id}/enable"), &[])
        .await;
    let rotated = browser
        .post(&format!("/account/tokens/{id}/rotate"), &[])
        .await;
    let new_secret = rotated.text_of("new-token").unwrap();
    assert_ne!(new_secret, secret);
    assert_eq!(app.status_with("/auth/v1/me", &new_secret).await, 200);
    browser
        .post(&format!("/account/tokens/{id}/delete"), &[])
        .await;
    assert_eq!(app.status_with("/auth/v1/me", &new_secret).await, 401);
    let unknown = browser
        .post("/account/tokens/not-a-token/delete", &[])
        .await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn profile_picture_and_password_pages() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    let mut browser = Browser::new(&app);
    browser.sign_in("alice", PASSWORD).await;

    // The whole form, as a browser sends it: every box, most of them empty.
    let page = browser.get("/account").await;
    let boxes: Vec<String> = page
        .html
        .split("<input id=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next().map(str::to_owned))
        .filter(|name| name != "picture")
        .collect();
    assert!(boxes.len() >= 16, "{boxes:?}");
    let mut fields: Vec<(&str, &str)> = boxes.iter().map(|b| (b.as_str(), "")).collect();
    for (name, value) in [
        ("name", "Alice Liddell"),
        ("website", "https://alice.example"),
    ] {
        fields.retain(|(n, _)| *n != name);
        fields.push((name, value));
    }
    let saved = browser.post("/account", &fields).await;
    assert_eq!(saved.location(), "/account?done=profile");
    let me = app.accounts.find_user("alice").await.unwrap();
    assert_eq!(me.profile.name.as_deref(), Some("Alice Liddell"));
    assert_eq!(me.profile.website.as_deref(), Some("https://alice.example"));
    let cleared = browser.post("/account", &[("website", "  ")]).await;
    assert_eq!(cleared.location(), "/account?done=profile");
    let me = app.accounts.find_user("alice").await.unwrap();
    assert_eq!(me.profile.website, None, "an emptied box clears the claim");
    assert_eq!(
        me.profile.name.as_deref(),
        Some("Alice Liddell"),
        "others kept"
    );
    let invalid = browser.post("/account", &[("website", "ftp://x")]).await;
    assert_eq!(invalid.status, 400);
    assert!(invalid.text_of("website-error").is_some());
    assert!(
        invalid.html.contains("value=\"ftp://x\""),
        "what was typed stays"
    );

    let uploaded = browser
        .post_file(
            "/account/picture",
            multipart_file(png_with_metadata(8, 8), "me.png"),
        )
        .await;
    assert_eq!(uploaded.location(), "/account?done=picture");
    let page = browser.get("/account").await;
    assert!(page.html.contains("id=\"avatar\""));
    assert!(
        page.html.contains("src=\"/auth/v1/pictures/"),
        "same-site path"
    );
    let not_image = browser
        .post_file(
            "/account/picture",
            multipart_file(b"not an image".to_vec(), "x.png"),
        )
        .await;
    assert_eq!(not_image.status, 400);
    assert!(not_image.text_of("picture-error").is_some());

    let wrong = browser
        .post(
            "/account/password",
            &[
                ("current_password", "not it"),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(wrong.status, 400);
    assert!(wrong.text_of("current_password-error").is_some());
    let mut other = Browser::new(&app);
    other.sign_in("alice", PASSWORD).await;
    let changed = browser
        .post(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("end_others", "1"),
            ],
        )
        .await;
    assert_eq!(changed.location(), "/account/password?done=password");
    assert_eq!(browser.get("/account").await.status, 200, "this one stays");
    assert_eq!(other.get("/account").await.status, 303, "the other ended");
}

#[tokio::test]
async fn sessions_page_lists_and_ends_sessions() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    let mut phone = Browser::new(&app);
    phone.sign_in("alice", PASSWORD).await;
    let mut laptop = Browser::new(&app);
    laptop.sign_in("alice", PASSWORD).await;
    let page = laptop.get("/account/sessions").await;
    assert_eq!(page.html.matches("class=\"session").count(), 2);
    assert!(page.html.contains("this browser"));
    let ended = laptop.post("/account/sessions/end-others", &[]).await;
    assert_eq!(ended.location(), "/account/sessions?done=sessions-ended");
    assert_eq!(phone.get("/account").await.status, 303);
    let page = laptop.get("/account/sessions").await;
    assert_eq!(page.html.matches("class=\"session").count(), 1);
    let own = page
        .html
        .split("/account/sessions/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let out = laptop
        .post(&format!("/account/sessions/{own}/end"), &[])
        .await;
    assert_eq!(out.location(), "/signin", "ending this one signs out");
    assert_eq!(laptop.get("/account").await.status, 303);
}

/// A browser left signed in cannot change the second factor until the page's step proves
/// the password again.
#[tokio::test]
async fn a_browser_left_signed_in_must_confirm_its_password_before_changing_two_factor() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    let mut browser = Browser::new(&app);
    browser.sign_in("alice", PASSWORD).await;
    app.clock.advance(chrono::Duration::minutes(11));
    let asked = browser.post("/account/two-factor/begin", &[]).await;
    assert_eq!(asked.status, 403);
    assert!(asked.html.contains("id=\"reauth-form\""), "{}", asked.html);
    assert!(!asked.html.contains("totp-secret"));
    let wrong = browser
        .post(
            "/account/two-factor/reauthenticate",
            &[("reauth-password", "not the password at all")],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.text_of("reauth-password-error").is_some());
    let confirmed = browser
        .post(
            "/account/two-factor/reauthenticate",
            &[("reauth-password", PASSWORD)],
        )
        .await;
    assert_eq!(confirmed.status, 303);
    let enrolling = browser.post("/account/two-factor/begin", &[]).await;
    assert_eq!(enrolling.status, 200);
    assert!(enrolling.text_of("totp-secret").is_some());
}

#[tokio::test]
async fn two_factor_enrolment_and_sign_in_through_the_pages() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    let mut browser = Browser::new(&app);
    browser.sign_in("alice", PASSWORD).await;
    let page = browser.get("/account/two-factor").await;
    assert!(page.text_of("two-factor-status").unwrap().contains("off"));
    let enrolling = browser.post("/account/two-factor/begin", &[]).await;
    assert!(enrolling.html.contains("src=\"data:image/svg+xml;base64,"));
    let secret = enrolling.text_of("totp-secret").unwrap();
    let wrong = browser
        .post("/account/two-factor/confirm", &[("code", "000000")])
        .await;
    assert_eq!(wrong.status, 400);
    assert!(wrong.text_of("code-error").is_some());
    let code = code_at(&base32_decode(&secret), step_of(app.clock.now()));
    let confirmed = browser
        .post("/account/two-factor/confirm", &[("code", &code)])
        .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.html);
    let list = confirmed
        .html
        .split("id=\"recovery-codes\">")
        .nth(1)
        .unwrap();
    let recovery: Vec<&str> = list
        .split("</ul>")
        .next()
        .unwrap()
        .split("<li>")
        .skip(1)
        .map(|li| li.trim_end_matches("</li>"))
        .collect();
    assert_eq!(recovery.len(), 10);
    assert!(confirmed
        .text_of("two-factor-status")
        .unwrap()
        .contains("on"));
    let first_recovery = recovery[0].to_owned();
    let refused = browser
        .post("/account/two-factor/recovery-codes", &[("code", "000000")])
        .await;
    assert_eq!(refused.status, 400);
    assert!(refused.text_of("recovery-code-error").is_some());
    assert!(
        refused.text_of("code-error").is_none(),
        "not under the other form"
    );

    browser.post("/signout", &[]).await;
    browser.get("/signin").await;
    let step = browser
        .post("/signin", &[("login", "alice"), ("password", PASSWORD)])
        .await;
    assert_eq!(step.status, 200, "asks for the code");
    assert!(browser.session().is_none());
    let challenge = step
        .html
        .split("name=\"challenge\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let wrong = browser
        .post(
            "/signin/second-factor",
            &[("challenge", &challenge), ("code", "000000")],
        )
        .await;
    assert_eq!(wrong.status, 400);
    assert!(wrong.text_of("code-error").is_some());
    let signed_in = browser
        .post(
            "/signin/second-factor",
            &[("challenge", &challenge), ("code", &first_recovery)],
        )
        .await;
    assert_eq!(signed_in.location(), "/account", "{}", signed_in.html);
    assert_eq!(browser.get("/account").await.status, 200);
}

#[tokio::test]
async fn the_token_travels_in_the_body_except_for_uploads_and_odd_requests_get_pages() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    let mut browser = Browser::new(&app);
    browser.sign_in("alice", PASSWORD).await;
    let csrf = browser.csrf().unwrap().to_owned();
    // An urlencoded form with its token in the URL only is refused (URLs end up in logs).
    let in_query = browser
        .post_exactly(
            &format!("/account/sessions/end-others?csrf={csrf}"),
            &[],
            &[],
        )
        .await;
    assert_eq!(in_query.status, 403);
    // A body far larger than any form is refused before it is read to the end.
    let big = "x".repeat(100 * 1024);
    let large = browser.post("/account", &[("name", &big)]).await;
    assert_eq!(large.status, 413);
    // A path that does not parse is a 404 page, with the pages' headers.
    let odd = browser.post("/account/sessions/zzz/end", &[]).await;
    assert_eq!(odd.status, 404);
    assert!(odd.html.contains("<!doctype html>"));
    assert!(odd.headers.contains_key("content-security-policy"));
    // The setup link of an instance that has an administrator shows nothing.
    app.admin("root").await;
    let token = app.setup.open();
    assert_eq!(
        browser.get(&format!("/setup?token={token}")).await.status,
        404
    );
}

/// An anonymous client announces a large multipart upload and sends it slowly, without a
/// CSRF token: the guard answers at once instead of holding the body in memory first.
#[tokio::test]
async fn anonymous_multipart_upload_is_refused_before_its_body_is_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn().await;
    let host = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "POST /account/picture HTTP/1.1\r\nHost: {host}\r\n\
         Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 2000000\r\n\r\n--x\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // The rest of the announced body never comes.
    let mut answer = vec![0u8; 1024];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("the guard answered without waiting for the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
}

//! The admin console at `/admin`, driven like a browser without JavaScript (`crate::browser`:
//! cookies kept, forms posted urlencoded with their CSRF field, redirects not followed).

use accounts::access::{OrgRole, RoleId};
use accounts::{Actor, UserId};

use crate::browser::{Browser, Page};
use crate::helpers::{TestApp, PASSWORD};

/// What these tests read off a page.
trait Read {
    fn has(&self, needle: &str) -> bool;
    /// How many times `needle` occurs in the page.
    fn count(&self, needle: &str) -> usize;
    /// The value of the first `attribute="..."` after `marker`, as a browser reads it.
    fn attribute_after(&self, marker: &str, attribute: &str) -> Option<String>;
    /// The text of the element opened by `marker` (up to the next tag).
    fn text_after(&self, marker: &str) -> Option<String>;
}

impl Read for Page {
    fn has(&self, needle: &str) -> bool {
        self.html.contains(needle)
    }

    fn count(&self, needle: &str) -> usize {
        self.html.matches(needle).count()
    }

    fn attribute_after(&self, marker: &str, attribute: &str) -> Option<String> {
        let rest = &self.html[self.html.find(marker)? + marker.len()..];
        let start = rest.find(&format!("{attribute}=\""))? + attribute.len() + 2;
        let end = rest[start..].find('"')?;
        // Askama escapes `&` in attributes.
        Some(
            rest[start..start + end]
                .replace("&#38;", "&")
                .replace("&amp;", "&"),
        )
    }

    fn text_after(&self, marker: &str) -> Option<String> {
        let rest = &self.html[self.html.find(marker)? + marker.len()..];
        let start = rest.find('>')? + 1;
        let end = rest[start..].find('<')?;
        Some(rest[start..start + end].trim().to_owned())
    }
}

/// A browser signed in through the sign-in page, whose form carries the CSRF cookie's value.
async fn signed_in(app: &TestApp, login: &str) -> Browser {
    let mut browser = Browser::new(app);
    let page = browser.get("/signin").await;
    assert_eq!(page.status, 200);
    let field = page.attribute_after("name=\"csrf\"", "value");
    assert_eq!(field.as_deref(), browser.csrf());
    browser.sign_in(login, PASSWORD).await;
    assert!(browser.session().is_some());
    browser
}

/// Posts a form and follows the redirect back to the page, which shows the note.
async fn submit(browser: &mut Browser, path: &str, fields: &[(&str, &str)]) -> Page {
    let answer = browser.post(path, fields).await;
    assert_eq!(answer.status, 303, "{}", answer.html);
    let location = answer.location().to_owned();
    browser.get(&location).await
}

#[tokio::test]
async fn the_console_starts_at_the_user_list_for_admins_only() {
    let app = TestApp::spawn().await;
    app.admin("root").await;
    app.user("plain").await;

    let page = Browser::new(&app).get("/admin/users").await;
    assert_eq!(page.status, 303);
    assert!(page.location().starts_with("/signin?next="));

    let mut admin = signed_in(&app, "root").await;
    let page = admin.get("/admin").await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location(), "/admin/users");

    let mut plain = signed_in(&app, "plain").await;
    for path in [
        "/admin",
        "/admin/users",
        "/admin/roles",
        "/admin/orgs",
        "/admin/audit",
        "/admin/mail",
    ] {
        assert_eq!(plain.get(path).await.status, 403, "{path}");
    }
    let root = app.accounts.find_user("root").await.unwrap();
    let page = plain
        .post(&format!("/admin/users/{}/disable", root.id), &[])
        .await;
    assert_eq!(page.status, 403);
    assert!(app
        .accounts
        .find_user("root")
        .await
        .unwrap()
        .can_authenticate());
}

#[tokio::test]
async fn an_organisation_admin_starts_at_the_organisations() {
    let app = TestApp::spawn().await;
    let keeper = app.user("keeper").await;
    let org = app
        .accounts
        .create_org(&Actor::operator(), "Acme")
        .await
        .unwrap();
    app.accounts
        .set_member(&Actor::operator(), org.id, keeper.id, OrgRole::Admin)
        .await
        .unwrap();
    let mut browser = signed_in(&app, "keeper").await;
    let page = browser.get("/admin").await;
    assert_eq!(page.location(), "/admin/orgs");
    let orgs = browser.get("/admin/orgs").await;
    assert_eq!(orgs.status, 200);
    assert!(orgs.html.contains("Acme"));
    assert_eq!(browser.get("/admin/users").await.status, 403);
    let members = browser.get(&format!("/admin/users?org={}", org.id)).await;
    assert_eq!(members.status, 200);
    assert!(members.html.contains("keeper"));
}

#[tokio::test]
async fn an_admin_lists_and_searches_users() {
    let app = TestApp::spawn().await;
    app.admin("root").await;
    for name in ["alice", "alfred", "bob"] {
        app.user(name).await;
    }
    let mut admin = signed_in(&app, "root").await;

    let page = admin.get("/admin/users").await;
    assert_eq!(page.status, 200);
    assert!(page.has("id=\"user-search\""));
    assert!(page.has("id=\"console-nav\""));
    assert_eq!(page.count("class=\"user\""), 4);
    assert!(!page.has("id=\"next-page\""));

    let page = admin.get("/admin/users?q=Al&status=any&role=&org=").await;
    assert_eq!(page.count("class=\"user\""), 2);
    assert!(page.has(">alice</a>") && page.has(">alfred</a>"));
    assert!(!page.has(">bob</a>"));
    let bob = app.accounts.find_user("bob").await.unwrap();
    assert!(page.has("class=\"user-link\" href=\"/admin/users/"));

    let page = admin.get("/admin/users?q=bob%40").await;
    assert_eq!(page.count("class=\"user\""), 1);
    assert!(page.has(&format!("href=\"/admin/users/{}\"", bob.id)));
    assert!(page.has("bob@example.com"));

    let page = admin.get("/admin/users?status=disabled").await;
    assert_eq!(page.count("class=\"user\""), 0);
    let page = admin
        .get(&format!("/admin/users?role={}", RoleId::ADMIN))
        .await;
    assert_eq!(page.count("class=\"user\""), 1);
    assert!(page.has(">root</a>"));

    let page = admin.get("/admin/users?org=not-an-id").await;
    assert!(page.has("Not an organisation id"));
}

#[tokio::test]
async fn the_user_list_pages_with_a_cursor_link() {
    let app = TestApp::spawn().await;
    app.admin("root").await;
    for i in 0..52 {
        app.user(&format!("page{i:02}")).await;
    }
    let mut admin = signed_in(&app, "root").await;

    let first = admin.get("/admin/users?q=page").await;
    assert_eq!(first.count("class=\"user\""), 50);
    assert!(first.has(">page00</a>") && first.has(">page49</a>"));
    let next = first
        .attribute_after("id=\"next-page\"", "href")
        .expect("a full page links the next");
    let second = admin.get(&next).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.count("class=\"user\""), 2);
    assert!(second.has(">page50</a>") && second.has(">page51</a>"));
    assert!(!second.has("id=\"next-page\""));

    let everyone = admin.get("/admin/users").await;
    assert_eq!(everyone.count("class=\"user\""), 50);
    let next = everyone
        .attribute_after("id=\"next-page\"", "href")
        .unwrap();
    assert_eq!(admin.get(&next).await.count("class=\"user\""), 3);
}

#[tokio::test]
async fn an_admin_disables_a_user_whose_token_stops_working_and_the_audit_log_shows_it() {
    let app = TestApp::spawn().await;
    app.admin("root").await;
    let bob = app.user("bob").await;
    assert_eq!(app.status_with("/auth/v1/me", &bob.token).await, 200);
    let mut admin = signed_in(&app, "root").await;

    let path = format!("/admin/users/{}", bob.id);
    let page = admin.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(page.has("<h1>bob</h1>"));
    assert_eq!(
        page.text_after("id=\"user-status\"").as_deref(),
        Some("active")
    );
    assert!(page.has("id=\"disable-user\"") && !page.has("id=\"enable-user\""));
    for id in [
        "end-sessions",
        "revoke-tokens",
        "reset-password",
        "reset-second-factor",
        "save-roles",
        "confirm-delete",
        "delete-user",
    ] {
        assert!(page.has(&format!("id=\"{id}\"")), "{id}");
    }

    let page = submit(&mut admin, &format!("{path}/disable"), &[]).await;
    assert!(page.has("id=\"note\""));
    assert_eq!(
        page.text_after("id=\"user-status\"").as_deref(),
        Some("disabled")
    );
    assert!(page.has("id=\"enable-user\"") && !page.has("id=\"disable-user\""));
    assert_eq!(app.status_with("/auth/v1/me", &bob.token).await, 401);

    let page = admin.get("/admin/audit?user=bob&action=user.update").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.count("class=\"event\""), 1);
    assert_eq!(
        page.text_after("class=\"action\"").as_deref(),
        Some("user.update")
    );
    assert_eq!(
        page.text_after("class=\"outcome\"").as_deref(),
        Some("success")
    );
    assert_eq!(page.text_after("class=\"actor\"").as_deref(), Some("root"));
    assert_eq!(page.text_after("class=\"subject\"").as_deref(), Some("bob"));
    assert_eq!(
        page.text_after("class=\"detail\"").as_deref(),
        Some("disabled")
    );
    assert_eq!(
        page.text_after("class=\"client\"").as_deref(),
        Some("127.0.0.1"),
        "the audit records where the administrator acted from"
    );

    let page = submit(&mut admin, &format!("{path}/enable"), &[]).await;
    assert_eq!(
        page.text_after("id=\"user-status\"").as_deref(),
        Some("active")
    );
    assert_eq!(app.status_with("/auth/v1/me", &bob.token).await, 200);
    let page = submit(&mut admin, &format!("{path}/revoke-tokens"), &[]).await;
    assert!(page.has("id=\"note\""));
    assert_eq!(app.status_with("/auth/v1/me", &bob.token).await, 401);
}

#[tokio::test]
async fn the_audit_log_filters_by_time_and_refuses_unknown_users() {
    let app = TestApp::spawn().await;
    app.admin("root").await;
    let mut admin = signed_in(&app, "root").await;

    let page = admin.get("/admin/audit").await;
    assert_eq!(page.status, 200);
    assert!(page.has("id=\"audit-filter\"") && page.has("type=\"datetime-local\""));
    assert!(page.count("class=\"event\"") >= 1, "the sign-in is audited");

    let page = admin.get("/admin/audit?since=2999-01-01T00%3A00").await;
    assert_eq!(page.count("class=\"event\""), 0);
    let page = admin.get("/admin/audit?until=2999-01-01T00%3A00").await;
    assert!(page.count("class=\"event\"") >= 1);
    let page = admin.get("/admin/audit?since=yesterday").await;
    assert_eq!(page.status, 400);
    let page = admin.get("/admin/audit?user=nobody").await;
    assert_eq!(page.status, 400);
    assert!(page.has("No account has this username"));
}

#[tokio::test]
async fn roles_are_created_and_granted_through_forms() {
    let app = TestApp::spawn().await;
    app.admin("root").await;
    let bob = app.user("bob").await;
    let mut admin = signed_in(&app, "root").await;

    let page = admin.get("/admin/roles").await;
    assert_eq!(page.status, 200);
    assert!(page.has("id=\"roles\"") && page.has("id=\"role-form\""));
    assert!(page.has("<code>*:*:all</code>"));

    let page = admin
        .post(
            "/admin/roles",
            &[
                ("name", "helpdesk"),
                ("description", "Reads accounts"),
                ("permissions", "user:read:all\nuser:fly:all"),
            ],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(page.has("Line 2:"));
    assert!(page.has("user:fly:all"), "the form keeps what was typed");

    let page = submit(
        &mut admin,
        "/admin/roles",
        &[
            ("name", "helpdesk"),
            ("description", "Reads accounts"),
            ("permissions", "user:read:all\r\nsession:delete:ids=7,8\r\n"),
        ],
    )
    .await;
    assert!(page.has("id=\"note\""));
    assert!(page.has("helpdesk") && page.has("<code>session:delete:ids=7,8</code>"));
    let roles = app.accounts.list_roles(&Actor::operator()).await.unwrap();
    let helpdesk = roles.iter().find(|r| r.name == "helpdesk").unwrap().id;

    let page = admin
        .post(
            "/admin/roles",
            &[("name", "helpdesk"), ("permissions", "user:read:all")],
        )
        .await;
    assert_eq!(page.status, 400, "the name is taken");

    let path = format!("/admin/users/{}", bob.id);
    let helpdesk_text = helpdesk.to_string();
    let page = submit(
        &mut admin,
        &format!("{path}/roles"),
        &[("role", "2"), ("role", &helpdesk_text)],
    )
    .await;
    assert!(page.has("id=\"note\""));
    assert!(page.has(&format!(
        "value=\"{helpdesk}\" id=\"role-{helpdesk}\" checked"
    )));
    let held: Vec<RoleId> = held_roles(&app, bob.id).await;
    assert_eq!(held, vec![RoleId::USER, helpdesk]);

    let page = submit(
        &mut admin,
        &format!("/admin/roles/{helpdesk}"),
        &[("name", "support"), ("permissions", "user:read:all")],
    )
    .await;
    assert!(page.has("Role support"));

    let page = submit(&mut admin, &format!("/admin/roles/{helpdesk}/delete"), &[]).await;
    assert!(!page.has("support"));
    assert_eq!(held_roles(&app, bob.id).await, vec![RoleId::USER]);
}

async fn held_roles(app: &TestApp, user: UserId) -> Vec<RoleId> {
    let mut roles = app.accounts.role_ids_of(&[user]).await.unwrap();
    roles.remove(&user).unwrap()
}

#[tokio::test]
async fn an_organisation_is_created_and_a_member_added_and_removed() {
    let app = TestApp::spawn().await;
    app.admin("root").await;
    let bob = app.user("bob").await;
    let mut admin = signed_in(&app, "root").await;

    let answer = admin.post("/admin/orgs", &[("name", "  ")]).await;
    assert_eq!(answer.status, 400);
    assert!(answer.has("id=\"org-form\""));

    let answer = admin.post("/admin/orgs", &[("name", "Acme")]).await;
    assert_eq!(answer.status, 303);
    let location = answer.location().to_owned();
    assert!(location.starts_with("/admin/orgs/"));
    let org_path = location.split('?').next().unwrap().to_owned();
    let page = admin.get(&location).await;
    assert!(page.has("<h1>Acme</h1>") && page.has("id=\"note\""));
    assert!(page.has("id=\"members\"") && page.has("id=\"member-form\""));
    assert_eq!(page.count("class=\"member\""), 1, "the founder owns it");

    let orgs = admin.get("/admin/orgs").await;
    assert!(orgs.has(&format!("href=\"{org_path}\"")));

    let page = admin
        .post(
            &format!("{org_path}/members"),
            &[("user", "nobody"), ("role", "member")],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(page.has("No account has this username"));

    let page = submit(
        &mut admin,
        &format!("{org_path}/members"),
        &[("user", "bob@example.com"), ("role", "admin")],
    )
    .await;
    assert_eq!(page.count("class=\"member\""), 2);
    assert!(page.has(">bob</a>"));
    assert!(page.has("remove-member"));

    let page = submit(
        &mut admin,
        &format!("{org_path}/members/{}/remove", bob.id),
        &[],
    )
    .await;
    assert_eq!(page.count("class=\"member\""), 1);
    assert!(!page.has(">bob</a>"));
}

#[tokio::test]
async fn the_mail_page_counts_the_outbox() {
    let app = TestApp::spawn().await;
    app.admin("root").await;
    let bob = app.user("bob").await;
    let mut admin = signed_in(&app, "root").await;

    let page = admin.get("/admin/mail").await;
    assert_eq!(page.status, 200);
    assert!(page.has("id=\"mail-counts\""));
    assert_eq!(page.text_after("id=\"mail-queued\"").as_deref(), Some("0"));

    let page = submit(
        &mut admin,
        &format!("/admin/users/{}/reset-password", bob.id),
        &[],
    )
    .await;
    assert!(page.has("id=\"note\""));
    let page = admin.get("/admin/mail").await;
    assert_eq!(page.text_after("id=\"mail-queued\"").as_deref(), Some("1"));
    assert_eq!(page.text_after("id=\"mail-sent\"").as_deref(), Some("0"));
    assert_eq!(page.text_after("id=\"mail-failed\"").as_deref(), Some("0"));
    assert_eq!(app.mail_to("bob@example.com").await.len(), 1);
}

#[tokio::test]
async fn deleting_needs_the_box_ticked() {
    let app = TestApp::spawn().await;
    app.admin("root").await;
    let bob = app.user("bob").await;
    let mut admin = signed_in(&app, "root").await;
    let path = format!("/admin/users/{}/delete", bob.id);

    assert_eq!(admin.post(&path, &[]).await.status, 400);
    assert!(app.accounts.find_user("bob").await.is_ok());
    let answer = admin.post(&path, &[("confirm", "yes")]).await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.location(), "/admin/users?done=user-deleted");
    assert!(app.accounts.find_user("bob").await.is_err());
    assert_eq!(
        admin.get(&format!("/admin/users/{}", bob.id)).await.status,
        404
    );
}

#[tokio::test]
async fn a_form_without_its_csrf_field_is_refused() {
    let app = TestApp::spawn().await;
    app.admin("root").await;
    let bob = app.user("bob").await;
    let mut admin = signed_in(&app, "root").await;
    let path = format!("/admin/users/{}/disable", bob.id);

    assert_eq!(admin.post_exactly(&path, &[], &[]).await.status, 403);
    assert_eq!(
        admin
            .post_exactly(&path, &[("csrf", "forged")], &[])
            .await
            .status,
        403
    );
    assert!(app
        .accounts
        .find_user("bob")
        .await
        .unwrap()
        .can_authenticate());
    assert_eq!(app.status_with("/auth/v1/me", &bob.token).await, 200);
}

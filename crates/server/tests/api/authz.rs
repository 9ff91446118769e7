//! The authorisation matrix: every endpoint of every surface, called by five callers, gets
//! exactly the answer docs/api.md, docs/alsid.md, docs/glowmarkt.md, docs/cloudsmith.md and
//! docs/trieve.md document.
//!
//! Callers, in the order each row lists their expected statuses:
//! 1. anonymous: no credential;
//! 2. a plain user acting on their own account (alice, a member of organisation Y);
//! 3. a plain user acting on another user (alice on bob; on organisation X, not hers);
//! 4. an organisation admin of another organisation (carol, admin of X, on bob and on Y);
//! 5. an instance admin (on bob and on Y).
//!
//! Every call runs on a fresh world, so one caller's success (a deletion, a password change)
//! never changes what the next one sees.

// A build without some dialect compiles their surfaces and rows but not their tests.
#![cfg_attr(
    not(all(
        feature = "freechat",
        feature = "alsid",
        feature = "glowmarkt",
        feature = "cloudsmith",
        feature = "trieve"
    )),
    allow(dead_code)
)]

use accounts::access::OrgRole;
use accounts::Actor;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{TestApp, TestUser, PASSWORD};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Surface {
    /// `Authorization: Bearer`.
    Native,
    FreeChat,
    /// `x-api-key`.
    Alsid,
    /// `token` + `applicationId` headers.
    Glowmarkt,
    /// `X-Api-Key`.
    Cloudsmith,
    /// The raw key as `Authorization`; `TR-Organization` on rows marked [`Row::in_org`].
    Trieve,
}

struct Row {
    surface: Surface,
    method: Method,
    /// `{user}`, `{username}`, `{email}`, `{unum}`, `{org}`, `{token}`, `{token_slug}`,
    /// `{token_secret}`, `{role}`, `{file}`, `{chunk}` are filled per caller.
    path: &'static str,
    body: Option<Value>,
    expect: [u16; 5],
    /// Send `TR-Organization: {org}` (Trieve).
    org_header: bool,
}

fn row(
    surface: Surface,
    method: Method,
    path: &'static str,
    body: Option<Value>,
    expect: [u16; 5],
) -> Row {
    Row {
        surface,
        method,
        path,
        body,
        expect,
        org_header: false,
    }
}

impl Row {
    /// The row names the organisation the caller acts in (`TR-Organization: {org}`).
    fn in_org(self) -> Self {
        Self {
            org_header: true,
            ..self
        }
    }
}

struct World {
    app: TestApp,
    admin: TestUser,
    alice: TestUser,
    bob: TestUser,
    carol: TestUser,
    org_x: String,
    org_y: String,
    /// Per user: a second API token (id and secret) that rows may act on.
    spare: Vec<(accounts::UserId, String, String)>,
    /// Per user: a file and a chunk (ids) that rows may act on.
    content: Vec<(accounts::UserId, String, String)>,
    role: i64,
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let x = app
        .accounts
        .create_org(&Actor::operator(), "X")
        .await
        .unwrap()
        .id;
    let y = app
        .accounts
        .create_org(&Actor::operator(), "Y")
        .await
        .unwrap()
        .id;
    let op = Actor::operator();
    app.accounts
        .set_member(&op, x, carol.id, OrgRole::Admin)
        .await
        .unwrap();
    app.accounts
        .set_member(&op, y, alice.id, OrgRole::Member)
        .await
        .unwrap();
    app.accounts
        .set_member(&op, y, bob.id, OrgRole::Member)
        .await
        .unwrap();
    let mut spare = Vec::new();
    for u in [&admin, &alice, &bob, &carol] {
        let (token, secret) = app
            .accounts
            .create_token(
                &accounts::Actor::operator(),
                u.id,
                Some("spare".into()),
                None,
            )
            .await
            .unwrap();
        spare.push((u.id, token.id.to_string(), secret.expose().to_owned()));
    }
    let mut content = Vec::new();
    for u in [&admin, &alice, &bob, &carol] {
        let upload = accounts::content::Upload {
            name: "notes.txt".into(),
            content_type: Some("text/plain".into()),
            bytes: b"notes".to_vec(),
            link: None,
            metadata: None,
            tag_set: None,
        };
        let file = app
            .accounts
            .upload_file(&op, u.id, upload, &Default::default())
            .await
            .unwrap();
        let chunk = accounts::content::NewChunk {
            content: "a chunk".into(),
            ..Default::default()
        };
        let chunk = app.accounts.create_chunk(&op, u.id, chunk).await.unwrap();
        content.push((u.id, file.id.to_string(), chunk.id.to_string()));
    }
    let role = app
        .accounts
        .create_role(
            &op,
            accounts::access::RoleSpec {
                name: "auditor".into(),
                description: "reads the audit log".into(),
                permissions: vec![accounts::access::Permission::new(
                    accounts::access::Entity::Audit,
                    accounts::access::Action::Read,
                    accounts::access::Scope::All,
                )],
            },
        )
        .await
        .unwrap()
        .id
        .0;
    World {
        app,
        admin,
        alice,
        bob,
        carol,
        org_x: x.to_string(),
        org_y: y.to_string(),
        spare,
        content,
        role,
    }
}

/// The caller's credential (None for anonymous), the user and org they act on.
fn caller(w: &World, who: usize) -> (Option<&TestUser>, &TestUser, &str) {
    match who {
        0 => (None, &w.bob, &w.org_y),
        1 => (Some(&w.alice), &w.alice, &w.org_y),
        2 => (Some(&w.alice), &w.bob, &w.org_x),
        3 => (Some(&w.carol), &w.bob, &w.org_y),
        _ => (Some(&w.admin), &w.bob, &w.org_y),
    }
}

async fn fill(w: &World, path: &str, target: &TestUser, org: &str) -> String {
    let number = w.app.accounts.user(target.id).await.unwrap().number;
    let (_, token_id, token_secret) = w.spare.iter().find(|(id, _, _)| *id == target.id).unwrap();
    let (_, file, chunk) = w
        .content
        .iter()
        .find(|(id, _, _)| *id == target.id)
        .unwrap();
    let user = w.app.accounts.user(target.id).await.unwrap();
    let username = user.username;
    path.replace("{user}", &target.id.to_string())
        .replace("{email}", user.email.as_str())
        .replace("{username}", username.as_str())
        .replace("{unum}", &number.to_string())
        .replace("{org}", org)
        .replace("{token}", token_id)
        // Cloudsmith's `slug_perm`: the id without dashes.
        .replace("{token_slug}", &token_id.replace('-', ""))
        .replace("{token_secret}", token_secret)
        .replace("{role}", &w.role.to_string())
        .replace("{file}", file)
        .replace("{chunk}", chunk)
        .replace("{page}", "1")
}

async fn send(w: &World, row: &Row, who: usize) -> (u16, String) {
    let (credential, target, org) = caller(w, who);
    let path = fill(w, row.path, target, org).await;
    let body = match &row.body {
        Some(b) => Some(fill(w, &b.to_string(), target, org).await),
        None => None,
    };
    let mut request = w.app.client.request(row.method.clone(), w.app.url(&path));
    if let Some(c) = credential {
        request = match row.surface {
            Surface::Native | Surface::FreeChat => request.bearer_auth(&c.token),
            Surface::Alsid => request.header("x-api-key", &c.token),
            Surface::Glowmarkt => request.header("token", &c.token),
            Surface::Cloudsmith => request.header("X-Api-Key", &c.token),
            Surface::Trieve => request.header("Authorization", &c.token),
        };
    }
    if row.org_header {
        request = request.header("TR-Organization", org);
    }
    match row.surface {
        Surface::Glowmarkt => {
            request = request
                .header("applicationId", org)
                .header("Content-Type", "application/json")
                .body(body.unwrap_or_else(|| "{}".into()));
        }
        Surface::Alsid => {
            request = request
                .header("Content-Type", "application/json")
                .body(body.unwrap_or_default());
        }
        // The SDK sends the JSON content type always, and `{}` on a bodyless POST or PUT.
        Surface::Cloudsmith => {
            let bodyless = if row.method == Method::GET { "" } else { "{}" };
            request = request
                .header("Content-Type", "application/json")
                .body(body.unwrap_or_else(|| bodyless.into()));
        }
        _ => {
            if let Some(b) = body {
                request = request.header("Content-Type", "application/json").body(b);
            }
        }
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

async fn check(rows: Vec<Row>) {
    {
        let mut failures = Vec::new();
        for row in &rows {
            let mut got = [0u16; 5];
            let mut bodies = Vec::new();
            // Each caller meets the world as `world()` makes it: a call that changed nothing
            // (a refusal, or a read) leaves it to the next caller, anything else gets the next
            // caller a new one. On PostgreSQL a world is a new database, most of this
            // suite's time.
            let mut unchanged: Option<World> = None;
            for (who, slot) in got.iter_mut().enumerate() {
                let w = match unchanged.take() {
                    Some(w) => w,
                    None => world().await,
                };
                let before = w.app.snapshot().await;
                let (status, body) = send(&w, row, who).await;
                *slot = status;
                // Give a write that raced the answer a moment to land first.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                let after = w.app.snapshot().await;
                if before == after {
                    unchanged = Some(w);
                } else {
                    // A refused call changes nothing (what a refusal itself writes aside, see
                    // `snapshot`).
                    if status >= 400 {
                        let changed: Vec<_> =
                            after.iter().filter(|r| !before.contains(r)).collect();
                        let gone: Vec<_> = before.iter().filter(|r| !after.contains(r)).collect();
                        failures.push(format!(
                            "{:?} {} {} (caller {who}) refused with {status} but changed the \
                             store: new or changed rows {changed:?}, gone {gone:?}",
                            row.surface, row.method, row.path
                        ));
                    }
                }
                bodies.push(body);
            }
            if got != row.expect {
                failures.push(format!(
                    "{:?} {} {}: expected {:?}, got {:?}; bodies {:?}",
                    row.surface, row.method, row.path, row.expect, got, bodies
                ));
            }
        }
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }
}

const ALL_OK: [u16; 5] = [401, 200, 200, 200, 200];
const ADMIN_ONLY: [u16; 5] = [401, 403, 403, 403, 200];

#[tokio::test]
async fn native_self_service() {
    use Method as M;
    use Surface::Native as N;
    check(vec![
        row(N, M::GET, "/auth/v1/me", None, ALL_OK),
        row(
            N,
            M::PATCH,
            "/auth/v1/me",
            Some(json!({"nickname": "n"})),
            ALL_OK,
        ),
        row(N, M::GET, "/auth/v1/tokens", None, ALL_OK),
        row(
            N,
            M::POST,
            "/auth/v1/tokens",
            Some(json!({"name": "m"})),
            [401, 201, 201, 201, 201],
        ),
        // Native token routes address the caller's own tokens only: another's is unknown.
        row(
            N,
            M::GET,
            "/auth/v1/tokens/{token}",
            None,
            [401, 200, 404, 404, 404],
        ),
        row(
            N,
            M::POST,
            "/auth/v1/tokens/{token}/disable",
            None,
            [401, 200, 404, 404, 404],
        ),
        row(
            N,
            M::POST,
            "/auth/v1/tokens/{token}/enable",
            None,
            [401, 200, 404, 404, 404],
        ),
        row(
            N,
            M::POST,
            "/auth/v1/tokens/{token}/rotate",
            None,
            [401, 200, 404, 404, 404],
        ),
        row(
            N,
            M::DELETE,
            "/auth/v1/tokens/{token}",
            None,
            [401, 204, 404, 404, 404],
        ),
        row(N, M::GET, "/auth/v1/sessions", None, ALL_OK),
        row(
            N,
            M::POST,
            "/auth/v1/password/change",
            Some(
                json!({"current_password": PASSWORD, "new_password": "another long passphrase 77"}),
            ),
            [401, 204, 204, 204, 204],
        ),
    ])
    .await;
}

#[tokio::test]
async fn native_second_factor_files_and_chunks() {
    use Method as M;
    use Surface::Native as N;
    // The matrix's callers hold API tokens, which never enrol, replace or remove a second
    // factor (403 `session_required`); a session must prove itself again first, which an
    // API token cannot (400 `not_a_session`).
    let checked = [401, 403, 403, 403, 403];
    let code = Some(json!({"code": "123456"}));
    check(vec![
        // The second step of a login is public; a made-up challenge is refused for everyone.
        row(
            N,
            M::POST,
            "/auth/v1/login/second-factor",
            Some(json!({"challenge": "ghc_x", "code": "123456"})),
            [400; 5],
        ),
        row(N, M::GET, "/auth/v1/me/second-factor", None, ALL_OK),
        row(N, M::POST, "/auth/v1/me/second-factor", None, checked),
        row(
            N,
            M::POST,
            "/auth/v1/session/reauthenticate",
            Some(json!({ "password": PASSWORD })),
            [401, 400, 400, 400, 400],
        ),
        row(
            N,
            M::POST,
            "/auth/v1/me/second-factor/confirm",
            code.clone(),
            checked,
        ),
        row(
            N,
            M::DELETE,
            "/auth/v1/me/second-factor",
            code.clone(),
            checked,
        ),
        row(
            N,
            M::POST,
            "/auth/v1/me/second-factor/recovery-codes",
            code,
            checked,
        ),
        // Resetting needs `user:update` on the user, and on oneself the instance admin.
        row(
            N,
            M::POST,
            "/auth/v1/admin/users/{user}/reset-second-factor",
            None,
            [401, 403, 403, 403, 204],
        ),
        row(N, M::GET, "/auth/v1/files", None, ALL_OK),
        // The matrix sends no multipart body: past the check, the body is refused (400).
        row(
            N,
            M::POST,
            "/auth/v1/files",
            None,
            [401, 400, 400, 400, 400],
        ),
        // Native file and chunk routes address the caller's own only: another's is unknown.
        row(
            N,
            M::GET,
            "/auth/v1/files/{file}",
            None,
            [401, 200, 404, 404, 404],
        ),
        row(
            N,
            M::DELETE,
            "/auth/v1/files/{file}",
            None,
            [401, 204, 404, 404, 404],
        ),
        row(N, M::GET, "/auth/v1/chunks?limit=10", None, ALL_OK),
        row(
            N,
            M::POST,
            "/auth/v1/chunks",
            Some(json!({"content": "c"})),
            [401, 201, 201, 201, 201],
        ),
        row(
            N,
            M::DELETE,
            "/auth/v1/chunks/{chunk}",
            None,
            [401, 204, 404, 404, 404],
        ),
    ])
    .await;
}

#[tokio::test]
async fn native_admin_users() {
    use Method as M;
    use Surface::Native as N;
    check(vec![
        row(N, M::GET, "/auth/v1/admin/users", None, ADMIN_ONLY),
        row(
            N,
            M::POST,
            "/auth/v1/admin/users",
            Some(json!({"username": "newbie", "email": "newbie@example.com"})),
            [401, 403, 403, 403, 201],
        ),
        // Reading oneself is the `user` role's `self` permission.
        row(
            N,
            M::GET,
            "/auth/v1/admin/users/{user}",
            None,
            [401, 200, 403, 403, 200],
        ),
        row(
            N,
            M::PATCH,
            "/auth/v1/admin/users/{user}",
            Some(json!({"nickname": "x"})),
            [401, 200, 403, 403, 200],
        ),
        row(
            N,
            M::PATCH,
            "/auth/v1/admin/users/{user}",
            Some(json!({"email": "else@example.com"})),
            [401, 403, 403, 403, 200],
        ),
        row(
            N,
            M::POST,
            "/auth/v1/admin/users/{user}/disable",
            None,
            ADMIN_ONLY,
        ),
        row(
            N,
            M::POST,
            "/auth/v1/admin/users/{user}/enable",
            None,
            ADMIN_ONLY,
        ),
        row(
            N,
            M::GET,
            "/auth/v1/admin/users/{user}/roles",
            None,
            [401, 200, 403, 403, 200],
        ),
        // Granting the admin role needs role:update on it.
        row(
            N,
            M::PUT,
            "/auth/v1/admin/users/{user}/roles",
            Some(json!({"roles": [1, 2]})),
            ADMIN_ONLY,
        ),
        row(
            N,
            M::POST,
            "/auth/v1/admin/users/{user}/reset-password",
            Some(json!({})),
            [401, 403, 403, 403, 202],
        ),
        row(
            N,
            M::DELETE,
            "/auth/v1/admin/users/{user}/sessions",
            None,
            [401, 200, 403, 403, 200],
        ),
        row(
            N,
            M::DELETE,
            "/auth/v1/admin/users/{user}/tokens",
            None,
            [401, 200, 403, 403, 200],
        ),
        row(
            N,
            M::DELETE,
            "/auth/v1/admin/users/{user}",
            None,
            [401, 403, 403, 403, 204],
        ),
        row(N, M::GET, "/auth/v1/admin/audit", None, ADMIN_ONLY),
    ])
    .await;
}

#[tokio::test]
async fn native_roles_and_orgs() {
    use Method as M;
    use Surface::Native as N;
    check(vec![
        row(N, M::GET, "/auth/v1/admin/roles", None, ADMIN_ONLY),
        row(
            N,
            M::POST,
            "/auth/v1/admin/roles",
            Some(json!({"name": "r2", "permissions": []})),
            [401, 403, 403, 403, 201],
        ),
        row(
            N,
            M::PUT,
            "/auth/v1/admin/roles/{role}",
            Some(json!({"name": "r3", "permissions": []})),
            ADMIN_ONLY,
        ),
        row(
            N,
            M::DELETE,
            "/auth/v1/admin/roles/{role}",
            None,
            [401, 403, 403, 403, 204],
        ),
        row(N, M::GET, "/auth/v1/orgs", None, ALL_OK),
        // Founding an organisation is an instance-level grant (its owners manage members).
        row(
            N,
            M::POST,
            "/auth/v1/orgs",
            Some(json!({"name": "Z"})),
            [401, 403, 403, 403, 201],
        ),
        row(
            N,
            M::GET,
            "/auth/v1/orgs/{org}",
            None,
            [401, 200, 403, 403, 200],
        ),
        row(
            N,
            M::PATCH,
            "/auth/v1/orgs/{org}",
            Some(json!({"name": "Y2"})),
            ADMIN_ONLY,
        ),
        // Only an instance grant weakens an application's reset codes.
        row(
            N,
            M::PUT,
            "/auth/v1/orgs/{org}/short-reset-codes",
            Some(json!({"enabled": true})),
            [401, 403, 403, 403, 200],
        ),
        row(
            N,
            M::GET,
            "/auth/v1/orgs/{org}/members",
            None,
            [401, 200, 403, 403, 200],
        ),
        row(
            N,
            M::PUT,
            "/auth/v1/orgs/{org}/members/{user}",
            Some(json!({"role": "admin"})),
            [401, 403, 403, 403, 204],
        ),
        row(
            N,
            M::DELETE,
            "/auth/v1/orgs/{org}/members/{user}",
            None,
            [401, 204, 403, 403, 204],
        ),
        row(
            N,
            M::DELETE,
            "/auth/v1/orgs/{org}",
            None,
            [401, 403, 403, 403, 204],
        ),
    ])
    .await;
}

#[cfg(feature = "freechat")]
#[tokio::test]
async fn freechat() {
    use Method as M;
    use Surface::FreeChat as F;
    check(vec![
        row(F, M::GET, "/api/v1/account/details", None, ALL_OK),
        row(
            F,
            M::PUT,
            "/api/v1/account/details",
            Some(json!({"nickname": "n"})),
            ALL_OK,
        ),
        row(F, M::GET, "/api/v1/account/basic", None, ALL_OK),
        row(F, M::GET, "/api/v1/account/basic/bob", None, ALL_OK),
        row(F, M::GET, "/api/v1/account/tokens", None, ALL_OK),
        row(F, M::POST, "/api/v1/account/token", None, ALL_OK),
        row(F, M::POST, "/api/v1/account/token/3600", None, ALL_OK),
        // Another user's token is "not found" to FreeChat: 403.
        row(
            F,
            M::PUT,
            "/api/v1/account/token/{token_secret}",
            None,
            [401, 200, 403, 403, 403],
        ),
        row(
            F,
            M::DELETE,
            "/api/v1/account/token/{token_secret}",
            None,
            [401, 200, 403, 403, 403],
        ),
    ])
    .await;
}

/// Glowmarkt: `token` header (an API token works as well as a session) and `applicationId`
/// = the organisation the caller acts on; access denied is 401 (Glowmarkt documents no 403).
#[cfg(feature = "glowmarkt")]
#[tokio::test]
async fn glowmarkt() {
    use Method as M;
    use Surface::Glowmarkt as G;
    let public = [200; 5];
    let denied = [401, 401, 401, 401, 200];
    // Reading or renaming oneself is the `user` role's `self` permission.
    let own_or_admin = [401, 200, 401, 401, 200];
    check(vec![
        row(
            G,
            M::POST,
            "/api/v0-1/register",
            Some(
                json!({"name": "N", "username": "newbie@example.com", "email": "newbie@example.com",
                        "password": PASSWORD, "directoryId": "d", "applicationId": "{org}"}),
            ),
            public,
        ),
        row(
            G,
            M::POST,
            "/api/v0-1/user/resetpassword",
            Some(json!({"username": "{username}", "applicationId": "{org}"})),
            public,
        ),
        row(
            G,
            M::PUT,
            "/api/v0-1/user/resetpassword",
            Some(
                json!({"username": "{username}", "applicationId": "{org}", "token": "0000",
                        "newPassword": "another long passphrase 77"}),
            ),
            [400; 5],
        ),
        row(
            G,
            M::POST,
            "/api/v0-1/user/verify",
            Some(json!({"username": "{username}", "password": PASSWORD, "applicationId": "{org}"})),
            public,
        ),
        row(
            G,
            M::PUT,
            "/api/v0-1/user/verify",
            Some(
                json!({"token": "0000", "username": "{username}", "password": PASSWORD,
                        "applicationId": "{org}"}),
            ),
            [400; 5],
        ),
        row(
            G,
            M::POST,
            "/api/v0-1/user",
            Some(json!({"username": "newbie@example.com", "directoryId": "d"})),
            denied,
        ),
        row(
            G,
            M::GET,
            "/api/v0-1/user?username={username}",
            None,
            own_or_admin,
        ),
        row(G, M::GET, "/api/v0-1/user/{user}", None, own_or_admin),
        row(
            G,
            M::PUT,
            "/api/v0-1/user/{user}/username",
            Some(json!({"username": "renamed", "status": "active"})),
            own_or_admin,
        ),
        row(G, M::DELETE, "/api/v0-1/user/{user}", None, denied),
        // Bob belongs to Y, not to X (the application of caller 3's row).
        row(
            G,
            M::POST,
            "/api/v0-1/auth",
            Some(json!({"username": "{username}", "password": PASSWORD})),
            [200, 200, 401, 200, 200],
        ),
        // A token is valid for the applications its owner belongs to (any, for an admin).
        row(G, M::GET, "/api/v0-1/auth", None, own_or_admin),
    ])
    .await;
}

/// Alsid: `x-api-key`; ids are users' public numbers.
#[cfg(feature = "alsid")]
#[tokio::test]
async fn alsid() {
    use Method as M;
    use Surface::Alsid as A;
    let own_or_admin = [401, 200, 403, 403, 200];
    check(vec![
        row(
            A,
            M::POST,
            "/api/login",
            Some(json!({"email": "{email}", "password": PASSWORD})),
            [200; 5],
        ),
        // With an API token nothing ends, and the answer is still 200.
        row(A, M::POST, "/api/logout", Some(json!({})), ALL_OK),
        row(A, M::GET, "/api/users", None, ADMIN_ONLY),
        row(
            A,
            M::POST,
            "/api/users",
            Some(json!([{"name": "N", "email": "newbie@example.com", "password": PASSWORD}])),
            ADMIN_ONLY,
        ),
        row(A, M::GET, "/api/users/whoami", None, ALL_OK),
        row(A, M::GET, "/api/users/{unum}", None, own_or_admin),
        row(
            A,
            M::PATCH,
            "/api/users/{unum}",
            Some(json!({"department": "R&D"})),
            own_or_admin,
        ),
        row(
            A,
            M::DELETE,
            "/api/users/{unum}",
            Some(json!({})),
            ADMIN_ONLY,
        ),
        row(
            A,
            M::PUT,
            "/api/users/{unum}/roles",
            Some(json!({"roles": [1, 2]})),
            ADMIN_ONLY,
        ),
        row(
            A,
            M::PATCH,
            "/api/users/password",
            Some(json!({"oldPassword": PASSWORD, "newPassword": "another long passphrase 77"})),
            ALL_OK,
        ),
        row(
            A,
            M::POST,
            "/api/users/forgotten-password",
            Some(json!({"email": "{email}"})),
            [200; 5],
        ),
        row(
            A,
            M::POST,
            "/api/users/retrieve-password",
            Some(json!({"token": "not-a-token", "newPassword": "another long passphrase 77"})),
            [400; 5],
        ),
    ])
    .await;
}

/// Cloudsmith: `X-Api-Key`; every route acts on the caller's own account, so "another
/// user" is reachable only through a token slug, and another user's token is unknown (404),
/// to instance administrators too.
#[cfg(feature = "cloudsmith")]
#[tokio::test]
async fn cloudsmith() {
    use Method as M;
    use Surface::Cloudsmith as C;
    check(vec![
        // Anonymous callers are welcome: 200 `{"authenticated": false}`.
        row(C, M::GET, "/v1/user/self/", None, [200; 5]),
        // The password is the credential (a key sent with it is not read): whoever knows
        // the target's password gets a key for the target, as on every login.
        row(
            C,
            M::POST,
            "/v1/user/token/",
            Some(json!({"email": "{email}", "password": PASSWORD})),
            [200; 5],
        ),
        row(C, M::GET, "/v1/user/tokens/", None, ALL_OK),
        // Nobody holds a token named `cloudsmith` yet, so everyone gets one.
        row(
            C,
            M::POST,
            "/v1/user/tokens/",
            None,
            [401, 201, 201, 201, 201],
        ),
        row(
            C,
            M::PUT,
            "/v1/user/tokens/{token_slug}/refresh/",
            None,
            [401, 200, 404, 404, 404],
        ),
    ])
    .await;
}

/// Trieve: the raw key as `Authorization`; `TR-Organization` where a row acts in an
/// organisation. Keys are the caller's own (another's is 404, as unknown); files and chunks
/// are their owner's and instance administrators' (organisation admins get 403 too).
#[cfg(feature = "trieve")]
#[tokio::test]
async fn trieve() {
    use Method as M;
    use Surface::Trieve as T;
    let own_or_admin = [401, 200, 403, 403, 200];
    let own_key_only = [401, 200, 404, 404, 404];
    check(vec![
        row(
            T,
            M::POST,
            "/api/user/set_api_key",
            Some(json!({"name": "k"})),
            ALL_OK,
        ),
        row(
            T,
            M::DELETE,
            "/api/user/delete_api_key",
            Some(json!({"api_key_id": "{token}"})),
            own_key_only,
        ),
        // Holding someone's key does not make it one of the caller's keys to delete.
        row(
            T,
            M::DELETE,
            "/api/user/delete_api_key",
            Some(json!({"api_key_id": "{token_secret}"})),
            own_key_only,
        ),
        // Without `user_id`: the caller's own profile.
        row(T, M::PUT, "/api/user", Some(json!({"name": "N"})), ALL_OK),
        // Another user's profile: instance administrators (bob is nobody's plain member
        // in an organisation carol administers).
        row(
            T,
            M::PUT,
            "/api/user",
            Some(json!({"user_id": "{user}", "name": "N"})),
            own_or_admin,
        ),
        // Making the target an admin of the organisation: alice is a plain member of Y
        // (no role changes, not even her own); X is not alice's and Y is not carol's
        // (403 for the header); the instance admin may.
        row(
            T,
            M::PUT,
            "/api/user",
            Some(json!({"user_id": "{user}", "role": 1})),
            ADMIN_ONLY,
        )
        .in_org(),
        row(T, M::GET, "/api/user/files/{user}", None, own_or_admin),
        row(T, M::GET, "/api/user/{user}/{page}", None, own_or_admin),
    ])
    .await;
}

// ------------------------------------------------------------ custom roles

/// One escalation a custom role's holder (dave) might try: method, path (`{admin}`,
/// `{bob}`, `{dave}`, `{role}` = dave's own custom role) and body.
struct Escalation {
    method: Method,
    path: &'static str,
    body: Option<Value>,
}

/// Native routes the first matrix missed (found by authz_routes.rs, which reads the router).
#[tokio::test]
async fn native_sessions_pictures_and_logout() {
    use Method as M;
    use Surface::Native as N;
    check(vec![
        // An API token is not a session to end (400); a picture needs a multipart body (400),
        // so these rows prove only who gets past authentication.
        row(
            N,
            M::POST,
            "/auth/v1/logout",
            None,
            [401, 400, 400, 400, 400],
        ),
        row(
            N,
            M::PUT,
            "/auth/v1/me/picture",
            None,
            [401, 400, 400, 400, 400],
        ),
        // Pictures are public by their random id; an unknown one is 404 to everyone.
        row(N, M::GET, "/auth/v1/pictures/{user}", None, [404; 5]),
        row(N, M::POST, "/auth/v1/sessions/end-others", None, ALL_OK),
        row(
            N,
            M::DELETE,
            "/auth/v1/sessions/{token}",
            None,
            [401, 404, 404, 404, 404],
        ),
    ])
    .await;
}

/// Dialect routes the first matrix missed.
#[cfg(all(feature = "freechat", feature = "trieve", feature = "cloudsmith"))]
#[tokio::test]
async fn dialect_pictures_member_pages_and_unprefixed_paths() {
    use Method as M;
    use Surface::{FreeChat as F, Trieve as T};
    check(vec![
        // FreeChat's public profile: any signed-in user may read anyone's.
        row(F, M::GET, "/api/v1/account/basic/{username}", None, ALL_OK),
        row(
            F,
            M::POST,
            "/api/v1/account/picture",
            None,
            [401, 400, 400, 400, 400],
        ),
        row(
            T,
            M::GET,
            "/api/user/{user}/{page}",
            None,
            [401, 200, 403, 403, 200],
        )
        .in_org(),
        // Cloudsmith answers on its unprefixed paths as on `/v1/...`; anonymous callers are
        // told they are not authenticated, as Cloudsmith does.
        row(Surface::Cloudsmith, M::GET, "/user/self/", None, [200; 5]),
        row(Surface::Cloudsmith, M::GET, "/user/tokens/", None, ALL_OK),
    ])
    .await;
}

fn escalation(method: Method, path: &'static str, body: Option<Value>) -> Escalation {
    Escalation { method, path, body }
}

/// Every act that would make dave an instance admin or let him take over the admin's
/// account; each must be refused (403), whatever single permission his role holds.
fn escalations() -> Vec<Escalation> {
    use Method as M;
    let admin = "/auth/v1/admin/users/{admin}";
    vec![
        escalation(
            M::PATCH,
            admin,
            Some(json!({"password": "a brand new passphrase 42"})),
        ),
        escalation(M::PATCH, admin, Some(json!({"email": "dave2@example.com"}))),
        escalation(M::POST, "/auth/v1/admin/users/{admin}/disable", None),
        escalation(
            M::POST,
            "/auth/v1/admin/users/{admin}/reset-password",
            Some(json!({"password": "a brand new passphrase 42"})),
        ),
        escalation(
            M::POST,
            "/auth/v1/admin/users/{admin}/reset-second-factor",
            None,
        ),
        escalation(M::DELETE, "/auth/v1/admin/users/{admin}/tokens", None),
        escalation(M::DELETE, "/auth/v1/admin/users/{admin}/sessions", None),
        escalation(M::DELETE, admin, None),
        escalation(
            M::PUT,
            "/auth/v1/admin/users/{admin}/roles",
            Some(json!({"roles": [2]})),
        ),
        escalation(
            M::PUT,
            "/auth/v1/admin/users/{dave}/roles",
            Some(json!({"roles": [1, 2, "{role}"]})),
        ),
        escalation(
            M::PUT,
            "/auth/v1/admin/users/{bob}/roles",
            Some(json!({"roles": [1, 2]})),
        ),
        escalation(
            M::PUT,
            "/auth/v1/admin/roles/{role}",
            Some(json!({"name": "mine", "permissions": [{"scope": "all"}]})),
        ),
        escalation(
            M::PUT,
            "/auth/v1/admin/roles/1",
            Some(json!({"name": "admin", "permissions": []})),
        ),
        escalation(
            M::POST,
            "/auth/v1/admin/roles",
            Some(json!({"name": "mine", "permissions": [{"scope": "all"}]})),
        ),
    ]
}

/// For each role (native permission JSON, with `{admin_number}` / `{bob_number}` filled),
/// dave holding `user` + that role tries every escalation on a fresh world.
async fn check_custom_roles(roles: Vec<(&'static str, Value)>) {
    let mut failures = Vec::new();
    for (name, permissions) in roles {
        for attempt in escalations() {
            let app = TestApp::spawn().await;
            let admin = app.admin("root").await;
            let bob = app.user("bob").await;
            let dave = app.user("dave").await;
            let number = |id| {
                let app = &app;
                async move { app.accounts.user(id).await.unwrap().number.to_string() }
            };
            let fill = |text: String, role: &str, admin_n: &str, bob_n: &str| {
                text.replace("{admin}", &admin.id.to_string())
                    .replace("{bob}", &bob.id.to_string())
                    .replace("{dave}", &dave.id.to_string())
                    .replace("\"{role}\"", role)
                    .replace("{role}", role)
                    .replace("\"{admin_number}\"", admin_n)
                    .replace("\"{bob_number}\"", bob_n)
            };
            let (admin_n, bob_n) = (number(admin.id).await, number(bob.id).await);
            let body = fill(
                json!({"name": "custom", "permissions": permissions}).to_string(),
                "0",
                &admin_n,
                &bob_n,
            );
            let created = app
                .post("/auth/v1/admin/roles", &admin.token)
                .header("Content-Type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(created.status(), 201, "{name}");
            let role = created.json::<Value>().await.unwrap()["id"].to_string();
            let granted = app
                .put(
                    &format!("/auth/v1/admin/users/{}/roles", dave.id),
                    &admin.token,
                )
                .json(&json!({"roles": [2, role.parse::<i64>().unwrap()]}))
                .send()
                .await
                .unwrap();
            assert_eq!(granted.status(), 200, "{name}");
            let path = fill(attempt.path.to_owned(), &role, &admin_n, &bob_n);
            let mut request = app.client.request(attempt.method.clone(), app.url(&path));
            request = request.bearer_auth(&dave.token);
            if let Some(body) = &attempt.body {
                request = request
                    .header("Content-Type", "application/json")
                    .body(fill(body.to_string(), &role, &admin_n, &bob_n));
            }
            let status = request.send().await.unwrap().status().as_u16();
            if status != 403 {
                failures.push(format!("{name}: {} {path}: {status}", attempt.method));
            }
            let me = app
                .get("/auth/v1/me", &dave.token)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap();
            if me["is_admin"] != json!(false) {
                failures.push(format!("{name}: dave became an admin"));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[tokio::test]
async fn custom_roles_with_one_permission_never_reach_instance_admin() {
    let p =
        |entity: &str, action: &str| json!([{"entity": entity, "action": action, "scope": "all"}]);
    check_custom_roles(vec![
        ("user:update:all", p("user", "update")),
        ("user:delete:all", p("user", "delete")),
        ("token:delete:all", p("token", "delete")),
        ("session:delete:all", p("session", "delete")),
        ("role:update:all", p("role", "update")),
        ("role:create:all", p("role", "create")),
        (
            "organization:*:all",
            json!([{"entity": "organization", "scope": "all"}]),
        ),
        (
            "user:*:ids=admin,bob",
            json!([{"entity": "user", "scope": "ids", "ids": ["{admin_number}", "{bob_number}"]}]),
        ),
        (
            "*:update:ids=1,2,admin",
            json!([{"action": "update", "scope": "ids", "ids": [1, 2, "{admin_number}"]}]),
        ),
        (
            "role:update:ids=1 + user:update:all",
            json!([
                {"entity": "role", "action": "update", "scope": "ids", "ids": [1]},
                {"entity": "user", "action": "update", "scope": "all"}
            ]),
        ),
    ])
    .await;
}

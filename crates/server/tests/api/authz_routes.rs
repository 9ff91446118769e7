//! The authorisation matrix's reach. The routes come from the router's own source (every
//! `.route(` under `src/http/`), so a route added without a row in `authz.rs`, without a page
//! check here, or without a stated reason to be public fails a test instead of going
//! unchecked. Every account and console page refuses the callers who lack a session or the
//! administrator role, whatever the method, and the refusal changes nothing in the store.

use std::path::Path;

use accounts::access::OrgRole;
use accounts::Actor;

use crate::browser::Browser;
use crate::helpers::{TestApp, PASSWORD};

/// A route as the router's source mounts it.
#[derive(Debug, Clone)]
struct Mounted {
    /// The file under `src/http/`, e.g. `dialects/glowmarkt.rs`.
    file: String,
    /// The path template as written (for a dialect mounted under several prefixes, without
    /// the prefix).
    path: String,
}

/// The string literal at the start of `text` (after whitespace), if there is one.
fn leading_literal(text: &str) -> Option<&str> {
    let rest = text.trim_start().strip_prefix('"')?;
    rest.find('"').map(|end| &rest[..end])
}

/// Every `.route("…"` and `.route(&at("…")` in the router's source.
fn mounted_routes() -> Vec<Mounted> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut files = vec![root.clone()];
    let mut routes = Vec::new();
    while let Some(dir) = files.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let source = std::fs::read_to_string(&path).unwrap();
            let file = path
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            for (at, _) in source.match_indices(".route(") {
                let after = source[at + ".route(".len()..].trim_start();
                let after = after.strip_prefix("&at(").unwrap_or(after);
                if let Some(literal) = leading_literal(after) {
                    routes.push(Mounted {
                        file: file.clone(),
                        path: literal.to_owned(),
                    });
                }
            }
        }
    }
    routes.sort_by(|a, b| (&a.file, &a.path).cmp(&(&b.file, &b.path)));
    routes
}

/// Every path a row of the matrix in `authz.rs` calls (`M::GET, "/path"`).
fn matrix_paths() -> Vec<String> {
    let source =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/authz.rs"))
            .unwrap();
    let mut paths = Vec::new();
    for (at, _) in source.match_indices("M::") {
        let rest = &source[at + 3..];
        let Some(comma) = rest.find(',') else {
            continue;
        };
        if !rest[..comma].chars().all(|c| c.is_ascii_uppercase()) {
            continue;
        }
        if let Some(literal) = leading_literal(&rest[comma + 1..]) {
            paths.push(literal.to_owned());
        }
    }
    paths
}

/// A template with its parameter names dropped: `/users/{id}` and `/users/{user}` agree.
fn shape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

/// Routes anyone may call, each with the reason; the matrix has no row for them.
const PUBLIC: &[(&str, &str)] = &[
    ("/healthz", "health probe: answers nothing but ok"),
    (
        "/readyz",
        "health probe: says only whether the database answers",
    ),
    (
        "/metrics",
        "needs the metrics token (tests/api/ops.rs), not a user",
    ),
    ("/auth/v1/openapi.json", "the public API description"),
    (
        "/auth/v1/login",
        "the password is the proof (login_throttling.rs)",
    ),
    ("/auth/v1/signup", "self sign-up (lifecycle.rs)"),
    ("/auth/v1/verify-email", "the mailed code is the proof"),
    (
        "/auth/v1/verify-email/resend",
        "answers alike for every address",
    ),
    (
        "/auth/v1/password/forgot",
        "answers alike for every address",
    ),
    ("/auth/v1/password/reset", "the mailed code is the proof"),
    ("/", "redirects to /account"),
    ("/signin", "the sign-in page"),
    (
        "/signin/second-factor",
        "the sign-in challenge is the proof",
    ),
    ("/signout", "ends the browser's own session, if any"),
    ("/signup", "the sign-up page"),
    ("/verify", "the mailed code is the proof"),
    ("/verify/resend", "answers alike for every address"),
    ("/verify-email", "the mailed link is the proof"),
    ("/forgot", "answers alike for every address"),
    ("/reset", "the mailed code is the proof"),
    ("/reset-password", "the mailed link is the proof"),
    ("/setup", "needs the one-time setup token (ui.rs)"),
    ("/static/gatehouse.css", "a static asset"),
    ("/static/gatehouse.js", "a static asset"),
    ("/static/favicon.svg", "a static asset"),
    ("/favicon.ico", "a static asset"),
];

/// Whether the page checks below cover `path` (every account and console page).
fn is_guarded_page(path: &str) -> bool {
    path == "/account"
        || path.starts_with("/account/")
        || path == "/admin"
        || path.starts_with("/admin/")
}

#[test]
fn every_mounted_route_has_a_matrix_row_a_page_check_or_a_public_reason() {
    let routes = mounted_routes();
    assert!(
        routes.len() > 100,
        "the scan finds the router's routes: {routes:?}"
    );
    let rows: Vec<String> = matrix_paths().iter().map(|p| shape(p)).collect();
    assert!(rows.len() > 50, "the scan finds the matrix rows: {rows:?}");
    let mut unchecked = Vec::new();
    for route in &routes {
        let wanted = shape(&route.path);
        let covered = if PUBLIC.iter().any(|(p, _)| *p == route.path) {
            true
        } else if route.file.starts_with("ui/") {
            is_guarded_page(&route.path)
        } else if matches!(
            route.file.as_str(),
            "dialects/glowmarkt.rs" | "dialects/cloudsmith.rs"
        ) {
            // Mounted under more than one prefix (`at(…)`): a row under any prefix counts.
            rows.iter().any(|r| r.ends_with(&wanted))
        } else {
            rows.contains(&wanted)
        };
        if !covered {
            unchecked.push(format!("{} {}", route.file, route.path));
        }
    }
    assert!(
        unchecked.is_empty(),
        "routes no authorisation check calls (add rows to authz.rs, or a reason to PUBLIC):\n{}",
        unchecked.join("\n")
    );
    // No stale reasons: every public route is still mounted.
    for (path, _) in PUBLIC {
        assert!(
            routes.iter().any(|r| r.path == *path),
            "{path} is listed as public but no longer mounted"
        );
    }
}

#[tokio::test]
async fn the_snapshot_sees_a_change_so_an_unchanged_one_means_something() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let before = app.snapshot().await;
    assert_eq!(before, app.snapshot().await, "stable when nothing happens");
    let response = app
        .patch("/auth/v1/me", &alice.token)
        .json(&serde_json::json!({"nickname": "changed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_ne!(before, app.snapshot().await, "a profile change shows");
}

/// Fills a page template's parameters with real ids, so a refusal is not a 404 by accident.
fn fill_page(path: &str, user: &str, org: &str, role: &str) -> String {
    let id = if path.starts_with("/admin/orgs/") {
        org
    } else if path.starts_with("/admin/roles/") {
        role
    } else {
        user
    };
    path.replace("{id}", id)
        .replace("{user}", user)
        .replace("{action}", "disable")
}

#[tokio::test]
async fn every_account_and_console_page_refuses_callers_without_the_right_and_changes_nothing() {
    let app = TestApp::spawn().await;
    app.admin("root").await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let op = Actor::operator();
    let org = app.accounts.create_org(&op, "X").await.unwrap().id;
    app.accounts
        .set_member(&op, org, bob.id, OrgRole::Member)
        .await
        .unwrap();
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
    let (user, org, role) = (bob.id.to_string(), org.to_string(), role.to_string());

    let mut anonymous = Browser::new(&app);
    anonymous.get("/signin").await; // a CSRF token, so the token is not what refuses
    let mut plain = Browser::new(&app);
    plain.sign_in("alice", PASSWORD).await;
    let _ = alice;

    let pages: Vec<String> = mounted_routes()
        .into_iter()
        .filter(|r| r.file.starts_with("ui/") && is_guarded_page(&r.path))
        .map(|r| r.path)
        .collect();
    assert!(pages.len() > 30, "the scan finds the pages: {pages:?}");
    let mut failures = Vec::new();
    for template in &pages {
        let path = fill_page(template, &user, &org, &role);
        let mut callers = vec![("anonymous", &mut anonymous)];
        if template.starts_with("/admin") {
            callers.push(("a plain user", &mut plain));
        }
        for (who, browser) in callers {
            let mut routed = false;
            for method in ["GET", "POST"] {
                let before = app.snapshot().await;
                let page = if method == "GET" {
                    browser.get(&path).await
                } else {
                    browser
                        .post(&path, &[("name", "x"), ("role", "admin")])
                        .await
                };
                let refused = match (who, page.status) {
                    (_, 405) => true,
                    ("anonymous", 303) => page.location().starts_with("/signin"),
                    ("anonymous", 401 | 403) => true,
                    (_, 403) => true,
                    _ => false,
                };
                routed |= page.status != 405;
                if !refused {
                    failures.push(format!(
                        "{who} {method} {path}: {} {} (not refused)",
                        page.status,
                        page.location()
                    ));
                }
                if before != app.snapshot().await {
                    failures.push(format!(
                        "{who} {method} {path}: refused but changed the store"
                    ));
                }
            }
            if !routed {
                failures.push(format!("{who} {path}: neither GET nor POST is routed"));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

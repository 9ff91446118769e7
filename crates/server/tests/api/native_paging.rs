//! Every list of the native API pages one way: `limit` (1 to 200), opaque `after` and
//! `before` cursors, `next` and `prev` in the answer; and every timestamp it answers has
//! one precision.

use serde_json::{json, Value};

use crate::helpers::{assert_problem, multipart_file, TestApp, TestUser, MAX_TOKENS, PASSWORD};

/// One native list: where it is, whose token reads it, the field holding its items and the
/// field that identifies an item.
struct List {
    path: String,
    token: String,
    items: &'static str,
    id: &'static str,
}

fn list(path: impl Into<String>, token: &str, items: &'static str, id: &'static str) -> List {
    List {
        path: path.into(),
        token: token.to_owned(),
        items,
        id,
    }
}

fn with_query(path: &str, query: &str) -> String {
    let joiner = if path.contains('?') { '&' } else { '?' };
    format!("{path}{joiner}{query}")
}

async fn page(app: &TestApp, list: &List, query: &str) -> Value {
    let r = app
        .get(&with_query(&list.path, query), &list.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{} {query}", list.path);
    r.json().await.unwrap()
}

fn ids(list: &List, page: &Value) -> Vec<String> {
    page[list.items]
        .as_array()
        .unwrap_or_else(|| panic!("{}: no `{}` array in {page}", list.path, list.items))
        .iter()
        .map(|item| item[list.id].to_string())
        .collect()
}

fn cursor(page: &Value, which: &str) -> Option<String> {
    match &page[which] {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => panic!("`{which}` is neither a cursor nor null: {other}"),
    }
}

/// Walks `list` forward with `limit` from the start to the end, then back from the last
/// page to the first, and checks that both walks see exactly the whole list, once each.
async fn walk_both_ways(app: &TestApp, list: &List, limit: usize) -> usize {
    let whole = page(app, list, "limit=200").await;
    let everything = ids(list, &whole);
    assert!(cursor(&whole, "next").is_none() && cursor(&whole, "prev").is_none());
    assert!(
        everything.len() > 2 * limit,
        "{}: only {} items, too few to walk",
        list.path,
        everything.len()
    );

    let mut forward = Vec::new();
    let mut query = format!("limit={limit}");
    let mut last_page;
    let mut first = true;
    loop {
        let current = page(app, list, &query).await;
        let items = ids(list, &current);
        assert!(items.len() <= limit && !items.is_empty(), "{}", list.path);
        if first {
            assert_eq!(cursor(&current, "prev"), None, "{}: first page", list.path);
            first = false;
        } else {
            assert!(
                cursor(&current, "prev").is_some(),
                "{}: a later page",
                list.path
            );
        }
        forward.extend(items);
        last_page = current;
        match cursor(&last_page, "next") {
            Some(next) => query = format!("limit={limit}&after={next}"),
            None => break,
        }
        assert!(
            forward.len() <= everything.len(),
            "{}: never ends",
            list.path
        );
    }
    assert_eq!(forward, everything, "{}: forward", list.path);

    // Back from the last page: every page before it, in order, the first without `prev`.
    let mut backward: Vec<String> = ids(list, &last_page);
    let mut prev = cursor(&last_page, "prev");
    while let Some(before) = prev {
        let current = page(app, list, &format!("limit={limit}&before={before}")).await;
        let mut items = ids(list, &current);
        assert!(items.len() <= limit && !items.is_empty(), "{}", list.path);
        assert!(
            cursor(&current, "next").is_some(),
            "{}: going back",
            list.path
        );
        items.append(&mut backward);
        backward = items;
        prev = cursor(&current, "prev");
        assert!(
            backward.len() <= everything.len(),
            "{}: never ends",
            list.path
        );
    }
    assert_eq!(backward, everything, "{}: backward", list.path);
    everything.len()
}

/// An application where every native list holds several pages: `root` (an admin) and
/// `alice` (a plain user) with tokens, sessions, files, chunks, organisations, members,
/// roles and audit events.
async fn app_with_full_lists() -> (TestApp, TestUser, Vec<List>) {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let alice = app.user("alice").await;
    // The test app allows `MAX_TOKENS` (5): the one `app.user` made and four more.
    for i in 1..MAX_TOKENS {
        let r = app
            .post("/auth/v1/tokens", &alice.token)
            .json(&json!({"name": format!("t{i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    for _ in 0..5 {
        app.session("alice", PASSWORD).await;
    }
    for i in 0..5 {
        let r = app
            .post("/auth/v1/files", &alice.token)
            .multipart(multipart_file(vec![b'x'; 10], &format!("f{i}.txt")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    for i in 0..7 {
        let r = app
            .post("/auth/v1/chunks", &alice.token)
            .json(&json!({"content": format!("chunk {i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let mut members = Vec::new();
    for i in 0..5 {
        members.push(app.user(&format!("member{i}")).await);
    }
    // Organisations are made by an instance admin here, who also brings members in.
    let mut orgs = Vec::new();
    for i in 0..5 {
        let org: Value = app
            .post("/auth/v1/orgs", &root.token)
            .json(&json!({"name": format!("org {i}")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        orgs.push(org["id"].as_str().unwrap().to_owned());
    }
    let org = orgs[0].clone();
    let mut joins: Vec<(String, accounts::UserId)> =
        orgs.iter().map(|o| (o.clone(), alice.id)).collect();
    joins.extend(members.iter().map(|m| (org.clone(), m.id)));
    for (org, user) in joins {
        let r = app
            .put(&format!("/auth/v1/orgs/{org}/members/{user}"), &root.token)
            .json(&json!({"role": "member"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    // Accounts whose addresses share a prefix with `@`, for the listing in e-mail order.
    let team: Vec<Value> = (0..5)
        .map(|i| json!({"username": format!("team{i}"), "email": format!("x@team{i}.example.com")}))
        .collect();
    let r = app
        .post("/auth/v1/admin/users", &root.token)
        .json(&team)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let mut role_ids = vec![2];
    for i in 0..5 {
        let role: Value = app
            .post("/auth/v1/admin/roles", &root.token)
            .json(&json!({
                "name": format!("reader{i}"),
                "permissions": [{"entity": "chunk", "action": "read", "scope": "own"}],
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        role_ids.push(role["id"].as_i64().unwrap());
    }
    let r = app
        .put(
            &format!("/auth/v1/admin/users/{}/roles", alice.id),
            &root.token,
        )
        .json(&json!({ "roles": role_ids }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let lists = vec![
        list("/auth/v1/tokens", &alice.token, "tokens", "id"),
        list("/auth/v1/sessions", &alice.token, "sessions", "id"),
        list("/auth/v1/files", &alice.token, "files", "id"),
        list("/auth/v1/chunks", &alice.token, "chunks", "id"),
        list("/auth/v1/orgs", &alice.token, "organizations", "id"),
        list(
            format!("/auth/v1/orgs/{org}/members"),
            &alice.token,
            "members",
            "user_id",
        ),
        list("/auth/v1/admin/users", &root.token, "users", "id"),
        list("/auth/v1/admin/users?q=member", &root.token, "users", "id"),
        list(
            "/auth/v1/admin/users?q=x%40team",
            &root.token,
            "users",
            "id",
        ),
        list("/auth/v1/admin/roles", &root.token, "roles", "id"),
        list(
            format!("/auth/v1/admin/users/{}/roles", alice.id),
            &root.token,
            "roles",
            "id",
        ),
        list("/auth/v1/admin/audit", &root.token, "events", "id"),
    ];
    (app, root, lists)
}

#[tokio::test]
async fn every_native_list_walks_both_ways_without_skipping_or_repeating() {
    let (app, _root, lists) = app_with_full_lists().await;
    for list in &lists {
        for limit in [1, 2] {
            walk_both_ways(&app, list, limit).await;
        }
    }
}

#[tokio::test]
async fn a_limit_outside_1_to_200_or_not_a_number_is_refused_on_every_list() {
    let (app, _root, lists) = app_with_full_lists().await;
    for list in &lists {
        for bad in ["0", "201", "-1", "1.5", "lots", ""] {
            let r = app
                .get(
                    &with_query(&list.path, &format!("limit={bad}")),
                    &list.token,
                )
                .send()
                .await
                .unwrap();
            let body = assert_problem(r, 400, "invalid_query").await;
            assert!(
                body["detail"].as_str().unwrap().contains("limit"),
                "{} limit={bad}: {body}",
                list.path
            );
        }
        page(&app, list, "limit=200").await;
        page(&app, list, "limit=1").await;
    }
}

#[tokio::test]
async fn a_tampered_or_foreign_cursor_is_a_400_never_a_500() {
    let (app, _root, lists) = app_with_full_lists().await;
    let mut cursors = Vec::new();
    for list in &lists {
        let first = page(&app, list, "limit=1").await;
        cursors.push(cursor(&first, "next").expect("a second page"));
    }
    for (i, list) in lists.iter().enumerate() {
        let own = &cursors[i];
        // The cursor of a list of another kind (users' filters share one kind).
        let foreign = cursors
            .iter()
            .zip(&lists)
            .find(|(_, other)| other.items != list.items)
            .map(|(c, _)| c.clone())
            .unwrap();
        let mut flipped = own.clone().into_bytes();
        let last = flipped.len() - 2;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        let mut garbled = own.clone();
        garbled.insert_str(own.len() / 2, "zz9");
        for bad in [
            flipped.clone(),
            foreign,
            garbled,
            format!("{own}%21"),
            "not-base64%21".to_owned(),
            "dXNlcnN8".to_owned(), // base64url of "users|": a list's name without a key
            "_w".to_owned(),       // one byte that is not UTF-8
        ] {
            for param in ["after", "before"] {
                let r = app
                    .get(
                        &with_query(&list.path, &format!("{param}={bad}")),
                        &list.token,
                    )
                    .send()
                    .await
                    .unwrap();
                // A flipped key character may still decode to another position of this
                // list: that is a page, not an error. Anything else is a clear 400.
                if bad == flipped && r.status() == 200 {
                    continue;
                }
                let body = assert_problem(r, 400, "invalid_query").await;
                assert_eq!(body["field"], param, "{} {param}={bad}", list.path);
            }
        }
        let r = app
            .get(
                &with_query(&list.path, &format!("after={own}&before={own}")),
                &list.token,
            )
            .send()
            .await
            .unwrap();
        assert_problem(r, 400, "invalid_query").await;
    }
}

#[tokio::test]
async fn a_cursor_from_another_user_filter_is_refused() {
    let (app, root, _lists) = app_with_full_lists().await;
    let by_name: Value = app
        .get("/auth/v1/admin/users?q=member&limit=1", &root.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let next = by_name["next"].as_str().unwrap();
    let r = app
        .get(&format!("/auth/v1/admin/users?after={next}"), &root.token)
        .send()
        .await
        .unwrap();
    let body = assert_problem(r, 400, "invalid_query").await;
    assert!(body["detail"].as_str().unwrap().contains("another `q`"));
}

/// Every string under a key that names a time (`*_at`, `at`) in `value`, with its path.
fn timestamps(value: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let here = format!("{path}.{key}");
                if let (true, Value::String(s)) = (key == "at" || key.ends_with("_at"), v) {
                    out.push((here.clone(), s.clone()));
                }
                timestamps(v, &here, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                timestamps(v, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn is_rfc3339_millis(s: &str) -> bool {
    // YYYY-MM-DDTHH:MM:SS.mmmZ
    let b = s.as_bytes();
    b.len() == 24
        && chrono::DateTime::parse_from_rfc3339(s).is_ok()
        && b[19] == b'.'
        && b[20..23].iter().all(u8::is_ascii_digit)
        && b[23] == b'Z'
}

#[tokio::test]
async fn every_native_timestamp_is_rfc3339_with_milliseconds() {
    let (app, root, lists) = app_with_full_lists().await;
    // A token used just now: its last use is still in memory, to the nanosecond.
    let alice_token = &lists[0].token;
    assert_eq!(app.status_with("/auth/v1/me", alice_token).await, 200);
    let login: Value = app.login("alice", PASSWORD).await.json().await.unwrap();
    let mut answers = vec![
        ("login".to_owned(), login),
        (
            "me".to_owned(),
            app.get("/auth/v1/me", alice_token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap(),
        ),
        (
            "user".to_owned(),
            app.get(&format!("/auth/v1/admin/users/{}", root.id), &root.token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap(),
        ),
    ];
    for list in &lists {
        answers.push((list.path.clone(), page(&app, list, "limit=200").await));
    }
    let mut found = Vec::new();
    for (name, answer) in &answers {
        timestamps(answer, name, &mut found);
    }
    for field in [
        "last_used_at",
        "created_at",
        "updated_at",
        "expires_at",
        "last_seen_at",
    ] {
        assert!(
            found.iter().any(|(path, _)| path.ends_with(field)),
            "no `{field}` seen"
        );
    }
    assert!(found.iter().any(|(path, _)| path.ends_with(".at")));
    let odd: Vec<_> = found
        .iter()
        .filter(|(_, value)| !is_rfc3339_millis(value))
        .collect();
    assert!(odd.is_empty(), "not RFC 3339 with milliseconds: {odd:?}");
}

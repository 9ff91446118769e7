//! Users' files (`/auth/v1/files`) and chunks (`/auth/v1/chunks`): upload, list, download,
//! delete; the size limit and the quota; other users' files and chunks; pages of chunks.

use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

use crate::helpers::{assert_problem, png_with_metadata, TestApp};

fn file_form(bytes: Vec<u8>, name: &str, content_type: &str) -> Form {
    let part = Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str(content_type)
        .unwrap();
    Form::new().part("file", part)
}

async fn json_ok(response: reqwest::Response, status: u16) -> Value {
    let got = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(got, status, "{body}");
    body
}

async fn upload(app: &TestApp, token: &str, form: Form) -> reqwest::Response {
    app.post("/auth/v1/files", token)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

async fn upload_ok(app: &TestApp, token: &str, bytes: Vec<u8>, name: &str) -> String {
    let body = json_ok(
        upload(app, token, file_form(bytes, name, "application/pdf")).await,
        201,
    )
    .await;
    body["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn upload_list_download_delete() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let form = file_form(b"quarterly numbers\n".to_vec(), "report.txt", "text/plain")
        .text("link", "https://example.com/report")
        .text("tag_set", "finance,q3")
        .text("metadata", r#"{"source": "scanner", "pages": 2}"#);
    let created = json_ok(upload(&app, &alice.token, form).await, 201).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["name"], "report.txt");
    assert_eq!(created["content_type"], "text/plain");
    assert_eq!(created["size"], 18);
    assert_eq!(created["purpose"], "upload");
    assert_eq!(created["link"], "https://example.com/report");
    assert_eq!(created["tag_set"], "finance,q3");
    assert_eq!(
        created["metadata"],
        json!({"source": "scanner", "pages": 2})
    );

    let listed = json_ok(
        app.get("/auth/v1/files", &alice.token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await["files"]
        .clone();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0], created);

    let r = app
        .get(&format!("/auth/v1/files/{id}"), &alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let headers = r.headers().clone();
    assert_eq!(headers["content-type"], "text/plain");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        disposition.contains("filename=\"report.txt\""),
        "{disposition}"
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"quarterly numbers\n");

    let r = app
        .delete(&format!("/auth/v1/files/{id}"), &alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = app
        .get(&format!("/auth/v1/files/{id}"), &alice.token)
        .send()
        .await
        .unwrap();
    assert_problem(r, 404, "not_found").await;
    let r = app
        .delete(&format!("/auth/v1/files/{id}"), &alice.token)
        .send()
        .await
        .unwrap();
    assert_problem(r, 404, "not_found").await;
    let listed = json_ok(
        app.get("/auth/v1/files", &alice.token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await["files"]
        .clone();
    assert_eq!(listed, json!([]));
}

#[tokio::test]
async fn names_are_plain_and_non_ascii_names_survive_the_download() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let created = json_ok(
        upload(
            &app,
            &alice.token,
            file_form(b"x".to_vec(), "../../etc/passwd", "text/plain"),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(created["name"], "passwd");

    // No declared type: stored and served as application/octet-stream.
    // (The name as raw UTF-8 in the part header, as browsers send it.)
    let part = Part::bytes(b"\x00\x01".to_vec()).file_name("zürich report.bin");
    let form = Form::new().percent_encode_noop().part("file", part);
    let created = json_ok(upload(&app, &alice.token, form).await, 201).await;
    assert_eq!(created["name"], "zürich report.bin");
    let r = app
        .get(
            &format!("/auth/v1/files/{}", created["id"].as_str().unwrap()),
            &alice.token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    let disposition = r.headers()["content-disposition"].to_str().unwrap();
    assert_eq!(
        disposition,
        "attachment; filename=\"z_rich report.bin\"; filename*=UTF-8''z%C3%BCrich%20report.bin"
    );
}

#[tokio::test]
async fn malformed_uploads_are_refused() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let r = upload(
        &app,
        &alice.token,
        Form::new().text("link", "https://x.test"),
    )
    .await;
    let body = assert_problem(r, 400, "malformed_body").await;
    assert_eq!(body["field"], "file");

    let form = file_form(b"x".to_vec(), "a.txt", "text/plain").text("metadata", "{not json");
    let body = assert_problem(
        upload(&app, &alice.token, form).await,
        400,
        "malformed_body",
    )
    .await;
    assert_eq!(body["field"], "metadata");

    let form = file_form(b"x".to_vec(), "a.txt", "text/plain").text("colour", "blue");
    let body = assert_problem(
        upload(&app, &alice.token, form).await,
        422,
        "malformed_body",
    )
    .await;
    assert_eq!(body["field"], "colour");

    // A part without a filename has no name to keep.
    let form = Form::new().part("file", Part::bytes(b"x".to_vec()));
    let body = assert_problem(upload(&app, &alice.token, form).await, 400, "invalid_input").await;
    assert_eq!(body["field"], "file_name");

    let r = app
        .post("/auth/v1/files", &alice.token)
        .json(&json!({"file": "x"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 400, "malformed_body").await;
    // Nothing was stored.
    let listed = json_ok(
        app.get("/auth/v1/files", &alice.token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await["files"]
        .clone();
    assert_eq!(listed, json!([]));
}

#[tokio::test]
async fn an_oversize_upload_is_413() {
    let app = TestApp::spawn_with(|c| c.max_file_bytes = 4096).await;
    let alice = app.user("alice").await;
    upload_ok(&app, &alice.token, vec![7u8; 4096], "exact.pdf").await;

    let r = upload(
        &app,
        &alice.token,
        file_form(vec![7u8; 4097], "big.pdf", "application/pdf"),
    )
    .await;
    assert_problem(r, 413, "too_large").await;
    // Far past the route's body limit: refused while reading.
    let r = upload(
        &app,
        &alice.token,
        file_form(vec![7u8; 2 * 1024 * 1024], "huge.pdf", "application/pdf"),
    )
    .await;
    assert_problem(r, 413, "too_large").await;
    let listed = json_ok(
        app.get("/auth/v1/files", &alice.token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await["files"]
        .clone();
    assert_eq!(listed.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_upload_past_the_quota_is_409_until_files_are_deleted() {
    let app = TestApp::spawn_with(|c| {
        c.max_file_bytes = 8 * 1024;
        c.file_quota_bytes = 10 * 1024;
    })
    .await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let first = upload_ok(&app, &alice.token, vec![1u8; 6 * 1024], "one.pdf").await;

    let r = upload(
        &app,
        &alice.token,
        file_form(vec![2u8; 6 * 1024], "two.pdf", "application/pdf"),
    )
    .await;
    let body = assert_problem(r, 409, "quota_exceeded").await;
    assert!(body["detail"].as_str().unwrap().contains("10240"), "{body}");
    // The quota is per user.
    upload_ok(&app, &bob.token, vec![2u8; 6 * 1024], "two.pdf").await;
    // What still fits is taken (each record's name, type and 256 bytes count too).
    upload_ok(&app, &alice.token, vec![3u8; 3 * 1024], "three.pdf").await;

    let r = app
        .delete(&format!("/auth/v1/files/{first}"), &alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    upload_ok(&app, &alice.token, vec![2u8; 6 * 1024], "two.pdf").await;
}

#[tokio::test]
async fn another_users_file_is_not_found() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let id = upload_ok(&app, &alice.token, b"private".to_vec(), "diary.pdf").await;

    let r = app
        .get(&format!("/auth/v1/files/{id}"), &bob.token)
        .send()
        .await
        .unwrap();
    assert_problem(r, 404, "not_found").await;
    let r = app
        .delete(&format!("/auth/v1/files/{id}"), &bob.token)
        .send()
        .await
        .unwrap();
    assert_problem(r, 404, "not_found").await;
    let listed = json_ok(
        app.get("/auth/v1/files", &bob.token).send().await.unwrap(),
        200,
    )
    .await["files"]
        .clone();
    assert_eq!(listed, json!([]));
    // A chunk may not point at it either.
    let r = app
        .post("/auth/v1/chunks", &bob.token)
        .json(&json!({"content": "about alice's diary", "file_id": id}))
        .send()
        .await
        .unwrap();
    let body = assert_problem(r, 400, "invalid_input").await;
    assert_eq!(body["field"], "file_id");

    // Still Alice's.
    let r = app
        .get(&format!("/auth/v1/files/{id}"), &alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .get("/auth/v1/files/not-a-uuid", &alice.token)
        .send()
        .await
        .unwrap();
    assert_problem(r, 400, "invalid_path").await;
    let r = app
        .client
        .get(app.url("/auth/v1/files"))
        .send()
        .await
        .unwrap();
    assert_problem(r, 401, "unauthorized").await;
}

#[tokio::test]
async fn the_profile_picture_is_one_of_the_files() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let r = app
        .put("/auth/v1/me/picture", &alice.token)
        .multipart(crate::helpers::multipart_file(
            png_with_metadata(8, 8),
            "me.png",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let listed = json_ok(
        app.get("/auth/v1/files", &alice.token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await["files"]
        .clone();
    let files = listed.as_array().unwrap();
    assert_eq!(files.len(), 1, "{listed}");
    assert_eq!(files[0]["purpose"], "avatar");
    assert_eq!(files[0]["content_type"], "image/png");

    let id = files[0]["id"].as_str().unwrap();
    let r = app
        .delete(&format!("/auth/v1/files/{id}"), &alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let me = json_ok(
        app.get("/auth/v1/me", &alice.token).send().await.unwrap(),
        200,
    )
    .await;
    assert_eq!(me["picture"], Value::Null);
}

async fn create_chunk(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.post("/auth/v1/chunks", token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn chunk_page(app: &TestApp, token: &str, query: &str) -> reqwest::Response {
    app.get(&format!("/auth/v1/chunks?{query}"), token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn chunks_come_a_page_at_a_time_newest_first_both_ways() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    create_chunk(&app, &bob.token, json!({"content": "bob's"})).await;
    for n in 0..25 {
        let r = create_chunk(&app, &alice.token, json!({"content": format!("chunk {n}")})).await;
        assert_eq!(r.status(), 201);
        // Distinct creation times, so newest first is the reverse of writing.
        app.clock.advance(chrono::Duration::seconds(1));
    }
    let contents = |body: &Value| -> Vec<String> {
        body["chunks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["content"].as_str().unwrap().to_owned())
            .collect()
    };
    let written: Vec<String> = (0..25).rev().map(|n| format!("chunk {n}")).collect();
    let mut seen = Vec::new();
    let mut query = "limit=10".to_owned();
    let mut pages = Vec::new();
    loop {
        let body = json_ok(chunk_page(&app, &alice.token, &query).await, 200).await;
        assert_eq!(body["total"], 25);
        seen.extend(contents(&body));
        pages.push(body["chunks"].as_array().unwrap().len());
        match body["next"].as_str() {
            Some(next) => query = format!("limit=10&after={next}"),
            None => {
                // And back from the last page to the first.
                let mut prev = body["prev"].as_str().map(str::to_owned);
                let mut back: Vec<String> = contents(&body);
                while let Some(before) = prev {
                    let page = json_ok(
                        chunk_page(&app, &alice.token, &format!("limit=10&before={before}")).await,
                        200,
                    )
                    .await;
                    let mut items = contents(&page);
                    items.append(&mut back);
                    back = items;
                    prev = page["prev"].as_str().map(str::to_owned);
                }
                assert_eq!(back, written, "walked back");
                break;
            }
        }
    }
    assert_eq!(pages, [10, 10, 5]);
    assert_eq!(seen, written, "every chunk once, newest first");

    // Without `limit`: the default page (50) holds them all.
    let body = json_ok(chunk_page(&app, &alice.token, "").await, 200).await;
    assert_eq!(contents(&body), written);
    assert!(body["next"].is_null() && body["prev"].is_null());

    for bad in ["limit=0", "limit=201", "limit=two", "limit=-1"] {
        let body = assert_problem(
            chunk_page(&app, &alice.token, bad).await,
            400,
            "invalid_query",
        )
        .await;
        assert!(
            body["detail"].as_str().unwrap().contains("limit"),
            "{bad}: {body}"
        );
    }
    // Page numbers are gone: an unknown parameter is refused, not ignored.
    assert_problem(
        chunk_page(&app, &alice.token, "page=2").await,
        400,
        "invalid_query",
    )
    .await;
}

#[tokio::test]
async fn a_chunk_keeps_what_was_written_and_tracking_ids_are_unique_per_user() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let file = upload_ok(&app, &alice.token, b"%PDF".to_vec(), "source.pdf").await;
    let written = json!({
        "content": "Gatehouse keeps chunks.",
        "chunk_html": "<p>Gatehouse keeps chunks.</p>",
        "link": "https://example.com/chunks",
        "metadata": {"lang": "en"},
        "tag_set": "docs,intro",
        "weight": 2.5,
        "tracking_id": "intro-1",
        "file_id": file,
    });
    let created = json_ok(create_chunk(&app, &alice.token, written.clone()).await, 201).await;
    for key in written.as_object().unwrap().keys() {
        assert_eq!(created[key], written[key], "{key}");
    }
    let listed = json_ok(chunk_page(&app, &alice.token, "limit=200").await, 200).await;
    assert_eq!(listed["chunks"][0], created);

    let r = create_chunk(
        &app,
        &alice.token,
        json!({"content": "again", "tracking_id": "intro-1"}),
    )
    .await;
    let body = assert_problem(r, 409, "tracking_id_taken").await;
    assert_eq!(body["field"], "tracking_id");
    // Another user's tracking ids are theirs.
    let r = create_chunk(
        &app,
        &bob.token,
        json!({"content": "bob's", "tracking_id": "intro-1"}),
    )
    .await;
    assert_eq!(r.status(), 201);

    let body = assert_problem(
        create_chunk(&app, &alice.token, json!({"content": "  "})).await,
        400,
        "invalid_input",
    )
    .await;
    assert_eq!(body["field"], "content");
    assert_problem(
        create_chunk(
            &app,
            &alice.token,
            json!({"content": "x", "colour": "blue"}),
        )
        .await,
        422,
        "malformed_body",
    )
    .await;
    assert_problem(
        create_chunk(&app, &alice.token, json!({"chunk_html": "<p>x</p>"})).await,
        422,
        "malformed_body",
    )
    .await;
}

#[tokio::test]
async fn deleting_a_chunk() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let created = json_ok(
        create_chunk(
            &app,
            &alice.token,
            json!({"content": "short-lived", "tracking_id": "t"}),
        )
        .await,
        201,
    )
    .await;
    let path = format!("/auth/v1/chunks/{}", created["id"].as_str().unwrap());

    let r = app.delete(&path, &bob.token).send().await.unwrap();
    assert_problem(r, 404, "not_found").await;
    let r = app.delete(&path, &alice.token).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let r = app.delete(&path, &alice.token).send().await.unwrap();
    assert_problem(r, 404, "not_found").await;
    let body = json_ok(chunk_page(&app, &alice.token, "limit=200").await, 200).await;
    assert_eq!(body["total"], 0);
    // Its tracking id is free again.
    let r = create_chunk(
        &app,
        &alice.token,
        json!({"content": "again", "tracking_id": "t"}),
    )
    .await;
    assert_eq!(r.status(), 201);
}

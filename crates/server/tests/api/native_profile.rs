//! `/auth/v1/me`: the OIDC claims and the profile picture.

use serde_json::{json, Value};

use crate::helpers::{assert_problem, multipart_file, png_with_metadata, TestApp, MAX_PICTURE};

#[tokio::test]
async fn claims_can_be_set_cleared_and_read_back() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let me: Value = app
        .get("/auth/v1/me", &alice.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "alice");
    assert_eq!(me["email"], "alice@example.com");
    assert_eq!(me["nickname"], Value::Null);

    let r = app
        .patch("/auth/v1/me", &alice.token)
        .json(&json!({"nickname": "Al", "given_name": "Alice", "birthdate": "1990-05-01", "website": "https://alice.example", "locale": "en-GB"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["nickname"], "Al");
    assert_eq!(me["birthdate"], "1990-05-01");

    let r = app
        .patch("/auth/v1/me", &alice.token)
        .json(&json!({"nickname": null}))
        .send()
        .await
        .unwrap();
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["nickname"], Value::Null, "null clears");
    assert_eq!(me["given_name"], "Alice", "missing keys are kept");
}

#[tokio::test]
async fn invalid_claims_are_refused_whole_with_the_field_named() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let r = app
        .patch("/auth/v1/me", &alice.token)
        .json(&json!({"nickname": "Al", "website": "javascript:alert(1)"}))
        .send()
        .await
        .unwrap();
    let body = assert_problem(r, 400, "invalid_input").await;
    assert_eq!(body["field"], "website");
    let me: Value = app
        .get("/auth/v1/me", &alice.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["nickname"], Value::Null, "no partial write");

    let r = app
        .patch("/auth/v1/me", &alice.token)
        .json(&json!({"birthdate": "1990-02-30"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        assert_problem(r, 400, "invalid_input").await["field"],
        "birthdate"
    );
    let r = app
        .patch("/auth/v1/me", &alice.token)
        .json(&json!({"email": "new@example.com"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 422, "malformed_body").await;
    let r = app
        .patch("/auth/v1/me", &alice.token)
        .json(&json!({"nickname": 42}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 422, "malformed_body").await;
}

#[tokio::test]
async fn a_picture_is_reencoded_served_and_replaces_the_last() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let upload = png_with_metadata(4, 3);
    let r = app
        .put("/auth/v1/me/picture", &alice.token)
        .multipart(multipart_file(upload.clone(), "me.jpg"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let first = r.json::<Value>().await.unwrap()["picture"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(first.starts_with(&app.url("/auth/v1/pictures/")));

    let served = app.client.get(&first).send().await.unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "image/png");
    let bytes = served.bytes().await.unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert!(!bytes.windows(3).any(|w| w == b"GPS"), "metadata stripped");
    let img = image::load_from_memory(&bytes).unwrap();
    assert_eq!((img.width(), img.height()), (4, 3));

    let me: Value = app
        .get("/auth/v1/me", &alice.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["picture"], first.as_str());

    let r = app
        .put("/auth/v1/me/picture", &alice.token)
        .multipart(multipart_file(png_with_metadata(2, 2), "again.png"))
        .send()
        .await
        .unwrap();
    let second = r.json::<Value>().await.unwrap()["picture"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(first, second);
    assert_eq!(
        app.client.get(&first).send().await.unwrap().status(),
        404,
        "old picture removed"
    );
    assert_eq!(app.client.get(&second).send().await.unwrap().status(), 200);
    let files = std::fs::read_dir(app.dir.path().join("files"))
        .unwrap()
        .count();
    assert_eq!(files, 1, "the replaced file is deleted from disk");
}

#[tokio::test]
async fn bad_pictures_are_refused() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let put = |form| {
        app.put("/auth/v1/me/picture", &alice.token)
            .multipart(form)
            .send()
    };

    let r = put(multipart_file(
        b"just text, named like a picture".to_vec(),
        "cat.png",
    ))
    .await
    .unwrap();
    assert_eq!(
        assert_problem(r, 400, "not_an_image").await["field"],
        "file"
    );

    let mut big = png_with_metadata(2, 2);
    big.resize(MAX_PICTURE + 1, 0);
    let r = put(multipart_file(big, "big.png")).await.unwrap();
    assert_problem(r, 413, "too_large").await;

    let way_too_big = vec![0u8; MAX_PICTURE * 4];
    let r = put(multipart_file(way_too_big, "huge.png")).await.unwrap();
    assert_problem(r, 413, "too_large").await;

    let form = reqwest::multipart::Form::new().text("other", "x");
    let r = put(form).await.unwrap();
    assert_problem(r, 400, "malformed_body").await;

    let r = app
        .put("/auth/v1/me/picture", &alice.token)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let r = app
        .client
        .get(app.url("/auth/v1/pictures/not-a-uuid"))
        .send()
        .await
        .unwrap();
    assert_problem(r, 400, "invalid_path").await;
    let r = app
        .client
        .get(app.url(&format!("/auth/v1/pictures/{}", uuid::Uuid::new_v4())))
        .send()
        .await
        .unwrap();
    assert_problem(r, 404, "not_found").await;
    let me: Value = app
        .get("/auth/v1/me", &alice.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["picture"], Value::Null);
}

#[tokio::test]
async fn profile_endpoints_need_a_credential() {
    let app = TestApp::spawn().await;
    for r in [
        app.client.get(app.url("/auth/v1/me")).send().await.unwrap(),
        app.client
            .patch(app.url("/auth/v1/me"))
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
        app.client
            .put(app.url("/auth/v1/me/picture"))
            .multipart(multipart_file(png_with_metadata(1, 1), "a.png"))
            .send()
            .await
            .unwrap(),
    ] {
        assert_problem(r, 401, "unauthorized").await;
    }
}

#[tokio::test]
async fn a_read_after_a_write_sees_the_write_despite_the_cache() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let get_me = || async {
        app.get("/auth/v1/me", &alice.token)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    assert_eq!(get_me().await["nickname"], Value::Null); // now cached
    app.patch("/auth/v1/me", &alice.token)
        .json(&json!({"nickname": "Al"}))
        .send()
        .await
        .unwrap();
    assert_eq!(get_me().await["nickname"], "Al");
    let r = app
        .put("/auth/v1/me/picture", &alice.token)
        .multipart(multipart_file(png_with_metadata(1, 1), "a.png"))
        .send()
        .await
        .unwrap();
    let url = r.json::<Value>().await.unwrap()["picture"].clone();
    assert_eq!(get_me().await["picture"], url);
    #[cfg(feature = "freechat")]
    {
        let d: Value = app
            .get("/api/v1/account/details", &alice.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(d["picture"], url);
        assert_eq!(d["nickname"], "Al");
    }
}

/// Every claim the document offers is kept, the two non-OIDC ones too.
#[tokio::test]
async fn department_and_biography_are_set_and_cleared() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let body: serde_json::Value = app
        .patch("/auth/v1/me", &alice.token)
        .json(&serde_json::json!({"department": "R&D", "biography": "Builds gates."}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["department"], "R&D");
    assert_eq!(body["biography"], "Builds gates.");
    let body: serde_json::Value = app
        .patch("/auth/v1/me", &alice.token)
        .json(&serde_json::json!({"department": null}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body["department"].is_null(), "{body}");
    assert_eq!(body["biography"], "Builds gates.");
}

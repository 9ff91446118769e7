//! What one caller can make the server spend: password hashes with attacker-chosen costs,
//! pictures that are small on the wire and huge once decoded, content beyond the quota, and
//! numbers near the edge of their type. Each test is named after the attack it stops.

use std::io::Cursor;
use std::process::{Output, Stdio};

use serde_json::{json, Value};

use crate::helpers::{assert_problem, multipart_file, png_with_metadata, TestApp, PASSWORD};

/// `gatehouse ARGS` on the app's data directory and database.
fn gatehouse_for(app: &TestApp, args: &[&str], stdin: Option<&str>) -> Output {
    crate::cli::gatehouse_on(app.dir.path(), Some(&app.database_url()), args, stdin)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

// ------------------------------------------------------------------ point 9: hash costs

/// A syntactically valid argon2id PHC string with the given costs (the tag is not the hash
/// of anything: only the costs matter here).
fn argon2_with_costs(m: u32, t: u32, p: u32) -> String {
    format!("$argon2id$v=19$m={m},t={t},p={p}$c2FsdHNhbHRzYWx0c2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
}

#[tokio::test]
async fn importing_hashes_with_huge_costs_is_refused_naming_each_line() {
    let app = TestApp::spawn().await;
    let bcrypt_31 = {
        let ok = bcrypt::hash("whatever password", 4).unwrap();
        format!("$2b$31${}", &ok[7..])
    };
    let lines = [
        argon2_with_costs(u32::MAX, 1, 1),
        argon2_with_costs(256 * 1024, 40, 1),
        bcrypt_31,
    ]
    .iter()
    .enumerate()
    .map(|(i, hash)| {
        json!({"username": format!("costly{i}"), "email": format!("costly{i}@example.com"),
               "password_hash": hash})
        .to_string()
    })
    .collect::<Vec<_>>();
    let file = app.dir.path().join("costly.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let out = gatehouse_for(&app, &["user", "import", file.to_str().unwrap()], None);
    assert!(
        !out.status.success(),
        "imported: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = stderr(&out);
    for n in 1..=3 {
        assert!(err.contains(&format!("line {n}: ")), "{err}");
    }
    assert!(err.contains("memory cost"), "{err}");
    assert!(err.contains("bcrypt cost 31"), "{err}");
    assert!(app.login("costly0", PASSWORD).await.status() == 401);
}

// ------------------------------------------------------------------ point 13: quotas, paging

#[tokio::test]
async fn metadata_links_and_tags_count_against_the_file_quota() {
    let app = TestApp::spawn_with(|c| c.file_quota_bytes = 256 * 1024).await;
    let alice = app.user("alice").await;
    let big_metadata = json!({"padding": "x".repeat(60 * 1024)}).to_string();
    let mut refused = None;
    for i in 0..10 {
        let form = multipart_file(b"1".to_vec(), "tiny.txt")
            .text("metadata", big_metadata.clone())
            .text("tag_set", "t".repeat(1000));
        let r = app
            .post("/auth/v1/files", &alice.token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        if r.status() != 201 {
            refused = Some((i, r));
            break;
        }
    }
    let (i, r) = refused.expect("ten files of 61 KiB metadata each fit a 256 KiB quota");
    assert_eq!(i, 4, "four fit, the fifth passes 256 KiB");
    assert_problem(r, 409, "quota_exceeded").await;
}

#[tokio::test]
async fn chunks_count_against_the_same_quota() {
    let app = TestApp::spawn_with(|c| c.file_quota_bytes = 256 * 1024).await;
    let alice = app.user("alice").await;
    let mut refused = None;
    for i in 0..10 {
        let r = app
            .post("/auth/v1/chunks", &alice.token)
            .json(&json!({"content": "c".repeat(60_000)}))
            .send()
            .await
            .unwrap();
        if r.status() != 201 {
            refused = Some((i, r));
            break;
        }
    }
    let (i, r) = refused.expect("ten chunks of 60 000 bytes each fit a 256 KiB quota");
    assert_eq!(i, 4);
    assert_problem(r, 409, "quota_exceeded").await;
    // A file no longer fits either: one quota for everything the user stores.
    let r = app
        .post("/auth/v1/files", &alice.token)
        .multipart(multipart_file(vec![0; 30 * 1024], "f.bin"))
        .send()
        .await
        .unwrap();
    assert_problem(r, 409, "quota_exceeded").await;
}

#[tokio::test]
async fn the_file_list_comes_in_pages_with_cursors_both_ways() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    for i in 0..5 {
        app.clock.advance(chrono::Duration::seconds(1));
        let r = app
            .post("/auth/v1/files", &alice.token)
            .multipart(multipart_file(vec![b'x'; 10], &format!("f{i}.txt")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let page = |query: String| {
        let app = &app;
        let token = alice.token.clone();
        async move {
            let r = app
                .get(&format!("/auth/v1/files{query}"), &token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let names = |body: &Value| -> Vec<String> {
        body["files"]
            .as_array()
            .expect("a page: {files, next, prev}")
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let first = page("?limit=2".into()).await;
    assert_eq!(names(&first), ["f4.txt", "f3.txt"]);
    assert_eq!(first["prev"], Value::Null);
    assert_eq!(first["total"], 5);
    let next = first["next"].as_str().unwrap();
    let second = page(format!("?limit=2&after={next}")).await;
    assert_eq!(names(&second), ["f2.txt", "f1.txt"]);
    let third = page(format!(
        "?limit=2&after={}",
        second["next"].as_str().unwrap()
    ))
    .await;
    assert_eq!(names(&third), ["f0.txt"]);
    assert_eq!(third["next"], Value::Null);
    let back = page(format!(
        "?limit=2&before={}",
        third["prev"].as_str().unwrap()
    ))
    .await;
    assert_eq!(names(&back), ["f2.txt", "f1.txt"]);
    let back = page(format!(
        "?limit=2&before={}",
        back["prev"].as_str().unwrap()
    ))
    .await;
    assert_eq!(names(&back), ["f4.txt", "f3.txt"]);
    assert_eq!(back["prev"], Value::Null);
    // The default page and the documented maximum.
    assert_eq!(names(&page(String::new()).await).len(), 5);
    for bad in [
        "?limit=201",
        "?limit=0",
        "?after=nonsense",
        "?after=a&before=b",
    ] {
        let r = app
            .get(&format!("/auth/v1/files{bad}"), &alice.token)
            .send()
            .await
            .unwrap();
        assert_problem(r, 400, "invalid_query").await;
    }
}

// ------------------------------------------------------------------ point 14: overflows

#[tokio::test]
async fn an_expiry_near_the_end_of_time_is_a_400_not_a_panic() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    for seconds in [i64::MAX, i64::MAX / 1000 + 1, 1_i64 << 60] {
        let r = app
            .post("/auth/v1/tokens", &alice.token)
            .json(&json!({"expires_in": seconds}))
            .send()
            .await
            .unwrap();
        let body = assert_problem(r, 400, "invalid_input").await;
        assert_eq!(body["field"], "expires_in");
        assert!(
            body["detail"].as_str().unwrap().contains("between 1 and"),
            "{body}"
        );

        #[cfg(feature = "freechat")]
        {
            let r = app
                .post(&format!("/api/v1/account/token/{seconds}"), &alice.token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 400);
            assert!(r.text().await.unwrap().contains("between 1 and"));
        }
    }
    let out = gatehouse_for(
        &app,
        &[
            "token",
            "create",
            "--user",
            "alice",
            "--expires-in",
            &i64::MAX.to_string(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("between 1 and"), "{}", stderr(&out));
}

// ------------------------------------------------------------------ point 10: pictures

/// A 4096x4096 RGBA picture at 16 bits a channel: about 130 KB as a PNG, 128 MiB decoded.
fn huge_sixteen_bit_png() -> Vec<u8> {
    let image = image::ImageBuffer::<image::Rgba<u16>, Vec<u16>>::from_pixel(
        4096,
        4096,
        image::Rgba([1000, 20000, 40000, 65535]),
    );
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// `VmHWM` (peak resident memory) of a process, in KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("Linux reports VmHWM");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn three_decompression_bomb_pictures_at_once_stay_within_64_mib() {
    let png = huge_sixteen_bit_png();
    assert!(
        png.len() < 2 * 1024 * 1024,
        "small on the wire: {}",
        png.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let created = crate::cli::gatehouse_on(
        data,
        None,
        &[
            "user",
            "create",
            "--username",
            "pic",
            "--email",
            "pic@example.com",
        ],
        None,
    );
    assert!(created.status.success(), "{}", stderr(&created));
    let token = crate::cli::gatehouse_on(data, None, &["token", "create", "--user", "pic"], None);
    assert!(token.status.success(), "{}", stderr(&token));
    let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();

    let mut command = crate::helpers::serve_command(data);
    command
        .args(["--password-hash-workers", "1"])
        .stderr(Stdio::null());
    let (mut child, base) = crate::helpers::serve_on_free_port(command).await;
    let pid = child.id().unwrap();
    let client = reqwest::Client::new();
    let upload = |bytes: Vec<u8>| {
        client
            .put(format!("{base}/auth/v1/me/picture"))
            .bearer_auth(&token)
            .multipart(multipart_file(bytes, "me.png"))
            .send()
    };
    // Warm up: a small picture goes through every code path once.
    assert_eq!(
        upload(png_with_metadata(64, 64)).await.unwrap().status(),
        200
    );
    let before = peak_kib(pid);

    let (a, b, c) = tokio::join!(
        upload(png.clone()),
        upload(png.clone()),
        upload(png.clone())
    );
    let answers = [a, b, c];
    let after = peak_kib(pid);
    let grown_mib = (after.saturating_sub(before)) / 1024;
    for answer in answers {
        let answer = answer.unwrap();
        assert!(
            answer.status().is_client_error() || answer.status() == 200,
            "{}",
            answer.status()
        );
    }
    assert!(
        grown_mib <= 64,
        "three uploads raised the server's peak memory by {grown_mib} MiB ({before} KiB -> {after} KiB)"
    );
    child.kill().await.unwrap();
}

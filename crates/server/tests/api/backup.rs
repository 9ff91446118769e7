//! `gatehouse backup`, `restore`, `check` and `healthcheck` on real server processes and
//! real SQLite files: a backup taken while serving restores into a server that accepts the
//! same credentials and files; damaged databases are refused with advice.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{json, Value};
use tokio::process::Child;

use crate::cli::gatehouse_on;
use crate::helpers::{serve_command, PASSWORD};

async fn serving(data: &Path) -> (Child, String) {
    crate::helpers::serve_on_free_port(serve_command(data)).await
}

fn gatehouse(data: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    gatehouse_on(data, None, args, stdin)
}

fn succeeded(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

fn failed(o: &Output) -> String {
    assert!(
        !o.status.success(),
        "succeeded: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

/// A user `ops` with a password and an API token; returns the token.
fn user_with_token(data: &Path) -> String {
    succeeded(&gatehouse(
        data,
        &[
            "user",
            "create",
            "--username",
            "ops",
            "--email",
            "ops@example.com",
            "--password-stdin",
        ],
        Some(&format!("{PASSWORD}\n")),
    ));
    succeeded(&gatehouse(
        data,
        &["token", "create", "--user", "ops"],
        None,
    ))
}

async fn upload(base: &str, token: &str, bytes: &[u8]) -> String {
    let part = reqwest::multipart::Part::bytes(bytes.to_vec()).file_name("notes.txt");
    let r = reqwest::Client::new()
        .post(format!("{base}/auth/v1/files"))
        .bearer_auth(token)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn tar_names(file: &Path) -> Vec<String> {
    let out = std::process::Command::new("tar")
        .arg("tf")
        .arg(file)
        .output()
        .unwrap();
    succeeded(&out).lines().map(str::to_owned).collect()
}

#[tokio::test]
async fn a_backup_taken_while_serving_restores_into_a_server_with_the_same_token_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token = user_with_token(&data);
    let (mut first, base) = serving(&data).await;
    let id = upload(&base, &token, b"the file's bytes").await;

    let file = dir.path().join("gatehouse.backup");
    let out = gatehouse(&data, &["backup", "--output", file.to_str().unwrap()], None);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    succeeded(&out);
    assert!(said.contains("1 uploaded file"), "{said}");
    assert!(said.contains("server key"), "{said}");
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600, "the backup holds hashes and the key");
    let names = tar_names(&file);
    assert_eq!(names[0], "manifest.json", "{names:?}");
    for name in ["gatehouse.db", "secret.key", &format!("files/{id}")] {
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }
    // Other commands keep working beside the server: the lock only stops serve and restore.
    let said = succeeded(&gatehouse(&data, &["check"], None));
    assert!(said.contains("check passed"), "{said}");
    // An existing file is never overwritten.
    let again = gatehouse(&data, &["backup", "--output", file.to_str().unwrap()], None);
    assert!(failed(&again).contains("already there"));

    // Not into the directory the running server holds.
    let held = gatehouse(&data, &["restore", file.to_str().unwrap()], None);
    let said = failed(&held);
    assert!(
        said.contains("already using") && said.contains("Stop that server"),
        "{said}"
    );
    assert!(data.join("gatehouse.db").exists(), "left as it was");

    let restored = dir.path().join("restored");
    succeeded(&gatehouse(
        &restored,
        &["restore", file.to_str().unwrap()],
        None,
    ));
    #[cfg(unix)]
    {
        assert_eq!(mode(&restored), 0o700);
        assert_eq!(mode(&restored.join("gatehouse.db")), 0o600);
        assert_eq!(mode(&restored.join("secret.key")), 0o600);
        assert_eq!(mode(&restored.join("files")), 0o700);
        assert_eq!(mode(&restored.join("files").join(&id)), 0o600);
    }
    // Not over a restored (non-empty) directory either.
    let twice = gatehouse(&restored, &["restore", file.to_str().unwrap()], None);
    assert!(failed(&twice).contains("not empty"));
    succeeded(&gatehouse(&restored, &["check"], None));

    first.start_kill().unwrap();
    first.wait().await.unwrap();
    let (_second, base) = serving(&restored).await;
    let client = reqwest::Client::new();
    let me = client
        .get(format!("{base}/auth/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let bytes = client
        .get(format!("{base}/auth/v1/files/{id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&bytes[..], b"the file's bytes");
    let login = client
        .post(format!("{base}/auth/v1/login"))
        .json(&json!({"login": "ops", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
}

#[tokio::test]
async fn restore_refuses_files_that_are_not_gatehouse_backups_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("bogus.tar");
    std::fs::write(&bogus, b"not a tar file at all").unwrap();
    let target = dir.path().join("target");
    let out = gatehouse(&target, &["restore", bogus.to_str().unwrap()], None);
    assert!(failed(&out).contains("not a Gatehouse backup"));
    assert!(
        !target.join("gatehouse.db").exists(),
        "nothing restored from a bad file"
    );
}

/// `names` of `dir`, as a new tar file in that order.
fn tar_of(dir: &Path, names: &[&str], out: &Path) {
    let status = std::process::Command::new("tar")
        .arg("-C")
        .arg(dir)
        .arg("-cf")
        .arg(out)
        .args(names)
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn restore_refuses_a_newer_versions_backup_and_entries_no_backup_holds() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    user_with_token(&data);
    let file = dir.path().join("b.backup");
    succeeded(&gatehouse(
        &data,
        &["backup", "--output", file.to_str().unwrap()],
        None,
    ));
    let parts = dir.path().join("parts");
    std::fs::create_dir(&parts).unwrap();
    let status = std::process::Command::new("tar")
        .arg("-C")
        .arg(&parts)
        .arg("-xf")
        .arg(&file)
        .status()
        .unwrap();
    assert!(status.success());
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(parts.join("manifest.json")).unwrap()).unwrap();

    // A migration this version does not know: written by a newer Gatehouse.
    let mut newer = manifest.clone();
    newer["migrations"]
        .as_array_mut()
        .unwrap()
        .push(json!("9999_from_the_future"));
    std::fs::write(parts.join("manifest.json"), newer.to_string()).unwrap();
    let newer_file = dir.path().join("newer.backup");
    tar_of(&parts, &["manifest.json", "gatehouse.db"], &newer_file);
    let target = dir.path().join("t1");
    let said = failed(&gatehouse(
        &target,
        &["restore", newer_file.to_str().unwrap()],
        None,
    ));
    assert!(
        said.contains("9999_from_the_future") && said.contains("newer"),
        "{said}"
    );
    assert!(!target.join("gatehouse.db").exists());

    // A name no backup holds: refused, and what came before it is removed.
    std::fs::write(parts.join("manifest.json"), manifest.to_string()).unwrap();
    std::fs::create_dir(parts.join("files")).unwrap();
    std::fs::write(parts.join("files").join("not-a-uuid"), b"x").unwrap();
    let odd_file = dir.path().join("odd.backup");
    tar_of(
        &parts,
        &["manifest.json", "gatehouse.db", "files/not-a-uuid"],
        &odd_file,
    );
    let target = dir.path().join("t2");
    let said = failed(&gatehouse(
        &target,
        &["restore", odd_file.to_str().unwrap()],
        None,
    ));
    assert!(said.contains("not-a-uuid"), "{said}");
    assert!(
        !target.join("gatehouse.db").exists(),
        "what was written before the bad entry is removed"
    );
    // The refused directory can take the good backup afterwards.
    succeeded(&gatehouse(
        &target,
        &["restore", file.to_str().unwrap()],
        None,
    ));
}

/// Overwrites every page but the first (the header and schema) with garbage.
fn corrupt_pages(db: &Path) {
    let mut bytes = std::fs::read(db).unwrap();
    let page = u16::from_be_bytes([bytes[16], bytes[17]]) as usize;
    assert!(bytes.len() > 2 * page, "a database of several pages");
    for (i, b) in bytes.iter_mut().enumerate().skip(page) {
        *b = (i * 31 % 251) as u8;
    }
    std::fs::write(db, bytes).unwrap();
}

/// A data directory whose database is one file (no write-ahead log): a restored backup.
fn restored_copy(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    user_with_token(&data);
    let file = dir.join("b.backup");
    succeeded(&gatehouse(
        &data,
        &["backup", "--output", file.to_str().unwrap()],
        None,
    ));
    let restored = dir.join("restored");
    succeeded(&gatehouse(
        &restored,
        &["restore", file.to_str().unwrap()],
        None,
    ));
    restored
}

#[tokio::test]
async fn serve_and_check_refuse_a_database_with_corrupt_pages_and_say_to_restore() {
    let dir = tempfile::tempdir().unwrap();
    let data = restored_copy(dir.path());
    corrupt_pages(&data.join("gatehouse.db"));

    let said = failed(&gatehouse(&data, &["check"], None));
    assert!(
        said.contains("damaged") && said.contains("gatehouse restore"),
        "{said}"
    );

    let child = serve_command(&data).kill_on_drop(true).spawn().unwrap();
    let out = tokio::time::timeout(std::time::Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("serve kept running on a corrupt database")
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        said.contains("quick_check") || said.contains("malformed"),
        "{said}"
    );
    assert!(
        said.contains("damaged") && said.contains("gatehouse restore"),
        "{said}"
    );
}

#[tokio::test]
async fn check_names_missing_file_bytes_orphans_and_hashes_over_the_cost_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token = user_with_token(&data);
    let (mut server, base) = serving(&data).await;
    let id = upload(&base, &token, b"bytes").await;
    server.start_kill().unwrap();
    server.wait().await.unwrap();
    let said = succeeded(&gatehouse(&data, &["check"], None));
    assert!(said.contains("check passed"), "{said}");

    // argon2id at 200 MiB, imported while the bound allowed it.
    let heavy = json!({
        "username": "heavy",
        "email": "heavy@example.com",
        "email_verified": true,
        "password_hash": "$argon2id$v=19$m=204800,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$\
                          ZmFrZWhhc2hmYWtlaGFzaGZha2VoYXNoZmFrZWhhc2g",
    });
    let lines = dir.path().join("heavy.jsonl");
    std::fs::write(&lines, format!("{heavy}\n")).unwrap();
    succeeded(&gatehouse(
        &data,
        &[
            "user",
            "import",
            lines.to_str().unwrap(),
            "--max-stored-hash-memory-kib",
            "300000",
        ],
        None,
    ));
    std::fs::remove_file(data.join("files").join(&id)).unwrap();
    let orphan = uuid::Uuid::new_v4().to_string();
    std::fs::write(data.join("files").join(&orphan), b"left over").unwrap();

    let said = failed(&gatehouse(&data, &["check"], None));
    assert!(
        said.contains(&id) && said.contains("restore that directory"),
        "{said}"
    );
    assert!(
        said.contains(&orphan) && said.contains("belong to no record"),
        "{said}"
    );
    assert!(
        said.contains("heavy") && said.contains("set-password"),
        "{said}"
    );
    assert!(said.contains("2 problem(s)"), "{said}");
    // The same bound as the import: accepted there, accepted here.
    let said = failed(&gatehouse(
        &data,
        &["check", "--max-stored-hash-memory-kib", "300000"],
        None,
    ));
    assert!(said.contains("1 problem(s)"), "{said}");
}

#[tokio::test]
async fn healthcheck_exits_0_while_ready_and_1_when_nothing_answers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut child, base) = serving(&data).await;
    let port: u16 = base.rsplit(':').next().unwrap().parse().unwrap();
    let listen = format!("127.0.0.1:{port}");
    succeeded(&gatehouse(
        &data,
        &["healthcheck", "--listen", &listen],
        None,
    ));
    succeeded(&gatehouse(
        &data,
        &[
            "healthcheck",
            "--url",
            &format!("http://127.0.0.1:{port}/readyz"),
        ],
        None,
    ));
    // A route that is not 200 is unhealthy.
    failed(&gatehouse(
        &data,
        &[
            "healthcheck",
            "--url",
            &format!("http://127.0.0.1:{port}/nothing-here"),
        ],
        None,
    ));
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let out = gatehouse(&data, &["healthcheck", "--listen", &listen], None);
    assert_eq!(out.status.code(), Some(1), "{}", failed(&out));
}

#[tokio::test]
async fn on_postgres_backup_checks_the_server_and_migrations_and_prints_the_pg_dump_command() {
    let Some(db) = store_postgres::testkit::scratch_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Any command brings the schema up to date first.
    succeeded(&gatehouse_on(
        &data,
        Some(&db.url),
        &[
            "user",
            "create",
            "--username",
            "ops",
            "--email",
            "ops@example.com",
        ],
        None,
    ));
    let file = dir.path().join("pg.dump");
    let out = gatehouse_on(
        &data,
        Some(&db.url),
        &["backup", "--output", file.to_str().unwrap()],
        None,
    );
    let said = failed(&out);
    assert!(said.contains("PostgreSQL"), "{said}");
    assert!(said.contains("migrations: current"), "{said}");
    assert!(
        said.contains("pg_dump --format=custom") && said.contains("pg_restore"),
        "{said}"
    );
    assert!(said.contains("no backup written"), "{said}");
    assert!(!file.exists(), "nothing written: the dump is pg_dump's job");

    let said = succeeded(&gatehouse_on(&data, Some(&db.url), &["check"], None));
    assert!(
        said.contains("migrations: all") && said.contains("check passed"),
        "{said}"
    );
}

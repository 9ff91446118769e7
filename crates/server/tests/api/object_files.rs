//! `ObjectFileStore` against a real S3-compatible server: moto's S3 server, one per test, on a
//! free loopback port, from the venv `tests/s3/setup.sh` prepares under `target/s3venv` (run
//! from here, once per test binary; it does nothing when the venv is up to date). Without
//! `python3` the tests print `skipped: ...` and pass, unless `GATEHOUSE_REQUIRE_S3=1` (CI),
//! which makes a missing S3 server a failure.

use std::io::Write as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use accounts::files::{FileId, FileStore};
use gatehouse::object_files::ObjectFileStore;
use object_store::aws::AmazonS3Builder;
use object_store::ObjectStore;

const BUCKET: &str = "gatehouse-files";
/// moto accepts any key pair; the store refuses to start without one.
const ACCESS_KEY: &str = "gatehouse-test";
const SECRET_KEY: &str = "gatehouse-test-secret";
/// How long moto may take to import and listen on a busy two-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn put_get_delete_on_a_real_s3_server() {
    let Some(server) = S3Server::start().await else {
        return;
    };
    server.create_bucket(BUCKET).await;
    let store = server.store(&format!("s3://{BUCKET}/pictures/v1"));
    let id = FileId::new();

    // Missing: no bytes, and deleting is not an error.
    assert_eq!(store.get(id).await.unwrap(), None);
    store.delete(id).await.unwrap();

    // Binary content larger than one network read comes back byte for byte.
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
    store.put(id, bytes.clone()).await.unwrap();
    assert_eq!(store.get(id).await.unwrap().as_deref(), Some(&bytes[..]));
    assert_eq!(store.get(FileId::new()).await.unwrap(), None);

    // Stored under `<prefix>/<uuid>`, as another S3 client sees the bucket.
    let raw = server.raw_client(BUCKET);
    let key =
        object_store::path::Path::parse(format!("pictures/v1/{}", id.0.hyphenated())).unwrap();
    assert_eq!(raw.head(&key).await.unwrap().size, bytes.len() as u64);

    // A second put replaces the file.
    store.put(id, b"replaced".to_vec()).await.unwrap();
    assert_eq!(
        store.get(id).await.unwrap().as_deref(),
        Some(&b"replaced"[..])
    );

    store.delete(id).await.unwrap();
    assert_eq!(store.get(id).await.unwrap(), None);
    assert!(matches!(
        raw.head(&key).await,
        Err(object_store::Error::NotFound { .. })
    ));
    store.delete(id).await.unwrap();

    // A bucket that does not exist is an error on write, not a silent success.
    let nowhere = server.store("s3://no-such-bucket/pictures");
    assert!(nowhere.put(FileId::new(), b"x".to_vec()).await.is_err());

    // A server that is down is an error within the store's bounded retries, not a hang.
    server.stop();
    let started = Instant::now();
    assert!(store.put(FileId::new(), b"x".to_vec()).await.is_err());
    assert!(store.get(id).await.is_err());
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test]
async fn two_replicas_on_one_bucket_see_each_others_files() {
    let Some(server) = S3Server::start().await else {
        return;
    };
    server.create_bucket(BUCKET).await;
    let url = format!("s3://{BUCKET}/gatehouse");
    // Two clients built from the same setting, as two replicas build theirs.
    let first = server.store(&url);
    let second = server.store(&url);
    let (a, b) = (FileId::new(), FileId::new());

    first.put(a, b"from the first".to_vec()).await.unwrap();
    second.put(b, b"from the second".to_vec()).await.unwrap();
    assert_eq!(
        second.get(a).await.unwrap().as_deref(),
        Some(&b"from the first"[..])
    );
    assert_eq!(
        first.get(b).await.unwrap().as_deref(),
        Some(&b"from the second"[..])
    );

    // A replacement and a deletion by one are seen by the other at once.
    second
        .put(a, b"replaced by the second".to_vec())
        .await
        .unwrap();
    assert_eq!(
        first.get(a).await.unwrap().as_deref(),
        Some(&b"replaced by the second"[..])
    );
    first.delete(b).await.unwrap();
    assert_eq!(second.get(b).await.unwrap(), None);

    // Another prefix in the same bucket is another store.
    let elsewhere = server.store(&format!("s3://{BUCKET}/other-service"));
    assert_eq!(elsewhere.get(a).await.unwrap(), None);
    elsewhere.delete(a).await.unwrap();
    assert!(first.get(a).await.unwrap().is_some());

    server.stop();
}

/// A moto S3 server process on 127.0.0.1, killed when stopped or dropped.
struct S3Server {
    port: u16,
    child: Child,
    /// Its output, shown when it fails to start.
    log: tempfile::NamedTempFile,
}

impl S3Server {
    /// A running server, or `None` (after saying so) when python3 is missing and
    /// `GATEHOUSE_REQUIRE_S3=1` is not set.
    async fn start() -> Option<Self> {
        let required = std::env::var("GATEHOUSE_REQUIRE_S3").is_ok_and(|v| v == "1");
        let venv = match prepared_venv() {
            Ok(venv) => venv,
            Err(Unavailable::NoPython(why)) if !required => {
                // Straight to stderr, past the harness's capture, in one write.
                let line = format!(
                    "skipped: no S3 server for the object-store tests: {why} \
                     (GATEHOUSE_REQUIRE_S3=1 makes this a failure)\n"
                );
                let _ = std::io::stderr().write_all(line.as_bytes());
                return None;
            }
            Err(Unavailable::NoPython(why)) => {
                panic!("no S3 server and GATEHOUSE_REQUIRE_S3=1: {why}")
            }
            Err(Unavailable::SetupFailed(why)) => panic!("{why}"),
        };
        // A free port can be taken between our check and moto's bind: try a few.
        let mut last_failure = String::new();
        for _ in 0..3 {
            match Self::spawn(&venv).await {
                Ok(server) => return Some(server),
                Err(failure) => last_failure = failure,
            }
        }
        panic!("moto's S3 server did not start: {last_failure}");
    }

    async fn spawn(venv: &Path) -> Result<Self, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new(venv.join("bin/python"))
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(log.reopen().unwrap())
            .stderr(log.reopen().unwrap())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", venv.join("bin/python").display()))?;
        let mut server = Self { port, child, log };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                return Err(format!("it exited ({status}): {}", server.output()));
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "not listening on port {port} after {START_TIMEOUT:?}: {}",
                    server.output()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn output(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// Buckets are the operator's to create (the store never does); moto takes an unsigned
    /// `PUT /<bucket>`.
    async fn create_bucket(&self, name: &str) {
        let response = reqwest::Client::new()
            .put(format!("{}/{name}", self.endpoint()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "creating bucket {name}");
    }

    /// The store a replica would build from `GATEHOUSE_FILES_URL=<location>?endpoint=...`
    /// with the AWS key pair in its environment.
    fn store(&self, location: &str) -> ObjectFileStore {
        let url = format!(
            "{location}?endpoint={}&region=us-east-1&allow_http=true",
            self.endpoint()
        );
        let env = [
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        ObjectFileStore::from_url_and_env(&url, env).unwrap()
    }

    /// A plain object_store client on the bucket, to look at keys the way any S3 tool would.
    fn raw_client(&self, bucket: &str) -> impl ObjectStore {
        AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_endpoint(self.endpoint())
            .with_region("us-east-1")
            .with_allow_http(true)
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(SECRET_KEY)
            .build()
            .unwrap()
    }

    /// Kills the server, checking it was still running (had it died, the test's results
    /// would be in doubt).
    fn stop(mut self) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "moto's S3 server died during the test: {}",
            self.output()
        );
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        // Also on a failed assertion: no server outlives its test.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

enum Unavailable {
    /// The one reason to skip.
    NoPython(String),
    SetupFailed(String),
}

/// `<repo>/target/s3venv`, prepared by `tests/s3/setup.sh` once per test binary.
fn prepared_venv() -> Result<PathBuf, Unavailable> {
    static VENV: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/server sits two levels below the repository");
    let venv = repo.join("target/s3venv");
    match Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(status) if status.success() => {}
        Ok(status) => {
            return Err(Unavailable::NoPython(format!(
                "python3 --version: {status}"
            )))
        }
        Err(e) => return Err(Unavailable::NoPython(format!("python3 not found ({e})"))),
    }
    VENV.get_or_init(|| {
        let script = repo.join("tests/s3/setup.sh");
        let out = Command::new("bash")
            .arg(&script)
            .env("VENV", &venv)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} failed ({}):\n{}{}",
                script.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(venv.clone())
    })
    .clone()
    .map_err(Unavailable::SetupFailed)
}

//! Scratch PostgreSQL databases for tests (feature `testkit`): created on the server named by
//! `GATEHOUSE_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`),
//! dropped when their guard goes, passed or failed. Scratch databases older than an hour
//! (left by a killed run) are dropped by the next run; the v7 id in the name says when each
//! was made.
//!
//! When the server cannot be reached, `scratch_database` says
//! `skipped: PostgreSQL not reachable at <url>` and returns `None`, so `cargo test` passes on
//! a machine without PostgreSQL; with `GATEHOUSE_REQUIRE_POSTGRES=1` (CI) it fails instead. A
//! server that answers but refuses (authentication, permissions) always fails: that is a
//! broken setup, not a missing one.

use std::io::Write;
use std::str::FromStr;
use std::time::Duration;

use crate::PostgresStore;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};
use uuid::Uuid;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const PREFIX: &str = "gh_test_";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Scratch databases older than this are leftovers of a killed run.
const LEFTOVER_AGE: Duration = Duration::from_secs(3600);
/// Small, so twenty cases in parallel stay well under the server's `max_connections`, and
/// still more than one, so the parallel cases really run in parallel.
const POOL_SIZE: u32 = 4;

/// A scratch database; dropped (the database too) when the guard goes, passed or panicked.
#[derive(Debug)]
pub struct ScratchDatabase {
    admin: PgConnectOptions,
    name: String,
    /// Its URL, for a server process or a second store on the same database.
    pub url: String,
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        // The case's runtime is the thread this runs on, so the drop gets its own runtime on
        // its own thread. WITH (FORCE) ends the store's pooled connections still open.
        let admin = self.admin.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?
                .block_on(async {
                    let mut conn = admin.connect().await.map_err(|e| e.to_string())?;
                    drop_database(&mut conn, &name).await?;
                    conn.close().await.map_err(|e| e.to_string())
                })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop scratch database {}: {e}", self.name),
            Err(_) => eprintln!("could not drop scratch database {}", self.name),
        }
    }
}

async fn drop_database(conn: &mut PgConnection, name: &str) -> Result<(), String> {
    sqlx::query(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Drops scratch databases whose v7 id is older than `LEFTOVER_AGE`; errors are ignored (a
/// parallel case may be dropping the same one).
async fn drop_leftovers(conn: &mut PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE starts_with(datname, $1)")
            .bind(PREFIX)
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    let cutoff = std::time::SystemTime::now() - LEFTOVER_AGE;
    for name in names {
        let created = Uuid::parse_str(&name[PREFIX.len()..])
            .ok()
            .and_then(|id| id.get_timestamp())
            .map(|ts| {
                let (secs, nanos) = ts.to_unix();
                std::time::UNIX_EPOCH + Duration::new(secs, nanos)
            });
        if created.is_some_and(|at| at < cutoff) {
            let _ = drop_database(conn, &name).await;
        }
    }
}

/// The URL as printed: without its password.
fn printable(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// A fresh, migrated scratch database, or `None` (after saying so) when PostgreSQL is not
/// reachable and not required.
pub async fn scratch_database() -> Option<ScratchDatabase> {
    let url =
        std::env::var("GATEHOUSE_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
    let required = std::env::var("GATEHOUSE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
    let admin = PgConnectOptions::from_str(&url)
        .unwrap_or_else(|e| panic!("GATEHOUSE_TEST_POSTGRES_URL {}: {e}", printable(&url)))
        .application_name("gatehouse-tests");
    // Unreachable: no server answered (refused, no such host, silence), as opposed to one
    // that answered and refused us.
    let connected = match tokio::time::timeout(CONNECT_TIMEOUT, admin.connect()).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err((matches!(e, sqlx::Error::Io(_)), e.to_string())),
        Err(_) => Err((true, format!("no answer in {:?}", CONNECT_TIMEOUT))),
    };
    let mut conn = match connected {
        Ok(conn) => conn,
        Err((true, e)) if !required => {
            // Straight to stderr, past the test harness's capture, so it shows in every run;
            // one write, so parallel cases do not interleave their lines.
            let line = format!(
                "skipped: PostgreSQL not reachable at {} ({e})\n",
                printable(&url)
            );
            let _ = std::io::stderr().write_all(line.as_bytes());
            return None;
        }
        Err((true, e)) => panic!(
            "PostgreSQL not reachable at {} and GATEHOUSE_REQUIRE_POSTGRES=1: {e}",
            printable(&url)
        ),
        Err((false, e)) => panic!("PostgreSQL at {} refused the tests: {e}", printable(&url)),
    };
    drop_leftovers(&mut conn).await;
    let name = format!("{PREFIX}{}", Uuid::now_v7().simple());
    sqlx::query(&format!(r#"CREATE DATABASE "{name}""#))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("creating scratch database {name}: {e}"));
    conn.close().await.ok();
    let mut scratch_url = url::Url::parse(&url).expect("the URL parsed above");
    scratch_url.set_path(&name);
    Some(ScratchDatabase {
        admin,
        name,
        url: scratch_url.to_string(),
    })
}

/// A store on `db` with a small pool, so many tests in parallel stay under the server's
/// `max_connections`.
pub async fn small_store(db: &ScratchDatabase) -> PostgresStore {
    PostgresStore::connect_with_pool_size(&db.url, POOL_SIZE)
        .await
        .unwrap_or_else(|e| panic!("connecting to scratch database {}: {e}", db.name))
}

impl ScratchDatabase {
    /// Runs `sql` on this database behind the stores' backs (no notification, no cache
    /// invalidation): how a test makes a change a replica is not told about, or ends the
    /// replicas' connections. How many rows it touched.
    pub async fn execute(&self, sql: &str) -> u64 {
        let mut conn = PgConnectOptions::from_str(&self.url)
            .expect("a scratch URL parses")
            .connect()
            .await
            .unwrap_or_else(|e| panic!("connecting to scratch database {}: {e}", self.name));
        let done = sqlx::query(sql)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        conn.close().await.ok();
        done.rows_affected()
    }

    /// Ends every connection listening for invalidations on this database (as a network
    /// failure or a database restart would); how many.
    pub async fn terminate_listeners(&self) -> u64 {
        let rows: Vec<bool> = {
            let mut conn = PgConnectOptions::from_str(&self.url)
                .expect("a scratch URL parses")
                .connect()
                .await
                .unwrap_or_else(|e| panic!("connecting to scratch database {}: {e}", self.name));
            let rows = sqlx::query_scalar(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid() \
                 AND query ILIKE 'LISTEN%'",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("terminating listeners: {e}"));
            conn.close().await.ok();
            rows
        };
        rows.into_iter().filter(|ended| *ended).count() as u64
    }
}

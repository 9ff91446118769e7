//! `bench-list-users`: how long one page of the admin user list takes at a million users on
//! SQLite (not a test; `scripts/bench-list-users.sh` runs it).
//!
//! Seeds USERS accounts into a SQLite database under DATA_DIR (reused when it already holds
//! them): usernames `u0000000`..., 1% pending, 1% disabled, one admin in 10 000, one
//! organisation with every 100th user. Then times `Accounts::list_users` (the core call
//! behind `GET /auth/v1/admin/users`, authorisation included) for the pages an admin
//! console asks for, REPEAT times each, and prints p50 / p99 / max in milliseconds.
//!
//! Usage: bench-list-users [DATA_DIR] (environment: USERS=1000000, PAGE=50, REPEAT=200)

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use accounts::access::{OrgId, OrgRole, RoleId};
use accounts::domain::ProfileChange;
use accounts::store::{NewUserRecord, UserCursor, UserQuery, UserStore};
use accounts::testkit::MemoryFileStore;
use accounts::{
    Accounts, AccountsConfig, Actor, EmailAddress, PasswordHasher, SystemClock, UserId, UserStatus,
    Username,
};
use store_sqlite::SqliteStore;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Any valid argon2id string: nobody logs in here, and a million real hashes would take hours.
const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$\
                    Ss8HOJk0PPWfVXuZr7Rk+1BvWk6SOcjuFK8Sh6xk3ns";

async fn seed(
    store: &SqliteStore,
    users: u64,
    org: OrgId,
) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let base = chrono::Utc::now() - chrono::Duration::days(365);
    let batch = 10_000;
    let mut i = 0;
    while i < users {
        let records: Vec<NewUserRecord> = (i..(i + batch).min(users))
            .map(|n| {
                let name = format!("u{n:07}");
                let status = match n % 100 {
                    7 => UserStatus::Pending,
                    8 => UserStatus::Disabled,
                    _ => UserStatus::Active,
                };
                let mut roles = vec![RoleId::USER];
                if n % 10_000 == 0 {
                    roles.push(RoleId::ADMIN);
                }
                NewUserRecord {
                    id: UserId::new(),
                    username: Username::parse(&name).expect("valid name"),
                    email: EmailAddress::parse(&format!("{name}@example.org"))
                        .expect("valid address"),
                    email_verified: status != UserStatus::Pending,
                    status,
                    number: (n as i64) * 7919 + 1,
                    roles,
                    memberships: if n % 100 == 0 {
                        vec![(org, OrgRole::Member)]
                    } else {
                        Vec::new()
                    },
                    password_hash: Some(HASH.into()),
                    profile: ProfileChange::default(),
                    created_at: base + chrono::Duration::milliseconds(n as i64),
                }
            })
            .collect();
        store.insert_users(&records).await?;
        i += batch;
        if i % 100_000 == 0 || i >= users {
            eprintln!(
                "seeded {} users ({:.0} s)",
                i.min(users),
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/bench-list-users".into()),
    );
    std::fs::create_dir_all(&dir)?;
    let users = env_num("USERS", 1_000_000);
    let page = env_num("PAGE", 50) as u32;
    let repeat = env_num("REPEAT", 200) as usize;

    let store = Arc::new(SqliteStore::open_in(&dir).await?);
    let accounts = Accounts::new(
        store.clone(),
        Arc::new(MemoryFileStore::default()),
        Arc::new(SystemClock),
        PasswordHasher::new(PasswordHasher::default_params(), 1),
        AccountsConfig::default(),
    );
    let operator = Actor::operator();
    let orgs = accounts.list_orgs(&operator).await?;
    let org = match orgs.first() {
        Some(org) => org.id,
        None => accounts.create_org(&operator, "benchmark").await?.id,
    };
    let present = store
        .list_users(&UserQuery {
            text: Some(format!("u{:07}", users - 1)),
            limit: 1,
            ..UserQuery::default()
        })
        .await?;
    if present.is_empty() {
        seed(&store, users, org).await?;
    } else {
        eprintln!("{} already holds {users} users; reusing it", dir.display());
    }

    // A cursor half-way through the id order, for a deep page.
    let middle = store
        .list_users(&UserQuery {
            text: Some(format!("u{:07}", users / 2)),
            limit: 1,
            ..UserQuery::default()
        })
        .await?
        .remove(0);
    let cases: Vec<(&str, UserQuery)> = vec![
        ("first page", UserQuery::default()),
        (
            "deep page (after the 500 000th)",
            UserQuery {
                after: Some(UserCursor::Id(middle.id)),
                ..UserQuery::default()
            },
        ),
        (
            "status=disabled",
            UserQuery {
                status: Some(UserStatus::Disabled),
                ..UserQuery::default()
            },
        ),
        (
            "role=admin (1 in 10 000)",
            UserQuery {
                role: Some(RoleId::ADMIN),
                ..UserQuery::default()
            },
        ),
        (
            "org members (1 in 100)",
            UserQuery {
                org: Some(org),
                ..UserQuery::default()
            },
        ),
        (
            "username prefix u05",
            UserQuery {
                text: Some("u05".into()),
                ..UserQuery::default()
            },
        ),
        (
            "username prefix, next page",
            UserQuery {
                text: Some("u05".into()),
                after: Some(UserCursor::Username("u0500049".into())),
                ..UserQuery::default()
            },
        ),
        (
            "e-mail prefix u0123456@exa",
            UserQuery {
                text: Some("u0123456@exa".into()),
                ..UserQuery::default()
            },
        ),
        (
            "status=disabled + username prefix u0",
            UserQuery {
                status: Some(UserStatus::Disabled),
                text: Some("u0".into()),
                ..UserQuery::default()
            },
        ),
        (
            "role=admin + username prefix u0",
            UserQuery {
                role: Some(RoleId::ADMIN),
                text: Some("u0".into()),
                ..UserQuery::default()
            },
        ),
        (
            "status=pending + username prefix u07",
            UserQuery {
                status: Some(UserStatus::Pending),
                text: Some("u07".into()),
                ..UserQuery::default()
            },
        ),
    ];

    println!(
        "users={users} page={page} repeat={repeat} (SQLite, {})",
        dir.display()
    );
    println!(
        "{:<40} {:>6} {:>9} {:>9} {:>9}",
        "query", "rows", "p50 ms", "p99 ms", "max ms"
    );
    let mut worst_p99: f64 = 0.0;
    for (name, mut query) in cases {
        query.limit = page;
        let mut times = Vec::with_capacity(repeat);
        let mut rows = 0;
        for _ in 0..repeat {
            let started = Instant::now();
            let got = accounts.list_users(&operator, query.clone()).await?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            rows = got.len();
        }
        times.sort_by(f64::total_cmp);
        let p99 = percentile(&times, 0.99);
        worst_p99 = worst_p99.max(p99);
        println!(
            "{name:<40} {rows:>6} {:>9.2} {p99:>9.2} {:>9.2}",
            percentile(&times, 0.5),
            times[times.len() - 1]
        );
    }
    let verdict = if worst_p99 < 20.0 { "met" } else { "MISSED" };
    println!("worst p99 = {worst_p99:.2} ms (goal < 20 ms per page at {users} users: {verdict})");
    Ok(())
}

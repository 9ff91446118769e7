//! The Store contract against a real PostgreSQL, one scratch database per case (see
//! `store_postgres::testkit`). Without a reachable server each case says it was skipped.

use std::sync::Arc;

use accounts::store::prelude::*;
use store_postgres::testkit::{scratch_database, small_store};
use store_postgres::PostgresStore;

async fn scratch() -> Option<(Arc<dyn Store>, store_postgres::testkit::ScratchDatabase)> {
    let db = scratch_database().await?;
    let store = small_store(&db).await;
    Some((Arc::new(store), db))
}

#[test]
fn migration_names_match_the_sqlite_backend() {
    assert_eq!(
        PostgresStore::migration_names(),
        store_sqlite::SqliteStore::migration_names()
    );
}

// Each case returns early (passing) when `scratch` found no server and said so.
accounts::store_contract_tests!(match scratch().await {
    Some(store_and_guard) => std::future::ready(store_and_guard),
    None => return,
});

/// A revocation published by one process reaches another's subscription.
#[tokio::test]
async fn invalidations_cross_processes_through_notify() {
    use accounts::store::Invalidation;
    let Some(db) = scratch_database().await else {
        return;
    };
    let listening = small_store(&db).await;
    let publishing = small_store(&db).await;
    let mut incoming = listening.subscribe_invalidations().await.unwrap().unwrap();
    let what = Invalidation::Credential(uuid::Uuid::now_v7());
    publishing.publish_invalidation(what).await.unwrap();
    let received = tokio::time::timeout(std::time::Duration::from_secs(1), incoming.recv())
        .await
        .expect("delivered within a second");
    assert_eq!(received, Some(what));
}

/// Usernames and e-mail addresses are compared byte by byte (collation "C"), as SQLite
/// compares them, whatever the server's default collation: a linguistic one would ignore
/// the punctuation, so pages and prefix searches would differ between the two backends.
#[tokio::test]
async fn user_lists_order_names_byte_by_byte_as_sqlite_does() {
    use accounts::access::RoleId;
    use accounts::domain::ProfileChange;
    use accounts::store::{NewUserRecord, UserCursor, UserQuery};
    use accounts::{EmailAddress, UserId, UserStatus, Username};

    let Some((store, db)) = scratch().await else {
        return;
    };
    // This server's default may well order like "C"; the columns must, on any server.
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    let collations: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT collation_name::text FROM information_schema.columns \
         WHERE table_name = 'users' AND column_name IN ('username', 'email')",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(collations, [Some("C".to_owned()), Some("C".to_owned())]);
    for (i, name) in ["ab", "a_b", "a.b", "a-c", "a-b", "b-a"]
        .into_iter()
        .enumerate()
    {
        let record = NewUserRecord {
            id: UserId::new(),
            username: Username::parse(&format!("{name}x")).unwrap(),
            email: EmailAddress::parse(&format!("{name}@example.com")).unwrap(),
            email_verified: true,
            status: UserStatus::Active,
            number: i64::try_from(i).unwrap() + 1,
            roles: vec![RoleId::USER],
            memberships: Vec::new(),
            password_hash: None,
            profile: ProfileChange::default(),
            created_at: chrono::Utc::now(),
        };
        store.insert_user(&record).await.unwrap();
    }
    let list = |text: &str, after: Option<UserCursor>| {
        let store = store.clone();
        let query = UserQuery {
            text: Some(text.to_owned()),
            after,
            limit: 10,
            ..UserQuery::default()
        };
        async move {
            let users = store.list_users(&query).await.unwrap();
            users
                .into_iter()
                .map(|u| u.email.as_str().split('@').next().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list("a", None).await, ["a-b", "a-c", "a.b", "a_b", "ab"]);
    assert_eq!(list("a-", None).await, ["a-b", "a-c"]);
    assert_eq!(
        list("a", Some(UserCursor::Username("a.bx".into()))).await,
        ["a_b", "ab"]
    );
    assert_eq!(list("a.b@", None).await, ["a.b"]);
    assert_eq!(list("a@", None).await, Vec::<String>::new());
    assert_eq!(
        list("@", None).await,
        Vec::<String>::new(),
        "no address starts with @"
    );
}

/// Parallel uploads queue on the owner's row lock, so together they never pass the quota:
/// of twelve 100-byte files against a 500-byte quota exactly five are recorded. (The
/// contract checks the quota one upload at a time; this is PostgreSQL's concurrency.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_uploads_never_pass_the_quota() {
    use accounts::access::RoleId;
    use accounts::domain::ProfileChange;
    use accounts::files::FileId;
    use accounts::store::{FileRecord, NewUserRecord, StoreError};
    use accounts::{EmailAddress, UserId, UserStatus, Username};

    let Some((store, _db)) = scratch().await else {
        return;
    };
    let owner = UserId::new();
    store
        .insert_user(&NewUserRecord {
            id: owner,
            username: Username::parse("uploader").unwrap(),
            email: EmailAddress::parse("uploader@example.com").unwrap(),
            email_verified: true,
            status: UserStatus::Active,
            number: 1,
            roles: vec![RoleId::USER],
            memberships: Vec::new(),
            password_hash: None,
            profile: ProfileChange::default(),
            created_at: chrono::Utc::now(),
        })
        .await
        .unwrap();
    let file = |i: usize| FileRecord {
        id: FileId::new(),
        owner_id: owner,
        purpose: "upload".into(),
        content_type: "text/plain".into(),
        size: 100,
        name: format!("part-{i:02}.txt"),
        link: None,
        metadata: None,
        tag_set: None,
        created_at: chrono::Utc::now(),
    };
    // Room for exactly five, every stored byte counted.
    let quota = accounts::store::ContentLimits::bytes(5 * file(0).stored_bytes());
    let uploads = (0..12).map(|i| {
        let store = store.clone();
        let file = file(i);
        tokio::spawn(async move { store.insert_file(&file, &quota).await })
    });
    let mut recorded = 0;
    for upload in uploads.collect::<Vec<_>>() {
        match upload.await.unwrap() {
            Ok(()) => recorded += 1,
            Err(StoreError::LimitReached) => {}
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(recorded, 5);
    let files = store.list_files(owner).await.unwrap();
    assert_eq!(files.iter().map(|f| f.size).sum::<u64>(), 500);
}

/// Delivered and abandoned messages keep no body (bodies carry live codes and links); one
/// that will be retried keeps it. The twin of store-sqlite's `outbox_secrets` test.
#[tokio::test]
async fn outbox_bodies_are_cleared_once_sent_or_given_up() {
    use accounts::mail::OutgoingMail;
    use accounts::EmailAddress;
    use chrono::{Duration, Utc};
    use sqlx::Row;

    let Some(db) = scratch_database().await else {
        return;
    };
    let store = small_store(&db).await;
    let now = Utc::now();
    let mail = OutgoingMail {
        to: EmailAddress::parse("a@example.com").unwrap(),
        subject: "code".into(),
        text: "Your code: 123456".into(),
        html: "<p>123456</p>".into(),
    };
    let sent = store.enqueue_mail(&mail, now).await.unwrap();
    let abandoned = store.enqueue_mail(&mail, now).await.unwrap();
    let retried = store.enqueue_mail(&mail, now).await.unwrap();
    store.mark_mail_sent(sent, now).await.unwrap();
    store
        .mark_mail_failed(abandoned, "550", None)
        .await
        .unwrap();
    store
        .mark_mail_failed(retried, "421", Some(now + Duration::seconds(5)))
        .await
        .unwrap();
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    for (id, kept) in [(sent, false), (abandoned, false), (retried, true)] {
        let row = sqlx::query("SELECT text_body, html_body FROM outbox WHERE id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
        let text: String = row.get("text_body");
        let html: String = row.get("html_body");
        assert_eq!(text.contains("123456"), kept, "{id}");
        assert_eq!(html.contains("123456"), kept, "{id}");
    }
}

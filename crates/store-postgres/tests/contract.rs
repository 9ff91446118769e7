//! The Store contract against a real PostgreSQL, one scratch database per case (see
//! `store_postgres::testkit`). Without a reachable server each case says it was skipped.

use std::sync::Arc;

use accounts::Store;
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

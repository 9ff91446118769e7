//! The Store contract for `AuditStore`: events filtered and paged, pruned before a cutoff. Each
//! case writes, then reads the effect back through other methods.

use std::sync::Arc;

use chrono::Duration;
use uuid::Uuid;

use super::{new_user, now};
use crate::audit::{AuditEvent, AuditFilter, Outcome};
use crate::domain::UserId;
use crate::store::Store;

/// Every case of this module, for `store_contract_tests!`; `contract::tests` fails when a
/// `pub async fn` case here is missing from the list.
#[doc(hidden)]
#[macro_export]
macro_rules! store_contract_audit {
    ($($how:tt)*) => {
        $crate::store_contract_cases! {
            $($how)* audit;
            audit_events_filter_and_page,
            audit_events_before_the_cutoff_are_pruned,
        }
    };
}

pub async fn audit_events_filter_and_page(store: Arc<dyn Store>) {
    let alice = new_user("tara");
    store.insert_user(&alice).await.unwrap();
    let mut ids = Vec::new();
    for (i, action) in ["login", "login", "token.create", "login"]
        .iter()
        .enumerate()
    {
        let event = AuditEvent {
            id: Uuid::now_v7(),
            at: now() + Duration::seconds(i as i64),
            action: (*action).into(),
            actor: (i != 1).then_some(alice.id),
            subject: Some(alice.id),
            outcome: if i == 1 {
                Outcome::Failure
            } else {
                Outcome::Success
            },
            client_ip: Some("10.0.0.1".into()),
            user_agent: None,
            detail: (i == 1).then(|| "wrong password".into()),
        };
        store.insert_audit(&event).await.unwrap();
        ids.push(event);
    }
    let all = store
        .list_audit(&AuditFilter {
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[0], ids[3], "newest first, every field round-trips");
    let logins = store
        .list_audit(&AuditFilter {
            action: Some("login".into()),
            user: Some(alice.id),
            limit: 2,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        logins.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![ids[3].id, ids[1].id]
    );
    let next = store
        .list_audit(&AuditFilter {
            action: Some("login".into()),
            before: Some(ids[1].id),
            limit: 2,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        next.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![ids[0].id]
    );
    // Back from the oldest login: the two just newer, still newest first.
    let back = store
        .list_audit(&AuditFilter {
            action: Some("login".into()),
            after: Some(ids[0].id),
            limit: 2,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        back.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![ids[3].id, ids[1].id]
    );
    let back = store
        .list_audit(&AuditFilter {
            after: Some(ids[0].id),
            limit: 2,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        back.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![ids[2].id, ids[1].id],
        "the oldest of the newer events"
    );
    let window = store
        .list_audit(&AuditFilter {
            since: Some(ids[1].at),
            until: Some(ids[3].at),
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(window.len(), 2);
    let nobody = store
        .list_audit(&AuditFilter {
            user: Some(UserId::new()),
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert!(nobody.is_empty());
}

pub async fn audit_events_before_the_cutoff_are_pruned(store: Arc<dyn Store>) {
    let t0 = now();
    let mut events = Vec::new();
    for minutes in [0, 10, 20] {
        let event = AuditEvent {
            id: Uuid::now_v7(),
            at: t0 + Duration::minutes(minutes),
            action: "login".into(),
            actor: None,
            subject: None,
            outcome: Outcome::Failure,
            client_ip: None,
            user_agent: None,
            detail: None,
        };
        store.insert_audit(&event).await.unwrap();
        events.push(event);
    }
    let all = AuditFilter {
        limit: 10,
        ..AuditFilter::default()
    };
    // Strictly before the cutoff: the event at the cutoff stays.
    let cutoff = t0 + Duration::minutes(10);
    assert_eq!(store.prune_audit(cutoff).await.unwrap(), 1);
    let left = store.list_audit(&all).await.unwrap();
    assert_eq!(
        left.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![events[2].id, events[1].id]
    );
    assert_eq!(store.prune_audit(cutoff).await.unwrap(), 0);
    assert_eq!(
        store.prune_audit(t0 + Duration::minutes(30)).await.unwrap(),
        2
    );
    assert!(store.list_audit(&all).await.unwrap().is_empty());
}

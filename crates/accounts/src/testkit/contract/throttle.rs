//! The Store contract for `ThrottleStore`: rate limits counted all or nothing, under parallel
//! hits, with backoff, refunds and pruning; known addresses. Each case writes, then reads the
//! effect back through other methods.

use std::sync::Arc;

use chrono::Duration;

use super::{new_user, now};
use crate::domain::UserId;
use crate::store::{Backoff, Exhausted, RateLimit, Store};

/// Every case of this module, for `store_contract_tests!`; `contract::tests` fails when a
/// `pub async fn` case here is missing from the list.
#[doc(hidden)]
#[macro_export]
macro_rules! store_contract_throttle {
    ($($how:tt)*) => {
        $crate::store_contract_cases! {
            $($how)* throttle;
            rate_limits_count_all_or_nothing_and_reset_per_window,
            rate_limits_hold_under_parallel_hits,
            backoff_limits_wait_doubling_and_forget,
            refunds_take_back_one_hit_and_never_go_below_zero,
            expired_and_surplus_counters_are_pruned,
            known_addresses_are_remembered_until_pruned,
        }
    };
}

pub async fn rate_limits_count_all_or_nothing_and_reset_per_window(store: Arc<dyn Store>) {
    let window = Duration::minutes(15);
    let a = RateLimit::per("login:ip:1", 3, window);
    let b = RateLimit::per("login:account:x", 10, window);
    let t0 = now();
    for _ in 0..3 {
        assert_eq!(
            store
                .hit_rate_limits(&[a.clone(), b.clone()], t0)
                .await
                .unwrap(),
            None
        );
    }
    let retry = store
        .hit_rate_limits(&[a.clone(), b.clone()], t0 + Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(
        retry,
        Some(Exhausted {
            key: a.key.clone(),
            retry_after: Duration::minutes(10)
        }),
        "the exhausted limit and when its window ends"
    );
    // The refused hit counted nowhere: `b` has 3 hits, so 7 more pass on their own.
    for _ in 0..7 {
        assert_eq!(
            store
                .hit_rate_limits(std::slice::from_ref(&b), t0)
                .await
                .unwrap(),
            None
        );
    }
    assert!(store
        .hit_rate_limits(std::slice::from_ref(&b), t0)
        .await
        .unwrap()
        .is_some());
    // Windows end.
    assert_eq!(
        store
            .hit_rate_limits(std::slice::from_ref(&a), t0 + window)
            .await
            .unwrap(),
        None
    );
    // Clearing forgets the counter.
    store
        .clear_rate_limits(std::slice::from_ref(&b.key))
        .await
        .unwrap();
    assert_eq!(store.hit_rate_limits(&[b], t0).await.unwrap(), None);
}

pub async fn rate_limits_hold_under_parallel_hits(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let limit = RateLimit::per("code:account:p", 5, Duration::minutes(15));
            store.hit_rate_limits(&[limit], now()).await.unwrap()
        }));
    }
    let mut allowed = 0;
    for t in tasks {
        if t.await.unwrap().is_none() {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 5);
}

pub async fn backoff_limits_wait_doubling_and_forget(store: Arc<dyn Store>) {
    let limit = RateLimit {
        key: "login:pair:u:1".into(),
        limit: 3,
        window: Duration::hours(24),
        backoff: Some(Backoff {
            first: Duration::minutes(1),
            max: Duration::minutes(4),
        }),
    };
    let one = std::slice::from_ref(&limit);
    let t0 = now();
    for _ in 0..3 {
        assert_eq!(store.hit_rate_limits(one, t0).await.unwrap(), None);
    }
    // The third hit reached the budget: one minute from it.
    let refused = store.hit_rate_limits(one, t0).await.unwrap().unwrap();
    assert_eq!(refused.retry_after, Duration::minutes(1));
    // After the wait one more is counted, and the next wait doubles, up to the cap.
    let mut t = t0 + Duration::minutes(1);
    for wait in [2, 4, 4] {
        assert_eq!(store.hit_rate_limits(one, t).await.unwrap(), None);
        let refused = store.hit_rate_limits(one, t).await.unwrap().unwrap();
        assert_eq!(
            refused.retry_after,
            Duration::minutes(wait),
            "after the hit at {t}"
        );
        t += Duration::minutes(wait);
    }
    // A day without hits forgets the count: three free hits again.
    let later = t0 + Duration::days(3);
    for _ in 0..3 {
        assert_eq!(store.hit_rate_limits(one, later).await.unwrap(), None);
    }
    assert!(store.hit_rate_limits(one, later).await.unwrap().is_some());
}

pub async fn refunds_take_back_one_hit_and_never_go_below_zero(store: Arc<dyn Store>) {
    let limit = RateLimit::per("login:ip:9", 2, Duration::minutes(15));
    let one = std::slice::from_ref(&limit);
    let t0 = now();
    store.hit_rate_limits(one, t0).await.unwrap();
    store.hit_rate_limits(one, t0).await.unwrap();
    assert!(store.hit_rate_limits(one, t0).await.unwrap().is_some());
    store
        .refund_rate_limits(&[limit.key.clone(), "never:hit".into()])
        .await
        .unwrap();
    assert_eq!(store.hit_rate_limits(one, t0).await.unwrap(), None);
    assert!(store.hit_rate_limits(one, t0).await.unwrap().is_some());
    for _ in 0..5 {
        store
            .refund_rate_limits(std::slice::from_ref(&limit.key))
            .await
            .unwrap();
    }
    // Two refunds would have been enough: the count stopped at zero.
    assert_eq!(store.hit_rate_limits(one, t0).await.unwrap(), None);
    assert_eq!(store.hit_rate_limits(one, t0).await.unwrap(), None);
    assert!(store.hit_rate_limits(one, t0).await.unwrap().is_some());
}

pub async fn expired_and_surplus_counters_are_pruned(store: Arc<dyn Store>) {
    let t0 = now();
    let limit = |key: &str, minutes: i64| RateLimit::per(key, 1, Duration::minutes(minutes));
    for (key, minutes) in [("a", 5), ("b", 10), ("c", 20), ("d", 30), ("e", 40)] {
        store
            .hit_rate_limits(&[limit(key, minutes)], t0)
            .await
            .unwrap();
    }
    // At t0 + 10 min "a" and "b" have expired; of the rest the two that expire last stay.
    let deleted = store
        .prune_rate_limits(t0 + Duration::minutes(10), 2, t0)
        .await
        .unwrap();
    assert_eq!(deleted, 3);
    let held = |key: &'static str, minutes| {
        let store = Arc::clone(&store);
        async move {
            store
                .hit_rate_limits(&[limit(key, minutes)], t0 + Duration::minutes(11))
                .await
                .unwrap()
                .is_some()
        }
    };
    assert!(held("d", 30).await, "d is still counted");
    assert!(held("e", 40).await, "e is still counted");
    assert!(
        !held("c", 20).await,
        "c was pruned as the surplus expiring soonest"
    );
}

pub async fn known_addresses_are_remembered_until_pruned(store: Arc<dyn Store>) {
    let user = new_user("karl");
    store.insert_user(&user).await.unwrap();
    let t0 = now();
    assert!(!store
        .is_known_address(user.id, "192.0.2.1", t0 - Duration::days(30))
        .await
        .unwrap());
    store
        .note_known_address(user.id, "192.0.2.1", t0)
        .await
        .unwrap();
    store
        .note_known_address(user.id, "192.0.2.1", t0 + Duration::days(1))
        .await
        .unwrap();
    // A deleted or unknown account is noted nowhere and does not fail.
    store
        .note_known_address(UserId::new(), "192.0.2.1", t0)
        .await
        .unwrap();
    let since = |days| t0 + Duration::days(days);
    assert!(store
        .is_known_address(user.id, "192.0.2.1", since(1))
        .await
        .unwrap());
    assert!(!store
        .is_known_address(user.id, "192.0.2.1", since(2))
        .await
        .unwrap());
    assert!(!store
        .is_known_address(user.id, "192.0.2.2", t0)
        .await
        .unwrap());
    store.prune_rate_limits(t0, 100, since(2)).await.unwrap();
    assert!(!store
        .is_known_address(user.id, "192.0.2.1", t0)
        .await
        .unwrap());
}

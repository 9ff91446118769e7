//! The Store contract for `SecondFactorStore`: TOTP enrolment and steps, recovery codes, and
//! login challenges. Each case writes, then reads the effect back through other methods.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::{challenge, chunk, hash, new_session, now, total_chunks, upload, user, PLENTY};
use crate::domain::UserId;
use crate::store::{ContentLimits, Store};
use crate::token::{CredentialKind, TokenHash};

/// Every case of this module, for `store_contract_tests!`; `contract::tests` fails when a
/// `pub async fn` case here is missing from the list.
#[doc(hidden)]
#[macro_export]
macro_rules! store_contract_second_factor {
    ($($how:tt)*) => {
        $crate::store_contract_cases! {
            $($how)* second_factor;
            totp_enrolment_restarts_until_confirmed,
            confirming_replaces_earlier_recovery_codes,
            totp_steps_are_spent_once_and_in_order,
            totp_steps_hold_under_parallel_use,
            recovery_codes_are_single_use_and_replaced,
            deleting_totp_removes_the_recovery_codes,
            totp_secrets_page_by_user_and_are_replaced_only_when_unchanged,
            challenges_live_until_expiry_or_attempts,
            a_challenge_completes_once_with_its_session,
            a_challenge_completes_once_under_parallel_attempts,
            deleting_a_user_removes_their_content_and_second_factor,
        }
    };
}

const ATTEMPTS: u32 = 5;

fn codes(prefix: &str, n: usize) -> Vec<TokenHash> {
    (0..n).map(|i| hash(&format!("{prefix}-{i}"))).collect()
}

pub async fn totp_enrolment_restarts_until_confirmed(store: Arc<dyn Store>) {
    let owner = user(&store, "enrolling").await;
    assert_eq!(store.totp(owner).await.unwrap(), None);
    assert!(!store
        .confirm_totp(owner, 1, &codes("none", 2), now())
        .await
        .unwrap());

    let at = now();
    assert!(store.begin_totp(owner, b"first", at).await.unwrap());
    let pending = store.totp(owner).await.unwrap().unwrap();
    assert_eq!(pending.secret, b"first");
    assert!(!pending.confirmed);
    assert_eq!(pending.last_step, None);
    assert_eq!(pending.created_at, at);
    assert!(store.begin_totp(owner, b"second", now()).await.unwrap());
    assert_eq!(store.totp(owner).await.unwrap().unwrap().secret, b"second");

    assert!(store
        .confirm_totp(owner, 100, &codes("r", 10), now())
        .await
        .unwrap());
    let confirmed = store.totp(owner).await.unwrap().unwrap();
    assert!(confirmed.confirmed);
    assert_eq!(confirmed.secret, b"second");
    assert_eq!(confirmed.last_step, Some(100));
    assert_eq!(store.recovery_codes_left(owner).await.unwrap(), 10);

    // Nothing pending any more: neither confirm nor begin change anything.
    assert!(!store
        .confirm_totp(owner, 200, &codes("again", 3), now())
        .await
        .unwrap());
    assert!(!store.begin_totp(owner, b"third", now()).await.unwrap());
    assert_eq!(store.totp(owner).await.unwrap(), Some(confirmed));
    assert_eq!(store.recovery_codes_left(owner).await.unwrap(), 10);
    assert!(store
        .use_recovery_code(owner, &hash("r-0"), now())
        .await
        .unwrap());
}

pub async fn confirming_replaces_earlier_recovery_codes(store: Arc<dyn Store>) {
    let owner = user(&store, "reconfirm").await;
    store
        .replace_recovery_codes(owner, &codes("stale", 4), now())
        .await
        .unwrap();
    store.begin_totp(owner, b"secret", now()).await.unwrap();
    assert!(store
        .confirm_totp(owner, 7, &codes("fresh", 2), now())
        .await
        .unwrap());
    assert_eq!(store.recovery_codes_left(owner).await.unwrap(), 2);
    assert!(!store
        .use_recovery_code(owner, &hash("stale-0"), now())
        .await
        .unwrap());
}

pub async fn totp_steps_are_spent_once_and_in_order(store: Arc<dyn Store>) {
    let owner = user(&store, "stepper").await;
    let bare = user(&store, "bare").await;
    assert!(!store.use_totp_step(bare, 1).await.unwrap());
    assert_eq!(store.totp(bare).await.unwrap(), None);

    store.begin_totp(owner, b"secret", now()).await.unwrap();
    store
        .confirm_totp(owner, 100, &codes("r", 1), now())
        .await
        .unwrap();
    assert!(!store.use_totp_step(owner, 100).await.unwrap());
    assert!(!store.use_totp_step(owner, 99).await.unwrap());
    assert!(store.use_totp_step(owner, 101).await.unwrap());
    assert!(!store.use_totp_step(owner, 101).await.unwrap());
    assert!(!store.use_totp_step(owner, 100).await.unwrap());
    assert_eq!(
        store.totp(owner).await.unwrap().unwrap().last_step,
        Some(101)
    );
    assert!(store.use_totp_step(owner, 105).await.unwrap());
    assert_eq!(
        store.totp(owner).await.unwrap().unwrap().last_step,
        Some(105)
    );
}

pub async fn totp_steps_hold_under_parallel_use(store: Arc<dyn Store>) {
    let owner = user(&store, "racer").await;
    store.begin_totp(owner, b"secret", now()).await.unwrap();
    store
        .confirm_totp(owner, 1, &codes("r", 1), now())
        .await
        .unwrap();
    let attempts = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.use_totp_step(owner, 2).await.unwrap() })
    });
    let mut accepted = 0;
    for attempt in attempts.collect::<Vec<_>>() {
        if attempt.await.unwrap() {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 1);
}

pub async fn recovery_codes_are_single_use_and_replaced(store: Arc<dyn Store>) {
    let owner = user(&store, "recover").await;
    let stranger = user(&store, "thief").await;
    store.begin_totp(owner, b"secret", now()).await.unwrap();
    store
        .confirm_totp(owner, 1, &codes("old", 3), now())
        .await
        .unwrap();
    assert_eq!(store.recovery_codes_left(owner).await.unwrap(), 3);

    assert!(store
        .use_recovery_code(owner, &hash("old-0"), now())
        .await
        .unwrap());
    assert!(!store
        .use_recovery_code(owner, &hash("old-0"), now())
        .await
        .unwrap());
    assert!(!store
        .use_recovery_code(owner, &hash("nope"), now())
        .await
        .unwrap());
    assert!(!store
        .use_recovery_code(stranger, &hash("old-1"), now())
        .await
        .unwrap());
    assert_eq!(store.recovery_codes_left(owner).await.unwrap(), 2);
    assert_eq!(store.recovery_codes_left(stranger).await.unwrap(), 0);

    store
        .replace_recovery_codes(owner, &codes("new", 2), now())
        .await
        .unwrap();
    assert_eq!(store.recovery_codes_left(owner).await.unwrap(), 2);
    assert!(!store
        .use_recovery_code(owner, &hash("old-1"), now())
        .await
        .unwrap());
    assert!(store
        .use_recovery_code(owner, &hash("new-1"), now())
        .await
        .unwrap());
    assert_eq!(store.recovery_codes_left(owner).await.unwrap(), 1);
    // The TOTP secret is untouched by code changes.
    assert!(store.totp(owner).await.unwrap().unwrap().confirmed);
}

pub async fn deleting_totp_removes_the_recovery_codes(store: Arc<dyn Store>) {
    let owner = user(&store, "disabling").await;
    let kept = user(&store, "keeping").await;
    for u in [owner, kept] {
        store.begin_totp(u, b"secret", now()).await.unwrap();
        store
            .confirm_totp(u, 1, &codes("r", 3), now())
            .await
            .unwrap();
    }
    assert!(store.delete_totp(owner).await.unwrap());
    assert_eq!(store.totp(owner).await.unwrap(), None);
    assert_eq!(store.recovery_codes_left(owner).await.unwrap(), 0);
    assert!(!store
        .use_recovery_code(owner, &hash("r-0"), now())
        .await
        .unwrap());
    assert!(!store.use_totp_step(owner, 2).await.unwrap());
    assert!(!store.delete_totp(owner).await.unwrap());

    // The other user is untouched, and the first can enrol again from scratch.
    assert!(store.totp(kept).await.unwrap().unwrap().confirmed);
    assert_eq!(store.recovery_codes_left(kept).await.unwrap(), 3);
    assert!(store.begin_totp(owner, b"again", now()).await.unwrap());
    let restarted = store.totp(owner).await.unwrap().unwrap();
    assert!(!restarted.confirmed);
    assert_eq!(restarted.last_step, None);
}

pub async fn totp_secrets_page_by_user_and_are_replaced_only_when_unchanged(store: Arc<dyn Store>) {
    assert!(store.totp_secrets(None, 10).await.unwrap().is_empty());
    let mut owners = Vec::new();
    for name in ["sealing-a", "sealing-b", "sealing-c"] {
        let owner = user(&store, name).await;
        assert!(store
            .begin_totp(owner, name.as_bytes(), now())
            .await
            .unwrap());
        owners.push(owner);
    }
    owners.sort();
    let first = store.totp_secrets(None, 2).await.unwrap();
    let rest = store.totp_secrets(Some(first[1].0), 2).await.unwrap();
    let all: Vec<UserId> = first.iter().chain(&rest).map(|(id, _)| *id).collect();
    assert_eq!(all, owners, "every secret once, by user id");
    let (owner, stored) = first[0].clone();
    assert_eq!(store.totp(owner).await.unwrap().unwrap().secret, stored);

    // Compare-and-set: only while the stored value is still the one read.
    assert!(!store
        .replace_totp_secret(owner, b"not what is stored", b"sealed")
        .await
        .unwrap());
    assert!(store
        .replace_totp_secret(owner, &stored, b"sealed")
        .await
        .unwrap());
    let after = store.totp(owner).await.unwrap().unwrap();
    assert_eq!(after.secret, b"sealed");
    assert!(!after.confirmed, "only the secret changes");
    assert!(!store
        .replace_totp_secret(owner, &stored, b"again")
        .await
        .unwrap());
}

pub async fn challenges_live_until_expiry_or_attempts(store: Arc<dyn Store>) {
    let owner = user(&store, "challenged").await;
    let at = now();
    let record = challenge(owner, "ghc_one", at);
    store.insert_challenge(&record).await.unwrap();
    let live = |at: DateTime<Utc>| {
        let store = store.clone();
        async move {
            store
                .live_challenge(&hash("ghc_one"), at, ATTEMPTS)
                .await
                .unwrap()
        }
    };
    assert_eq!(live(at).await, Some(record.clone()));
    assert_eq!(
        live(at + Duration::minutes(5) - Duration::milliseconds(1)).await,
        Some(record.clone())
    );
    assert_eq!(live(at + Duration::minutes(5)).await, None);
    assert_eq!(
        store
            .live_challenge(&hash("ghc_other"), now(), ATTEMPTS)
            .await
            .unwrap(),
        None
    );

    for left in (0..ATTEMPTS).rev() {
        assert!(live(at).await.is_some(), "{left} left");
        assert_eq!(
            store.fail_challenge(record.id, ATTEMPTS).await.unwrap(),
            left
        );
    }
    assert_eq!(live(at).await, None);
    assert_eq!(store.fail_challenge(record.id, ATTEMPTS).await.unwrap(), 0);
    assert_eq!(
        store
            .fail_challenge(Uuid::now_v7(), ATTEMPTS)
            .await
            .unwrap(),
        0
    );
}

pub async fn a_challenge_completes_once_with_its_session(store: Arc<dyn Store>) {
    let owner = user(&store, "completer").await;
    let record = challenge(owner, "ghc_two", now());
    store.insert_challenge(&record).await.unwrap();
    assert_eq!(store.fail_challenge(record.id, ATTEMPTS).await.unwrap(), 4);

    let (session, secret) = new_session(owner);
    assert!(store.complete_challenge(record.id, &session).await.unwrap());
    let found = store
        .credential_by_hash(&secret.hash())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.kind, CredentialKind::Session);
    assert_eq!((found.id, found.user_id), (session.id, owner));
    assert_eq!(
        store
            .live_challenge(&hash("ghc_two"), now(), ATTEMPTS)
            .await
            .unwrap(),
        None
    );

    let (replay, replay_secret) = new_session(owner);
    assert!(!store.complete_challenge(record.id, &replay).await.unwrap());
    assert!(store
        .credential_by_hash(&replay_secret.hash())
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store.list_sessions(owner, now()).await.unwrap(),
        vec![session]
    );
    let (stray, stray_secret) = new_session(owner);
    assert!(!store
        .complete_challenge(Uuid::now_v7(), &stray)
        .await
        .unwrap());
    assert!(store
        .credential_by_hash(&stray_secret.hash())
        .await
        .unwrap()
        .is_none());
}

pub async fn a_challenge_completes_once_under_parallel_attempts(store: Arc<dyn Store>) {
    let owner = user(&store, "doubled").await;
    let record = challenge(owner, "ghc_race", now());
    store.insert_challenge(&record).await.unwrap();
    let attempts: Vec<_> = (0..6)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let (session, _) = new_session(owner);
                store.complete_challenge(record.id, &session).await.unwrap()
            })
        })
        .collect();
    let mut completed = 0;
    for attempt in attempts {
        if attempt.await.unwrap() {
            completed += 1;
        }
    }
    assert_eq!(completed, 1);
    assert_eq!(store.list_sessions(owner, now()).await.unwrap().len(), 1);
}

pub async fn deleting_a_user_removes_their_content_and_second_factor(store: Arc<dyn Store>) {
    let gone = user(&store, "departing").await;
    let kept = user(&store, "staying").await;
    let mut uploads = Vec::new();
    for (i, u) in [gone, kept].into_iter().enumerate() {
        let file = upload(u, 3, now());
        store
            .insert_file(&file, &ContentLimits::bytes(PLENTY))
            .await
            .unwrap();
        uploads.push(file);
        store
            .insert_chunk(&chunk(u, now(), Some("same")), &ContentLimits::UNLIMITED)
            .await
            .unwrap();
        store.begin_totp(u, b"secret", now()).await.unwrap();
        store
            .confirm_totp(u, 1, &codes("r", 2), now())
            .await
            .unwrap();
        let secret = format!("ghc_user_{i}");
        store
            .insert_challenge(&challenge(u, &secret, now()))
            .await
            .unwrap();
    }

    let deleted = store.delete_user(gone).await.unwrap().unwrap();
    assert_eq!(deleted.files, vec![uploads[0].id]);
    assert_eq!(
        store.list_chunks(gone, 0, 10).await.unwrap(),
        (Vec::new(), 0)
    );
    assert_eq!(store.totp(gone).await.unwrap(), None);
    assert_eq!(store.recovery_codes_left(gone).await.unwrap(), 0);
    assert_eq!(
        store
            .live_challenge(&hash("ghc_user_0"), now(), ATTEMPTS)
            .await
            .unwrap(),
        None
    );
    assert!(store.list_files(gone).await.unwrap().is_empty());
    assert_eq!(store.file(uploads[0].id).await.unwrap(), None);

    assert_eq!(total_chunks(&store, kept).await, 1);
    assert!(store.totp(kept).await.unwrap().unwrap().confirmed);
    assert_eq!(store.recovery_codes_left(kept).await.unwrap(), 2);
    assert!(store
        .live_challenge(&hash("ghc_user_1"), now(), ATTEMPTS)
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        store.list_files(kept).await.unwrap(),
        vec![uploads[1].clone()]
    );
}

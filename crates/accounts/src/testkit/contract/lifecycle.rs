//! The Store contract for `LifecycleStore`: one-time codes redeemed once, within attempts and
//! expiry, with their effect; the outbox leased, retried and given up. Each case writes, then
//! reads the effect back through other methods.

use std::sync::Arc;

use chrono::Duration;

use super::{by_code, code_for, hash, mail_to, new_session, new_user, now};
use crate::domain::UserStatus;
use crate::store::{CodeEffect, CodeLookup, CodePurpose, Redemption, Store};

/// Every case of this module, for `store_contract_tests!`; `contract::tests` fails when a
/// `pub async fn` case here is missing from the list.
#[doc(hidden)]
#[macro_export]
macro_rules! store_contract_lifecycle {
    ($($how:tt)*) => {
        $crate::store_contract_cases! {
            $($how)* lifecycle;
            codes_redeem_once_within_attempts_and_expiry,
            code_effects_are_applied_with_the_redemption,
            a_code_redeems_once_under_parallel_attempts,
            outbox_claims_lease_retry_and_give_up,
            outbox_claims_never_overlap,
            a_late_failure_never_revives_a_sent_message,
        }
    };
}

pub async fn codes_redeem_once_within_attempts_and_expiry(store: Arc<dyn Store>) {
    let user = new_user("quinn");
    store.insert_user(&user).await.unwrap();
    let verify = CodePurpose::VerifyEmail;
    let effect = CodeEffect::VerifyEmail;
    store
        .issue_code(
            &code_for(user.id, verify, "123456", "l1"),
            &mail_to("quinn@example.com"),
        )
        .await
        .unwrap();

    // Wrong tries count down; the fifth kills the code even for the right value.
    for left in (0..5).rev() {
        let r = store
            .redeem_code(verify, &by_code(user.id, "000000"), &effect, 5, now())
            .await
            .unwrap();
        assert_eq!(
            r,
            Redemption::Wrong {
                attempts_left: left
            }
        );
    }
    let r = store
        .redeem_code(verify, &by_code(user.id, "123456"), &effect, 5, now())
        .await
        .unwrap();
    assert_eq!(r, Redemption::NoCode);

    // A new code supersedes the old one; it redeems once.
    store
        .issue_code(
            &code_for(user.id, verify, "654321", "l2"),
            &mail_to("quinn@example.com"),
        )
        .await
        .unwrap();
    let reset = CodePurpose::ResetPassword;
    let r = store
        .redeem_code(reset, &by_code(user.id, "654321"), &effect, 5, now())
        .await
        .unwrap();
    assert_eq!(r, Redemption::NoCode, "a code of another purpose");
    let r = store
        .redeem_code(verify, &by_code(user.id, "654321"), &effect, 5, now())
        .await
        .unwrap();
    assert_eq!(r, Redemption::Redeemed(user.id));
    let r = store
        .redeem_code(verify, &by_code(user.id, "654321"), &effect, 5, now())
        .await
        .unwrap();
    assert_eq!(r, Redemption::NoCode, "single use");
    let r = store
        .redeem_code(verify, &CodeLookup::Link(hash("l2")), &effect, 5, now())
        .await
        .unwrap();
    assert_eq!(r, Redemption::NoCode, "the link died with its code");

    // Codes expire after 10 minutes, links after an hour.
    store
        .issue_code(
            &code_for(user.id, verify, "777777", "l3"),
            &mail_to("quinn@example.com"),
        )
        .await
        .unwrap();
    let later = now() + Duration::minutes(11);
    let r = store
        .redeem_code(verify, &by_code(user.id, "777777"), &effect, 5, later)
        .await
        .unwrap();
    assert_eq!(r, Redemption::NoCode);
    let r = store
        .redeem_code(verify, &CodeLookup::Link(hash("l3")), &effect, 5, later)
        .await
        .unwrap();
    assert_eq!(r, Redemption::Redeemed(user.id));
    store
        .issue_code(
            &code_for(user.id, verify, "888888", "l4"),
            &mail_to("quinn@example.com"),
        )
        .await
        .unwrap();
    let r = store
        .redeem_code(
            verify,
            &CodeLookup::Link(hash("l4")),
            &effect,
            5,
            now() + Duration::minutes(61),
        )
        .await
        .unwrap();
    assert_eq!(r, Redemption::NoCode);
}

pub async fn code_effects_are_applied_with_the_redemption(store: Arc<dyn Store>) {
    let mut record = new_user("rita");
    record.status = UserStatus::Pending;
    store.insert_user(&record).await.unwrap();
    store
        .issue_code(
            &code_for(record.id, CodePurpose::VerifyEmail, "1", "v"),
            &mail_to("rita@example.com"),
        )
        .await
        .unwrap();
    store
        .redeem_code(
            CodePurpose::VerifyEmail,
            &by_code(record.id, "1"),
            &CodeEffect::VerifyEmail,
            5,
            now(),
        )
        .await
        .unwrap();
    let user = store.user_by_id(record.id).await.unwrap().unwrap();
    assert_eq!(user.status, UserStatus::Active);
    assert!(user.email_verified);

    let (session, secret) = new_session(record.id);
    store.insert_session(&session).await.unwrap();
    store
        .issue_code(
            &code_for(record.id, CodePurpose::ResetPassword, "2", "r"),
            &mail_to("rita@example.com"),
        )
        .await
        .unwrap();
    let r = store
        .redeem_code(
            CodePurpose::ResetPassword,
            &by_code(record.id, "2"),
            &CodeEffect::SetPassword("new-hash".into()),
            5,
            now(),
        )
        .await
        .unwrap();
    assert_eq!(r, Redemption::Redeemed(record.id));
    let (_, stored) = store.login_lookup("rita").await.unwrap().unwrap();
    assert_eq!(stored.as_deref(), Some("new-hash"));
    assert!(
        store
            .credential_by_hash(&secret.hash())
            .await
            .unwrap()
            .is_none(),
        "sessions ended"
    );
}

pub async fn a_code_redeems_once_under_parallel_attempts(store: Arc<dyn Store>) {
    let user = new_user("uma");
    store.insert_user(&user).await.unwrap();
    let purpose = CodePurpose::VerifyEmail;
    store
        .issue_code(
            &code_for(user.id, purpose, "424242", "lu"),
            &mail_to("uma@example.com"),
        )
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..10 {
        let store = Arc::clone(&store);
        let guess = if i % 2 == 0 { "424242" } else { "000000" };
        tasks.push(tokio::spawn(async move {
            store
                .redeem_code(
                    purpose,
                    &by_code(user.id, guess),
                    &CodeEffect::VerifyEmail,
                    5,
                    now(),
                )
                .await
                .unwrap()
        }));
    }
    let mut redeemed = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), Redemption::Redeemed(_)) {
            redeemed += 1;
        }
    }
    assert_eq!(redeemed, 1);

    // Parallel wrong guesses never get more than the allowed attempts.
    store
        .issue_code(
            &code_for(user.id, purpose, "515151", "lv"),
            &mail_to("uma@example.com"),
        )
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store
                .redeem_code(
                    purpose,
                    &by_code(user.id, "000000"),
                    &CodeEffect::VerifyEmail,
                    5,
                    now(),
                )
                .await
                .unwrap()
        }));
    }
    let mut wrong = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), Redemption::Wrong { .. }) {
            wrong += 1;
        }
    }
    assert_eq!(wrong, 5);
    let r = store
        .redeem_code(
            purpose,
            &by_code(user.id, "515151"),
            &CodeEffect::VerifyEmail,
            5,
            now(),
        )
        .await
        .unwrap();
    assert_eq!(r, Redemption::NoCode);
}

pub async fn outbox_claims_lease_retry_and_give_up(store: Arc<dyn Store>) {
    let t0 = now();
    for to in ["a@example.com", "b@example.com", "c@example.com"] {
        store.enqueue_mail(&mail_to(to), t0).await.unwrap();
    }
    let first = store
        .claim_mail(t0, t0 + Duration::minutes(5), 2)
        .await
        .unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(
        first[0].mail,
        mail_to("a@example.com"),
        "oldest first, round-trips"
    );
    let second = store
        .claim_mail(t0, t0 + Duration::minutes(5), 10)
        .await
        .unwrap();
    assert_eq!(second.len(), 1, "leased messages are not claimed twice");
    assert!(store
        .claim_mail(t0, t0 + Duration::minutes(5), 10)
        .await
        .unwrap()
        .is_empty());

    store.mark_mail_sent(first[0].id, t0).await.unwrap();
    store
        .mark_mail_failed(
            first[1].id,
            "connection refused",
            Some(t0 + Duration::seconds(30)),
        )
        .await
        .unwrap();
    store
        .mark_mail_failed(second[0].id, "550 no such user", None)
        .await
        .unwrap();
    let counts = store.mail_counts().await.unwrap();
    assert_eq!(
        counts,
        crate::store::MailCounts {
            queued: 1,
            sent: 1,
            failed: 1,
            oldest_queued_at: counts.oldest_queued_at,
        }
    );
    assert_eq!(
        counts.oldest_queued_at.map(|t| t.timestamp_millis()),
        Some(t0.timestamp_millis()),
        "the one still queued (to be retried) was queued at t0"
    );

    assert!(store
        .claim_mail(t0 + Duration::seconds(29), t0 + Duration::minutes(6), 10)
        .await
        .unwrap()
        .is_empty());
    let retry = store
        .claim_mail(t0 + Duration::seconds(30), t0 + Duration::minutes(6), 10)
        .await
        .unwrap();
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].id, first[1].id);
    assert_eq!(retry[0].attempts, 1);
    // An expired lease (a worker that died) makes the message due again.
    let again = store
        .claim_mail(t0 + Duration::minutes(7), t0 + Duration::minutes(12), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
}

pub async fn outbox_claims_never_overlap(store: Arc<dyn Store>) {
    let t0 = now();
    for i in 0..20 {
        store
            .enqueue_mail(&mail_to(&format!("m{i}@example.com")), t0)
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store
                .claim_mail(t0, t0 + Duration::minutes(5), 8)
                .await
                .unwrap()
        }));
    }
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    for t in tasks {
        for m in t.await.unwrap() {
            total += 1;
            assert!(seen.insert(m.id), "claimed twice: {}", m.id);
        }
    }
    assert_eq!(total, 20);
}

pub async fn a_late_failure_never_revives_a_sent_message(store: Arc<dyn Store>) {
    let t0 = now();
    let id = store
        .enqueue_mail(&mail_to("late@example.com"), t0)
        .await
        .unwrap();
    store
        .claim_mail(t0, t0 + Duration::minutes(5), 1)
        .await
        .unwrap();
    store.mark_mail_sent(id, t0).await.unwrap();
    // A worker whose lease ran out reports its failure after another worker sent it.
    store
        .mark_mail_failed(id, "timeout", Some(t0))
        .await
        .unwrap();
    assert_eq!(
        store.mail_counts().await.unwrap(),
        crate::store::MailCounts {
            queued: 0,
            sent: 1,
            failed: 0,
            oldest_queued_at: None,
        }
    );
    assert!(store
        .claim_mail(t0 + Duration::hours(1), t0 + Duration::hours(2), 10)
        .await
        .unwrap()
        .is_empty());
}

//! The Store contract for `CredentialStore`: API tokens and sessions resolved by hash, limited,
//! listed, rotated and ended, and their last use recorded. Each case writes, then reads the
//! effect back through other methods.

use std::sync::Arc;

use chrono::Duration;
use uuid::Uuid;

use super::{
    by_code, challenge, code_for, hash, mail_to, new_session, new_token, new_user, now, sorted,
    user,
};
use crate::access::RoleId;
use crate::domain::{UserId, UserStatus};
use crate::store::{
    CodeEffect, CodePurpose, EndSessions, Redemption, Store, StoreError, TokenLookup,
};
use crate::token::{CredentialKind, TokenHash, TokenSecret};

/// Every case of this module, for `store_contract_tests!`; `contract::tests` fails when a
/// `pub async fn` case here is missing from the list.
#[doc(hidden)]
#[macro_export]
macro_rules! store_contract_credentials {
    ($($how:tt)*) => {
        $crate::store_contract_cases! {
            $($how)* credentials;
            credentials_resolve_by_hash,
            token_limit_holds_under_parallel_inserts,
            tokens_are_found_only_within_their_owner,
            disable_delete_and_rotate_take_effect,
            credential_use_is_recorded,
            sessions_can_be_deleted,
            sessions_are_listed_and_ended_by_owner,
            deleting_tokens_returns_their_ids,
            sessions_record_when_they_were_last_proved,
            a_reset_revokes_sessions_tokens_and_challenges,
        }
    };
}

pub async fn credentials_resolve_by_hash(store: Arc<dyn Store>) {
    let mut record = new_user("frank");
    record.roles.push(RoleId::ADMIN);
    store.insert_user(&record).await.unwrap();
    let (token, secret) = new_token(record.id);
    store
        .insert_token(&token, &secret.hash(), 10)
        .await
        .unwrap();
    let (session, session_secret) = new_session(record.id);
    store.insert_session(&session).await.unwrap();

    let found = store
        .credential_by_hash(&secret.hash())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.kind, CredentialKind::ApiToken);
    assert_eq!(found.id, token.id.0);
    assert_eq!(found.user_id, record.id);
    assert_eq!(found.expires_at, token.expires_at);
    assert!(!found.disabled);
    assert!(
        store
            .user_by_id(found.user_id)
            .await
            .unwrap()
            .unwrap()
            .is_admin
    );
    assert_eq!(found.user_status, UserStatus::Active);

    let found = store
        .credential_by_hash(&session_secret.hash())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.kind, CredentialKind::Session);
    assert_eq!(found.id, session.id);
    assert_eq!(found.expires_at, Some(session.expires_at));

    let unknown = TokenSecret::generate(CredentialKind::ApiToken);
    assert!(store
        .credential_by_hash(&unknown.hash())
        .await
        .unwrap()
        .is_none());
}

pub async fn token_limit_holds_under_parallel_inserts(store: Arc<dyn Store>) {
    let user = new_user("grace");
    store.insert_user(&user).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let (token, secret) = new_token(user.id);
            store.insert_token(&token, &secret.hash(), 5).await
        }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => ok += 1,
            Err(StoreError::LimitReached) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(ok, 5);
    assert_eq!(store.list_tokens(user.id).await.unwrap().len(), 5);
}

pub async fn tokens_are_found_only_within_their_owner(store: Arc<dyn Store>) {
    let owner = new_user("heidi");
    let other = new_user("ivan");
    store.insert_user(&owner).await.unwrap();
    store.insert_user(&other).await.unwrap();
    let (older, _) = new_token(owner.id);
    store
        .insert_token(
            &older,
            &TokenSecret::generate(CredentialKind::ApiToken).hash(),
            10,
        )
        .await
        .unwrap();
    let (token, secret) = new_token(owner.id);
    store
        .insert_token(&token, &secret.hash(), 10)
        .await
        .unwrap();

    let listed = store.list_tokens(owner.id).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0], token, "newest first, every field round-trips");
    assert!(store.list_tokens(other.id).await.unwrap().is_empty());

    for lookup in [
        TokenLookup::Id(token.id),
        TokenLookup::Hash(secret.hash()),
        TokenLookup::Mask(token.mask.clone()),
    ] {
        let found = store.find_token(owner.id, &lookup).await.unwrap();
        assert_eq!(found.as_ref().map(|t| t.id), Some(token.id), "{lookup:?}");
        assert!(
            store.find_token(other.id, &lookup).await.unwrap().is_none(),
            "{lookup:?}"
        );
    }
}

pub async fn disable_delete_and_rotate_take_effect(store: Arc<dyn Store>) {
    let owner = new_user("judy");
    let other = new_user("mallory");
    store.insert_user(&owner).await.unwrap();
    store.insert_user(&other).await.unwrap();
    let (token, secret) = new_token(owner.id);
    store
        .insert_token(&token, &secret.hash(), 10)
        .await
        .unwrap();

    assert!(!store
        .set_token_disabled(other.id, token.id, true)
        .await
        .unwrap());
    assert!(store
        .set_token_disabled(owner.id, token.id, true)
        .await
        .unwrap());
    assert!(
        store
            .credential_by_hash(&secret.hash())
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    assert!(store
        .set_token_disabled(owner.id, token.id, false)
        .await
        .unwrap());
    assert!(
        !store
            .credential_by_hash(&secret.hash())
            .await
            .unwrap()
            .unwrap()
            .disabled
    );

    let fresh = TokenSecret::generate(CredentialKind::ApiToken);
    assert!(!store
        .rotate_token(other.id, token.id, &fresh.hash(), &fresh.mask(), now())
        .await
        .unwrap());
    assert!(store
        .rotate_token(owner.id, token.id, &fresh.hash(), &fresh.mask(), now())
        .await
        .unwrap());
    assert!(store
        .credential_by_hash(&secret.hash())
        .await
        .unwrap()
        .is_none());
    let rotated = store
        .credential_by_hash(&fresh.hash())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rotated.id, token.id.0);
    let listed = store
        .find_token(owner.id, &TokenLookup::Id(token.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(listed.mask, fresh.mask());
    assert_eq!(listed.name, token.name);
    assert_eq!(listed.expires_at, token.expires_at);
    assert!(listed.rotated_at.is_some());

    assert!(!store.delete_token(other.id, token.id).await.unwrap());
    assert!(store.delete_token(owner.id, token.id).await.unwrap());
    assert!(store
        .credential_by_hash(&fresh.hash())
        .await
        .unwrap()
        .is_none());
    assert!(store.list_tokens(owner.id).await.unwrap().is_empty());
    assert!(!store.delete_token(owner.id, token.id).await.unwrap());
}

pub async fn credential_use_is_recorded(store: Arc<dyn Store>) {
    let user = new_user("niaj");
    store.insert_user(&user).await.unwrap();
    let (token, secret) = new_token(user.id);
    store
        .insert_token(&token, &secret.hash(), 10)
        .await
        .unwrap();
    let (session, _) = new_session(user.id);
    store.insert_session(&session).await.unwrap();

    let at = now() + Duration::minutes(3);
    store
        .record_credential_use(&[
            (CredentialKind::ApiToken, token.id.0, at),
            (CredentialKind::Session, session.id, at),
            (CredentialKind::ApiToken, Uuid::now_v7(), at),
        ])
        .await
        .unwrap();
    let listed = store
        .find_token(user.id, &TokenLookup::Id(token.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(listed.last_used_at, Some(at));
}

pub async fn sessions_can_be_deleted(store: Arc<dyn Store>) {
    let user = new_user("olivia");
    store.insert_user(&user).await.unwrap();
    let (session, secret) = new_session(user.id);
    store.insert_session(&session).await.unwrap();
    assert!(store.delete_session(session.id).await.unwrap());
    assert!(store
        .credential_by_hash(&secret.hash())
        .await
        .unwrap()
        .is_none());
    assert!(!store.delete_session(session.id).await.unwrap());
}

pub async fn sessions_are_listed_and_ended_by_owner(store: Arc<dyn Store>) {
    let user = new_user("sam");
    let other = new_user("sue");
    store.insert_user(&user).await.unwrap();
    store.insert_user(&other).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (s, _) = new_session(user.id);
        store.insert_session(&s).await.unwrap();
        ids.push(s.id);
    }
    let listed = store.list_sessions(user.id, now()).await.unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0].client_ip.as_deref(), Some("127.0.0.1"));
    assert!(
        store
            .list_sessions(user.id, now() + Duration::days(2))
            .await
            .unwrap()
            .is_empty(),
        "expired are not listed"
    );

    assert!(!store.delete_user_session(other.id, ids[0]).await.unwrap());
    assert!(store.delete_user_session(user.id, ids[0]).await.unwrap());
    let ended = store.delete_sessions(user.id, Some(ids[1])).await.unwrap();
    assert_eq!(ended, vec![ids[2]]);
    let left: Vec<Uuid> = store
        .list_sessions(user.id, now())
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(left, vec![ids[1]]);
    assert_eq!(
        store.delete_sessions(user.id, None).await.unwrap(),
        vec![ids[1]]
    );

    let (keep, keep_secret) = new_session(user.id);
    let (gone, gone_secret) = new_session(user.id);
    store.insert_session(&keep).await.unwrap();
    store.insert_session(&gone).await.unwrap();
    store
        .set_password_hash(user.id, "h", EndSessions::AllExcept(keep.id), now())
        .await
        .unwrap();
    assert!(store
        .credential_by_hash(&keep_secret.hash())
        .await
        .unwrap()
        .is_some());
    assert!(store
        .credential_by_hash(&gone_secret.hash())
        .await
        .unwrap()
        .is_none());
}

pub async fn deleting_tokens_returns_their_ids(store: Arc<dyn Store>) {
    let alice = new_user("alice");
    let bob = new_user("bob");
    store.insert_user(&alice).await.unwrap();
    store.insert_user(&bob).await.unwrap();
    let mut alices = Vec::new();
    for _ in 0..2 {
        let (token, secret) = new_token(alice.id);
        store
            .insert_token(&token, &secret.hash(), 10)
            .await
            .unwrap();
        alices.push(token.id.0);
    }
    let (bobs, bobs_secret) = new_token(bob.id);
    store
        .insert_token(&bobs, &bobs_secret.hash(), 10)
        .await
        .unwrap();
    let (session, session_secret) = new_session(alice.id);
    store.insert_session(&session).await.unwrap();

    let deleted = store.delete_user_tokens(alice.id).await.unwrap();
    assert_eq!(sorted(deleted), sorted(alices));
    assert!(store.list_tokens(alice.id).await.unwrap().is_empty());
    assert_eq!(store.list_tokens(bob.id).await.unwrap(), vec![bobs]);
    assert!(store
        .credential_by_hash(&session_secret.hash())
        .await
        .unwrap()
        .is_some());
    assert!(store.delete_user_tokens(alice.id).await.unwrap().is_empty());
}

pub async fn sessions_record_when_they_were_last_proved(store: Arc<dyn Store>) {
    let owner = user(&store, "proved").await;
    let (session, _) = new_session(owner);
    store.insert_session(&session).await.unwrap();
    assert_eq!(
        store.session_proved_at(session.id).await.unwrap(),
        Some(session.created_at),
        "a sign-in is a proof"
    );
    let later = now() + Duration::minutes(20);
    assert!(store.mark_session_proved(session.id, later).await.unwrap());
    assert_eq!(
        store.session_proved_at(session.id).await.unwrap(),
        Some(later)
    );
    // A late write of an older proof never moves it back.
    assert!(store.mark_session_proved(session.id, now()).await.unwrap());
    assert_eq!(
        store.session_proved_at(session.id).await.unwrap(),
        Some(later)
    );
    let unknown = Uuid::now_v7();
    assert!(!store.mark_session_proved(unknown, later).await.unwrap());
    assert_eq!(store.session_proved_at(unknown).await.unwrap(), None);
}

/// What a reset leaves of a user's credentials: nothing, whether it went through a code or
/// an administrator; a password change keeps API tokens and challenges.
pub async fn a_reset_revokes_sessions_tokens_and_challenges(store: Arc<dyn Store>) {
    let owner = user(&store, "resetme").await;
    let other = user(&store, "bystander").await;
    let arm = |who: UserId, tag: &'static str| {
        let store = store.clone();
        async move {
            let (session, session_secret) = new_session(who);
            store.insert_session(&session).await.unwrap();
            let (token, token_secret) = new_token(who);
            store
                .insert_token(&token, &token_secret.hash(), 10)
                .await
                .unwrap();
            let challenge = challenge(who, tag, now());
            store.insert_challenge(&challenge).await.unwrap();
            (session_secret.hash(), token_secret.hash(), hash(tag))
        }
    };
    let alive = |hashes: (TokenHash, TokenHash, TokenHash)| {
        let store = store.clone();
        async move {
            let session = store.credential_by_hash(&hashes.0).await.unwrap().is_some();
            let token = store.credential_by_hash(&hashes.1).await.unwrap().is_some();
            let challenge = store
                .live_challenge(&hashes.2, now(), 5)
                .await
                .unwrap()
                .is_some();
            (session, token, challenge)
        }
    };

    let first = arm(owner, "first").await;
    let bystander = arm(other, "bystander").await;
    assert!(store
        .set_password_hash(owner, "h1", EndSessions::All, now())
        .await
        .unwrap());
    assert_eq!(alive(first).await, (false, true, true));
    assert!(store
        .set_password_hash(owner, "h2", EndSessions::Reset, now())
        .await
        .unwrap());
    assert_eq!(alive(first).await, (false, false, false));

    let second = arm(owner, "second").await;
    store
        .issue_code(
            &code_for(owner, CodePurpose::ResetPassword, "12345678", "link"),
            &mail_to("resetme@example.com"),
        )
        .await
        .unwrap();
    let redeemed = store
        .redeem_code(
            CodePurpose::ResetPassword,
            &by_code(owner, "12345678"),
            &CodeEffect::SetPassword("h3".into()),
            5,
            now(),
        )
        .await
        .unwrap();
    assert_eq!(redeemed, Redemption::Redeemed(owner));
    assert_eq!(alive(second).await, (false, false, false));
    let (_, stored) = store.login_lookup("resetme").await.unwrap().unwrap();
    assert_eq!(stored.as_deref(), Some("h3"));
    assert_eq!(
        alive(bystander).await,
        (true, true, true),
        "other users keep theirs"
    );
}

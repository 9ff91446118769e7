//! The Store contract: what every backend must do, checked by its effects (read back after
//! each write), not just by return values. A backend runs it with
//! `accounts::store_contract_tests!(factory)`, where `factory` is an async expression that
//! yields `(Arc<dyn Store>, guard)`; the guard lives as long as the test (a temp dir, a
//! scratch database).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::domain::{
    EmailAddress, Patch, ProfileChange, ProfileUpdate, UserId, UserStatus, Username,
};
use crate::files::FileId;
use crate::store::{
    FileRecord, NewUserRecord, SessionRecord, Store, StoreError, TokenLookup, Unique,
};
use crate::token::{ApiToken, CredentialKind, TokenId, TokenSecret};

/// Expands to one `#[tokio::test]` per contract case.
#[macro_export]
macro_rules! store_contract_tests {
    ($factory:expr) => {
        $crate::store_contract_tests!(@cases $factory;
            users_round_trip,
            unique_violations_are_mapped_and_write_nothing,
            password_change_can_end_sessions,
            profile_updates_persist,
            avatar_replacement_returns_the_old_file,
            credentials_resolve_by_hash,
            token_limit_holds_under_parallel_inserts,
            tokens_are_found_only_within_their_owner,
            disable_delete_and_rotate_take_effect,
            credential_use_is_recorded,
            sessions_can_be_deleted
        );
    };
    (@cases $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let (store, _guard) = $factory.await;
                $crate::testkit::contract::$case(store).await;
            }
        )*
    };
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap()
}

fn new_user(name: &str) -> NewUserRecord {
    NewUserRecord {
        id: UserId::new(),
        username: Username::parse(name).unwrap(),
        email: EmailAddress::parse(&format!("{name}@example.com")).unwrap(),
        email_verified: false,
        status: UserStatus::Active,
        is_admin: false,
        password_hash: Some(format!("hash-of-{name}")),
        created_at: now(),
    }
}

fn new_token(user: UserId) -> (ApiToken, TokenSecret) {
    let secret = TokenSecret::generate(CredentialKind::ApiToken);
    let token = ApiToken {
        id: TokenId::new(),
        user_id: user,
        name: "ci".into(),
        mask: secret.mask(),
        created_at: now(),
        expires_at: Some(now() + Duration::hours(1)),
        disabled: false,
        last_used_at: None,
        rotated_at: None,
    };
    (token, secret)
}

fn new_session(user: UserId) -> (SessionRecord, TokenSecret) {
    let secret = TokenSecret::generate(CredentialKind::Session);
    let session = SessionRecord {
        id: Uuid::now_v7(),
        user_id: user,
        secret_hash: secret.hash(),
        created_at: now(),
        last_seen_at: now(),
        expires_at: now() + Duration::days(1),
        client_ip: Some("127.0.0.1".into()),
        user_agent: Some("contract".into()),
    };
    (session, secret)
}

pub async fn users_round_trip(store: Arc<dyn Store>) {
    let mut record = new_user("alice");
    record.is_admin = true;
    let created = store.insert_user(&record).await.unwrap();
    assert_eq!(created.id, record.id);
    assert!(created.is_admin);
    assert_eq!(created.status, UserStatus::Active);
    assert_eq!(created.created_at, record.created_at);

    let by_id = store.user_by_id(record.id).await.unwrap().unwrap();
    assert_eq!(by_id, created);
    let by_name = store
        .user_by_username(&record.username)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_name.id, record.id);
    let by_email = store.user_by_email(&record.email).await.unwrap().unwrap();
    assert_eq!(by_email.id, record.id);

    for login in ["alice", "ALICE", "alice@example.com", "Alice@Example.com"] {
        let (user, hash) = store.login_lookup(login).await.unwrap().expect(login);
        assert_eq!(user.id, record.id);
        assert_eq!(hash.as_deref(), Some("hash-of-alice"));
    }
    assert!(store.login_lookup("nobody").await.unwrap().is_none());
    assert!(store.user_by_id(UserId::new()).await.unwrap().is_none());
}

pub async fn unique_violations_are_mapped_and_write_nothing(store: Arc<dyn Store>) {
    let first = new_user("bob");
    store.insert_user(&first).await.unwrap();

    let mut same_name = new_user("bob");
    same_name.email = EmailAddress::parse("other@example.com").unwrap();
    let err = store.insert_user(&same_name).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Unique::Username)),
        "{err:?}"
    );
    assert!(store.user_by_id(same_name.id).await.unwrap().is_none());

    let mut same_email = new_user("robert");
    same_email.email = first.email.clone();
    let err = store.insert_user(&same_email).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Unique::Email)),
        "{err:?}"
    );
    assert!(store.user_by_id(same_email.id).await.unwrap().is_none());

    let (token, secret) = new_token(first.id);
    store
        .insert_token(&token, &secret.hash(), 10)
        .await
        .unwrap();
    let (mut again, _) = new_token(first.id);
    again.mask = "gh_AAAAAA...AAAA".into();
    let err = store
        .insert_token(&again, &secret.hash(), 10)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Unique::TokenHash)),
        "{err:?}"
    );
    assert_eq!(store.list_tokens(first.id).await.unwrap().len(), 1);
}

pub async fn password_change_can_end_sessions(store: Arc<dyn Store>) {
    let user = new_user("carol");
    store.insert_user(&user).await.unwrap();
    let (session, secret) = new_session(user.id);
    store.insert_session(&session).await.unwrap();

    assert!(store
        .set_password_hash(user.id, "h2", false, now())
        .await
        .unwrap());
    assert!(store
        .credential_by_hash(&secret.hash())
        .await
        .unwrap()
        .is_some());
    assert!(store
        .set_password_hash(user.id, "h3", true, now())
        .await
        .unwrap());
    assert!(store
        .credential_by_hash(&secret.hash())
        .await
        .unwrap()
        .is_none());
    let (_, hash) = store.login_lookup("carol").await.unwrap().unwrap();
    assert_eq!(hash.as_deref(), Some("h3"));

    assert!(!store
        .set_password_hash(UserId::new(), "h", true, now())
        .await
        .unwrap());
}

pub async fn profile_updates_persist(store: Arc<dyn Store>) {
    let user = new_user("dave");
    store.insert_user(&user).await.unwrap();
    let change = ProfileUpdate {
        nickname: Patch::Set("Dee".into()),
        locale: Patch::Set("en-GB".into()),
        ..ProfileUpdate::default()
    }
    .validate()
    .unwrap();
    let later = now() + Duration::seconds(5);
    let updated = store
        .update_profile(user.id, &change, later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.profile.nickname.as_deref(), Some("Dee"));
    assert_eq!(updated.updated_at, later);
    let read = store.user_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(read.profile.locale.as_deref(), Some("en-GB"));

    let clear = ProfileUpdate {
        nickname: Patch::Clear,
        ..ProfileUpdate::default()
    }
    .validate()
    .unwrap();
    let read = store
        .update_profile(user.id, &clear, now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.profile.nickname, None);
    assert_eq!(read.profile.locale.as_deref(), Some("en-GB"));
    assert!(store
        .update_profile(UserId::new(), &clear, now())
        .await
        .unwrap()
        .is_none());
}

pub async fn avatar_replacement_returns_the_old_file(store: Arc<dyn Store>) {
    let user = new_user("erin");
    store.insert_user(&user).await.unwrap();
    let file = |id: FileId| FileRecord {
        id,
        owner_id: user.id,
        purpose: "avatar".into(),
        content_type: "image/png".into(),
        size: 42,
        created_at: now(),
    };
    let first = file(FileId::new());
    let previous = store
        .replace_avatar(&first, &ProfileChange::picture("http://x/1".into()))
        .await
        .unwrap();
    assert_eq!(previous, None);
    assert_eq!(store.file(first.id).await.unwrap(), Some(first.clone()));

    let second = file(FileId::new());
    let previous = store
        .replace_avatar(&second, &ProfileChange::picture("http://x/2".into()))
        .await
        .unwrap();
    assert_eq!(previous, Some(first.id));
    assert_eq!(store.file(first.id).await.unwrap(), None);
    assert_eq!(store.file(second.id).await.unwrap(), Some(second));
    let read = store.user_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(read.profile.picture.as_deref(), Some("http://x/2"));
}

pub async fn credentials_resolve_by_hash(store: Arc<dyn Store>) {
    let mut record = new_user("frank");
    record.is_admin = true;
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
    assert!(found.user_is_admin);
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

//! The Store contract: what every backend must do, checked by its effects (read back after
//! each write), not just by return values. A backend runs it with
//! `accounts::store_contract_tests!(factory)`, where `factory` is an async expression that
//! yields `(Arc<dyn Store>, guard)`; the guard lives as long as the test (a temp dir, a
//! scratch database). The cases for user administration, roles and organisations live in
//! `contract_access.rs`, those for files, chunks and the second factor in
//! `contract_content.rs`; all are listed in the same macro.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::access::RoleId;
use crate::audit::{AuditEvent, AuditFilter, Outcome};
use crate::domain::{
    EmailAddress, Patch, ProfileChange, ProfileUpdate, UserId, UserStatus, Username,
};
use crate::files::FileId;
use crate::mail::OutgoingMail;
use crate::store::{
    Backoff, CodeEffect, CodeLookup, CodePurpose, CodeRecord, EndSessions, Exhausted, FileRecord,
    NewUserRecord, RateLimit, Redemption, SessionRecord, Store, StoreError, TokenLookup, Unique,
};
use crate::token::{ApiToken, CredentialKind, TokenHash, TokenId, TokenSecret};

/// Expands to one `#[tokio::test]` per contract case.
#[macro_export]
macro_rules! store_contract_tests {
    ($factory:expr) => {
        $crate::store_contract_tests!(@cases $factory; contract;
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
            sessions_can_be_deleted,
            registration_writes_user_code_and_mail_or_nothing,
            codes_redeem_once_within_attempts_and_expiry,
            code_effects_are_applied_with_the_redemption,
            sessions_are_listed_and_ended_by_owner,
            rate_limits_count_all_or_nothing_and_reset_per_window,
            rate_limits_hold_under_parallel_hits,
            backoff_limits_wait_doubling_and_forget,
            refunds_take_back_one_hit_and_never_go_below_zero,
            expired_and_surplus_counters_are_pruned,
            known_addresses_are_remembered_until_pruned,
            audit_events_filter_and_page,
            audit_events_before_the_cutoff_are_pruned,
            outbox_claims_lease_retry_and_give_up,
            outbox_claims_never_overlap,
            a_late_failure_never_revives_a_sent_message,
            a_code_redeems_once_under_parallel_attempts,
            registration_maps_a_taken_username,
            avatar_of_a_missing_user_fails_and_writes_nothing
        );
        $crate::store_contract_tests!(@cases $factory; contract_access;
            user_numbers_are_unique_and_found,
            new_users_get_their_roles_memberships_and_profile,
            user_lists_page_in_every_order_and_filter,
            admin_changes_apply_or_write_nothing,
            deleting_a_user_removes_what_they_own,
            deleting_tokens_returns_their_ids,
            export_pages_in_id_order_with_hashes_and_roles,
            batch_inserts_are_all_or_nothing,
            password_hash_upgrades_compare_and_set,
            roles_change_but_builtins_never,
            user_roles_are_replaced_and_unknown_ids_ignored,
            roles_of_many_users_come_in_one_call,
            organisations_and_memberships_round_trip,
            organisations_keep_their_reset_code_choice
        );
        $crate::store_contract_tests!(@cases $factory; contract_content;
            file_quota_counts_every_file_and_writes_nothing_past_it,
            metadata_and_chunks_count_against_the_quota_and_counts_are_capped,
            files_page_both_ways_by_time_then_id,
            files_are_listed_newest_first_and_deleted_by_owner,
            deleting_the_avatar_clears_the_picture,
            chunks_page_newest_first_with_the_total,
            chunks_page_both_ways_by_time_then_id,
            chunks_keep_their_file_link_until_the_file_goes,
            tracking_ids_are_unique_per_user,
            chunks_are_deleted_by_their_owner,
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
            sessions_record_when_they_were_last_proved,
            a_reset_revokes_sessions_tokens_and_challenges
        );
    };
    (@cases $factory:expr; $module:ident; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let (store, _guard) = $factory.await;
                $crate::testkit::$module::$case(store).await;
            }
        )*
    };
}

pub(crate) fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap()
}

pub(crate) fn new_user(name: &str) -> NewUserRecord {
    NewUserRecord {
        id: UserId::new(),
        username: Username::parse(name).unwrap(),
        email: EmailAddress::parse(&format!("{name}@example.com")).unwrap(),
        email_verified: false,
        status: UserStatus::Active,
        number: rand::Rng::gen_range(&mut rand::thread_rng(), 1..(1_i64 << 53)),
        roles: vec![RoleId::USER],
        memberships: Vec::new(),
        password_hash: Some(format!("hash-of-{name}")),
        profile: ProfileChange::default(),
        created_at: now(),
    }
}

pub(crate) fn new_token(user: UserId) -> (ApiToken, TokenSecret) {
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

pub(crate) fn new_session(user: UserId) -> (SessionRecord, TokenSecret) {
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
    record.roles.push(RoleId::ADMIN);
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
        .set_password_hash(user.id, "h2", EndSessions::None, now())
        .await
        .unwrap());
    assert!(store
        .credential_by_hash(&secret.hash())
        .await
        .unwrap()
        .is_some());
    assert!(store
        .set_password_hash(user.id, "h3", EndSessions::All, now())
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
        .set_password_hash(UserId::new(), "h", EndSessions::All, now())
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
        name: "avatar.png".into(),
        link: None,
        metadata: None,
        tag_set: None,
        created_at: now(),
    };
    let first = file(FileId::new());
    let previous = store
        .replace_avatar(
            &first,
            &ProfileChange::picture("http://x/1".into()),
            &crate::store::ContentLimits::UNLIMITED,
        )
        .await
        .unwrap();
    assert_eq!(previous, None);
    assert_eq!(store.file(first.id).await.unwrap(), Some(first.clone()));

    let second = file(FileId::new());
    let previous = store
        .replace_avatar(
            &second,
            &ProfileChange::picture("http://x/2".into()),
            &crate::store::ContentLimits::UNLIMITED,
        )
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

pub(crate) fn hash(text: &str) -> TokenHash {
    use sha2::Digest;
    TokenHash(sha2::Sha256::digest(text.as_bytes()).into())
}

pub(crate) fn code_for(user: UserId, purpose: CodePurpose, code: &str, link: &str) -> CodeRecord {
    CodeRecord {
        id: Uuid::now_v7(),
        user_id: user,
        purpose,
        code_hash: hash(code),
        link_hash: hash(link),
        created_at: now(),
        code_expires_at: now() + Duration::minutes(10),
        link_expires_at: now() + Duration::hours(1),
    }
}

pub(crate) fn mail_to(to: &str) -> OutgoingMail {
    OutgoingMail {
        to: EmailAddress::parse(to).unwrap(),
        subject: "s".into(),
        text: "t".into(),
        html: "<p>h</p>".into(),
    }
}

pub(crate) fn by_code(user: UserId, code: &str) -> CodeLookup {
    CodeLookup::Code {
        user,
        hash: hash(code),
    }
}

pub async fn registration_writes_user_code_and_mail_or_nothing(store: Arc<dyn Store>) {
    let mut record = new_user("paul");
    record.status = UserStatus::Pending;
    let code = code_for(record.id, CodePurpose::VerifyEmail, "111111", "link-a");
    let user = store
        .register_user(&record, &code, &mail_to("paul@example.com"))
        .await
        .unwrap();
    assert_eq!(user.status, UserStatus::Pending);
    assert_eq!(store.mail_counts().await.unwrap().queued, 1);

    let mut clash = new_user("paula");
    clash.email = record.email.clone();
    let code2 = code_for(clash.id, CodePurpose::VerifyEmail, "222222", "link-b");
    let err = store
        .register_user(&clash, &code2, &mail_to("paul@example.com"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Unique::Email)),
        "{err:?}"
    );
    assert!(store.user_by_id(clash.id).await.unwrap().is_none());
    assert_eq!(
        store.mail_counts().await.unwrap().queued,
        1,
        "no mail for the failed write"
    );
    let redeemed = store
        .redeem_code(
            CodePurpose::VerifyEmail,
            &CodeLookup::Link(hash("link-b")),
            &CodeEffect::VerifyEmail,
            5,
            now(),
        )
        .await
        .unwrap();
    assert_eq!(redeemed, Redemption::NoCode, "no code for the failed write");
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

pub async fn registration_maps_a_taken_username(store: Arc<dyn Store>) {
    let first = new_user("vera");
    store.insert_user(&first).await.unwrap();
    let mut clash = new_user("vera");
    clash.email = EmailAddress::parse("other-vera@example.com").unwrap();
    let code = code_for(clash.id, CodePurpose::VerifyEmail, "1", "lw");
    let err = store
        .register_user(&clash, &code, &mail_to("other-vera@example.com"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Unique::Username)),
        "{err:?}"
    );
    assert_eq!(store.mail_counts().await.unwrap().queued, 0);
}

pub async fn avatar_of_a_missing_user_fails_and_writes_nothing(store: Arc<dyn Store>) {
    let file = FileRecord {
        id: FileId::new(),
        owner_id: UserId::new(),
        purpose: "avatar".into(),
        content_type: "image/png".into(),
        size: 1,
        name: "avatar.png".into(),
        link: None,
        metadata: None,
        tag_set: None,
        created_at: now(),
    };
    assert!(store
        .replace_avatar(
            &file,
            &ProfileChange::picture("http://x/1".into()),
            &crate::store::ContentLimits::UNLIMITED
        )
        .await
        .is_err());
    assert_eq!(store.file(file.id).await.unwrap(), None);
}

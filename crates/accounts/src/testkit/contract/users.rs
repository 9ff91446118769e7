//! The Store contract for `UserStore`: accounts written, read back by every lookup, changed and
//! registered. Each case writes, then reads the effect back through other methods.

use std::sync::Arc;

use chrono::Duration;

use super::{
    code_for, hash, mail_to, named, new_session, new_token, new_user, now, org, org_id, user_id,
};
use crate::access::{Membership, OrgRole, RoleId};
use crate::domain::{EmailAddress, Patch, ProfileUpdate, UserId, UserStatus, Username};
use crate::store::{
    CodeEffect, CodeLookup, CodePurpose, EndSessions, NewUserRecord, Redemption, Store, StoreError,
    Unique,
};

/// Every case of this module, for `store_contract_tests!`; `contract::tests` fails when a
/// `pub async fn` case here is missing from the list.
#[doc(hidden)]
#[macro_export]
macro_rules! store_contract_users {
    ($($how:tt)*) => {
        $crate::store_contract_cases! {
            $($how)* users;
            users_round_trip,
            unique_violations_are_mapped_and_write_nothing,
            password_change_can_end_sessions,
            profile_updates_persist,
            registration_writes_user_code_and_mail_or_nothing,
            registration_maps_a_taken_username,
            user_numbers_are_unique_and_found,
            new_users_get_their_roles_memberships_and_profile,
            batch_inserts_are_all_or_nothing,
            password_hash_upgrades_compare_and_set,
            export_pages_in_id_order_with_hashes_and_roles,
        }
    };
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

pub async fn user_numbers_are_unique_and_found(store: Arc<dyn Store>) {
    let mut first = new_user("numa");
    first.number = 4_503_599_627_370_497;
    let created = store.insert_user(&first).await.unwrap();
    assert_eq!(created.number, first.number);
    assert_eq!(
        store.user_by_id(first.id).await.unwrap().unwrap().number,
        first.number
    );
    let found = store.user_by_number(first.number).await.unwrap().unwrap();
    assert_eq!(found, created);
    assert!(store.user_by_number(7).await.unwrap().is_none());

    let mut same = new_user("numb");
    same.number = first.number;
    let err = store.insert_user(&same).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Unique::UserNumber)),
        "{err:?}"
    );
    assert!(store.user_by_id(same.id).await.unwrap().is_none());
    assert!(store.user_roles(same.id).await.unwrap().is_empty());
}

pub async fn new_users_get_their_roles_memberships_and_profile(store: Arc<dyn Store>) {
    let team = org(1, "team");
    store.insert_org(&team, None).await.unwrap();

    let mut record = new_user("grace");
    record.roles = vec![RoleId::USER, RoleId::ADMIN];
    record.memberships = vec![(team.id, OrgRole::Admin)];
    record.profile = named("Grace Hopper");
    let created = store.insert_user(&record).await.unwrap();
    assert!(created.is_admin);
    assert_eq!(created.profile.name.as_deref(), Some("Grace Hopper"));
    assert_eq!(store.user_by_id(record.id).await.unwrap(), Some(created));
    assert_eq!(
        store.user_roles(record.id).await.unwrap(),
        vec![RoleId::ADMIN, RoleId::USER]
    );
    let membership = Membership {
        org_id: team.id,
        user_id: record.id,
        role: OrgRole::Admin,
        created_at: record.created_at,
    };
    assert_eq!(
        store.user_memberships(record.id).await.unwrap(),
        vec![membership.clone()]
    );
    assert_eq!(store.org_members(team.id).await.unwrap(), vec![membership]);

    // Registration writes the same, with its code and mail.
    let mut pending = new_user("henry");
    pending.status = UserStatus::Pending;
    pending.memberships = vec![(team.id, OrgRole::Member)];
    pending.profile = named("Henry");
    let code = code_for(pending.id, CodePurpose::VerifyEmail, "222222", "link-h");
    let registered = store
        .register_user(&pending, &code, &mail_to("henry@example.com"))
        .await
        .unwrap();
    assert!(!registered.is_admin);
    assert_eq!(
        store.user_by_id(pending.id).await.unwrap(),
        Some(registered)
    );
    assert_eq!(
        store.user_roles(pending.id).await.unwrap(),
        vec![RoleId::USER]
    );
    let joined = store.user_memberships(pending.id).await.unwrap();
    assert_eq!(joined.len(), 1);
    assert_eq!(joined[0].role, OrgRole::Member);

    // A membership of a missing organisation fails the whole insert.
    let mut stray = new_user("ivan");
    stray.memberships = vec![(org_id(99), OrgRole::Member)];
    assert!(store.insert_user(&stray).await.is_err());
    assert!(store.user_by_id(stray.id).await.unwrap().is_none());
    assert!(store
        .user_by_username(&stray.username)
        .await
        .unwrap()
        .is_none());
}

pub async fn batch_inserts_are_all_or_nothing(store: Arc<dyn Store>) {
    let existing = new_user("olga");
    store.insert_user(&existing).await.unwrap();
    let batch = |names: &[&str]| -> Vec<NewUserRecord> {
        names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let mut record = new_user(name);
                record.number = 1000 + i as i64;
                record
            })
            .collect()
    };

    let mut twice = batch(&["pam", "quinn", "rita"]);
    twice[2].username = twice[0].username.clone();
    let err = store.insert_users(&twice).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Unique::Username)),
        "{err:?}"
    );
    let mut taken_email = batch(&["pam", "quinn"]);
    taken_email[1].email = existing.email.clone();
    let err = store.insert_users(&taken_email).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Unique::Email)),
        "{err:?}"
    );
    for record in twice.iter().chain(&taken_email) {
        assert!(store.user_by_id(record.id).await.unwrap().is_none());
    }
    assert!(store
        .user_by_username(&Username::parse("pam").unwrap())
        .await
        .unwrap()
        .is_none());

    let mut good = batch(&["pam", "quinn"]);
    good[1].roles.push(RoleId::ADMIN);
    good[1].profile = named("Quinn");
    let created = store.insert_users(&good).await.unwrap();
    assert_eq!(created.len(), 2);
    for (record, user) in good.iter().zip(&created) {
        assert_eq!(
            store.user_by_id(record.id).await.unwrap().as_ref(),
            Some(user)
        );
        assert_eq!(user.number, record.number);
    }
    assert!(created[1].is_admin);
    assert_eq!(created[1].profile.name.as_deref(), Some("Quinn"));
    let (_, hash) = store.login_lookup("quinn").await.unwrap().unwrap();
    assert_eq!(hash.as_deref(), Some("hash-of-quinn"));
}

pub async fn password_hash_upgrades_compare_and_set(store: Arc<dyn Store>) {
    let user = new_user("sven");
    store.insert_user(&user).await.unwrap();
    let (session, secret) = new_session(user.id);
    store.insert_session(&session).await.unwrap();

    assert!(!store
        .upgrade_password_hash(user.id, "stale", "$argon2id$new")
        .await
        .unwrap());
    let (_, hash) = store.login_lookup("sven").await.unwrap().unwrap();
    assert_eq!(hash.as_deref(), Some("hash-of-sven"));

    assert!(store
        .upgrade_password_hash(user.id, "hash-of-sven", "$argon2id$new")
        .await
        .unwrap());
    let (_, hash) = store.login_lookup("sven").await.unwrap().unwrap();
    assert_eq!(hash.as_deref(), Some("$argon2id$new"));
    assert!(store
        .credential_by_hash(&secret.hash())
        .await
        .unwrap()
        .is_some());
    assert!(!store
        .upgrade_password_hash(user.id, "hash-of-sven", "$argon2id$other")
        .await
        .unwrap());

    let mut without = new_user("tove");
    without.password_hash = None;
    store.insert_user(&without).await.unwrap();
    assert!(!store
        .upgrade_password_hash(without.id, "", "$argon2id$x")
        .await
        .unwrap());
    assert!(!store
        .upgrade_password_hash(UserId::new(), "hash-of-sven", "$argon2id$x")
        .await
        .unwrap());
}

pub async fn export_pages_in_id_order_with_hashes_and_roles(store: Arc<dyn Store>) {
    let mut records = Vec::new();
    for (i, name) in ["xena", "yuri", "zoe"].into_iter().enumerate() {
        let mut record = new_user(name);
        record.id = user_id(10 - i as u128);
        if name == "yuri" {
            record.roles.push(RoleId::ADMIN);
        }
        if name == "zoe" {
            record.password_hash = None;
        }
        store.insert_user(&record).await.unwrap();
        records.push(record);
    }
    // Id order is zoe, yuri, xena.
    let first = store.export_users(None, 2).await.unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(first[0].user.id, records[2].id);
    assert_eq!(first[0].password_hash, None);
    assert_eq!(first[0].roles, vec![RoleId::USER]);
    assert_eq!(first[1].user.id, records[1].id);
    assert_eq!(first[1].password_hash.as_deref(), Some("hash-of-yuri"));
    assert_eq!(first[1].roles, vec![RoleId::ADMIN, RoleId::USER]);
    for exported in &first {
        assert_eq!(
            Some(exported.user.clone()),
            store.user_by_id(exported.user.id).await.unwrap()
        );
    }
    let rest = store.export_users(Some(first[1].user.id), 2).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].user.id, records[0].id);
    assert_eq!(rest[0].password_hash.as_deref(), Some("hash-of-xena"));
    assert!(store
        .export_users(Some(rest[0].user.id), 2)
        .await
        .unwrap()
        .is_empty());
}

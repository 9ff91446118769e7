//! The Store contract for `UserStore`'s administration: an administrator's changes, and
//! deleting a user with everything they own. Each case writes, then reads the effect back
//! through other methods.

use std::sync::Arc;

use chrono::Duration;

use super::{
    by_code, code_for, hash, mail_to, named, new_session, new_token, new_user, now, org, sorted,
};
use crate::access::{OrgRole, RoleId};
use crate::domain::{EmailAddress, ProfileChange, UserId, UserStatus, Username};
use crate::files::FileId;
use crate::store::{
    CodeEffect, CodeLookup, CodePurpose, FileRecord, Redemption, Store, StoreError, TokenLookup,
    Unique, UserChange,
};

/// Every case of this module, for `store_contract_tests!`; `contract::tests` fails when a
/// `pub async fn` case here is missing from the list.
#[doc(hidden)]
#[macro_export]
macro_rules! store_contract_user_admin {
    ($($how:tt)*) => {
        $crate::store_contract_cases! {
            $($how)* user_admin;
            admin_changes_apply_or_write_nothing,
            deleting_a_user_removes_what_they_own,
        }
    };
}

pub async fn admin_changes_apply_or_write_nothing(store: Arc<dyn Store>) {
    let alice = new_user("alice");
    let bob = new_user("bob");
    store.insert_user(&alice).await.unwrap();
    store.insert_user(&bob).await.unwrap();
    let before = store.user_by_id(alice.id).await.unwrap().unwrap();

    for (change, unique) in [
        (
            UserChange {
                username: Some(bob.username.clone()),
                email_verified: Some(true),
                ..UserChange::default()
            },
            Unique::Username,
        ),
        (
            UserChange {
                email: Some(bob.email.clone()),
                status: Some(UserStatus::Disabled),
                ..UserChange::default()
            },
            Unique::Email,
        ),
    ] {
        let err = store
            .update_user(alice.id, &change, now() + Duration::seconds(5))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict(u) if u == unique),
            "{err:?}"
        );
        assert_eq!(
            store.user_by_id(alice.id).await.unwrap(),
            Some(before.clone())
        );
    }

    let (session, secret) = new_session(alice.id);
    store.insert_session(&session).await.unwrap();
    let later = now() + Duration::seconds(10);
    let change = UserChange {
        username: Some(Username::parse("alicia").unwrap()),
        email: Some(EmailAddress::parse("alicia@example.com").unwrap()),
        email_verified: Some(true),
        status: None,
        profile: named("Alicia"),
        email_visible: None,
    };
    let updated = store
        .update_user(alice.id, &change, later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.username.as_str(), "alicia");
    assert_eq!(updated.email.as_str(), "alicia@example.com");
    assert!(updated.email_verified);
    assert_eq!(updated.status, UserStatus::Active);
    assert_eq!(updated.profile.name.as_deref(), Some("Alicia"));
    assert_eq!(updated.updated_at, later);
    assert_eq!(updated.number, before.number);
    assert_eq!(
        store.user_by_id(alice.id).await.unwrap(),
        Some(updated.clone())
    );
    let (found, _) = store.login_lookup("alicia").await.unwrap().unwrap();
    assert_eq!(found.id, alice.id);
    assert!(store.login_lookup("alice").await.unwrap().is_none());
    assert!(store
        .credential_by_hash(&secret.hash())
        .await
        .unwrap()
        .is_some());

    // An empty change keeps everything but the time.
    let same = store
        .update_user(alice.id, &UserChange::default(), later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(same, updated);

    // The address's visibility: on for every user until changed, kept by other changes.
    assert!(updated.email_visible);
    let hidden = store
        .update_user(
            alice.id,
            &UserChange {
                email_visible: Some(false),
                ..UserChange::default()
            },
            later,
        )
        .await
        .unwrap()
        .unwrap();
    assert!(!hidden.email_visible);
    assert_eq!(
        store.user_by_id(alice.id).await.unwrap(),
        Some(hidden.clone())
    );
    let renamed = store
        .update_user(
            alice.id,
            &UserChange {
                profile: named("Alicia L."),
                ..UserChange::default()
            },
            later,
        )
        .await
        .unwrap()
        .unwrap();
    assert!(!renamed.email_visible, "other changes keep it");
    let shown = store
        .update_user(
            alice.id,
            &UserChange {
                email_visible: Some(true),
                profile: named("Alicia"),
                ..UserChange::default()
            },
            later,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(shown, updated);
    assert!(
        store
            .user_by_id(bob.id)
            .await
            .unwrap()
            .unwrap()
            .email_visible
    );

    // Disabling ends every session, and only the user's own.
    let (bobs_session, bobs_secret) = new_session(bob.id);
    store.insert_session(&bobs_session).await.unwrap();
    let disabled = store
        .update_user(
            alice.id,
            &UserChange {
                status: Some(UserStatus::Disabled),
                ..UserChange::default()
            },
            later,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(disabled.status, UserStatus::Disabled);
    assert!(store
        .credential_by_hash(&secret.hash())
        .await
        .unwrap()
        .is_none());
    assert!(store
        .list_sessions(alice.id, now())
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .credential_by_hash(&bobs_secret.hash())
        .await
        .unwrap()
        .is_some());

    assert!(store
        .update_user(UserId::new(), &change, later)
        .await
        .unwrap()
        .is_none());
}

pub async fn deleting_a_user_removes_what_they_own(store: Arc<dyn Store>) {
    let team = org(1, "team");
    store.insert_org(&team, None).await.unwrap();
    let mut records = Vec::new();
    for name in ["gone", "kept"] {
        let mut record = new_user(name);
        record.roles.push(RoleId::ADMIN);
        record.memberships.push((team.id, OrgRole::Member));
        store.insert_user(&record).await.unwrap();
        records.push(record);
    }
    struct Owned {
        token: crate::token::ApiToken,
        token_secret: crate::token::TokenSecret,
        session: crate::store::SessionRecord,
        session_secret: crate::token::TokenSecret,
        file: FileRecord,
    }
    let mut owned = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let (token, token_secret) = new_token(record.id);
        store
            .insert_token(&token, &token_secret.hash(), 10)
            .await
            .unwrap();
        let (session, session_secret) = new_session(record.id);
        store.insert_session(&session).await.unwrap();
        let code = code_for(
            record.id,
            CodePurpose::ResetPassword,
            &format!("33333{i}"),
            &format!("link-{i}"),
        );
        store
            .issue_code(&code, &mail_to(record.email.as_str()))
            .await
            .unwrap();
        let file = FileRecord {
            id: FileId::new(),
            owner_id: record.id,
            purpose: "avatar".into(),
            content_type: "image/png".into(),
            size: 7,
            name: "avatar.png".into(),
            link: None,
            metadata: None,
            tag_set: None,
            created_at: now(),
        };
        store
            .replace_avatar(
                &file,
                &ProfileChange::picture(format!("http://x/{i}")),
                &crate::store::ContentLimits::UNLIMITED,
            )
            .await
            .unwrap();
        owned.push(Owned {
            token,
            token_secret,
            session,
            session_secret,
            file,
        });
    }
    let (gone, kept) = (&records[0], &records[1]);

    let deleted = store.delete_user(gone.id).await.unwrap().unwrap();
    assert_eq!(deleted.files, vec![owned[0].file.id]);
    assert_eq!(
        sorted(deleted.credentials),
        sorted(vec![owned[0].token.id.0, owned[0].session.id])
    );
    assert!(store.user_by_id(gone.id).await.unwrap().is_none());
    assert!(store.user_by_number(gone.number).await.unwrap().is_none());
    assert!(store
        .credential_by_hash(&owned[0].token_secret.hash())
        .await
        .unwrap()
        .is_none());
    assert!(store
        .credential_by_hash(&owned[0].session_secret.hash())
        .await
        .unwrap()
        .is_none());
    assert!(store
        .find_token(gone.id, &TokenLookup::Id(owned[0].token.id))
        .await
        .unwrap()
        .is_none());
    assert!(store.file(owned[0].file.id).await.unwrap().is_none());
    assert!(store.user_roles(gone.id).await.unwrap().is_empty());
    assert!(store.user_memberships(gone.id).await.unwrap().is_empty());
    assert_eq!(
        store
            .redeem_code(
                CodePurpose::ResetPassword,
                &CodeLookup::Link(hash("link-0")),
                &CodeEffect::SetPassword("h".into()),
                5,
                now(),
            )
            .await
            .unwrap(),
        Redemption::NoCode
    );

    // The other user keeps everything.
    assert!(store.user_by_id(kept.id).await.unwrap().is_some());
    assert!(store
        .credential_by_hash(&owned[1].token_secret.hash())
        .await
        .unwrap()
        .is_some());
    assert!(store
        .credential_by_hash(&owned[1].session_secret.hash())
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        store.file(owned[1].file.id).await.unwrap(),
        Some(owned[1].file.clone())
    );
    assert_eq!(
        store.user_roles(kept.id).await.unwrap(),
        vec![RoleId::ADMIN, RoleId::USER]
    );
    let members = store.org_members(team.id).await.unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].user_id, kept.id);
    assert_eq!(
        store
            .redeem_code(
                CodePurpose::ResetPassword,
                &by_code(kept.id, "333331"),
                &CodeEffect::SetPassword("h".into()),
                5,
                now(),
            )
            .await
            .unwrap(),
        Redemption::Redeemed(kept.id)
    );

    assert_eq!(store.delete_user(gone.id).await.unwrap(), None);
    assert!(store.org(team.id).await.unwrap().is_some());
}

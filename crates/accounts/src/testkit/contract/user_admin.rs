//! The Store contract for `UserStore`'s administration: the paged user list in every order and
//! filter, an administrator's changes, and deleting a user with everything they own. Each case
//! writes, then reads the effect back through other methods.
//! Ids, numbers and names are fixed, so every order a case asserts is known in advance.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Duration;

use super::{
    by_code, code_for, hash, mail_to, named, new_session, new_token, new_user, now, org, sorted,
    user_id,
};
use crate::access::{OrgRole, RoleId};
use crate::domain::{EmailAddress, ProfileChange, User, UserId, UserStatus, Username};
use crate::files::FileId;
use crate::store::{
    CodeEffect, CodeLookup, CodePurpose, FileRecord, Redemption, Store, StoreError, TokenLookup,
    Unique, UserChange, UserCursor, UserQuery,
};

/// Every case of this module, for `store_contract_tests!`; `contract::tests` fails when a
/// `pub async fn` case here is missing from the list.
#[doc(hidden)]
#[macro_export]
macro_rules! store_contract_user_admin {
    ($($how:tt)*) => {
        $crate::store_contract_cases! {
            $($how)* user_admin;
            user_lists_page_in_every_order_and_filter,
            admin_changes_apply_or_write_nothing,
            deleting_a_user_removes_what_they_own,
        }
    };
}

/// What one listed user looks like to the test's own model of the list.
#[derive(Debug, Clone)]
struct Listed {
    id: UserId,
    username: String,
    email: String,
    status: UserStatus,
    admin: bool,
    member: bool,
}

/// How the next page's cursor is taken from the last user of a page.
type Cursor = fn(&User) -> UserCursor;

/// Pages through `query` with `limit` 10 and returns every id seen, checking page sizes.
async fn all_pages(store: &dyn Store, mut query: UserQuery, cursor: Cursor) -> Vec<UserId> {
    query.limit = 10;
    let mut seen = Vec::new();
    let mut last_user = None;
    for _ in 0..10 {
        let page = store.list_users(&query).await.unwrap();
        assert!(page.len() <= 10, "page of {}", page.len());
        seen.extend(page.iter().map(|u| u.id));
        last_user = page.last().cloned().or(last_user);
        match page.last() {
            Some(last) if page.len() == 10 => query.after = Some(cursor(last)),
            _ => {
                if let Some(last) = last_user {
                    let back = pages_back(store, query, cursor, &last).await;
                    assert_eq!(back, seen[..seen.len() - 1], "walked back");
                }
                return seen;
            }
        }
    }
    panic!("list_users never ended: {query:?}");
}

/// The same listing walked back with `before` from `last`: every user before it, in order.
async fn pages_back(
    store: &dyn Store,
    mut query: UserQuery,
    cursor: Cursor,
    last: &User,
) -> Vec<UserId> {
    query.after = None;
    query.before = Some(cursor(last));
    let mut back = Vec::new();
    for _ in 0..10 {
        let page = store.list_users(&query).await.unwrap();
        assert!(page.len() <= 10, "page of {}", page.len());
        let mut ids: Vec<UserId> = page.iter().map(|u| u.id).collect();
        ids.append(&mut back);
        back = ids;
        match page.first() {
            Some(first) if page.len() == 10 => query.before = Some(cursor(first)),
            _ => return back,
        }
    }
    panic!("list_users never ended going back: {query:?}");
}

pub async fn user_lists_page_in_every_order_and_filter(store: Arc<dyn Store>) {
    let team = org(1, "team");
    store.insert_org(&team, None).await.unwrap();
    let mut model = Vec::new();
    let mut records = Vec::new();
    // 25 users whose usernames and e-mails sort in two other orders than their ids...
    for i in 0..25_u32 {
        let mut record = new_user(&format!("u{:02}", (i * 7) % 25));
        record.id = user_id(u128::from(i));
        record.number = i64::from(i) + 1;
        record.email = EmailAddress::parse(&format!("p@{:02}.example.com", (i * 11) % 25)).unwrap();
        record.status = if i % 3 == 0 {
            UserStatus::Disabled
        } else {
            UserStatus::Active
        };
        if i % 5 == 0 {
            record.roles.push(RoleId::ADMIN);
        }
        if i % 2 == 0 {
            record.memberships.push((team.id, OrgRole::Member));
        }
        records.push(record);
    }
    // ...and three outside both prefixes.
    for i in 25..28_u32 {
        let mut record = new_user(&format!("other{i}"));
        record.id = user_id(u128::from(i));
        record.number = i64::from(i) + 1;
        records.push(record);
    }
    for record in &records {
        store.insert_user(record).await.unwrap();
        model.push(Listed {
            id: record.id,
            username: record.username.as_str().to_owned(),
            email: record.email.as_str().to_owned(),
            status: record.status,
            admin: record.roles.contains(&RoleId::ADMIN),
            member: !record.memberships.is_empty(),
        });
    }

    let by_id: Cursor = |u| UserCursor::Id(u.id);
    let by_name: Cursor = |u| UserCursor::Username(u.username.as_str().to_owned());
    let by_email: Cursor = |u| UserCursor::Email(u.email.as_str().to_owned());
    let expect = |keep: &dyn Fn(&Listed) -> bool, key: fn(&Listed) -> String| {
        let mut users: Vec<&Listed> = model.iter().filter(|u| keep(u)).collect();
        users.sort_by_key(|u| key(u));
        users.iter().map(|u| u.id).collect::<Vec<_>>()
    };
    let id_key: fn(&Listed) -> String = |u| u.id.0.to_string();
    let name_key: fn(&Listed) -> String = |u| u.username.clone();
    let email_key: fn(&Listed) -> String = |u| u.email.clone();

    let cases: Vec<(UserQuery, Cursor, Vec<UserId>)> = vec![
        (UserQuery::default(), by_id, expect(&|_| true, id_key)),
        (
            UserQuery {
                status: Some(UserStatus::Disabled),
                ..UserQuery::default()
            },
            by_id,
            expect(&|u| u.status == UserStatus::Disabled, id_key),
        ),
        (
            UserQuery {
                role: Some(RoleId::ADMIN),
                ..UserQuery::default()
            },
            by_id,
            expect(&|u| u.admin, id_key),
        ),
        (
            UserQuery {
                role: Some(RoleId::USER),
                ..UserQuery::default()
            },
            by_id,
            expect(&|_| true, id_key),
        ),
        (
            UserQuery {
                org: Some(team.id),
                ..UserQuery::default()
            },
            by_id,
            expect(&|u| u.member, id_key),
        ),
        (
            UserQuery {
                status: Some(UserStatus::Active),
                role: Some(RoleId::ADMIN),
                ..UserQuery::default()
            },
            by_id,
            expect(&|u| u.admin && u.status == UserStatus::Active, id_key),
        ),
        (
            UserQuery {
                status: Some(UserStatus::Active),
                org: Some(team.id),
                ..UserQuery::default()
            },
            by_id,
            expect(&|u| u.member && u.status == UserStatus::Active, id_key),
        ),
        (
            UserQuery {
                text: Some("u".into()),
                ..UserQuery::default()
            },
            by_name,
            expect(&|u| u.username.starts_with('u'), name_key),
        ),
        (
            UserQuery {
                text: Some("u1".into()),
                ..UserQuery::default()
            },
            by_name,
            expect(&|u| u.username.starts_with("u1"), name_key),
        ),
        (
            UserQuery {
                text: Some("u".into()),
                status: Some(UserStatus::Active),
                org: Some(team.id),
                ..UserQuery::default()
            },
            by_name,
            expect(
                &|u| u.username.starts_with('u') && u.status == UserStatus::Active && u.member,
                name_key,
            ),
        ),
        (
            UserQuery {
                text: Some("p@".into()),
                ..UserQuery::default()
            },
            by_email,
            expect(&|u| u.email.starts_with("p@"), email_key),
        ),
        (
            UserQuery {
                text: Some("p@1".into()),
                ..UserQuery::default()
            },
            by_email,
            expect(&|u| u.email.starts_with("p@1"), email_key),
        ),
        (
            UserQuery {
                text: Some("p@".into()),
                role: Some(RoleId::ADMIN),
                ..UserQuery::default()
            },
            by_email,
            expect(&|u| u.email.starts_with("p@") && u.admin, email_key),
        ),
        (
            UserQuery {
                text: Some("nobody".into()),
                ..UserQuery::default()
            },
            by_name,
            Vec::new(),
        ),
    ];
    for (query, cursor, expected) in cases {
        let seen = all_pages(store.as_ref(), query.clone(), cursor).await;
        let unique: HashSet<_> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "duplicates for {query:?}");
        assert_eq!(seen, expected, "{query:?}");
    }

    // The first page holds exactly `limit` users; a cursor of the wrong kind is ignored.
    let first = store
        .list_users(&UserQuery {
            text: Some("u".into()),
            limit: 10,
            ..UserQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(first.len(), 10);
    let wrong_cursor = store
        .list_users(&UserQuery {
            text: Some("u".into()),
            after: Some(UserCursor::Id(user_id(20))),
            limit: 10,
            ..UserQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(wrong_cursor, first);
    let listed = &first[0];
    assert_eq!(
        Some(listed.clone()),
        store.user_by_id(listed.id).await.unwrap()
    );
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

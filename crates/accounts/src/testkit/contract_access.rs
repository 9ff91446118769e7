//! The Store contract for user administration, roles and organisations: each case writes,
//! then reads the effect back through other methods. Listed in `store_contract_tests!` beside
//! the cases of `contract.rs`, whose helpers it shares. Ids, numbers and names are fixed, so
//! every order a case asserts is known in advance.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Duration;
use uuid::Uuid;

use super::contract::{by_code, code_for, hash, mail_to, new_session, new_token, new_user, now};
use crate::access::{
    Action, Entity, Membership, OrgId, OrgRole, Organization, Permission, RoleId, RoleSpec, Scope,
};
use crate::domain::{
    EmailAddress, Patch, ProfileChange, ProfileUpdate, User, UserId, UserStatus, Username,
};
use crate::files::FileId;
use crate::store::{
    CodeEffect, CodeLookup, CodePurpose, FileRecord, NewUserRecord, Redemption, Store, StoreError,
    TokenLookup, Unique, UserChange, UserCursor, UserQuery,
};

/// A user whose id sorts by `n` (ids order the unfiltered list).
fn user_id(n: u128) -> UserId {
    UserId(Uuid::from_u128(
        0x0190_0000_0000_7000_8000_0000_0000_0000 + n,
    ))
}

fn org_id(n: u128) -> OrgId {
    OrgId(Uuid::from_u128(
        0x0190_0000_0000_7000_9000_0000_0000_0000 + n,
    ))
}

fn org(n: u128, name: &str) -> Organization {
    Organization {
        id: org_id(n),
        name: name.into(),
        created_at: now(),
        short_reset_codes: false,
    }
}

fn spec(name: &str, permissions: Vec<Permission>) -> RoleSpec {
    RoleSpec {
        name: name.into(),
        description: format!("{name} role"),
        permissions,
    }
}

fn named(name: &str) -> ProfileChange {
    ProfileUpdate {
        name: Patch::Set(name.into()),
        ..ProfileUpdate::default()
    }
    .validate()
    .unwrap()
}

fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort();
    items
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

pub async fn roles_change_but_builtins_never(store: Arc<dyn Store>) {
    let builtins = store.list_roles().await.unwrap();
    assert_eq!(builtins.len(), 2);
    assert_eq!(
        (
            builtins[0].id,
            builtins[0].name.as_str(),
            builtins[0].builtin
        ),
        (RoleId::ADMIN, "admin", true)
    );
    assert_eq!(
        (
            builtins[1].id,
            builtins[1].name.as_str(),
            builtins[1].builtin
        ),
        (RoleId::USER, "user", true)
    );

    let permissions = vec![
        Permission::new(Entity::User, Action::Read, Scope::All),
        Permission {
            entity: Some(Entity::Token),
            action: None,
            scope: Scope::Users(vec![3, 4]),
        },
        Permission {
            entity: None,
            action: Some(Action::Read),
            scope: Scope::Own,
        },
    ];
    let support = store
        .insert_role(&spec("support", permissions.clone()))
        .await
        .unwrap();
    assert!(support.id > RoleId::USER);
    assert!(!support.builtin);
    assert_eq!(support.permissions, permissions);
    assert_eq!(support.description, "support role");
    let listed = store.list_roles().await.unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[2], support);

    for name in ["support", "admin"] {
        let err = store.insert_role(&spec(name, vec![])).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict(Unique::RoleName)),
            "{err:?}"
        );
    }
    assert_eq!(store.list_roles().await.unwrap().len(), 3);

    let helpdesk = store
        .update_role(support.id, &spec("helpdesk", vec![]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(helpdesk.id, support.id);
    assert_eq!(helpdesk.name, "helpdesk");
    assert!(helpdesk.permissions.is_empty());
    assert_eq!(store.list_roles().await.unwrap()[2], helpdesk);
    let err = store
        .update_role(support.id, &spec("user", permissions.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Unique::RoleName)),
        "{err:?}"
    );
    assert_eq!(store.list_roles().await.unwrap()[2], helpdesk);

    // Built-in and unknown roles are neither changed nor deleted.
    for id in [RoleId::ADMIN, RoleId::USER, RoleId(999)] {
        assert!(store
            .update_role(id, &spec("renamed", vec![]))
            .await
            .unwrap()
            .is_none());
        assert!(!store.delete_role(id).await.unwrap());
    }
    assert_eq!(&store.list_roles().await.unwrap()[..2], &builtins[..]);

    // Deleting a role removes its grants, and its id is never given again.
    let user = new_user("uma");
    store.insert_user(&user).await.unwrap();
    assert!(store
        .set_user_roles(user.id, &[RoleId::USER, helpdesk.id])
        .await
        .unwrap());
    assert!(store.delete_role(helpdesk.id).await.unwrap());
    assert!(!store.delete_role(helpdesk.id).await.unwrap());
    assert_eq!(store.user_roles(user.id).await.unwrap(), vec![RoleId::USER]);
    assert_eq!(store.list_roles().await.unwrap(), builtins);
    let next = store.insert_role(&spec("auditor", vec![])).await.unwrap();
    assert!(next.id > helpdesk.id, "{:?} reused", next.id);
}

pub async fn user_roles_are_replaced_and_unknown_ids_ignored(store: Arc<dyn Store>) {
    let custom = store.insert_role(&spec("editor", vec![])).await.unwrap();
    let user = new_user("vera");
    let other = new_user("walt");
    store.insert_user(&user).await.unwrap();
    store.insert_user(&other).await.unwrap();

    assert!(store
        .set_user_roles(user.id, &[custom.id, RoleId::ADMIN, RoleId(999), custom.id])
        .await
        .unwrap());
    assert_eq!(
        store.user_roles(user.id).await.unwrap(),
        vec![RoleId::ADMIN, custom.id]
    );
    assert!(store.user_by_id(user.id).await.unwrap().unwrap().is_admin);

    assert!(store.set_user_roles(user.id, &[]).await.unwrap());
    assert!(store.user_roles(user.id).await.unwrap().is_empty());
    assert!(!store.user_by_id(user.id).await.unwrap().unwrap().is_admin);

    assert_eq!(
        store.user_roles(other.id).await.unwrap(),
        vec![RoleId::USER]
    );
    assert!(!store
        .set_user_roles(UserId::new(), &[RoleId::USER])
        .await
        .unwrap());
}

pub async fn roles_of_many_users_come_in_one_call(store: Arc<dyn Store>) {
    let custom = store.insert_role(&spec("viewer", vec![])).await.unwrap();
    let a = new_user("xena");
    let b = new_user("yann");
    let c = new_user("zora");
    for u in [&a, &b, &c] {
        store.insert_user(u).await.unwrap();
    }
    store
        .set_user_roles(a.id, &[RoleId::USER, custom.id])
        .await
        .unwrap();
    store.set_user_roles(b.id, &[]).await.unwrap();
    let pairs = sorted(
        store
            .roles_of_users(&[a.id, b.id, UserId::new()])
            .await
            .unwrap(),
    );
    let mut expected = vec![(a.id, RoleId::USER), (a.id, custom.id)];
    expected.sort();
    assert_eq!(
        pairs, expected,
        "c is not asked for, b has none, unknown ids give nothing"
    );
    assert!(store.roles_of_users(&[]).await.unwrap().is_empty());
}

pub async fn organisations_and_memberships_round_trip(store: Arc<dyn Store>) {
    let owner = new_user("xavier");
    let member = new_user("yolanda");
    store.insert_user(&owner).await.unwrap();
    store.insert_user(&member).await.unwrap();
    let acme = org(1, "Acme");
    let beta = org(2, "Beta");
    store.insert_org(&acme, Some(owner.id)).await.unwrap();
    store.insert_org(&beta, None).await.unwrap();

    assert_eq!(store.org(acme.id).await.unwrap(), Some(acme.clone()));
    assert_eq!(
        store.org_members(acme.id).await.unwrap(),
        vec![Membership {
            org_id: acme.id,
            user_id: owner.id,
            role: OrgRole::Owner,
            created_at: acme.created_at,
        }]
    );
    assert!(store.org_members(beta.id).await.unwrap().is_empty());
    assert_eq!(
        store.list_orgs(None).await.unwrap(),
        vec![acme.clone(), beta.clone()]
    );
    assert_eq!(
        store.list_orgs(Some(owner.id)).await.unwrap(),
        vec![acme.clone()]
    );
    assert!(store.list_orgs(Some(member.id)).await.unwrap().is_empty());

    // An owner that does not exist fails the whole creation.
    let orphan = org(3, "Orphan");
    assert!(store
        .insert_org(&orphan, Some(UserId::new()))
        .await
        .is_err());
    assert!(store.org(orphan.id).await.unwrap().is_none());

    assert!(store.rename_org(acme.id, "Acme Ltd").await.unwrap());
    assert_eq!(store.org(acme.id).await.unwrap().unwrap().name, "Acme Ltd");
    assert!(!store.rename_org(org_id(9), "Nobody").await.unwrap());

    // Upsert: the role changes, the joining date stays.
    let joined = now() - Duration::days(1);
    assert!(store
        .set_membership(acme.id, member.id, OrgRole::Member, joined)
        .await
        .unwrap());
    assert!(store
        .set_membership(acme.id, member.id, OrgRole::Admin, now())
        .await
        .unwrap());
    assert!(store
        .set_membership(beta.id, member.id, OrgRole::Member, joined)
        .await
        .unwrap());
    assert_eq!(
        store.user_memberships(member.id).await.unwrap(),
        vec![
            Membership {
                org_id: acme.id,
                user_id: member.id,
                role: OrgRole::Admin,
                created_at: joined,
            },
            Membership {
                org_id: beta.id,
                user_id: member.id,
                role: OrgRole::Member,
                created_at: joined,
            },
        ]
    );
    let members = store.org_members(acme.id).await.unwrap();
    let mut expected = vec![owner.id, member.id];
    expected.sort();
    assert_eq!(
        members.iter().map(|m| m.user_id).collect::<Vec<_>>(),
        expected
    );
    assert!(!store
        .set_membership(org_id(9), member.id, OrgRole::Member, now())
        .await
        .unwrap());
    assert!(!store
        .set_membership(acme.id, UserId::new(), OrgRole::Member, now())
        .await
        .unwrap());
    assert_eq!(store.org_members(acme.id).await.unwrap().len(), 2);

    assert!(store.remove_membership(beta.id, member.id).await.unwrap());
    assert!(!store.remove_membership(beta.id, member.id).await.unwrap());
    assert_eq!(
        store.list_orgs(Some(member.id)).await.unwrap(),
        vec![store.org(acme.id).await.unwrap().unwrap()]
    );

    // Deleting the organisation ends its memberships, not its members' accounts.
    assert!(store.delete_org(acme.id).await.unwrap());
    assert!(!store.delete_org(acme.id).await.unwrap());
    assert!(store.org(acme.id).await.unwrap().is_none());
    assert!(store.user_memberships(owner.id).await.unwrap().is_empty());
    assert!(store.user_memberships(member.id).await.unwrap().is_empty());
    assert!(store.user_by_id(owner.id).await.unwrap().is_some());
    assert!(store.user_by_id(member.id).await.unwrap().is_some());
    assert_eq!(store.list_orgs(None).await.unwrap(), vec![beta]);
}

pub async fn organisations_keep_their_reset_code_choice(store: Arc<dyn Store>) {
    let acme = org(1, "Acme");
    store.insert_org(&acme, None).await.unwrap();
    assert!(!store.org(acme.id).await.unwrap().unwrap().short_reset_codes);
    assert!(store
        .set_org_short_reset_codes(acme.id, true)
        .await
        .unwrap());
    assert!(store.org(acme.id).await.unwrap().unwrap().short_reset_codes);
    assert!(store.list_orgs(None).await.unwrap()[0].short_reset_codes);
    assert!(store
        .set_org_short_reset_codes(acme.id, false)
        .await
        .unwrap());
    assert!(!store.org(acme.id).await.unwrap().unwrap().short_reset_codes);
    assert!(!store
        .set_org_short_reset_codes(org_id(9), true)
        .await
        .unwrap());
}

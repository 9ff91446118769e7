//! The Store contract for `UserStore::list_users`: the administrators' user list, paged both
//! ways in every order and under every filter. Ids, numbers and names are fixed, so every
//! order a case asserts is known in advance.

use std::collections::HashSet;
use std::sync::Arc;

use super::{new_user, org, user_id};
use crate::access::{OrgRole, RoleId};
use crate::domain::{EmailAddress, User, UserId, UserStatus};
use crate::store::{Store, UserCursor, UserQuery};

/// Every case of this module, for `store_contract_tests!`; `contract::tests` fails when a
/// `pub async fn` case here is missing from the list.
#[doc(hidden)]
#[macro_export]
macro_rules! store_contract_user_list {
    ($($how:tt)*) => {
        $crate::store_contract_cases! {
            $($how)* user_list;
            user_lists_page_in_every_order_and_filter,
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

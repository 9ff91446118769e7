//! The SQL of `UserStore::list_users`, the administrators' paged user list (`users.rs` calls
//! it).
//!
//! `list_users` must stay fast with a million users and no planner statistics, so this
//! module picks the index that drives each page itself ([`Driver`], from bounded counts of
//! each filter's users): the sort key's own index when the filters are common, the smallest
//! filter's index when one is rare. The other filters are checked per row, written `+column`
//! or `EXISTS` so the planner cannot trade the chosen index for another. The tests below pin
//! each plan with EXPLAIN QUERY PLAN.

use accounts::store::{StoreError, UserCursor, UserQuery};
use accounts::User;
use sqlx::{Row, SqliteConnection};

use crate::users::{user_from_row, USER_COLUMNS};
use crate::{backend, map_err};

/// A value bound to a `?` placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Arg {
    Text(String),
    Int(i64),
}

/// Filters' users are counted up to this many; a filter with more never drives a text-ordered
/// page (its users would all be read and sorted).
const COUNT_CAP: i64 = 10_000;

/// Which index walks the users of a `list_users` page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Driver {
    /// The sort key's index: the primary key, `users_username_key` or `users_email_key`.
    Order,
    /// `users_status_idx` (status, id).
    Status,
    /// `user_roles_role_idx` (role_id, user_id).
    Role,
    /// The primary key of `org_members` (org_id, user_id).
    Org,
}

/// The filters a query has, with the SQL that counts each one's users up to [`COUNT_CAP`]. Ties go
/// to the earlier filter: an organisation before a status before a role (the `user` role holds
/// everyone).
fn filter_counts(query: &UserQuery) -> Vec<(Driver, String, Arg)> {
    let mut filters = Vec::new();
    if let Some(org) = query.org {
        filters.push((
            Driver::Org,
            format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM org_members WHERE org_id = ? LIMIT {COUNT_CAP})"
            ),
            Arg::Text(org.to_string()),
        ));
    }
    if let Some(status) = query.status {
        filters.push((
            Driver::Status,
            format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM users WHERE status = ? LIMIT {COUNT_CAP})"
            ),
            Arg::Text(status.as_str().to_owned()),
        ));
    }
    if let Some(role) = query.role {
        filters.push((
            Driver::Role,
            format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM user_roles WHERE role_id = ? LIMIT {COUNT_CAP})"
            ),
            Arg::Int(role.0),
        ));
    }
    filters
}

/// Picks the driver. Id order: every filter's index is already in id order, so the smallest
/// filter drives. Text order: the smallest filter (`f` users) drives when reading all of them
/// and sorting costs less than walking the text index until a page of `limit` matches is
/// found, about `limit * total / f` users: when `f * f < limit * total`. `total` is estimated
/// by the largest rowid, which costs one index step.
async fn choose_driver(
    conn: &mut SqliteConnection,
    query: &UserQuery,
) -> Result<Driver, StoreError> {
    let filters = filter_counts(query);
    let by_id = query.text.is_none();
    match filters.as_slice() {
        [] => return Ok(Driver::Order),
        [(only, _, _)] if by_id => return Ok(*only),
        _ => {}
    }
    let sql = format!(
        "SELECT {}, (SELECT COALESCE(MAX(rowid), 0) FROM users)",
        filters
            .iter()
            .map(|(_, count, _)| format!("({count})"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut q = sqlx::query(&sql);
    for (_, _, arg) in &filters {
        q = match arg {
            Arg::Text(t) => q.bind(t.clone()),
            Arg::Int(i) => q.bind(*i),
        };
    }
    let row = q.fetch_one(&mut *conn).await.map_err(map_err)?;
    let mut best: Option<(Driver, i64)> = None;
    for (i, (driver, _, _)) in filters.iter().enumerate() {
        let count: i64 = row.try_get(i).map_err(backend)?;
        if best.is_none_or(|(_, smallest)| count < smallest) {
            best = Some((*driver, count));
        }
    }
    let total: i64 = row.try_get(filters.len()).map_err(backend)?;
    let limit = i64::from(query.limit.max(1));
    Ok(match best {
        Some((driver, _)) if by_id => driver,
        Some((driver, f)) if f < COUNT_CAP && f * f < limit.saturating_mul(total) => driver,
        _ => Driver::Order,
    })
}

/// The SELECT for one page of `query` walked by `driver`, and its arguments in placeholder
/// order.
pub(crate) fn list_users_sql(query: &UserQuery, driver: Driver) -> (String, Vec<Arg>) {
    let mut clauses: Vec<String> = Vec::new();
    let mut args = Vec::new();
    let from = match driver {
        Driver::Role => "user_roles g CROSS JOIN users u ON u.id = g.user_id",
        Driver::Org => "org_members m CROSS JOIN users u ON u.id = m.user_id",
        Driver::Order | Driver::Status => "users u",
    };
    // The driving filter is an index range; the others are checked per row.
    if let Some(status) = query.status {
        clauses.push(if driver == Driver::Status {
            "u.status = ?".to_owned()
        } else {
            "+u.status = ?".to_owned()
        });
        args.push(Arg::Text(status.as_str().to_owned()));
    }
    if let Some(role) = query.role {
        clauses.push(if driver == Driver::Role {
            "g.role_id = ?".to_owned()
        } else {
            "EXISTS (SELECT 1 FROM user_roles fr WHERE fr.user_id = u.id AND fr.role_id = ?)"
                .to_owned()
        });
        args.push(Arg::Int(role.0));
    }
    if let Some(org) = query.org {
        clauses.push(if driver == Driver::Org {
            "m.org_id = ?".to_owned()
        } else {
            "EXISTS (SELECT 1 FROM org_members fm WHERE fm.org_id = ? AND fm.user_id = u.id)"
                .to_owned()
        });
        args.push(Arg::Text(org.to_string()));
    }

    // Going back: the users just before `before`, read downwards (`list_users` turns them).
    let backward = is_backward(query);
    let order = match query.text.as_deref() {
        None => {
            let order = match driver {
                Driver::Role => "g.user_id",
                Driver::Org => "m.user_id",
                Driver::Order | Driver::Status => "u.id",
            };
            if let Some(UserCursor::Id(after)) = &query.after {
                clauses.push(format!("{order} > ?"));
                args.push(Arg::Text(after.to_string()));
            }
            if let (Some(UserCursor::Id(before)), true) = (&query.before, backward) {
                clauses.push(format!("{order} < ?"));
                args.push(Arg::Text(before.to_string()));
            }
            order.to_owned()
        }
        Some(text) => {
            let email = text.contains('@');
            let column = if email { "u.email" } else { "u.username" };
            let after = match &query.after {
                Some(UserCursor::Email(after)) if email => Some(after),
                Some(UserCursor::Username(after)) if !email => Some(after),
                _ => None,
            };
            // The prefix is a range of the unique index (when it drives). A cursor past the
            // prefix's start replaces the lower bound, so a deep page starts where it should.
            let range = if driver == Driver::Order {
                column.to_owned()
            } else {
                format!("+{column}")
            };
            match after {
                Some(after) if after.as_str() >= text => {
                    clauses.push(format!("{range} > ?"));
                    args.push(Arg::Text(after.clone()));
                }
                _ => {
                    clauses.push(format!("{range} >= ?"));
                    args.push(Arg::Text(text.to_owned()));
                }
            }
            clauses.push(format!("{range} < ?"));
            args.push(Arg::Text(format!("{text}\u{10FFFF}")));
            let before = match &query.before {
                Some(UserCursor::Email(before)) if email && backward => Some(before),
                Some(UserCursor::Username(before)) if !email && backward => Some(before),
                _ => None,
            };
            if let Some(before) = before {
                clauses.push(format!("{range} < ?"));
                args.push(Arg::Text(before.clone()));
            }
            column.to_owned()
        }
    };
    let order = if backward {
        format!("{order} DESC")
    } else {
        order
    };
    let clause = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    args.push(Arg::Int(i64::from(query.limit)));
    let sql = format!("SELECT {USER_COLUMNS} FROM {from}{clause} ORDER BY {order} LIMIT ?");
    (sql, args)
}

/// Picks the driver, then reads the page. The two reads need not agree: the choice only
/// decides how fast the page is read, never what it holds.
pub(crate) async fn list_users(
    conn: &mut SqliteConnection,
    query: &UserQuery,
) -> Result<Vec<User>, StoreError> {
    let driver = choose_driver(conn, query).await?;
    let (sql, args) = list_users_sql(query, driver);
    let mut q = sqlx::query(&sql);
    for arg in args {
        q = match arg {
            Arg::Text(t) => q.bind(t),
            Arg::Int(i) => q.bind(i),
        };
    }
    let rows = q.fetch_all(&mut *conn).await.map_err(map_err)?;
    let mut users = rows
        .iter()
        .map(user_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    if is_backward(query) {
        users.reverse();
    }
    Ok(users)
}

/// A page before a cursor: `before` without `after` (see `UserQuery`).
fn is_backward(query: &UserQuery) -> bool {
    query.after.is_none() && query.before.is_some()
}

#[cfg(test)]
mod query_plans {
    use accounts::access::{OrgId, RoleId};
    use accounts::store::{UserCursor, UserQuery};
    use accounts::{UserId, UserStatus};

    use super::{choose_driver, list_users_sql, Arg, Driver};
    use crate::SqliteStore;

    /// EXPLAIN QUERY PLAN of one `list_users` query, its lines joined.
    async fn plan(store: &SqliteStore, query: &UserQuery, driver: Driver) -> String {
        let (sql, args) = list_users_sql(query, driver);
        let sql = format!("EXPLAIN QUERY PLAN {sql}");
        let mut q = sqlx::query_as::<_, (i64, i64, i64, String)>(&sql);
        for arg in args {
            q = match arg {
                Arg::Text(t) => q.bind(t),
                Arg::Int(i) => q.bind(i),
            };
        }
        let rows = q.fetch_all(&store.pool).await.unwrap();
        rows.into_iter()
            .map(|(_, _, _, detail)| detail)
            .collect::<Vec<_>>()
            .join(" | ")
    }

    fn all_filters() -> UserQuery {
        UserQuery {
            status: Some(UserStatus::Disabled),
            role: Some(RoleId::ADMIN),
            org: Some(OrgId::new()),
            after: Some(UserCursor::Id(UserId::new())),
            limit: 10,
            ..UserQuery::default()
        }
    }

    /// Each driver walks its own index in the page's order (no sort) by id, and is the only
    /// index range in the query; by text, a filter's index is read whole (it is small) and
    /// sorted.
    #[tokio::test]
    async fn each_driver_walks_its_own_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_in(dir.path()).await.unwrap();
        let after = Some(UserCursor::Id(UserId::new()));
        let by_text = |text: &str| UserQuery {
            text: Some(text.into()),
            ..all_filters()
        };
        let cases = [
            (
                UserQuery::default(),
                Driver::Order,
                "SCAN u USING INDEX sqlite_autoindex_users_1",
            ),
            (
                UserQuery {
                    after: after.clone(),
                    ..UserQuery::default()
                },
                Driver::Order,
                "SEARCH u USING INDEX sqlite_autoindex_users_1 (id>?)",
            ),
            (
                all_filters(),
                Driver::Status,
                "SEARCH u USING INDEX users_status_idx (status=? AND id>?)",
            ),
            (
                all_filters(),
                Driver::Role,
                "SEARCH g USING COVERING INDEX user_roles_role_idx (role_id=? AND user_id>?) \
                 | SEARCH u USING INDEX sqlite_autoindex_users_1 (id=?)",
            ),
            (
                all_filters(),
                Driver::Org,
                "SEARCH m USING COVERING INDEX sqlite_autoindex_org_members_1 \
                 (org_id=? AND user_id>?) | SEARCH u USING INDEX sqlite_autoindex_users_1 (id=?)",
            ),
            (
                UserQuery {
                    text: Some("al".into()),
                    after: Some(UserCursor::Username("alice".into())),
                    ..UserQuery::default()
                },
                Driver::Order,
                "SEARCH u USING INDEX users_username_key (username>? AND username<?)",
            ),
            (
                by_text("al@"),
                Driver::Order,
                "SEARCH u USING INDEX users_email_key (email>? AND email<?)",
            ),
            (
                by_text("al"),
                Driver::Status,
                "SEARCH u USING INDEX users_status_idx (status=?)",
            ),
            (
                by_text("al"),
                Driver::Role,
                "SEARCH g USING COVERING INDEX user_roles_role_idx (role_id=?) \
                 | SEARCH u USING INDEX sqlite_autoindex_users_1 (id=?)",
            ),
            (
                by_text("al@"),
                Driver::Org,
                "SEARCH m USING COVERING INDEX sqlite_autoindex_org_members_1 (org_id=?) \
                 | SEARCH u USING INDEX sqlite_autoindex_users_1 (id=?)",
            ),
        ];
        for (query, driver, walk) in cases {
            let plan = plan(&store, &query, driver).await;
            let sorted = query.text.is_some() && driver != Driver::Order;
            assert!(plan.starts_with(walk), "{driver:?} {query:?}:\n{plan}");
            assert_eq!(
                plan.contains("USE TEMP B-TREE FOR ORDER BY"),
                sorted,
                "{driver:?} {query:?}:\n{plan}"
            );
        }
    }

    /// The smallest filter drives an id-ordered list; a text-ordered one only when its users
    /// are few next to `limit * total`.
    #[tokio::test]
    async fn the_smallest_filter_drives() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_in(dir.path()).await.unwrap();
        // 1001 active users with the `user` role, 3 of them admins, 1 disabled.
        sqlx::query(
            "INSERT INTO users (id, username, email, status, number, created_at, updated_at) \
             WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i <= 1000) \
             SELECT printf('%08x-0000-7000-8000-000000000000', i), printf('u%05d', i), \
               printf('u%05d@example.com', i), CASE i WHEN 5 THEN 'disabled' ELSE 'active' END, \
               i, 0, 0 FROM c",
        )
        .execute(&store.pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO user_roles (user_id, role_id) SELECT id, 2 FROM users UNION ALL \
             SELECT id, 1 FROM users WHERE number <= 3",
        )
        .execute(&store.pool)
        .await
        .unwrap();
        let driver = |query: UserQuery| {
            let pool = store.pool.clone();
            async move {
                let mut conn = pool.acquire().await.unwrap();
                choose_driver(&mut conn, &query).await.unwrap()
            }
        };
        let role = |id| UserQuery {
            role: Some(id),
            limit: 10,
            ..UserQuery::default()
        };
        let text = |query: UserQuery| UserQuery {
            text: Some("u".into()),
            ..query
        };
        let status = |status, query: UserQuery| UserQuery {
            status: Some(status),
            ..query
        };
        assert_eq!(driver(UserQuery::default()).await, Driver::Order);
        assert_eq!(driver(role(RoleId::USER)).await, Driver::Role);
        assert_eq!(driver(text(role(RoleId::USER))).await, Driver::Order);
        assert_eq!(driver(text(role(RoleId::ADMIN))).await, Driver::Role);
        let busy = status(UserStatus::Active, role(RoleId::ADMIN));
        assert_eq!(driver(busy.clone()).await, Driver::Role);
        assert_eq!(driver(text(busy)).await, Driver::Role);
        let rare = status(UserStatus::Disabled, role(RoleId::USER));
        assert_eq!(driver(rare.clone()).await, Driver::Status);
        assert_eq!(driver(text(rare)).await, Driver::Status);
        let both_big = status(UserStatus::Active, role(RoleId::USER));
        assert_eq!(driver(both_big.clone()).await, Driver::Status);
        assert_eq!(driver(text(both_big)).await, Driver::Order);
        let empty_org = UserQuery {
            org: Some(OrgId::new()),
            ..role(RoleId::ADMIN)
        };
        assert_eq!(driver(text(empty_org)).await, Driver::Org);
    }
}

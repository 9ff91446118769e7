//! The SQL of `UserStore::list_users`, the administrators' paged user list (`users.rs` calls
//! it).
//!
//! `username` and `email` are collated "C" (migration `0003_access`): byte order, as SQLite
//! compares them, so a prefix search is one range of the column's unique index and pages
//! come in the same order from both backends.

use accounts::store::{UserCursor, UserQuery};
use sqlx::{Postgres, QueryBuilder};

use crate::users::USER_COLUMNS;

/// What a page of `list_users` is ordered by, which the text filter decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Id,
    Username,
    Email,
}

/// The query for one page of users, with its values bound; `None` when nothing can match.
///
/// Which index drives the scan: with no text, the table whose index yields user ids in order
/// for the most selective filter: `org_members` (its primary key, `org_id, user_id`) when an
/// organisation is asked for, `user_roles_role_idx` when a role is the only filter,
/// `users_status_idx` for a status alone, else the primary key. With text, the unique index
/// of `username` or `email`, from the prefix on. The other filters are checked per row, and
/// the cursor is a bound on the driving index, so every page costs the same.
pub(crate) fn list_query(query: &UserQuery) -> Option<QueryBuilder<'static, Postgres>> {
    let (order, prefix) = match query.text.as_deref() {
        None => (Order::Id, None),
        Some(text) if text.contains('@') => (Order::Email, Some(text)),
        Some(text) => (Order::Username, Some(text)),
    };
    if prefix.is_some_and(|p| p.contains('\0')) {
        // PostgreSQL text cannot hold NUL, so no stored name starts with one.
        return None;
    }
    let mut sql = QueryBuilder::new(format!("SELECT {USER_COLUMNS} FROM "));
    // The column the page is ordered by and the cursor bounds: the driving index's.
    let mut sort_column = match order {
        Order::Id => "u.id",
        Order::Username => "u.username",
        Order::Email => "u.email",
    };
    let mut driven_by_org = false;
    let mut driven_by_role = false;
    match (order, query.org, query.role, query.status) {
        (Order::Id, Some(org), _, _) => {
            sql.push("org_members d JOIN users u ON u.id = d.user_id WHERE d.org_id = ")
                .push_bind(org.0);
            sort_column = "d.user_id";
            driven_by_org = true;
        }
        (Order::Id, None, Some(role), None) => {
            sql.push("user_roles d JOIN users u ON u.id = d.user_id WHERE d.role_id = ")
                .push_bind(role.0);
            sort_column = "d.user_id";
            driven_by_role = true;
        }
        _ => {
            sql.push("users u WHERE TRUE");
        }
    }
    if let Some(status) = query.status {
        sql.push(" AND u.status = ").push_bind(status.as_str());
    }
    if let (Some(role), false) = (query.role, driven_by_role) {
        sql.push(" AND EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = u.id AND r.role_id = ")
            .push_bind(role.0)
            .push(")");
    }
    if let (Some(org), false) = (query.org, driven_by_org) {
        sql.push(" AND EXISTS (SELECT 1 FROM org_members m WHERE m.org_id = ")
            .push_bind(org.0)
            .push(" AND m.user_id = u.id)");
    }
    if let Some(prefix) = prefix {
        sql.push(format!(" AND {sort_column} >= "))
            .push_bind(prefix.to_owned());
        if let Some(end) = prefix_end(prefix) {
            sql.push(format!(" AND {sort_column} < ")).push_bind(end);
        }
    }
    // A cursor of another kind than the order is ignored, as the port says.
    match (order, &query.after) {
        (Order::Id, Some(UserCursor::Id(after))) => {
            sql.push(format!(" AND {sort_column} > "))
                .push_bind(after.0);
        }
        (Order::Username, Some(UserCursor::Username(after)))
        | (Order::Email, Some(UserCursor::Email(after))) => {
            sql.push(format!(" AND {sort_column} > "))
                .push_bind(after.clone());
        }
        _ => {}
    }
    // Going back: the users just before `before`, read downwards (the store turns them).
    let backward = query.after.is_none() && query.before.is_some();
    match (order, &query.before) {
        (Order::Id, Some(UserCursor::Id(before))) if backward => {
            sql.push(format!(" AND {sort_column} < "))
                .push_bind(before.0);
        }
        (Order::Username, Some(UserCursor::Username(before)))
        | (Order::Email, Some(UserCursor::Email(before)))
            if backward =>
        {
            sql.push(format!(" AND {sort_column} < "))
                .push_bind(before.clone());
        }
        _ => {}
    }
    let direction = if backward { " DESC" } else { "" };
    sql.push(format!(" ORDER BY {sort_column}{direction} LIMIT "))
        .push_bind(i64::from(query.limit));
    Some(sql)
}

/// The least string above every string that starts with `prefix`, in code point order (which
/// is UTF-8 byte order, the "C" collation's): `prefix` with its last character incremented.
/// `None` when no string is above them all (a prefix of only U+10FFFF characters).
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // `from_u32` skips the surrogates, which are not characters.
        if let Some(next) = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_ends_at_its_last_character_incremented() {
        assert_eq!(prefix_end("ali").as_deref(), Some("alj"));
        assert_eq!(prefix_end("a@").as_deref(), Some("aA"));
        assert_eq!(prefix_end("z\u{D7FF}").as_deref(), Some("z\u{E000}"));
        assert_eq!(prefix_end("b\u{10FFFF}").as_deref(), Some("c"));
        assert_eq!(prefix_end("\u{10FFFF}"), None);
        assert_eq!(prefix_end(""), None);
    }

    #[test]
    fn the_bounds_hold_every_string_with_the_prefix_and_no_other() {
        let prefix = "bo";
        let end = prefix_end(prefix).unwrap();
        for name in ["bo", "bob", "bo.b", "bo\u{10FFFF}x", "boé"] {
            assert!(name >= prefix && name < end.as_str(), "{name}");
        }
        for name in ["b", "bn", "bp", "b.o", "c", "bOb"] {
            assert!(!(name >= prefix && name < end.as_str()), "{name}");
        }
    }
}

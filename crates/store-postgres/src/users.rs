//! The SQL of user administration: listing and searching users page by page, an
//! administrator's changes, deleting a user with everything they own, and the export. Free
//! functions over a connection, like `lifecycle.rs`, so `lib.rs` decides the transactions.
//!
//! `username` and `email` are collated "C" (migration `0003_access`): byte order, as SQLite
//! compares them, so a prefix search is one range of the column's unique index and pages
//! come in the same order from both backends.

use accounts::access::RoleId;
use accounts::domain::Profile;
use accounts::files::FileId;
use accounts::store::{DeletedUser, StoreError, UserChange, UserCursor, UserExport, UserQuery};
use accounts::{User, UserId, UserStatus};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use uuid::Uuid;

use crate::{backend, map_err, stored, user_from_row, USER_COLUMNS};

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

/// Applies an administrator's change under the user's row lock; `None` when there is no
/// such user. Disabling ends every session in the same transaction.
pub(crate) async fn update(
    conn: &mut PgConnection,
    id: UserId,
    change: &UserChange,
    now: DateTime<Utc>,
) -> Result<Option<User>, StoreError> {
    let Some(current): Option<String> =
        sqlx::query_scalar("SELECT profile::text FROM users WHERE id = $1 FOR NO KEY UPDATE")
            .bind(id.0)
            .fetch_optional(&mut *conn)
            .await
            .map_err(map_err)?
    else {
        return Ok(None);
    };
    let profile = if change.profile.is_empty() {
        None
    } else {
        let current: Profile = serde_json::from_str(&current).map_err(backend)?;
        Some(serde_json::to_string(&change.profile.apply(&current)).map_err(backend)?)
    };
    let sql = format!(
        "UPDATE users AS u SET username = COALESCE($1, u.username), \
         email = COALESCE($2, u.email), email_verified = COALESCE($3, u.email_verified), \
         status = COALESCE($4, u.status), profile = COALESCE($5::jsonb, u.profile), \
         email_visible = COALESCE($8, u.email_visible), \
         updated_at = $6 WHERE u.id = $7 RETURNING {USER_COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(change.username.as_ref().map(|u| u.as_str().to_owned()))
        .bind(change.email.as_ref().map(|e| e.as_str().to_owned()))
        .bind(change.email_verified)
        .bind(change.status.map(UserStatus::as_str))
        .bind(profile)
        .bind(stored(now))
        .bind(id.0)
        .bind(change.email_visible)
        .fetch_one(&mut *conn)
        .await
        .map_err(map_err)?;
    if change.status == Some(UserStatus::Disabled) {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id.0)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    }
    user_from_row(&row).map(Some)
}

/// Deletes the user and everything they own; `None` when there is no such user. The row is
/// locked `FOR UPDATE` first: inserts of the user's tokens, sessions and files wait on it
/// (their foreign-key check) and then fail, so the ids returned are all that was removed.
pub(crate) async fn delete(
    conn: &mut PgConnection,
    id: UserId,
) -> Result<Option<DeletedUser>, StoreError> {
    let found = sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
        .bind(id.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?;
    if found.is_none() {
        return Ok(None);
    }
    let files = deleted_ids(
        conn,
        "DELETE FROM files WHERE owner_id = $1 RETURNING id",
        id,
    )
    .await?;
    let mut credentials = deleted_ids(
        conn,
        "DELETE FROM api_tokens WHERE user_id = $1 RETURNING id",
        id,
    )
    .await?;
    credentials.extend(
        deleted_ids(
            conn,
            "DELETE FROM sessions WHERE user_id = $1 RETURNING id",
            id,
        )
        .await?,
    );
    // Codes, roles, memberships, chunks, the TOTP secret, recovery codes and login
    // challenges go with the row (ON DELETE CASCADE).
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id.0)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(Some(DeletedUser {
        files: files.into_iter().map(FileId).collect(),
        credentials,
    }))
}

/// Runs a `DELETE ... RETURNING id` for the user; the ids in order.
async fn deleted_ids(
    conn: &mut PgConnection,
    sql: &'static str,
    user: UserId,
) -> Result<Vec<Uuid>, StoreError> {
    let mut ids: Vec<Uuid> = sqlx::query_scalar(sql)
        .bind(user.0)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
    ids.sort_unstable();
    Ok(ids)
}

/// Users in id order after `after`, with their password hashes and roles.
pub(crate) async fn export(
    conn: &mut PgConnection,
    after: Option<UserId>,
    limit: u32,
) -> Result<Vec<UserExport>, StoreError> {
    let sql = format!(
        "SELECT {USER_COLUMNS}, u.password_hash, \
           ARRAY(SELECT r.role_id FROM user_roles r WHERE r.user_id = u.id ORDER BY r.role_id) \
           AS roles \
         FROM users u WHERE ($1::uuid IS NULL OR u.id > $1) ORDER BY u.id LIMIT $2"
    );
    let rows = sqlx::query(&sql)
        .bind(after.map(|a| a.0))
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
    rows.iter()
        .map(|row| {
            let roles: Vec<i64> = row.try_get("roles").map_err(backend)?;
            Ok(UserExport {
                user: user_from_row(row)?,
                password_hash: row.try_get("password_hash").map_err(backend)?,
                roles: roles.into_iter().map(RoleId).collect(),
            })
        })
        .collect()
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

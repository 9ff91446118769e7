//! `AccessStore` on PostgreSQL: custom roles (their permissions one JSONB array), users'
//! instance roles, organisations and their members. The SQL is free functions over a
//! connection, so the impl at the end decides the transactions. Built-in roles (`builtin`)
//! are never changed here; what they allow is the core's.

use std::str::FromStr;

use accounts::access::{
    Membership, OrgId, OrgRole, Organization, Permission, Role, RoleId, RoleSpec,
};
use accounts::store::{AccessStore, StoreError};
use accounts::UserId;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::{backend, map_err, stored, PostgresStore};

const ROLE_COLUMNS: &str = "id, name, description, permissions::text AS permissions, builtin";

fn role_from_row(row: &PgRow) -> Result<Role, StoreError> {
    let permissions: String = row.try_get("permissions").map_err(backend)?;
    let permissions: Vec<Permission> = serde_json::from_str(&permissions).map_err(backend)?;
    Ok(Role {
        id: RoleId(row.try_get("id").map_err(backend)?),
        name: row.try_get("name").map_err(backend)?,
        description: row.try_get("description").map_err(backend)?,
        permissions,
        builtin: row.try_get("builtin").map_err(backend)?,
    })
}

pub(crate) async fn list_roles(conn: &mut PgConnection) -> Result<Vec<Role>, StoreError> {
    let sql = format!("SELECT {ROLE_COLUMNS} FROM roles ORDER BY id");
    sqlx::query(&sql)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?
        .iter()
        .map(role_from_row)
        .collect()
}

pub(crate) async fn insert_role(
    conn: &mut PgConnection,
    spec: &RoleSpec,
    now: DateTime<Utc>,
) -> Result<Role, StoreError> {
    let sql = format!(
        "INSERT INTO roles (name, description, permissions, builtin, created_at) \
         VALUES ($1, $2, $3::jsonb, FALSE, $4) RETURNING {ROLE_COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(&spec.name)
        .bind(&spec.description)
        .bind(serde_json::to_string(&spec.permissions).map_err(backend)?)
        .bind(stored(now))
        .fetch_one(&mut *conn)
        .await
        .map_err(map_err)?;
    role_from_row(&row)
}

/// `None` when there is no such custom role.
pub(crate) async fn update_role(
    conn: &mut PgConnection,
    id: RoleId,
    spec: &RoleSpec,
) -> Result<Option<Role>, StoreError> {
    let sql = format!(
        "UPDATE roles SET name = $1, description = $2, permissions = $3::jsonb \
         WHERE id = $4 AND NOT builtin RETURNING {ROLE_COLUMNS}"
    );
    sqlx::query(&sql)
        .bind(&spec.name)
        .bind(&spec.description)
        .bind(serde_json::to_string(&spec.permissions).map_err(backend)?)
        .bind(id.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?
        .map(|row| role_from_row(&row))
        .transpose()
}

/// Deletes a custom role; its grants go with it (ON DELETE CASCADE).
pub(crate) async fn delete_role(conn: &mut PgConnection, id: RoleId) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM roles WHERE id = $1 AND NOT builtin")
        .bind(id.0)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn user_roles(
    conn: &mut PgConnection,
    user: UserId,
) -> Result<Vec<RoleId>, StoreError> {
    let ids: Vec<i64> =
        sqlx::query_scalar("SELECT role_id FROM user_roles WHERE user_id = $1 ORDER BY role_id")
            .bind(user.0)
            .fetch_all(&mut *conn)
            .await
            .map_err(map_err)?;
    Ok(ids.into_iter().map(RoleId).collect())
}

/// Replaces the user's roles with those of `roles` that exist, under the user's row lock;
/// `false` when the user does not exist.
pub(crate) async fn set_user_roles(
    conn: &mut PgConnection,
    user: UserId,
    roles: &[RoleId],
) -> Result<bool, StoreError> {
    let found = sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE")
        .bind(user.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?;
    if found.is_none() {
        return Ok(false);
    }
    sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
        .bind(user.0)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    let ids: Vec<i64> = roles.iter().map(|r| r.0).collect();
    // Unknown ids match no role and are left out; duplicates collapse.
    sqlx::query(
        "INSERT INTO user_roles (user_id, role_id) \
         SELECT $1, id FROM roles WHERE id = ANY($2::bigint[])",
    )
    .bind(user.0)
    .bind(ids)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(true)
}

// ------------------------------------------------------------------ organisations

const ORG_COLUMNS: &str = "o.id, o.name, o.created_at, o.short_reset_codes";

fn org_from_row(row: &PgRow) -> Result<Organization, StoreError> {
    Ok(Organization {
        id: OrgId(row.try_get("id").map_err(backend)?),
        name: row.try_get("name").map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
        short_reset_codes: row.try_get("short_reset_codes").map_err(backend)?,
    })
}

const MEMBER_COLUMNS: &str = "org_id, user_id, role, created_at";

fn membership_from_row(row: &PgRow) -> Result<Membership, StoreError> {
    let role: String = row.try_get("role").map_err(backend)?;
    Ok(Membership {
        org_id: OrgId(row.try_get("org_id").map_err(backend)?),
        user_id: UserId(row.try_get("user_id").map_err(backend)?),
        role: OrgRole::from_str(&role).map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
    })
}

pub(crate) async fn insert_org(
    conn: &mut PgConnection,
    org: &Organization,
    owner: Option<UserId>,
) -> Result<(), StoreError> {
    let at = stored(org.created_at);
    sqlx::query(
        "INSERT INTO organizations (id, name, created_at, short_reset_codes) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(org.id.0)
    .bind(&org.name)
    .bind(at)
    .bind(org.short_reset_codes)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    if let Some(owner) = owner {
        upsert_membership(conn, org.id, owner, OrgRole::Owner, at).await?;
    }
    Ok(())
}

/// Adds the member, or changes their role (keeping when they joined).
pub(crate) async fn upsert_membership(
    conn: &mut PgConnection,
    org: OrgId,
    user: UserId,
    role: OrgRole,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    upsert(conn, org, user, role, now).await.map_err(map_err)
}

/// `upsert_membership`, but `false` when the organisation or the user does not exist: the
/// statement's own foreign-key check decides, so a concurrent delete cannot slip in between
/// a check and the write.
pub(crate) async fn set_membership(
    conn: &mut PgConnection,
    org: OrgId,
    user: UserId,
    role: OrgRole,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    match upsert(conn, org, user, role, now).await {
        Ok(()) => Ok(true),
        Err(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => Ok(false),
        Err(e) => Err(map_err(e)),
    }
}

async fn upsert(
    conn: &mut PgConnection,
    org: OrgId,
    user: UserId,
    role: OrgRole,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO org_members (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
    )
    .bind(org.0)
    .bind(user.0)
    .bind(role.as_str())
    .bind(stored(now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(crate) async fn org(
    conn: &mut PgConnection,
    id: OrgId,
) -> Result<Option<Organization>, StoreError> {
    let sql = format!("SELECT {ORG_COLUMNS} FROM organizations o WHERE o.id = $1");
    sqlx::query(&sql)
        .bind(id.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?
        .map(|row| org_from_row(&row))
        .transpose()
}

pub(crate) async fn list_orgs(
    conn: &mut PgConnection,
    member: Option<UserId>,
) -> Result<Vec<Organization>, StoreError> {
    let rows = match member {
        None => {
            let sql = format!("SELECT {ORG_COLUMNS} FROM organizations o ORDER BY o.id");
            sqlx::query(&sql).fetch_all(&mut *conn).await
        }
        Some(user) => {
            // From the member's side: `org_members_user_idx` holds their organisations.
            let sql = format!(
                "SELECT {ORG_COLUMNS} FROM org_members m JOIN organizations o ON o.id = m.org_id \
                 WHERE m.user_id = $1 ORDER BY o.id"
            );
            sqlx::query(&sql).bind(user.0).fetch_all(&mut *conn).await
        }
    }
    .map_err(map_err)?;
    rows.iter().map(org_from_row).collect()
}

pub(crate) async fn set_org_short_reset_codes(
    conn: &mut PgConnection,
    id: OrgId,
    short: bool,
) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE organizations SET short_reset_codes = $1 WHERE id = $2")
        .bind(short)
        .bind(id.0)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn rename_org(
    conn: &mut PgConnection,
    id: OrgId,
    name: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE organizations SET name = $1 WHERE id = $2")
        .bind(name)
        .bind(id.0)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(done.rows_affected() > 0)
}

/// Deletes the organisation; its memberships go with it (ON DELETE CASCADE).
pub(crate) async fn delete_org(conn: &mut PgConnection, id: OrgId) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM organizations WHERE id = $1")
        .bind(id.0)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn remove_membership(
    conn: &mut PgConnection,
    org: OrgId,
    user: UserId,
) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM org_members WHERE org_id = $1 AND user_id = $2")
        .bind(org.0)
        .bind(user.0)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn org_members(
    conn: &mut PgConnection,
    org: OrgId,
) -> Result<Vec<Membership>, StoreError> {
    let sql =
        format!("SELECT {MEMBER_COLUMNS} FROM org_members WHERE org_id = $1 ORDER BY user_id");
    sqlx::query(&sql)
        .bind(org.0)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?
        .iter()
        .map(membership_from_row)
        .collect()
}

pub(crate) async fn user_memberships(
    conn: &mut PgConnection,
    user: UserId,
) -> Result<Vec<Membership>, StoreError> {
    let sql =
        format!("SELECT {MEMBER_COLUMNS} FROM org_members WHERE user_id = $1 ORDER BY org_id");
    sqlx::query(&sql)
        .bind(user.0)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?
        .iter()
        .map(membership_from_row)
        .collect()
}

#[async_trait]
impl AccessStore for PostgresStore {
    async fn list_roles(&self) -> Result<Vec<Role>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        list_roles(&mut conn).await
    }

    async fn insert_role(&self, spec: &RoleSpec) -> Result<Role, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        insert_role(&mut conn, spec, Utc::now()).await
    }

    async fn update_role(&self, id: RoleId, spec: &RoleSpec) -> Result<Option<Role>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        update_role(&mut conn, id, spec).await
    }

    async fn delete_role(&self, id: RoleId) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        delete_role(&mut conn, id).await
    }

    async fn user_roles(&self, user: UserId) -> Result<Vec<RoleId>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        user_roles(&mut conn, user).await
    }

    async fn roles_of_users(&self, users: &[UserId]) -> Result<Vec<(UserId, RoleId)>, StoreError> {
        let ids: Vec<Uuid> = users.iter().map(|u| u.0).collect();
        let rows: Vec<(Uuid, i64)> =
            sqlx::query_as("SELECT user_id, role_id FROM user_roles WHERE user_id = ANY($1)")
                .bind(ids)
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
        Ok(rows
            .into_iter()
            .map(|(user, role)| (UserId(user), RoleId(role)))
            .collect())
    }

    async fn set_user_roles(&self, user: UserId, roles: &[RoleId]) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let done = set_user_roles(&mut tx, user, roles).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(done)
    }

    async fn insert_org(
        &self,
        org: &Organization,
        owner: Option<UserId>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        insert_org(&mut tx, org, owner).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn org(&self, id: OrgId) -> Result<Option<Organization>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        org(&mut conn, id).await
    }

    async fn list_orgs(&self, member: Option<UserId>) -> Result<Vec<Organization>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        list_orgs(&mut conn, member).await
    }

    async fn rename_org(&self, id: OrgId, name: &str) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        rename_org(&mut conn, id, name).await
    }

    async fn set_org_short_reset_codes(&self, id: OrgId, short: bool) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        set_org_short_reset_codes(&mut conn, id, short).await
    }

    async fn delete_org(&self, id: OrgId) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        delete_org(&mut conn, id).await
    }

    async fn set_membership(
        &self,
        org: OrgId,
        user: UserId,
        role: OrgRole,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        set_membership(&mut conn, org, user, role, now).await
    }

    async fn remove_membership(&self, org: OrgId, user: UserId) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        remove_membership(&mut conn, org, user).await
    }

    async fn org_members(&self, org: OrgId) -> Result<Vec<Membership>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        org_members(&mut conn, org).await
    }

    async fn user_memberships(&self, user: UserId) -> Result<Vec<Membership>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        user_memberships(&mut conn, user).await
    }
}

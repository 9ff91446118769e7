//! `AccessStore` on SQLite: the roles table with its JSON permissions, users' grants,
//! organisations and their members. The SQL is free functions over a connection, so the impl
//! at the end decides the transaction. Which permissions a built-in role has is the core's business:
//! their rows keep an empty list and are never changed here.

use std::str::FromStr;

use accounts::access::{
    Membership, OrgId, OrgRole, Organization, Permission, Role, RoleId, RoleSpec,
};
use accounts::store::{AccessStore, StoreError};
use accounts::UserId;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use crate::{backend, map_err, millis, time, uuid, SqliteStore};

const ROLE_COLUMNS: &str = "id, name, description, permissions, builtin";

fn role_from_row(row: &SqliteRow) -> Result<Role, StoreError> {
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

fn permissions_json(spec: &RoleSpec) -> Result<String, StoreError> {
    serde_json::to_string(&spec.permissions).map_err(backend)
}

pub(crate) async fn list_roles(conn: &mut SqliteConnection) -> Result<Vec<Role>, StoreError> {
    let sql = format!("SELECT {ROLE_COLUMNS} FROM roles ORDER BY id");
    let rows = sqlx::query(&sql)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
    rows.iter().map(role_from_row).collect()
}

pub(crate) async fn insert_role(
    conn: &mut SqliteConnection,
    spec: &RoleSpec,
    now: DateTime<Utc>,
) -> Result<Role, StoreError> {
    let sql = format!(
        "INSERT INTO roles (name, description, permissions, builtin, created_at) \
         VALUES (?, ?, ?, 0, ?) RETURNING {ROLE_COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(&spec.name)
        .bind(&spec.description)
        .bind(permissions_json(spec)?)
        .bind(millis(now))
        .fetch_one(&mut *conn)
        .await
        .map_err(map_err)?;
    role_from_row(&row)
}

pub(crate) async fn update_role(
    conn: &mut SqliteConnection,
    id: RoleId,
    spec: &RoleSpec,
) -> Result<Option<Role>, StoreError> {
    let sql = format!(
        "UPDATE roles SET name = ?, description = ?, permissions = ? \
         WHERE id = ? AND builtin = 0 RETURNING {ROLE_COLUMNS}"
    );
    sqlx::query(&sql)
        .bind(&spec.name)
        .bind(&spec.description)
        .bind(permissions_json(spec)?)
        .bind(id.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?
        .map(|row| role_from_row(&row))
        .transpose()
}

/// Grants of the role go with it (`ON DELETE CASCADE`).
pub(crate) async fn delete_role(
    conn: &mut SqliteConnection,
    id: RoleId,
) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM roles WHERE id = ? AND builtin = 0")
        .bind(id.0)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn roles_of_users(
    conn: &mut SqliteConnection,
    users: &[UserId],
) -> Result<Vec<(UserId, RoleId)>, StoreError> {
    let mut pairs = Vec::new();
    // SQLite caps bound parameters; a page is at most a few hundred users anyway.
    for chunk in users.chunks(500) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let sql = format!("SELECT user_id, role_id FROM user_roles WHERE user_id IN ({marks})");
        let mut query = sqlx::query_as::<_, (String, i64)>(&sql);
        for user in chunk {
            query = query.bind(user.to_string());
        }
        for (user, role) in query.fetch_all(&mut *conn).await.map_err(map_err)? {
            pairs.push((UserId(uuid(&user)?), RoleId(role)));
        }
    }
    Ok(pairs)
}

pub(crate) async fn user_roles(
    conn: &mut SqliteConnection,
    user: UserId,
) -> Result<Vec<RoleId>, StoreError> {
    let ids: Vec<i64> =
        sqlx::query_scalar("SELECT role_id FROM user_roles WHERE user_id = ? ORDER BY role_id")
            .bind(user.to_string())
            .fetch_all(&mut *conn)
            .await
            .map_err(map_err)?;
    Ok(ids.into_iter().map(RoleId).collect())
}

/// Replaces the grants; ids with no role row are skipped rather than failing the change.
pub(crate) async fn set_user_roles(
    conn: &mut SqliteConnection,
    user: UserId,
    roles: &[RoleId],
) -> Result<bool, StoreError> {
    let user = user.to_string();
    let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = ?")
        .bind(&user)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?;
    if exists.is_none() {
        return Ok(false);
    }
    sqlx::query("DELETE FROM user_roles WHERE user_id = ?")
        .bind(&user)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    for role in roles {
        sqlx::query(
            "INSERT INTO user_roles (user_id, role_id) SELECT ?, id FROM roles WHERE id = ? \
             ON CONFLICT DO NOTHING",
        )
        .bind(&user)
        .bind(role.0)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    }
    Ok(true)
}

// ------------------------------------------------------------------ organisations

fn org_from_row(row: &SqliteRow) -> Result<Organization, StoreError> {
    let id: String = row.try_get("id").map_err(backend)?;
    Ok(Organization {
        id: OrgId(uuid(&id)?),
        name: row.try_get("name").map_err(backend)?,
        created_at: time(row.try_get("created_at").map_err(backend)?)?,
        short_reset_codes: row.try_get("short_reset_codes").map_err(backend)?,
    })
}

fn membership_from_row(row: &SqliteRow) -> Result<Membership, StoreError> {
    let org: String = row.try_get("org_id").map_err(backend)?;
    let user: String = row.try_get("user_id").map_err(backend)?;
    let role: String = row.try_get("role").map_err(backend)?;
    Ok(Membership {
        org_id: OrgId(uuid(&org)?),
        user_id: UserId(uuid(&user)?),
        role: OrgRole::from_str(&role).map_err(backend)?,
        created_at: time(row.try_get("created_at").map_err(backend)?)?,
    })
}

pub(crate) async fn insert_org(
    conn: &mut SqliteConnection,
    org: &Organization,
    owner: Option<UserId>,
) -> Result<(), StoreError> {
    let id = org.id.to_string();
    sqlx::query(
        "INSERT INTO organizations (id, name, created_at, short_reset_codes) VALUES (?, ?, ?, ?)",
    )
    .bind(&id)
    .bind(&org.name)
    .bind(millis(org.created_at))
    .bind(org.short_reset_codes)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    if let Some(owner) = owner {
        sqlx::query(
            "INSERT INTO org_members (org_id, user_id, role, created_at) VALUES (?, ?, 'owner', ?)",
        )
        .bind(&id)
        .bind(owner.to_string())
        .bind(millis(org.created_at))
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    }
    Ok(())
}

pub(crate) async fn org(
    conn: &mut SqliteConnection,
    id: OrgId,
) -> Result<Option<Organization>, StoreError> {
    sqlx::query("SELECT id, name, created_at, short_reset_codes FROM organizations WHERE id = ?")
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?
        .map(|row| org_from_row(&row))
        .transpose()
}

pub(crate) async fn list_orgs(
    conn: &mut SqliteConnection,
    member: Option<UserId>,
) -> Result<Vec<Organization>, StoreError> {
    let rows = match member {
        None => {
            sqlx::query(
                "SELECT id, name, created_at, short_reset_codes FROM organizations ORDER BY id",
            )
            .fetch_all(&mut *conn)
            .await
        }
        Some(user) => {
            sqlx::query(
                "SELECT o.id, o.name, o.created_at, o.short_reset_codes FROM org_members m \
                 JOIN organizations o ON o.id = m.org_id WHERE m.user_id = ? ORDER BY o.id",
            )
            .bind(user.to_string())
            .fetch_all(&mut *conn)
            .await
        }
    }
    .map_err(map_err)?;
    rows.iter().map(org_from_row).collect()
}

pub(crate) async fn rename_org(
    conn: &mut SqliteConnection,
    id: OrgId,
    name: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE organizations SET name = ? WHERE id = ?")
        .bind(name)
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn set_org_short_reset_codes(
    conn: &mut SqliteConnection,
    id: OrgId,
    short: bool,
) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE organizations SET short_reset_codes = ? WHERE id = ?")
        .bind(short)
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(done.rows_affected() > 0)
}

/// Memberships go with it (`ON DELETE CASCADE`); the members' accounts stay.
pub(crate) async fn delete_org(conn: &mut SqliteConnection, id: OrgId) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM organizations WHERE id = ?")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(done.rows_affected() > 0)
}

/// Inserts or changes the role; a member keeps the date they joined.
pub(crate) async fn set_membership(
    conn: &mut SqliteConnection,
    org: OrgId,
    user: UserId,
    role: OrgRole,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    // `WHERE` is required here: without it SQLite would read `ON CONFLICT` as a join clause.
    let done = sqlx::query(
        "INSERT INTO org_members (org_id, user_id, role, created_at) \
         SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM organizations WHERE id = ?1) \
           AND EXISTS (SELECT 1 FROM users WHERE id = ?2) \
         ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
    )
    .bind(org.to_string())
    .bind(user.to_string())
    .bind(role.as_str())
    .bind(millis(now))
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn remove_membership(
    conn: &mut SqliteConnection,
    org: OrgId,
    user: UserId,
) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM org_members WHERE org_id = ? AND user_id = ?")
        .bind(org.to_string())
        .bind(user.to_string())
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn org_members(
    conn: &mut SqliteConnection,
    org: OrgId,
) -> Result<Vec<Membership>, StoreError> {
    let rows = sqlx::query(
        "SELECT org_id, user_id, role, created_at FROM org_members WHERE org_id = ? \
         ORDER BY user_id",
    )
    .bind(org.to_string())
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?;
    rows.iter().map(membership_from_row).collect()
}

pub(crate) async fn user_memberships(
    conn: &mut SqliteConnection,
    user: UserId,
) -> Result<Vec<Membership>, StoreError> {
    let rows = sqlx::query(
        "SELECT org_id, user_id, role, created_at FROM org_members WHERE user_id = ? \
         ORDER BY org_id",
    )
    .bind(user.to_string())
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?;
    rows.iter().map(membership_from_row).collect()
}

#[async_trait]
impl AccessStore for SqliteStore {
    async fn list_roles(&self) -> Result<Vec<Role>, StoreError> {
        list_roles(&mut *self.conn().await?).await
    }

    async fn insert_role(&self, spec: &RoleSpec) -> Result<Role, StoreError> {
        insert_role(&mut *self.conn().await?, spec, Utc::now()).await
    }

    async fn update_role(&self, id: RoleId, spec: &RoleSpec) -> Result<Option<Role>, StoreError> {
        update_role(&mut *self.conn().await?, id, spec).await
    }

    async fn delete_role(&self, id: RoleId) -> Result<bool, StoreError> {
        delete_role(&mut *self.conn().await?, id).await
    }

    async fn user_roles(&self, user: UserId) -> Result<Vec<RoleId>, StoreError> {
        user_roles(&mut *self.conn().await?, user).await
    }

    async fn roles_of_users(&self, users: &[UserId]) -> Result<Vec<(UserId, RoleId)>, StoreError> {
        roles_of_users(&mut *self.conn().await?, users).await
    }

    async fn set_user_roles(&self, user: UserId, roles: &[RoleId]) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = set_user_roles(&mut tx, user, roles).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(done)
    }

    async fn insert_org(
        &self,
        org: &Organization,
        owner: Option<UserId>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        insert_org(&mut tx, org, owner).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn org(&self, id: OrgId) -> Result<Option<Organization>, StoreError> {
        org(&mut *self.conn().await?, id).await
    }

    async fn list_orgs(&self, member: Option<UserId>) -> Result<Vec<Organization>, StoreError> {
        list_orgs(&mut *self.conn().await?, member).await
    }

    async fn rename_org(&self, id: OrgId, name: &str) -> Result<bool, StoreError> {
        rename_org(&mut *self.conn().await?, id, name).await
    }

    async fn set_org_short_reset_codes(&self, id: OrgId, short: bool) -> Result<bool, StoreError> {
        set_org_short_reset_codes(&mut *self.conn().await?, id, short).await
    }

    async fn delete_org(&self, id: OrgId) -> Result<bool, StoreError> {
        delete_org(&mut *self.conn().await?, id).await
    }

    async fn set_membership(
        &self,
        org: OrgId,
        user: UserId,
        role: OrgRole,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        set_membership(&mut *self.conn().await?, org, user, role, now).await
    }

    async fn remove_membership(&self, org: OrgId, user: UserId) -> Result<bool, StoreError> {
        remove_membership(&mut *self.conn().await?, org, user).await
    }

    async fn org_members(&self, org: OrgId) -> Result<Vec<Membership>, StoreError> {
        org_members(&mut *self.conn().await?, org).await
    }

    async fn user_memberships(&self, user: UserId) -> Result<Vec<Membership>, StoreError> {
        user_memberships(&mut *self.conn().await?, user).await
    }
}

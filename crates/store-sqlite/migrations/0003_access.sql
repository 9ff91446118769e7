-- Roles with permissions, users' public numbers, organisations and their members.

CREATE TABLE roles (
    -- AUTOINCREMENT: a deleted role's id is never given to a new role, since permissions
    -- and clients may still name it.
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    -- JSON array of permissions; built-in roles keep '[]' (the core defines theirs).
    permissions TEXT NOT NULL DEFAULT '[]',
    builtin     INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX roles_name_key ON roles (name);
INSERT INTO roles (id, name, description, builtin, created_at) VALUES
    (1, 'admin', 'Every permission on everything', 1, 0),
    (2, 'user', 'Their own account, tokens and sessions', 1, 0);

CREATE TABLE user_roles_v2 (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id INTEGER NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role_id)
);
INSERT INTO user_roles_v2 (user_id, role_id) SELECT user_id, 1 FROM user_roles WHERE role = 'admin';
INSERT INTO user_roles_v2 (user_id, role_id) SELECT id, 2 FROM users;
DROP TABLE user_roles;
ALTER TABLE user_roles_v2 RENAME TO user_roles;
CREATE INDEX user_roles_role_idx ON user_roles (role_id, user_id);

-- Public numeric id: random in 1..2^53, so integer-id dialects reveal no creation order.
ALTER TABLE users ADD COLUMN number INTEGER NOT NULL DEFAULT 0;
UPDATE users SET number = (abs(random()) % 9007199254740990) + 1;
CREATE UNIQUE INDEX users_number_key ON users (number);
CREATE INDEX users_status_idx ON users (status, id);

CREATE TABLE organizations (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE org_members (
    org_id     TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_members_user_idx ON org_members (user_id, org_id);

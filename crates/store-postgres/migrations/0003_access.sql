-- Roles with permissions, users' public numbers, organisations and their members.
-- The PostgreSQL twin of store-sqlite's migration of the same name.

CREATE TABLE roles (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    -- JSON array of permissions; built-in roles keep '[]' (the core defines theirs).
    permissions JSONB NOT NULL DEFAULT '[]',
    builtin     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX roles_name_key ON roles (name);
INSERT INTO roles (id, name, description, builtin, created_at) VALUES
    (1, 'admin', 'Every permission on everything', TRUE, 'epoch'),
    (2, 'user', 'Their own account, tokens and sessions', TRUE, 'epoch');
-- A sequence never hands out an id twice, so a deleted role's id is never reused.
SELECT setval('roles_id_seq', 2);

CREATE TABLE user_roles_v2 (
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id BIGINT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role_id)
);
INSERT INTO user_roles_v2 (user_id, role_id) SELECT user_id, 1 FROM user_roles WHERE role = 'admin';
INSERT INTO user_roles_v2 (user_id, role_id) SELECT id, 2 FROM users;
DROP TABLE user_roles;
ALTER TABLE user_roles_v2 RENAME TO user_roles;
ALTER TABLE user_roles RENAME CONSTRAINT user_roles_v2_pkey TO user_roles_pkey;
CREATE INDEX user_roles_role_idx ON user_roles (role_id, user_id);

-- Public numeric id: random in 1..2^53, so integer-id dialects reveal no creation order.
ALTER TABLE users ADD COLUMN number BIGINT;
UPDATE users SET number = floor(random() * 9007199254740990)::BIGINT + 1;
ALTER TABLE users ALTER COLUMN number SET NOT NULL;
CREATE UNIQUE INDEX users_number_key ON users (number);
CREATE INDEX users_status_idx ON users (status, id);
-- Byte order for names and addresses, as SQLite's BINARY compares them, whatever the server's
-- default collation: both backends list users in the same order, and a prefix search
-- (`username >= $1 AND username < $2`, ordered by username) is one range of the unique index.
-- Equality is unchanged (deterministic collations compare bytes anyway); the indexes are rebuilt,
-- the table is not rewritten.
ALTER TABLE users
    ALTER COLUMN username TYPE TEXT COLLATE "C",
    ALTER COLUMN email TYPE TEXT COLLATE "C";

CREATE TABLE organizations (
    id         UUID PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE org_members (
    org_id     UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_members_user_idx ON org_members (user_id, org_id);

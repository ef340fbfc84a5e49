-- SCIM 2.0 provisioning: the provisioning directory's own id for a user
-- (externalId), name parts and enterprise attributes as JSON (profile), case-folded copies of name
-- and email for filters (folded by Latchkey; existing rows start from the
-- database's folding and are refolded on their next save), org-scoped SCIM
-- bearer tokens (SHA-256 only), groups with members, and the per-application
-- switch for the groups claim.
ALTER TABLE users ADD COLUMN external_id TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN profile TEXT NOT NULL DEFAULT '{}';
ALTER TABLE users ADD COLUMN name_fold TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN email_fold TEXT NOT NULL DEFAULT '';
UPDATE users SET name_fold = LOWER(name), email_fold = LOWER(email);
CREATE INDEX users_external_id ON users (org_id, external_id);
CREATE INDEX users_email_fold ON users (org_id, email_fold);

ALTER TABLE apps ADD COLUMN groups_claim INTEGER NOT NULL DEFAULT 0;

CREATE TABLE scim_tokens (
  org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  id TEXT NOT NULL,
  hash BLOB NOT NULL,
  description TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL DEFAULT 0,
  revoked_at INTEGER NOT NULL DEFAULT 0,
  last_used_at INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX scim_tokens_hash ON scim_tokens (org_id, hash);

CREATE TABLE user_groups (
  org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  id TEXT NOT NULL,
  display_name TEXT NOT NULL,
  display_name_fold TEXT NOT NULL,
  external_id TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX user_groups_name ON user_groups (org_id, display_name_fold);

CREATE TABLE group_members (
  org_id TEXT NOT NULL,
  group_id TEXT NOT NULL,
  user_sub TEXT NOT NULL,
  PRIMARY KEY (org_id, group_id, user_sub)
);
CREATE INDEX group_members_user ON group_members (org_id, user_sub);

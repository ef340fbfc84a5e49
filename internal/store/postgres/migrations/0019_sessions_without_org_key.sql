-- Sessions drop their foreign key to orgs, as the other rows a sign-in
-- writes did in 0014 and 0017: each session inserted took FOR KEY SHARE
-- on its organization's row and checked it, which was most of the
-- insert's execution time on a trusted-platform or password sign-in
-- (docs/performance.md).
--
-- The store keeps what the key guaranteed. DeleteOrg deletes the
-- organization's sessions explicitly (sqldb.orgTables), as before through
-- the cascade. A session written in a race with the deletion stays behind
-- unreachable, like the rows of 0017, until it expires and is purged, or
-- until an organization is created again under the same id, which
-- deletes it first. No index of sessions begins with org_id, so that
-- deletion scans the table: deleted_orgs records the ids DeleteOrg
-- removed, and CreateOrg scans only when it reuses one of them.
CREATE TABLE deleted_orgs (
  id TEXT PRIMARY KEY
);
ALTER TABLE sessions DROP CONSTRAINT IF EXISTS sessions_org_id_fkey;

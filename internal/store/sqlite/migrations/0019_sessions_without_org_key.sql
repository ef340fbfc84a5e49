-- SQLite keeps the sessions' foreign key to orgs (its check is an
-- in-process lookup without a row lock); PostgreSQL's 0019 drops it.
-- Both record the ids DeleteOrg removed (deleted_orgs), so the store's
-- CreateOrg is one code: an organization created again under a deleted
-- id starts without sessions written in a race with the deletion.
CREATE TABLE deleted_orgs (
  id TEXT PRIMARY KEY
);

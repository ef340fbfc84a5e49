-- Tokens and authorization codes are written on every sign-in, refresh
-- and client_credentials grant. A foreign key on their org_id runs a
-- referential check per inserted row that takes FOR KEY SHARE on the
-- organization's row, so every grant of one organization queued on one
-- row lock (and created a multixact each time two overlapped): a third
-- of the execution time of a sign-in's statements (docs/performance.md).
--
-- The keys only ever served one purpose, which the store now keeps by
-- itself: DeleteOrg deletes these rows explicitly (sqldb.orgTables), and a
-- row written in a race with the deletion, which no request can reach
-- (every lookup names its organization, and the organization is gone), is
-- removed when an organization is created under the same id again
-- (sqldb.CreateOrg) or by the purge once it expires.
ALTER TABLE tokens DROP CONSTRAINT IF EXISTS tokens_org_id_fkey;
ALTER TABLE auth_codes DROP CONSTRAINT IF EXISTS auth_codes_org_id_fkey;

-- The rows a sign-in writes besides its tokens and code: the audit events
-- (two or three per sign-in), the login ticket of a trusted-platform
-- sign-in, a pending authorization request, a multi-factor step and an
-- upstream sign-in. Their foreign keys to orgs made each inserted row take
-- FOR KEY SHARE on the organization's row, the queue migration 0014 took
-- away from tokens and codes; on a trusted-platform sign-in these checks
-- were half of the statements' execution time (docs/performance.md).
--
-- As for tokens and codes, the store keeps what the keys guaranteed:
-- DeleteOrg deletes these rows explicitly (sqldb.orgTables), and a row
-- written in a race with the deletion, which no request can reach, is
-- deleted when an organization is created again under the same id
-- (sqldb.CreateOrg, which finds them by the primary key's leading org_id);
-- all but the audit events also expire and are purged. Sessions keep
-- their key: they are the parent of session_clients, and no index of
-- theirs begins with org_id for CreateOrg to find them by.
ALTER TABLE audit_events DROP CONSTRAINT IF EXISTS audit_events_org_id_fkey;
ALTER TABLE login_tickets DROP CONSTRAINT IF EXISTS login_tickets_org_id_fkey;
ALTER TABLE auth_requests DROP CONSTRAINT IF EXISTS auth_requests_org_id_fkey;
ALTER TABLE mfa_flows DROP CONSTRAINT IF EXISTS mfa_flows_org_id_fkey;
ALTER TABLE upstream_logins DROP CONSTRAINT IF EXISTS upstream_logins_org_id_fkey;

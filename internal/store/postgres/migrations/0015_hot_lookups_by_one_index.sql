-- The hot lookups of a sign-in (a session by its id or cookie, a token or
-- a code by its hash) are planned once per connection and kept (the
-- store's keyed pool runs them with plan_cache_mode force_generic_plan),
-- instead of once per run, which was 40% of PostgreSQL's CPU per sign-in.
-- A plan settled once must be right for any table size, and a plan made
-- without values can use any index whose first column the query names:
-- every secondary index of tokens and sessions began with org_id, so on a
-- small table a generic plan could pick one of them for a primary-key
-- lookup and then scan all of an organization's rows (measured: a token
-- lookup took 1,259 µs instead of 25). Each lookup now has exactly one
-- index whose first column it names: the secondary indexes begin with
-- their own key, and the sessions' primary key with sid.
-- (TestKeyedStatements_HaveOneSafePlan checks every such statement's
-- generic plan on an empty database.)
DROP INDEX tokens_family;
CREATE INDEX tokens_family ON tokens (family_id, org_id);
DROP INDEX tokens_code;
CREATE INDEX tokens_code ON tokens (code_hash, org_id);
DROP INDEX tokens_sid;
CREATE INDEX tokens_sid ON tokens (sid, org_id);
DROP INDEX tokens_user;
CREATE INDEX tokens_user ON tokens (user_sub, org_id);

DROP INDEX sessions_cookie;
CREATE UNIQUE INDEX sessions_cookie ON sessions (cookie_hash, org_id);
DROP INDEX sessions_user;
CREATE INDEX sessions_user ON sessions (user_sub, org_id);
DROP INDEX sessions_upstream_sid;
CREATE INDEX sessions_upstream_sid ON sessions (upstream_sid, org_id);
ALTER TABLE session_clients DROP CONSTRAINT session_clients_org_id_sid_fkey;
ALTER TABLE sessions DROP CONSTRAINT sessions_pkey;
ALTER TABLE sessions ADD PRIMARY KEY (sid, org_id);
ALTER TABLE session_clients ADD FOREIGN KEY (org_id, sid) REFERENCES sessions (org_id, sid) ON DELETE CASCADE;

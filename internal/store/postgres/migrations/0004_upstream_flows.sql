-- Upstream login and logout round trips, and the upstream identity of a
-- federated session (for upstream back-channel logout).
CREATE TABLE upstream_logins (
  org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  hash BYTEA NOT NULL,
  browser_hash BYTEA NOT NULL,
  auth_request_id TEXT NOT NULL,
  nonce TEXT NOT NULL,
  verifier_sealed BYTEA,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  used_at BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (org_id, hash)
);

CREATE TABLE upstream_logouts (
  org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  hash BYTEA NOT NULL,
  redirect_uri TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  used_at BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (org_id, hash)
);

ALTER TABLE sessions ADD COLUMN upstream_sid TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN upstream_subject TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_upstream_sid ON sessions (org_id, upstream_sid);

-- A code presented again is marked, so an exchange racing the replay
-- revokes what it issued (RFC 6749 §4.1.2).
ALTER TABLE auth_codes ADD COLUMN replayed_at BIGINT NOT NULL DEFAULT 0;

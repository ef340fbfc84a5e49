-- Admin portal: administrators' portal sessions (any node serves them) and
-- the one-time setup tokens of the first operator.
CREATE TABLE portal_sessions (
  org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  hash BLOB NOT NULL,
  user_sub TEXT NOT NULL,
  user_name TEXT NOT NULL,
  sid TEXT NOT NULL,
  id_token_sealed BLOB,
  csrf TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  ended_at INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (org_id, hash)
);
CREATE INDEX portal_sessions_sid ON portal_sessions (org_id, sid);

CREATE TABLE setup_tokens (
  org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  hash BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (org_id, hash)
);

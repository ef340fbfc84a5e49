-- Back-channel logout outbox and admin API tokens.
CREATE TABLE backchannel_deliveries (
  org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  user_sub TEXT NOT NULL,
  sid TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  locked_until INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  delivered_at INTEGER NOT NULL DEFAULT 0,
  gave_up_at INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (org_id, id)
);
CREATE INDEX backchannel_due ON backchannel_deliveries (delivered_at, gave_up_at, next_attempt_at);

CREATE TABLE backchannel_attempts (
  org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  delivery_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  attempted_at INTEGER NOT NULL,
  status INTEGER NOT NULL,
  error TEXT NOT NULL,
  PRIMARY KEY (org_id, delivery_id, attempt)
);

CREATE TABLE admin_tokens (
  org_id TEXT NOT NULL,
  id TEXT NOT NULL,
  hash BLOB NOT NULL,
  description TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL DEFAULT 0,
  revoked_at INTEGER NOT NULL DEFAULT 0,
  last_used_at INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX admin_tokens_hash ON admin_tokens (org_id, hash);

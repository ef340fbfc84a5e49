-- Upstream OpenID Connect connections (one per organization) and the lookup
-- of users by the upstream identity a federated login linked them to.
CREATE TABLE upstream_connections (
  org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  config_url TEXT NOT NULL,
  client_id TEXT NOT NULL,
  client_secret_sealed BLOB NOT NULL,
  scopes TEXT NOT NULL,
  username_claim TEXT NOT NULL,
  display_name TEXT NOT NULL DEFAULT '',
  logout_url TEXT NOT NULL DEFAULT '',
  end_upstream_session INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (org_id)
);

CREATE INDEX users_upstream ON users (org_id, upstream_issuer, upstream_subject);

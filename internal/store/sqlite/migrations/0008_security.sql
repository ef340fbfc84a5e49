-- Refresh-token reuse interval per application (seconds; 0 disables): a
-- rotated refresh token presented again by the same client within it gets
-- a token of the same family instead of revoking the family. Existing
-- applications get the default.
ALTER TABLE apps ADD COLUMN refresh_token_reuse_interval INTEGER NOT NULL DEFAULT 30;

-- Upstream back-channel logout tokens already accepted, by the SHA-256 of
-- issuer and jti, kept for the token's lifetime so a replay is refused on
-- every node.
CREATE TABLE seen_logout_tokens (
  org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  hash BLOB NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (org_id, hash)
);

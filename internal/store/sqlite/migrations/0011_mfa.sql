-- Second factors of Latchkey's own accounts: passkeys (WebAuthn), one-time
-- code generators (TOTP, secret sealed under the master key), recovery
-- codes (hashed), and the short-lived steps of a multi-factor sign-in.
CREATE TABLE passkeys (
  org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  id BLOB NOT NULL,
  user_sub TEXT NOT NULL,
  name TEXT NOT NULL,
  public_key BLOB NOT NULL,
  sign_count INTEGER NOT NULL DEFAULT 0,
  transports TEXT NOT NULL DEFAULT '[]',
  aaguid BLOB NOT NULL,
  flags INTEGER NOT NULL DEFAULT 0,
  attestation_type TEXT NOT NULL DEFAULT '',
  attestation_format TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  last_used_at INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (org_id, id)
);
CREATE INDEX passkeys_user ON passkeys (org_id, user_sub);

CREATE TABLE totp_factors (
  org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  user_sub TEXT NOT NULL,
  sealed BLOB NOT NULL,
  last_step INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  confirmed_at INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (org_id, user_sub)
);

CREATE TABLE recovery_codes (
  org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  user_sub TEXT NOT NULL,
  hash BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  used_at INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (org_id, user_sub, hash)
);

CREATE TABLE mfa_flows (
  org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  hash BLOB NOT NULL,
  kind TEXT NOT NULL,
  user_sub TEXT NOT NULL DEFAULT '',
  amr TEXT NOT NULL DEFAULT '[]',
  auth_time INTEGER NOT NULL DEFAULT 0,
  request TEXT NOT NULL DEFAULT '',
  data TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (org_id, hash)
);

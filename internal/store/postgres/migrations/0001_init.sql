-- Latchkey schema, PostgreSQL dialect. Every organization-owned table leads its
-- primary key and indexes with org_id. Times are unix microseconds, 0 = unset.
CREATE TABLE orgs (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  settings TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
  org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  id TEXT NOT NULL,
  hash BYTEA NOT NULL,
  sealed BYTEA NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX api_keys_hash ON api_keys (org_id, hash);

CREATE TABLE users (
  org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  sub TEXT NOT NULL,
  user_name TEXT NOT NULL,
  user_name_fold TEXT NOT NULL,
  name TEXT NOT NULL DEFAULT '',
  email TEXT NOT NULL DEFAULT '',
  email_verified BOOLEAN NOT NULL DEFAULT FALSE,
  picture TEXT NOT NULL DEFAULT '',
  role TEXT NOT NULL,
  password_hash TEXT NOT NULL DEFAULT '',
  disabled BOOLEAN NOT NULL DEFAULT FALSE,
  upstream_issuer TEXT NOT NULL DEFAULT '',
  upstream_subject TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (org_id, sub)
);
CREATE UNIQUE INDEX users_name ON users (org_id, user_name_fold);

CREATE TABLE apps (
  org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  client_id TEXT NOT NULL,
  name TEXT NOT NULL,
  secret_hash BYTEA,
  public BOOLEAN NOT NULL DEFAULT FALSE,
  redirect_uris TEXT NOT NULL,
  post_logout_redirect_uris TEXT NOT NULL,
  backchannel_logout_uri TEXT NOT NULL DEFAULT '',
  grant_types TEXT NOT NULL,
  access_token_lifetime BIGINT NOT NULL,
  id_token_lifetime BIGINT NOT NULL,
  refresh_token_lifetime BIGINT NOT NULL,
  id_token_alg TEXT NOT NULL,
  access_token_format TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (org_id, client_id)
);

CREATE TABLE signing_keys (
  org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  kid TEXT NOT NULL,
  alg TEXT NOT NULL,
  state TEXT NOT NULL,
  sealed BYTEA NOT NULL,
  public_jwk TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  activated_at BIGINT NOT NULL DEFAULT 0,
  expires_at BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (org_id, kid)
);

CREATE TABLE sessions (
  org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  sid TEXT NOT NULL,
  cookie_hash BYTEA NOT NULL,
  user_sub TEXT NOT NULL,
  auth_time BIGINT NOT NULL,
  amr TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  ended_at BIGINT NOT NULL DEFAULT 0,
  upstream_id_token BYTEA,
  PRIMARY KEY (org_id, sid)
);
CREATE UNIQUE INDEX sessions_cookie ON sessions (org_id, cookie_hash);
CREATE INDEX sessions_user ON sessions (org_id, user_sub);

CREATE TABLE session_clients (
  org_id TEXT NOT NULL,
  sid TEXT NOT NULL,
  client_id TEXT NOT NULL,
  first_at BIGINT NOT NULL,
  PRIMARY KEY (org_id, sid, client_id),
  FOREIGN KEY (org_id, sid) REFERENCES sessions (org_id, sid) ON DELETE CASCADE
);

CREATE TABLE auth_requests (
  org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  id TEXT NOT NULL,
  params TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (org_id, id)
);

CREATE TABLE auth_codes (
  org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  hash BYTEA NOT NULL,
  client_id TEXT NOT NULL,
  redirect_uri TEXT NOT NULL,
  user_sub TEXT NOT NULL,
  sid TEXT NOT NULL,
  scope TEXT NOT NULL,
  nonce TEXT NOT NULL,
  code_challenge TEXT NOT NULL,
  auth_time BIGINT NOT NULL,
  amr TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  used_at BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (org_id, hash)
);

CREATE TABLE tokens (
  org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  hash BYTEA NOT NULL,
  kind TEXT NOT NULL,
  client_id TEXT NOT NULL,
  user_sub TEXT NOT NULL,
  sid TEXT NOT NULL,
  scope TEXT NOT NULL,
  auth_time BIGINT NOT NULL,
  amr TEXT NOT NULL,
  family_id TEXT NOT NULL,
  code_hash BYTEA,
  offline BOOLEAN NOT NULL DEFAULT FALSE,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  revoked_at BIGINT NOT NULL DEFAULT 0,
  rotated_at BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (org_id, hash)
);
CREATE INDEX tokens_family ON tokens (org_id, family_id);
CREATE INDEX tokens_code ON tokens (org_id, code_hash);
CREATE INDEX tokens_sid ON tokens (org_id, sid);
CREATE INDEX tokens_user ON tokens (org_id, user_sub);

CREATE TABLE login_tickets (
  org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  hash BYTEA NOT NULL,
  user_sub TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  used_at BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (org_id, hash)
);

CREATE TABLE rate_limits (
  bucket TEXT NOT NULL,
  window_start BIGINT NOT NULL,
  hits BIGINT NOT NULL,
  PRIMARY KEY (bucket, window_start)
);

CREATE TABLE audit_events (
  org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  id TEXT NOT NULL,
  occurred_at BIGINT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  result TEXT NOT NULL,
  client_ip TEXT NOT NULL,
  detail TEXT NOT NULL,
  PRIMARY KEY (org_id, id)
);
CREATE INDEX audit_at ON audit_events (org_id, occurred_at);

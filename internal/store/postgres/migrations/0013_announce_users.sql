-- Every change of a user is announced on latchkey_changes too, so each
-- node drops its cached copy: a disabled or deleted user stops working on
-- every node (internal/store/cache). A statement announces each user it
-- changed (JSON: schema, org, user); one that changes more than 100 users
-- (an organization's deletion, a bulk import) announces their
-- organizations instead (schema, org), which drops every cached user of
-- each, rather than sending a notification per user.
CREATE FUNCTION latchkey_announce_users() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF (SELECT COUNT(*) FROM changed) > 100 THEN PERFORM pg_notify('latchkey_changes', json_build_object('schema', TG_TABLE_SCHEMA, 'org', o.org_id)::text) FROM (SELECT DISTINCT org_id FROM changed) o; ELSE PERFORM pg_notify('latchkey_changes', json_build_object('schema', TG_TABLE_SCHEMA, 'org', c.org_id, 'user', c.sub)::text) FROM changed c; END IF; RETURN NULL; END $$;

CREATE TRIGGER users_announce_insert AFTER INSERT ON users
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION latchkey_announce_users();

CREATE TRIGGER users_announce_update AFTER UPDATE ON users
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION latchkey_announce_users();

CREATE TRIGGER users_announce_delete AFTER DELETE ON users
  REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION latchkey_announce_users();

-- Every change of a user is announced on latchkey_changes too (JSON:
-- schema, org, user), so each node drops its cached copy: a disabled or
-- deleted user stops working on every node (internal/store/cache).
CREATE FUNCTION latchkey_announce_user() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r RECORD; BEGIN IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF; PERFORM pg_notify('latchkey_changes', json_build_object('schema', TG_TABLE_SCHEMA, 'org', r.org_id, 'user', r.sub)::text); RETURN NULL; END $$;

CREATE TRIGGER users_announce AFTER INSERT OR UPDATE OR DELETE ON users
  FOR EACH ROW EXECUTE FUNCTION latchkey_announce_user();

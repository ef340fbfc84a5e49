-- Every change of an organization or an application is announced on the
-- channel latchkey_changes (JSON: schema, org and, for an application, app)
-- when its transaction commits, so each node drops its cached copy
-- (internal/store/cache). A trigger, so no writer can forget it.
-- (Statements inside the function body never end a line: the migration
-- runner splits at a semicolon that does.)
CREATE FUNCTION latchkey_announce_org() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r RECORD; BEGIN IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF; PERFORM pg_notify('latchkey_changes', json_build_object('schema', TG_TABLE_SCHEMA, 'org', r.id)::text); RETURN NULL; END $$;

CREATE FUNCTION latchkey_announce_app() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r RECORD; BEGIN IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF; PERFORM pg_notify('latchkey_changes', json_build_object('schema', TG_TABLE_SCHEMA, 'org', r.org_id, 'app', r.client_id)::text); RETURN NULL; END $$;

CREATE TRIGGER orgs_announce AFTER INSERT OR UPDATE OR DELETE ON orgs
  FOR EACH ROW EXECUTE FUNCTION latchkey_announce_org();

CREATE TRIGGER apps_announce AFTER INSERT OR UPDATE OR DELETE ON apps
  FOR EACH ROW EXECUTE FUNCTION latchkey_announce_app();

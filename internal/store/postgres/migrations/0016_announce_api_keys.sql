-- Every change of an organization's API keys (a rotation, the
-- organization's deletion) is announced on latchkey_changes as a change
-- of the organization (JSON: schema, org), so each node drops the keys it
-- has cached (internal/store/cache): a key rotated out stops working on
-- every node when its rotation commits. One announcement per organization
-- a statement touched.
CREATE FUNCTION latchkey_announce_api_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_notify('latchkey_changes', json_build_object('schema', TG_TABLE_SCHEMA, 'org', o.org_id)::text) FROM (SELECT DISTINCT org_id FROM changed) o; RETURN NULL; END $$;

CREATE TRIGGER api_keys_announce_insert AFTER INSERT ON api_keys
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION latchkey_announce_api_keys();

CREATE TRIGGER api_keys_announce_update AFTER UPDATE ON api_keys
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION latchkey_announce_api_keys();

CREATE TRIGGER api_keys_announce_delete AFTER DELETE ON api_keys
  REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION latchkey_announce_api_keys();

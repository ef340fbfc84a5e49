-- Every change of an organization's upstream connection (its creation, a
-- change, its deletion, the organization's deletion) is announced on
-- latchkey_changes as a change of the organization, so each node drops the
-- connection (or the absence of one) it has cached (internal/store/cache):
-- the login page reads it on every view. latchkey_announce_api_keys
-- (migration 0016) announces the organizations of whatever rows a
-- statement changed, so it serves this table as it is.
CREATE TRIGGER upstream_connections_announce_insert AFTER INSERT ON upstream_connections
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION latchkey_announce_api_keys();

CREATE TRIGGER upstream_connections_announce_update AFTER UPDATE ON upstream_connections
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION latchkey_announce_api_keys();

CREATE TRIGGER upstream_connections_announce_delete AFTER DELETE ON upstream_connections
  REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION latchkey_announce_api_keys();

-- The audit log is read newest first, filtered by action or by actor
-- (the admin portal's audit page, the admin API, the CLI).
CREATE INDEX audit_action_at ON audit_events (org_id, action, occurred_at);
CREATE INDEX audit_actor_at ON audit_events (org_id, actor, occurred_at);

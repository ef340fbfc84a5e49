-- Case-folded copies for user search, folded by Latchkey (Unicode-aware)
-- rather than by the database (SQLite folds ASCII only). Existing rows
-- start from the database's own folding and are refolded on their next save.
ALTER TABLE users ADD COLUMN search_fold TEXT NOT NULL DEFAULT '';
UPDATE users SET search_fold = LOWER(user_name || char(10) || name || char(10) || email);

-- Digests may show a unit that ceased to exist under the unit that carries on its work (issue
-- 16), as /status, the export and the compiled report can when asked. A person's choice: off,
-- so by default reports stay under the unit that sent them.
ALTER TABLE contacts ADD COLUMN digest_roll_up INTEGER NOT NULL DEFAULT 0;

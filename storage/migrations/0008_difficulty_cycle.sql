-- When a difficulty was (re)opened: its acknowledge and answer deadlines run from here.
ALTER TABLE difficulties ADD COLUMN opened_at TEXT;
UPDATE difficulties SET opened_at = created_at;
CREATE INDEX difficulties_unit_status ON difficulties(unit_id, status);

-- Reviews are preliminary or final; obligations ask for one of them. A generated column lets the
-- completeness query use an index instead of reading every report's JSON.
ALTER TABLE reports ADD COLUMN level TEXT GENERATED ALWAYS AS (json_extract(answers, '$.level')) VIRTUAL;
CREATE INDEX reports_owed ON reports(unit_id, kind, level, activity_date, created_at);

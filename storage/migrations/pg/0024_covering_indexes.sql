-- Covering indexes for the desk's queries (issue 15): each is read without touching the reports
-- table, so /status, the missing units and the digests cost an index seek per unit.
--
-- A unit's first satisfying report (storage.tracking.status): by the period it names, the
-- first entry after (unit, kind, period); by activity date, entries in order of arrival, so
-- the first one whose activity day is in the period ends the search (a range on the activity
-- day would read every report of the kind in a five-year period to find the earliest). A
-- review obligation names its level: its own index, so a final review is not looked for
-- among the preliminary ones (the level is a virtual column: reading it means reading the row).
DROP INDEX reports_unit_period;
CREATE INDEX reports_unit_period ON reports(unit_id, kind, period_key, created_at);
CREATE INDEX reports_first ON reports(unit_id, kind, created_at, activity_date);
CREATE INDEX reports_first_level ON reports(unit_id, kind, level, created_at, activity_date);
-- Whether a unit sent anything at all (the missing units) keeps the range indexes of 0006 and
-- 0007: one seek answers it.
--
-- The digest counts what arrived since a moment by report kind and unit: covered too.
DROP INDEX reports_created;
CREATE INDEX reports_created ON reports(created_at, kind, unit_id);

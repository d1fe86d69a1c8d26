-- Coordinators may take each new report as it arrives (the default) or only in digests.
ALTER TABLE contacts ADD COLUMN notify_each_report INTEGER NOT NULL DEFAULT 1;
CREATE INDEX reports_status ON reports(status, id);
CREATE INDEX reports_activity ON reports(unit_id, activity_date);

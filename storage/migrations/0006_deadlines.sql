-- Deadlines an admin moved for one period (the programme file keeps the defaults).
CREATE TABLE deadline_overrides (
    obligation TEXT NOT NULL,
    period_key TEXT NOT NULL,
    due TEXT NOT NULL,
    moved_by INTEGER REFERENCES contacts(id),
    moved_at TEXT NOT NULL,
    PRIMARY KEY (obligation, period_key)
) WITHOUT ROWID;
-- Completeness looks up each unit's reports of one kind by period or by activity date.
CREATE INDEX reports_unit_kind_date ON reports(unit_id, kind, activity_date);

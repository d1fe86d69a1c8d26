-- A deadline extended for one unit (the coordinator gave it more time); the programme's or the
-- moved deadline still holds for every other unit. on_time_before is the end of the new deadline
-- day in UTC, so completeness can judge the unit's reports without knowing the time zone.
CREATE TABLE deadline_extensions (
    obligation TEXT NOT NULL,
    period_key TEXT NOT NULL,
    unit_id INTEGER NOT NULL REFERENCES units(id),
    due TEXT NOT NULL,
    on_time_before TEXT NOT NULL,
    extended_by INTEGER REFERENCES contacts(id),
    extended_at TEXT NOT NULL,
    PRIMARY KEY (obligation, period_key, unit_id)
) WITHOUT ROWID;

-- What units report, what they find hard, and what admins tell them.
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE reports (
    id INTEGER PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    unit_id INTEGER NOT NULL REFERENCES units(id),
    contact_id INTEGER NOT NULL REFERENCES contacts(id),
    kind TEXT NOT NULL,
    period_key TEXT,
    activity_date TEXT,
    answers TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'received'
        CHECK (status IN ('received', 'needs_correction', 'approved')),
    version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX reports_unit_period ON reports(unit_id, kind, period_key);
CREATE INDEX reports_created ON reports(created_at);

CREATE TABLE report_versions (
    id INTEGER PRIMARY KEY,
    report_id INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    answers TEXT NOT NULL,
    changed_by INTEGER REFERENCES contacts(id),
    changed_at TEXT NOT NULL,
    UNIQUE (report_id, version)
);

CREATE TABLE report_events (
    id INTEGER PRIMARY KEY,
    report_id INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    contact_id INTEGER REFERENCES contacts(id),
    note TEXT,
    at TEXT NOT NULL
);
CREATE INDEX report_events_report ON report_events(report_id);

CREATE TABLE attachments (
    id INTEGER PRIMARY KEY,
    owner_kind TEXT NOT NULL CHECK (owner_kind IN ('report', 'difficulty', 'broadcast')),
    owner_id INTEGER NOT NULL,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('photo', 'document')),
    file_id TEXT NOT NULL,
    file_name TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX attachments_owner ON attachments(owner_kind, owner_id);

CREATE TABLE difficulties (
    id INTEGER PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    unit_id INTEGER NOT NULL REFERENCES units(id),
    contact_id INTEGER NOT NULL REFERENCES contacts(id),
    field TEXT NOT NULL,
    urgency TEXT NOT NULL CHECK (urgency IN ('normal', 'urgent')),
    text TEXT NOT NULL,
    proposal TEXT,
    status TEXT NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'acknowledged', 'answered', 'resolved', 'escalated')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX difficulties_status ON difficulties(status, created_at);
CREATE INDEX difficulties_unit ON difficulties(unit_id);

CREATE TABLE difficulty_events (
    id INTEGER PRIMARY KEY,
    difficulty_id INTEGER NOT NULL REFERENCES difficulties(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    contact_id INTEGER REFERENCES contacts(id),
    text TEXT,
    at TEXT NOT NULL
);
CREATE INDEX difficulty_events_difficulty ON difficulty_events(difficulty_id);

-- Everything the scheduler sends, under a unique key, so a restart never sends it twice.
CREATE TABLE notifications (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    sent_at TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE broadcasts (
    id INTEGER PRIMARY KEY,
    created_by INTEGER NOT NULL REFERENCES contacts(id),
    text TEXT NOT NULL,
    audience TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'draft'
        CHECK (status IN ('draft', 'scheduled', 'sending', 'done', 'cancelled')),
    scheduled_at TEXT,
    created_at TEXT NOT NULL
);

CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY,
    broadcast_id INTEGER NOT NULL REFERENCES broadcasts(id) ON DELETE CASCADE,
    contact_id INTEGER NOT NULL REFERENCES contacts(id),
    outbox_id INTEGER REFERENCES outbox(id),
    acknowledged_at TEXT,
    UNIQUE (broadcast_id, contact_id)
);

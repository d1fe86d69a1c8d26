-- Units, the people who speak for them, and the invites that bind the two.
CREATE TABLE units (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    parent_code TEXT REFERENCES units(code) DEFERRABLE INITIALLY DEFERRED,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX units_kind ON units(kind);

CREATE TABLE contacts (
    id INTEGER PRIMARY KEY,
    unit_id INTEGER REFERENCES units(id),
    role TEXT NOT NULL CHECK (role IN ('officer', 'coordinator', 'leader', 'admin')),
    name TEXT NOT NULL DEFAULT '',
    language TEXT NOT NULL DEFAULT 'vi',
    created_at TEXT NOT NULL
);
CREATE INDEX contacts_unit_role ON contacts(unit_id, role);
CREATE INDEX contacts_role ON contacts(role);

-- One person may be reachable on several channels (Telegram, Zalo, console) as one contact.
CREATE TABLE contact_channels (
    channel TEXT NOT NULL,
    external_id TEXT NOT NULL,
    contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    chat_id TEXT NOT NULL,
    reachable INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    PRIMARY KEY (channel, external_id)
) WITHOUT ROWID;
CREATE INDEX contact_channels_contact ON contact_channels(contact_id);

CREATE TABLE invites (
    code TEXT PRIMARY KEY,
    unit_id INTEGER REFERENCES units(id),
    role TEXT NOT NULL CHECK (role IN ('officer', 'coordinator', 'leader', 'admin')),
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    used_by INTEGER REFERENCES contacts(id),
    revoked_at TEXT
) WITHOUT ROWID;

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '{}'
);

-- Small facts the program learns at run time, e.g. the bot's username for deep links.
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

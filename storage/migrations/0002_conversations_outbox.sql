-- Conversation state, inbound dedupe and the durable outbox.
CREATE TABLE sessions (
    contact_id INTEGER PRIMARY KEY REFERENCES contacts(id) ON DELETE CASCADE,
    flow TEXT NOT NULL,
    state TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX sessions_updated ON sessions(updated_at);

-- A form closed for idleness keeps its answers here until the user resumes or discards it.
CREATE TABLE drafts (
    contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    flow TEXT NOT NULL,
    state TEXT NOT NULL,
    saved_at TEXT NOT NULL,
    PRIMARY KEY (contact_id, flow)
) WITHOUT ROWID;

CREATE TABLE processed_updates (
    channel TEXT NOT NULL,
    update_id TEXT NOT NULL,
    processed_at TEXT NOT NULL,
    PRIMARY KEY (channel, update_id)
) WITHOUT ROWID;

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    contact_id INTEGER REFERENCES contacts(id),
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sent', 'failed', 'unreachable', 'cancelled')),
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before TEXT NOT NULL,
    created_at TEXT NOT NULL,
    sent_at TEXT,
    message_id TEXT,
    last_error TEXT
);
CREATE INDEX outbox_pending ON outbox(channel, not_before, id) WHERE status = 'pending';

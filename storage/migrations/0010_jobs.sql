-- Long work asked for in chat (a spreadsheet export): done in the background, resumed after a
-- restart, its result sent through the outbox.
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    params TEXT NOT NULL,
    contact_id INTEGER REFERENCES contacts(id),
    channel TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    created_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX jobs_pending ON jobs(status, id);

-- One conversation step writes its dedupe record, its session and its replies. Through this view
-- they reach SQLite in a single executemany call: aiosqlite runs every call on its own thread, and
-- each hop there costs about 0.1 ms, more than the writes themselves.
CREATE VIEW step_writes (kind, channel, key, contact_id, body, extra, at) AS
    SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL WHERE 0;

CREATE TRIGGER step_writes_update INSTEAD OF INSERT ON step_writes WHEN NEW.kind = 'update'
BEGIN
    INSERT INTO processed_updates (channel, update_id, processed_at)
    VALUES (NEW.channel, NEW.key, NEW.at);
END;

CREATE TRIGGER step_writes_session INSTEAD OF INSERT ON step_writes WHEN NEW.kind = 'session'
BEGIN
    INSERT INTO sessions (contact_id, flow, state, updated_at)
    VALUES (NEW.contact_id, NEW.key, NEW.body, NEW.at)
    ON CONFLICT (contact_id) DO UPDATE SET flow = excluded.flow, state = excluded.state,
        updated_at = excluded.updated_at;
END;

CREATE TRIGGER step_writes_outbox INSTEAD OF INSERT ON step_writes WHEN NEW.kind = 'outbox'
BEGIN
    INSERT INTO outbox (channel, chat_id, contact_id, payload, not_before, created_at)
    VALUES (NEW.channel, NEW.key, NEW.contact_id, NEW.body, NEW.at, NEW.at);
END;

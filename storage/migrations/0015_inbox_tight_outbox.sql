-- The durable inbox: an update is written here (and committed) before the platform is told it
-- was received; processing reads from here, so a restart finishes what was received. The row
-- is deleted in the transaction that processes it (see the step_writes 'received' trigger).
CREATE TABLE inbox (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    update_id TEXT NOT NULL,
    event TEXT NOT NULL,
    received_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    UNIQUE (channel, update_id)
);

CREATE TRIGGER step_writes_received INSTEAD OF INSERT ON step_writes WHEN NEW.kind = 'received'
BEGIN
    DELETE FROM inbox WHERE channel = NEW.channel AND update_id = NEW.key;
END;

-- An urgent row (the flood warning) goes ahead of the rows already queued for its chat.
ALTER TABLE outbox ADD COLUMN urgent INTEGER NOT NULL DEFAULT 0;
-- The form question a message asks ("form id:step"), so that a typed answer is bound to the
-- question the person saw last before typing it (see handlers/forms.py).
ALTER TABLE outbox ADD COLUMN asks TEXT;

CREATE TRIGGER step_writes_outbox_urgent INSTEAD OF INSERT ON step_writes
    WHEN NEW.kind = 'outbox_urgent'
BEGIN
    INSERT INTO outbox (channel, chat_id, contact_id, payload, not_before, created_at, urgent)
    VALUES (NEW.channel, NEW.key, NEW.contact_id, NEW.body, NEW.at, NEW.at, 1);
END;

DROP TRIGGER step_writes_outbox;
CREATE TRIGGER step_writes_outbox INSTEAD OF INSERT ON step_writes WHEN NEW.kind = 'outbox'
BEGIN
    INSERT INTO outbox (channel, chat_id, contact_id, payload, not_before, created_at,
                        delivery_id, asks)
    VALUES (NEW.channel, NEW.key, NEW.contact_id, NEW.body, NEW.at, NEW.at, NEW.extra,
            json_extract(NEW.body, '$.asks'));
END;

-- A delivery pass reads the heads of the chats' queues in id order, a page at a time: replies
-- first, then notices; rows waiting to be retried are found by time.
DROP INDEX outbox_pending;
CREATE INDEX outbox_queue ON outbox(channel, (delivery_id IS NOT NULL), id)
    WHERE status = 'pending';
CREATE INDEX outbox_chat ON outbox(channel, chat_id, id) WHERE status = 'pending';
-- Only rows that failed wait for a later time (a row is created due): partial on attempts, so the
-- planner never takes it for the queue scans above.
CREATE INDEX outbox_waiting ON outbox(channel, not_before)
    WHERE status = 'pending' AND attempts > 0;
CREATE INDEX outbox_urgent ON outbox(channel, id) WHERE status = 'pending' AND urgent = 1;
-- The question a chat was asked last: read for each typed form answer.
CREATE INDEX outbox_asks ON outbox(channel, chat_id, id) WHERE asks IS NOT NULL;

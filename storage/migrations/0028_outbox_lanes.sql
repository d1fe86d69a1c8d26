-- Two lanes in each chat's queue. A message to many (a notice, a reminder, a digest, an
-- escalation: `bulk`) no longer holds up the reply a person is waiting for: before, a reply
-- queued behind its chat's reminder waited for that reminder, which went out in id order among
-- the morning's hundreds (30 a second). Each lane of a chat keeps its own order and its own
-- head; a delivery pass sends the replies' heads first, then the bulk heads, one message of a
-- chat at a time.
ALTER TABLE outbox ADD COLUMN bulk INTEGER NOT NULL DEFAULT 0;
UPDATE outbox SET bulk = 1 WHERE delivery_id IS NOT NULL;

DROP INDEX outbox_heads;
UPDATE outbox SET head = 0 WHERE head = 1;
UPDATE outbox SET head = 1 WHERE status = 'pending' AND NOT EXISTS (
    SELECT 1 FROM outbox e WHERE e.channel = outbox.channel AND e.chat_id = outbox.chat_id
    AND e.bulk = outbox.bulk AND e.status = 'pending' AND e.id < outbox.id);
CREATE INDEX outbox_heads ON outbox(channel, bulk, id) WHERE status = 'pending' AND head = 1;

DROP TRIGGER outbox_head_on_insert;
CREATE TRIGGER outbox_head_on_insert AFTER INSERT ON outbox WHEN NEW.status = 'pending'
BEGIN
    UPDATE outbox SET head = 1 WHERE id = NEW.id AND NOT EXISTS (
        SELECT 1 FROM outbox e WHERE e.channel = NEW.channel AND e.chat_id = NEW.chat_id
        AND e.bulk = NEW.bulk AND e.status = 'pending' AND e.id < NEW.id);
END;

DROP TRIGGER outbox_head_on_done;
CREATE TRIGGER outbox_head_on_done AFTER UPDATE OF status ON outbox
    WHEN OLD.status = 'pending' AND NEW.status <> 'pending'
BEGIN
    UPDATE outbox SET head = 0 WHERE id = NEW.id;
    UPDATE outbox SET head = 1 WHERE id = (
        SELECT id FROM outbox WHERE channel = OLD.channel AND chat_id = OLD.chat_id
        AND bulk = OLD.bulk AND status = 'pending' ORDER BY id LIMIT 1);
END;

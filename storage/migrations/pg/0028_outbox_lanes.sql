-- Two lanes in each chat's queue (see ../0028_outbox_lanes.sql): a message to many (`bulk`)
-- no longer holds up the reply a person is waiting for. The insert trigger keeps migration
-- 0026's share-lock, now on the oldest pending row of the new row's lane.
ALTER TABLE outbox ADD COLUMN bulk bigint NOT NULL DEFAULT 0;
UPDATE outbox SET bulk = 1 WHERE delivery_id IS NOT NULL;

DROP INDEX outbox_heads;
UPDATE outbox SET head = 0 WHERE head = 1;
UPDATE outbox SET head = 1 WHERE status = 'pending' AND NOT EXISTS (
    SELECT 1 FROM outbox e WHERE e.channel = outbox.channel AND e.chat_id = outbox.chat_id
    AND e.bulk = outbox.bulk AND e.status = 'pending' AND e.id < outbox.id);
CREATE INDEX outbox_heads ON outbox(channel, bulk, id) WHERE status = 'pending' AND head = 1;

CREATE OR REPLACE FUNCTION outbox_head_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM outbox e WHERE e.channel = NEW.channel AND e.chat_id = NEW.chat_id
        AND e.bulk = NEW.bulk AND e.status = 'pending' AND e.id < NEW.id
        ORDER BY e.id LIMIT 1 FOR SHARE;
    IF NOT FOUND THEN
        UPDATE outbox SET head = 1 WHERE id = NEW.id;
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION outbox_head_on_done() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE outbox SET head = 0 WHERE id = NEW.id;
    UPDATE outbox SET head = 1 WHERE id = (
        SELECT id FROM outbox WHERE channel = OLD.channel AND chat_id = OLD.chat_id
        AND bulk = OLD.bulk AND status = 'pending' ORDER BY id LIMIT 1);
    RETURN NULL;
END $$;

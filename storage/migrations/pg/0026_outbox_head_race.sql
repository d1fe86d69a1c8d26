-- A chat's queue could lose its head on PostgreSQL, and the chat then received nothing more.
-- A row queued (outbox_head_on_insert) while the delivery worker was taking the chat's oldest
-- pending row out of the queue (outbox_head_on_done) saw that row still pending, so it did not
-- become the head; the worker's transaction, not seeing the new row yet, handed the head to
-- nobody. Writers on SQLite take turns, so only PostgreSQL needs this.
--
-- Now the new row share-locks the chat's oldest pending row before deciding: if the worker has
-- changed that row, the insert waits for the worker's commit and reads the row again (no longer
-- pending: the new row is the head); if the insert locks it first, the worker waits for the
-- insert's commit, and its hand-over then sees the new row.
CREATE OR REPLACE FUNCTION outbox_head_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM outbox e WHERE e.channel = NEW.channel AND e.chat_id = NEW.chat_id
        AND e.status = 'pending' AND e.id < NEW.id ORDER BY e.id LIMIT 1 FOR SHARE;
    IF NOT FOUND THEN
        UPDATE outbox SET head = 1 WHERE id = NEW.id;
    END IF;
    RETURN NULL;
END $$;

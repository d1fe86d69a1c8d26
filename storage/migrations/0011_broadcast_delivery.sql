-- Each notice delivery is traced to its outbox row, so its figures come from what was sent.
ALTER TABLE outbox ADD COLUMN delivery_id INTEGER REFERENCES deliveries(id);
CREATE INDEX outbox_delivery ON outbox(delivery_id) WHERE delivery_id IS NOT NULL;
DROP INDEX outbox_pending;
CREATE INDEX outbox_pending ON outbox(channel, delivery_id IS NOT NULL, id)
    WHERE status = 'pending';
ALTER TABLE broadcasts ADD COLUMN attachment TEXT;
ALTER TABLE broadcasts ADD COLUMN sent_at TEXT;
CREATE INDEX broadcasts_due ON broadcasts(status, scheduled_at);
CREATE INDEX deliveries_broadcast ON deliveries(broadcast_id, acknowledged_at);

DROP TRIGGER step_writes_outbox;
CREATE TRIGGER step_writes_outbox INSTEAD OF INSERT ON step_writes WHEN NEW.kind = 'outbox'
BEGIN
    INSERT INTO outbox (channel, chat_id, contact_id, payload, not_before, created_at,
                        delivery_id)
    VALUES (NEW.channel, NEW.key, NEW.contact_id, NEW.body, NEW.at, NEW.at, NEW.extra);
END;

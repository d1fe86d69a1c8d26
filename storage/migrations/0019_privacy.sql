-- Invite and link codes are kept as their SHA-256 (storage.units.code_hash): a copy of the
-- database gives no usable code. `sha256` is registered on the connection by storage.db.
UPDATE invites SET code = sha256(upper(trim(code))) WHERE length(code) <> 64;

-- A person erased (storage.units.ContactsRepo.erase): the row stays so that their unit's reports
-- keep their history, without a name or a way to reach them.
ALTER TABLE contacts ADD COLUMN erased_at TEXT;

-- Message texts are kept until delivered plus the retention setting, then blanked to '{}' by the
-- clock tick: this finds the ones still holding a text, oldest first.
CREATE INDEX outbox_texts_kept ON outbox(created_at) WHERE status <> 'pending' AND payload <> '{}';

-- The head of each chat's queue (its oldest pending row) is marked, so that a delivery pass
-- reads the heads straight from an index: before, it walked every pending row in id order and
-- kept the heads, and one chat's backlog (50,000 rows: 120 ms a pass) slowed every chat.
ALTER TABLE outbox ADD COLUMN head INTEGER NOT NULL DEFAULT 0;
UPDATE outbox SET head = 1 WHERE status = 'pending' AND NOT EXISTS (
    SELECT 1 FROM outbox e WHERE e.channel = outbox.channel AND e.chat_id = outbox.chat_id
    AND e.status = 'pending' AND e.id < outbox.id);
CREATE INDEX outbox_heads ON outbox(channel, (delivery_id IS NOT NULL), id)
    WHERE status = 'pending' AND head = 1;

-- A new row heads its chat's queue if nothing older is waiting there.
CREATE TRIGGER outbox_head_on_insert AFTER INSERT ON outbox WHEN NEW.status = 'pending'
BEGIN
    UPDATE outbox SET head = 1 WHERE id = NEW.id AND NOT EXISTS (
        SELECT 1 FROM outbox e WHERE e.channel = NEW.channel AND e.chat_id = NEW.chat_id
        AND e.status = 'pending' AND e.id < NEW.id);
END;

-- A row leaving the queue (sent, given up, cancelled) hands the head to the next one waiting.
CREATE TRIGGER outbox_head_on_done AFTER UPDATE OF status ON outbox
    WHEN OLD.status = 'pending' AND NEW.status <> 'pending'
BEGIN
    UPDATE outbox SET head = 0 WHERE id = NEW.id;
    UPDATE outbox SET head = 1 WHERE id = (
        SELECT id FROM outbox WHERE channel = OLD.channel AND chat_id = OLD.chat_id
        AND status = 'pending' ORDER BY id LIMIT 1);
END;

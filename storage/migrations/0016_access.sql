-- Access that can be taken away (issue 13): deactivation, admins that follow ADMIN_IDS, when each
-- identity was last heard from, and link codes bound to the channel they were made on.
ALTER TABLE contacts ADD COLUMN deactivated_at TEXT;
-- Admin because ADMIN_IDS lists them; role_before_admin is what they go back to when it stops
-- listing them (NULL: they had no role before the setting made them admin, so they lose access).
ALTER TABLE contacts ADD COLUMN admin_by_setting INTEGER NOT NULL DEFAULT 0;
ALTER TABLE contacts ADD COLUMN role_before_admin TEXT
    CHECK (role_before_admin IN ('officer', 'coordinator', 'leader', 'admin'));
ALTER TABLE contact_channels ADD COLUMN last_seen_at TEXT;
-- The channel a /link code was made on: it only works on another one.
ALTER TABLE invites ADD COLUMN made_on TEXT;

-- Admins made so far by ADMIN_IDS are those whose first contact made them admin.
UPDATE contacts SET admin_by_setting = 1
WHERE role = 'admin' AND id IN (
    SELECT i.contact_id FROM contact_channels i
    WHERE i.channel = 'telegram' AND 'telegram:' || i.external_id IN (
        SELECT actor FROM audit_log WHERE action = 'admin.first_contact'));

-- Written with the step's other writes (one executemany), so noting it costs no thread hop.
CREATE TRIGGER step_writes_seen INSTEAD OF INSERT ON step_writes WHEN NEW.kind = 'seen'
BEGIN
    UPDATE contact_channels SET last_seen_at = NEW.at
    WHERE channel = NEW.channel AND external_id = NEW.key;
END;

-- Nothing is sent to a deactivated person, whatever queued it (an answer to their difficulty,
-- a reminder...). What tells them of the deactivation is queued without a contact id.
CREATE TRIGGER outbox_to_deactivated AFTER INSERT ON outbox
    WHEN NEW.contact_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM contacts WHERE id = NEW.contact_id AND deactivated_at IS NOT NULL)
BEGIN
    UPDATE outbox SET status = 'cancelled' WHERE id = NEW.id;
END;

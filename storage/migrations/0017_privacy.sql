-- Invite and link codes are kept as their SHA-256 (storage.units.code_hash): a copy of the
-- database gives no usable code. `sha256` is registered on the connection by storage.db.
UPDATE invites SET code = sha256(upper(trim(code))) WHERE length(code) <> 64;

-- A person erased (storage.units.ContactsRepo.erase): the row stays so that their unit's reports
-- keep their history, without a name or a way to reach them.
ALTER TABLE contacts ADD COLUMN erased_at TEXT;

-- Message texts are kept until delivered plus the retention setting, then blanked to '{}' by the
-- clock tick: this finds the ones still holding a text, oldest first.
CREATE INDEX outbox_texts_kept ON outbox(created_at) WHERE status <> 'pending' AND payload <> '{}';

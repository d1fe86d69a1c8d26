-- Outgoing messages are typed (storage/messages.py): a row's payload is tagged by its kind.
-- The admin's live status message of a notice is found by the id stored on the notice, not by
-- searching the rows' JSON for its Refresh button.
ALTER TABLE broadcasts ADD COLUMN status_outbox_id INTEGER REFERENCES outbox(id);
UPDATE broadcasts SET status_outbox_id = (
    SELECT o.id FROM outbox o WHERE o.contact_id = broadcasts.created_by
    AND o.delivery_id IS NULL AND instr(o.payload, '"bc:st:' || broadcasts.id || '"') > 0
    ORDER BY o.id LIMIT 1);

-- Rows still waiting to go get the tagged form; rows already sent or given up are never read
-- as messages again (their texts are blanked after MESSAGE_RETENTION_DAYS).
UPDATE outbox SET payload = json_patch(CASE
    WHEN payload -> '$.attachments' IS NOT NULL THEN
        json_object('kind', 'files', 'files', payload -> '$.attachments')
    WHEN payload -> '$.attachment' IS NOT NULL THEN
        json_object('kind', 'files', 'files', json_array(payload -> '$.attachment'),
                    'caption', COALESCE(payload ->> '$.text', ''))
    WHEN payload -> '$.edit' IS NOT NULL THEN
        json_object('kind', 'edit', 'message_id', CAST(payload ->> '$.edit' AS TEXT),
                    'text', COALESCE(payload ->> '$.text', ''),
                    'choices', COALESCE(payload -> '$.choices', json('[]')))
    ELSE
        json_object('kind', 'text', 'text', COALESCE(payload ->> '$.text', ''),
                    'choices', COALESCE(payload -> '$.choices', json('[]')),
                    'asks', payload ->> '$.asks')
    END, json_object('rid', payload ->> '$.rid'))
WHERE status = 'pending' AND payload ->> '$.kind' IS NULL;

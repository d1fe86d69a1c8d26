-- Session, outbox, dedupe and inbox rows are written by the repositories themselves
-- (storage/conversations.py: one executemany per table when the transaction ends), no longer
-- routed to their tables by INSTEAD OF triggers on the step_writes view.
DROP TRIGGER step_writes_update;
DROP TRIGGER step_writes_session;
DROP TRIGGER step_writes_outbox;
DROP TRIGGER step_writes_offer;
DROP TRIGGER step_writes_received;
DROP TRIGGER step_writes_outbox_urgent;
DROP TRIGGER step_writes_seen;
DROP VIEW step_writes;

-- The choices last put to someone (so a typed number can answer them) in a column of their own:
-- offering them writes this column alone, without reading or rewriting the state.
ALTER TABLE sessions ADD COLUMN offered TEXT;
UPDATE sessions SET offered = json_extract(state, '$.offered'),
    state = json_remove(state, '$.offered')
WHERE json_extract(state, '$.offered') IS NOT NULL;

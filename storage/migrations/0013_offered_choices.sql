-- A message with choices sent to someone (a notice, an answer, a reminder) remembers them, so
-- that typing an option's number works on channels without buttons (Zalo, the console).
-- The session's updated_at is left alone: an offer is not activity of the person's.
CREATE TRIGGER step_writes_offer INSTEAD OF INSERT ON step_writes WHEN NEW.kind = 'offer'
BEGIN
    INSERT INTO sessions (contact_id, flow, state, updated_at)
    VALUES (NEW.contact_id, 'menu', json_object('offered', json(NEW.body)), NEW.at)
    ON CONFLICT (contact_id) DO UPDATE
        SET state = json_set(sessions.state, '$.offered', json(NEW.body));
END;

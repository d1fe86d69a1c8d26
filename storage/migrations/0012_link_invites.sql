-- An invite may link another channel (e.g. Zalo) to an existing contact instead of making one.
ALTER TABLE invites ADD COLUMN for_contact INTEGER REFERENCES contacts(id);

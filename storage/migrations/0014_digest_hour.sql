-- The hour (local time, working days) at which a coordinator's digests arrive.
ALTER TABLE contacts ADD COLUMN digest_hour INTEGER NOT NULL DEFAULT 8;

-- Coordinators choose their digests (both on by default).
ALTER TABLE contacts ADD COLUMN digest_daily INTEGER NOT NULL DEFAULT 1;
ALTER TABLE contacts ADD COLUMN digest_weekly INTEGER NOT NULL DEFAULT 1;

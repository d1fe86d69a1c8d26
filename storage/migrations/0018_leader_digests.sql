-- Leaders may now take digests, but only when they choose to (in /settings): those registered
-- before start with digests off, as new leaders do.
UPDATE contacts SET digest_daily = 0, digest_weekly = 0 WHERE role = 'leader';

-- The coordinator's web desk (issue 18): one-time sign-in links (from /web in a private chat)
-- and the browser sessions they open. Only SHA-256 hashes of the link codes and session tokens
-- are kept, so a copy of the database signs nobody in.
CREATE TABLE web_links (
    code_hash TEXT PRIMARY KEY,
    contact_id INTEGER NOT NULL REFERENCES contacts(id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
);
CREATE INDEX web_links_contact ON web_links(contact_id);

CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    contact_id INTEGER NOT NULL REFERENCES contacts(id),
    -- The role and unit the person had when signing in: a session ends when either changes.
    role TEXT NOT NULL,
    unit_id INTEGER,
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    ended_at TEXT
);
CREATE INDEX web_sessions_contact ON web_sessions(contact_id);

-- The desk's report list filters by kind, unit or period and reads newest first (by id).
CREATE INDEX IF NOT EXISTS reports_kind_id ON reports(kind, id);
CREATE INDEX IF NOT EXISTS reports_unit_id ON reports(unit_id, id);
CREATE INDEX IF NOT EXISTS reports_period_id ON reports(period_key, id);
-- The status grid asks, for every unit, when its first report of a kind dated in a period came
-- (storage.tracking.status): with created_at in the index that is read from the index alone
-- (measured: 0.2 s -> 0.03 s for 1,000 units with a million reports). It covers what
-- reports_unit_kind_date (0006) did, which goes.
CREATE INDEX IF NOT EXISTS reports_first_by_date ON reports(unit_id, kind, activity_date, created_at);
DROP INDEX IF EXISTS reports_unit_kind_date;

-- Words of each report (its number, its unit's name when written, its answers), folded (no
-- case, no diacritics). SQLite keeps them in an FTS5 index; here a table keyed like it (rowid:
-- the report's id) and fts_match, which reads FTS5's query as ReportsRepo.search writes it
-- ("word"* AND "word"* ...): each word the start of a word of the report, words being runs of
-- letters and digits as FTS5's unicode61 tokenizer cuts them. (Not indexed: a search reads the
-- table; a trigram index would need the pg_trgm extension, which the operator may not have.)
CREATE TABLE report_words (
    rowid BIGINT PRIMARY KEY,
    words TEXT NOT NULL
);
CREATE FUNCTION fts_match(words text, query text) RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
    wanted text;
    part text;
    spaced text := ' ' || regexp_replace(words, '[^[:alnum:]]+', ' ', 'g');
BEGIN
    FOR wanted IN SELECT replace(m[1], '""', '"')
                  FROM regexp_matches(query, '"((?:[^"]|"")*)"\*', 'g') AS m LOOP
        FOR part IN SELECT p FROM regexp_split_to_table(wanted, '[^[:alnum:]]+') AS p
                    WHERE p <> '' LOOP
            IF strpos(spaced, ' ' || part) = 0 THEN
                RETURN false;
            END IF;
        END LOOP;
    END LOOP;
    RETURN true;
END $$;
INSERT INTO report_words (rowid, words)
SELECT r.id, fold(r.number || ' ' || u.name || ' ' || r.answers)
FROM reports r JOIN units u ON u.id = r.unit_id;

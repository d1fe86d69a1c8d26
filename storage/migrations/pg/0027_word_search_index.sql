-- The web desk's word search (issue 19). SQLite reads its FTS5 index (0025); here report_words
-- was a plain table that fts_match read row by row, so a search of words that few reports hold
-- read every report. Now a trigram index (pg_trgm) serves it: the dialect (storage/dialect.py)
-- turns `w.report_words MATCH ?` into, for each of the query's three longest words,
-- `fts_spaced(w.words) LIKE '% word%'` (the word starts a word of the report: exactly what
-- fts_match tests), which the index answers, and fts_match itself only past three words.
--
-- pg_trgm ships with PostgreSQL (contrib) and is a trusted extension: the database's owner may
-- create it. Where it cannot be made (not installed, or a user without the right), the search
-- keeps working without the index, as before, and `baocao doctor` says how to add it.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm cannot be created (%): the word search reads every report', SQLERRM;
END $$;

-- The report's words as fts_match reads them: runs of letters and digits, each after a space.
-- (PL/pgSQL, so that it is not inlined: the planner then counts what it costs on each row it
-- reads without the index, and takes the index for words that few reports hold even in a
-- small table.)
CREATE FUNCTION fts_spaced(words text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE COST 100 AS $$
BEGIN
    RETURN ' ' || regexp_replace(words, '[^[:alnum:]]+', ' ', 'g');
END $$;

-- The words of an FTS5 query as ReportsRepo.search writes it ("word"* AND "word"* ...), cut as
-- fts_match cuts them, longest first (the fewest reports hold them).
CREATE FUNCTION fts_words(query text) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT ARRAY(SELECT p FROM regexp_matches(query, '"((?:[^"]|"")*)"\*', 'g') AS m,
                       regexp_split_to_table(replace(m[1], '""', '"'), '[^[:alnum:]]+') AS p
                       WHERE p <> '' ORDER BY length(p) DESC, p) $$;

-- The LIKE pattern on fts_spaced(words) for the query's n-th longest word: the longest again
-- when it has fewer (the same test twice), and every report when it has none (as fts_match).
-- A word is letters and digits only, so it holds none of LIKE's % _ \.
CREATE FUNCTION fts_part(query text, n integer) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT CASE WHEN cardinality(w) = 0 THEN '%'
                      ELSE '% ' || w[least(n, cardinality(w))] || '%' END
          FROM fts_words(query) AS w $$;

CREATE FUNCTION fts_count(query text) RETURNS integer
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT cardinality(fts_words(query)) $$;

DO $$
DECLARE
    home name;
BEGIN
    SELECT extnamespace::regnamespace::name INTO home FROM pg_extension
    WHERE extname = 'pg_trgm';
    IF home IS NOT NULL THEN
        EXECUTE format('CREATE INDEX report_words_trgm ON report_words '
                       'USING gin (fts_spaced(words) %I.gin_trgm_ops)', home);
    END IF;
END $$;

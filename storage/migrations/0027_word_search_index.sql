-- The web desk's word search on PostgreSQL gets an index (pg/0027_word_search_index.sql: a
-- trigram index over report_words). SQLite's report_words is an FTS5 table (0025), its own
-- index: nothing to change here. This migration keeps the two schemas' version numbers in step.
SELECT 1;

-- Nothing changes on SQLite: its writers take turns, so a row queued for a chat always sees
-- whether the chat's oldest pending row is still pending. The PostgreSQL twin of this
-- migration closes the race that turns-taking rules out here (see pg/0026_outbox_head_race.sql).
SELECT 1;

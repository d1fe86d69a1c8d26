-- sessions_updated (updated_at) served one query, the clock's look for forms left idle, which
-- reads nearly every session anyway (people who stay at the menu are idle too: they are the
-- many); every form step still paid for moving its session's entry in it, a page written to
-- the WAL at each commit. Without it that look reads the sessions table once a tick.
DROP INDEX sessions_updated;

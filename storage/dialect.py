"""The few differences between the SQLite the repositories write and PostgreSQL's SQL.

The repositories keep one text per statement (SQLite's dialect, the embedded default); the
PostgreSQL adapter (storage/pg.py) passes each through `to_postgres` once and caches the
result. What cannot be rewritten here has a twin in PostgreSQL itself, made by the baseline
migration (storage/migrations/pg/0022_baseline.sql): json_extract, json_remove, instr, fold,
the two-argument date() with SQLite's modifiers, group_concat and sum over booleans.
"""

from __future__ import annotations

import re
from functools import lru_cache

# A token: a string literal, a quoted name, a comment, a placeholder, a word, or one character.
_TOKEN = re.compile(
    r"'(?:[^']|'')*'"          # 'string'
    r'|"(?:[^"]|"")*"'         # "name"
    r"|--[^\n]*"               # comment
    r"|\?\d*"                  # ? placeholder
    r"|(?<!:):[A-Za-z_]\w*"    # :named placeholder (not a :: cast)
    r"|[A-Za-z_][\w.]*"        # word, maybe qualified
    r"|\s+|.",
    re.S,
)

_NOT_NULL_FLAG = re.compile(r"\((\w+(?:\.\w+)?) IS NOT NULL\) = ([01])\b")
_INSERT_OR = re.compile(r"^\s*INSERT\s+OR\s+(IGNORE|REPLACE)\s+INTO\b", re.I)
_INDEXED_BY = re.compile(r"\s+INDEXED\s+BY\s+\w+", re.I)
_BEGIN = re.compile(r"^\s*BEGIN\s+(IMMEDIATE|DEFERRED|EXCLUSIVE)\b", re.I)
# FTS5's `table MATCH query`: the twin table's words through fts_match (pg/0025_web_desk.sql).
_MATCH = re.compile(r"\b(\w+)\.report_words\s+MATCH\s+(\?\d*|:\w+)", re.I)
# ... which, once its parameter is numbered, the trigram index can serve (pg/0027): the query's
# FTS_INDEXED longest words each a LIKE on fts_spaced(words), and fts_match only past them.
_FTS_MATCH = re.compile(r"\bfts_match\((\w+)\.words, (\$\d+)\)")
FTS_INDEXED = 3
# SQLite groups by a contact and reads its unit's columns too; PostgreSQL wants the unit's key
# in the GROUP BY to know they are one per group.
_GROUP_BY_CONTACT = re.compile(r"GROUP BY c\.id\b(?!,)")


# `? IS NULL OR col = ?`: PostgreSQL cannot type a parameter that is only tested for NULL
# (nor one used both ways), so the test gets its own copy of the value, as text.
_NULL_TEST = re.compile(r"\$(\d+) IS (NOT )?NULL\b")


_JSON_SUM = re.compile(r"COALESCE\(json_extract\((?=[^()]*\), 0\))", re.I)
_UPSERT = re.compile(r"^\s*INSERT\s+INTO\s+(\w+)", re.I)
_SELF_REFERENCE = re.compile(r"(\w+) = (\w+)(\s*[-+*/|])")


class Translated:
    """A statement in PostgreSQL's dialect and how to order its parameters."""

    __slots__ = ("sql", "names", "count", "again", "replan")

    def __init__(self, sql: str, names: list[str] | None, count: int, again: list[int],
                 replan: bool = False):
        self.sql = sql
        self.names = names  # the :named parameters in $n order; None: positional
        self.count = count
        self.again = again  # the parameters given a second time (see _NULL_TEST), by index
        # Planned anew at each run, not prepared once (see _fts_indexed).
        self.replan = replan

    def args(self, params: object) -> list:
        """The parameters as asyncpg takes them ($1, $2 …)."""
        if params is None:
            return []
        if self.names is not None:
            if not isinstance(params, dict):
                raise TypeError("named parameters need a dict")
            values = [params[name] for name in self.names]
        elif isinstance(params, dict):
            raise TypeError("positional parameters need a sequence")
        else:
            values = list(params)  # type: ignore[call-overload]  # a sequence, by the checks above
        return values + [values[i] for i in self.again] if self.again else values


@lru_cache(maxsize=4096)
def to_postgres(sql: str) -> Translated:
    """`sql` (SQLite's dialect, ? or :name parameters) in PostgreSQL's, with $n parameters."""
    insert_or = _INSERT_OR.match(sql)
    if insert_or:
        if insert_or.group(1).upper() == "REPLACE":
            raise NotImplementedError("INSERT OR REPLACE: write ON CONFLICT … DO UPDATE")
        sql = sql[:insert_or.start()] + "INSERT INTO" + sql[insert_or.end():]
    sql = _INDEXED_BY.sub("", sql)
    sql = _MATCH.sub(lambda m: f"fts_match({m.group(1)}.words, {m.group(2)})", sql)
    sql = _BEGIN.sub("BEGIN", sql)
    sql = _NOT_NULL_FLAG.sub(lambda m: f"({m.group(1)} IS NOT NULL) = "
                             f"{'true' if m.group(2) == '1' else 'false'}", sql)
    upsert = _UPSERT.match(sql)
    if upsert and "DO UPDATE SET" in sql:
        # `SET value = value + 1`: PostgreSQL wants to be told which row's value (the stored one).
        head, tail = sql.split("DO UPDATE SET", 1)
        tail = _SELF_REFERENCE.sub(lambda m: f"{m.group(1)} = {upsert.group(1)}.{m.group(2)}"
                                   f"{m.group(3)}", tail)
        sql = head + "DO UPDATE SET" + tail
    # json_extract gives text here (SQLite: the JSON value's own type): a sum takes the number.
    sql = _JSON_SUM.sub("COALESCE(json_number(", sql)
    if "LEFT JOIN units u ON u.id = c.unit_id" in sql:
        sql = _GROUP_BY_CONTACT.sub("GROUP BY c.id, u.id", sql)
    out: list[str] = []
    names: list[str] = []
    positional = 0
    depth = 0
    # For each open parenthesis: whether it opened a subquery in FROM/JOIN (needs an alias).
    opened: list[bool] = []
    last_word = ""
    pending_alias = False
    aliases = 0
    for token in _TOKEN.findall(sql):
        if pending_alias:
            pending_alias = False
            word = token.strip().upper()
            if token.isspace():
                pending_alias = True  # look past the space
            elif not word or word in _NOT_ALIAS or not (token[0].isalpha() or token[0] == '"'):
                aliases += 1
                out.append(f" AS _q{aliases} ")
        if token == "?" or (token.startswith("?") and token[1:].isdigit()):
            positional += 1
            out.append(f"${positional}")
            continue
        if token.startswith(":") and len(token) > 1:
            name = token[1:]
            if name not in names:
                names.append(name)
            out.append(f"${names.index(name) + 1}")
            continue
        if token == "(":
            opened.append(last_word in ("FROM", "JOIN"))
            depth += 1
        elif token == ")" and opened:
            depth -= 1
            pending_alias = opened.pop()
        if not token.isspace():
            last_word = token.upper()
        out.append(token)
    if pending_alias:
        aliases += 1
        out.append(f" AS _q{aliases}")
    if insert_or:
        text = "".join(out)
        returning = re.search(r"\sRETURNING\s", text, re.I)
        at = returning.start() if returning else len(text.rstrip().rstrip(";"))
        out = [text[:at], " ON CONFLICT DO NOTHING", text[at:]]
    if names and positional:
        raise ValueError("a statement mixes ? and :named parameters")
    count = len(names) or positional
    again: list[int] = []

    text = "".join(out)
    # Parameters used elsewhere too (in a comparison that gives them their type).
    typed = set(re.findall(r"\$(\d+)(?!\d)", _NULL_TEST.sub("", text)))

    def null_test(match: re.Match) -> str:
        if match.group(1) not in typed:
            return f"${match.group(1)}::text IS {match.group(2) or ''}NULL"
        again.append(int(match.group(1)) - 1)
        return f"${count + len(again)}::text IS {match.group(2) or ''}NULL"
    text = _NULL_TEST.sub(null_test, text)
    text, searches = _FTS_MATCH.subn(_fts_indexed, text)
    return Translated(text, names if names else None, count, again, replan=searches > 0)


def _fts_indexed(match: re.Match) -> str:
    """fts_match(t.words, $n) as predicates the trigram index on fts_spaced(words) serves
    (pg/0027_word_search_index.sql), with the same rows: each of the query's longest words
    starts a word of the report (fts_part: `% word%` on the words, each after a space, as
    fts_match reads them), and fts_match decides only for a query of more words than that.
    Which plan is best depends on the words (a word most reports hold: the newest rows, read
    backwards; a rare one: the index), which PostgreSQL sees only when it plans with their
    values: such a statement is planned at each run (Translated.replan), never generically."""
    table, param = match.group(1), match.group(2)
    spaced = f"fts_spaced({table}.words)"
    likes = [f"{spaced} LIKE fts_part({param}, {n})" for n in range(1, FTS_INDEXED + 1)]
    rest = f"(fts_count({param}) <= {FTS_INDEXED} OR fts_match({table}.words, {param}))"
    return "(" + " AND ".join([*likes, rest]) + ")"


# Words that may follow a subquery's closing parenthesis where an alias would otherwise be.
_NOT_ALIAS = {
    "AS", "WHERE", "UNION", "ORDER", "GROUP", "LIMIT", "ON", "JOIN", "LEFT", "INNER", "CROSS",
    "HAVING", "EXCEPT", "INTERSECT", ")", ",", ";", "OFFSET", "RETURNING", "WINDOW",
}

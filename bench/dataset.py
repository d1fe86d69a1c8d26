"""A large synthetic database for the benchmarks: units with five years of reports."""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from handlers import periods
from storage.text import fold

KINDS = ["dissemination", "study", "inspection", "review", "model", "plan"]
YEARS = [2022, 2023, 2024, 2025, 2026]


def build(path: Path, units: int, per_unit_year: int) -> int:
    """Fill the schema with units and reports, with plain sqlite3 for speed."""
    conn = sqlite3.connect(path)
    now = "2026-12-01T00:00:00.000+00:00"
    conn.executemany(
        "INSERT INTO units (code, name, kind, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        [(f"U{n:04d}", f"Đơn vị {n}", "district" if n % 3 else "department", now, now)
         for n in range(units)])
    conn.execute("INSERT INTO contacts (unit_id, role, name, language, created_at) "
                 "VALUES (1, 'officer', 'Bench', 'vi', ?)", (now,))
    rng = random.Random(7)
    rows, number = [], 0
    for unit in range(1, units + 1):
        for year in YEARS:
            period = periods.year(year)
            # Most units send their annual report, some late, some never.
            if rng.random() < 0.9:
                sent = datetime(year, 12, 14, tzinfo=UTC) + timedelta(days=rng.randint(0, 12))
                number += 1
                rows.append((f"BC-{year}-{number:07d}", unit, 1, "periodic", str(year), None,
                             "{}", sent.isoformat(timespec="milliseconds")))
            for _ in range(per_unit_year - 1):
                day = period.start + timedelta(days=rng.randint(0, 364))
                kind = rng.choice(KINDS)
                answers = json.dumps({"reached": rng.randint(10, 500), "level": "preliminary"})
                number += 1
                rows.append((f"BC-{year}-{number:07d}", unit, 1, kind, str(year),
                             day.isoformat(), answers,
                             datetime.combine(day, datetime.min.time(), UTC).isoformat(
                                 timespec="milliseconds")))
        if len(rows) > 50_000:
            _flush(conn, rows)
    _flush(conn, rows)
    # The search index the program writes with each report (migration 0023).
    conn.create_function("fold", 1, fold, deterministic=True)
    conn.execute("INSERT INTO report_words (rowid, words) SELECT r.id, fold(r.number || ' ' || "
                 "u.name || ' ' || r.answers) FROM reports r JOIN units u ON u.id = r.unit_id")
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()
    return number


def unit_life(path: Path) -> None:
    """A few units given more time for the annual report of 2025, a few ceased to exist before
    its deadline and a few not yet created: the answers must agree on them too."""
    conn = sqlite3.connect(path)
    conn.executemany(
        "INSERT INTO deadline_extensions (obligation, period_key, unit_id, due, on_time_before, "
        "extended_by, extended_at) VALUES ('annual', '2025', ?, '2025-12-31', "
        "'2025-12-31T17:00:00.000+00:00', 1, '2025-12-18T00:00:00.000+00:00')",
        [(n,) for n in range(2, 40, 3)])
    conn.execute("UPDATE units SET valid_to = '2025-06-30' WHERE id BETWEEN 50 AND 59")
    conn.execute("UPDATE units SET valid_from = '2026-01-01' WHERE id BETWEEN 60 AND 64")
    conn.commit()
    conn.close()


def _flush(conn: sqlite3.Connection, rows: list) -> None:
    conn.executemany(
        "INSERT INTO reports (number, unit_id, contact_id, kind, period_key, activity_date, "
        "answers, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(*row, row[-1]) for row in rows])
    rows.clear()

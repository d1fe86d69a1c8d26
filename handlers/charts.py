"""The digest chart: completeness by unit kind and the weekly activity trend, as a PNG."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display on a server

from matplotlib import pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator, PercentFormatter  # noqa: E402

from handlers.admin import unit_kind_label  # noqa: E402
from handlers.programme import RECURRING  # noqa: E402
from locales.i18n import Translator  # noqa: E402
from storage.private import private_file  # noqa: E402

# DejaVu Sans ships with matplotlib and has every Vietnamese diacritic.
plt.rcParams["font.family"] = "DejaVu Sans"


def sent_by_kind(counted: list) -> dict[str, list[int]]:
    """[sent, expected] per kind of unit: what the chart's left side shows (plain data, so the
    chart can be drawn later, outside the transaction that read it), from the obligations'
    counts (handlers.desk.counted)."""
    sent: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    # Recurring obligations (the yearly report) say most about the current period.
    recurring = [row for row in counted if row.obligation.period in RECURRING] or counted
    for row in recurring:
        for tally in row.tallies:
            sent[tally.kind][1] += tally.expected
            sent[tally.kind][0] += tally.sent
    return dict(sent)


def digest_chart(t: Translator, sent: dict[str, list[int]], weekly: list[tuple[str, int]],
                 folder: Path, now: datetime,
                 kind_names: dict[str, dict[str, str]] | None = None) -> Path:
    """Draw the chart and return the PNG's path. Slow (about half a second) and blocking: run
    it in a thread, outside any transaction (see handlers.desk.run_chart_job)."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5), dpi=100)
    kinds = sorted(sent)
    labels = [unit_kind_label(t, kind, kind_names or {}) for kind in kinds]
    rates = [sent[k][0] / sent[k][1] * 100 if sent[k][1] else 0 for k in kinds]
    bars = left.barh(labels, rates, color="#c0392b")
    left.bar_label(bars, labels=[f"{sent[k][0]}/{sent[k][1]}" for k in kinds], padding=3)
    left.set_xlim(0, 100)
    left.xaxis.set_major_formatter(PercentFormatter())
    left.set_title(t._("Reports sent, by kind of unit"))
    left.invert_yaxis()
    weeks = [t.date(datetime.fromisoformat(week).date()) for week, _n in weekly]
    right.plot(weeks, [n for _w, n in weekly], marker="o", color="#2471a3")
    right.set_title(t._("Reports received per week"))
    right.tick_params(axis="x", labelrotation=45)
    right.set_ylim(bottom=0)
    right.yaxis.set_major_locator(MaxNLocator(integer=True))
    figure.suptitle(t._("Baocao · {day}").format(day=t.date(now.astimezone(t.zone).date())))
    figure.tight_layout()
    path = private_file(folder / f"digest-{now.strftime('%Y%m%d-%H%M%S')}-{t.language}.png")
    figure.savefig(path)
    plt.close(figure)
    return path

"""Reporting periods with the data cut-offs of Decree 09/2019/NĐ-CP (Art. 12): a month runs from
the 15th of the previous month to the 14th, a quarter from the 15th of the month before it to the
14th of its last month, a half-year from 15/12 to 14/6 or 15/6 to 14/12, and a year from
15 December of the previous year to 14 December. Milestone reviews use ad hoc periods.

Keys: "2026" (year), "2026-H1", "2026-Q3", "2026-M03", or the id of an ad hoc period.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from locales.i18n import Translator

ROMAN = ("I", "II", "III", "IV")


def _cutoff_start(year: int, month: int) -> date:
    """The 15th of the month before `month` (of `year`), the first day of a period ending then."""
    return date(year - 1, 12, 15) if month == 1 else date(year, month - 1, 15)


@dataclass(frozen=True)
class Period:
    key: str
    start: date
    end: date  # inclusive
    # Ad hoc periods carry their own names: {"vi": ..., "en": ...}.
    names: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def label(self, t: Translator) -> str:
        """For running text: "counts towards year 2026", "quý I/2026"."""
        if self.names:
            return self.names.get(t.language) or next(iter(self.names.values()))
        year_, _, part = self.key.partition("-")
        if not part:
            return t._("year {year}").format(year=year_)
        if part == "H1":
            return t._("first half of {year}").format(year=year_)
        if part == "H2":
            return t._("second half of {year}").format(year=year_)
        if part.startswith("Q"):
            # "quý IV/2026" in Vietnamese, "Q4 2026" in English.
            return t._("Q{quarter} {year}").format(quarter=part[1],
                                                   roman=ROMAN[int(part[1]) - 1], year=year_)
        return t._("month {month}/{year}").format(month=int(part[1:]), year=year_)

    def short_label(self, t: Translator) -> str:
        """For a button, which must fit a phone: capitalised, without its dates."""
        label = self.label(t)
        return label[:1].upper() + label[1:]

    def long_label(self, t: Translator) -> str:
        """For a heading or a list: capitalised, with its dates."""
        return t._("{label} ({start} – {end})").format(label=self.short_label(t),
                                                      start=t.date(self.start),
                                                      end=t.date(self.end))


def offered(t: Translator, question: str, found: list[Period]) -> str:
    """A question about periods, with the dates of each offered (their buttons are short)."""
    return "\n".join([question, *(f"• {p.long_label(t)}" for p in found)])


def year(number: int) -> Period:
    return Period(str(number), date(number - 1, 12, 15), date(number, 12, 14))


def half(number: int, which: int) -> Period:
    if which == 1:
        return Period(f"{number}-H1", date(number - 1, 12, 15), date(number, 6, 14))
    return Period(f"{number}-H2", date(number, 6, 15), date(number, 12, 14))


def quarter(number: int, which: int) -> Period:
    last_month = which * 3
    return Period(f"{number}-Q{which}", _cutoff_start(number, last_month - 2),
                  date(number, last_month, 14))


def month(number: int, which: int) -> Period:
    return Period(f"{number}-M{which:02d}", _cutoff_start(number, which), date(number, which, 14))


def _reporting_year_month(day: date) -> tuple[int, int]:
    """The (year, month) whose period holds `day`: from the 15th on, a day counts forward."""
    if day.day < 15:
        return day.year, day.month
    return (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)


def year_of(day: date) -> Period:
    """The reporting year a day counts towards (15 December starts the next one)."""
    return year(_reporting_year_month(day)[0])


def of(kind: str, day: date) -> Period:
    """The period of a kind ("annual", "half", "quarter", "month") holding `day`."""
    year_, month_ = _reporting_year_month(day)
    if kind == "annual":
        return year(year_)
    if kind == "half":
        return half(year_, 1 if month_ <= 6 else 2)
    if kind == "quarter":
        return quarter(year_, (month_ - 1) // 3 + 1)
    if kind == "month":
        return month(year_, month_)
    raise ValueError(f"unknown period kind {kind!r}")


def previous(period: Period) -> Period:
    """The period of the same kind just before this one."""
    kind = kind_of(period.key)
    return of(kind, date.fromordinal(period.start.toordinal() - 1))


_KEY = re.compile(r"([0-9]{4})(?:-(H[12]|Q[1-4]|M(?:0[1-9]|1[0-2])))?")  # ASCII digits only


def kind_of(key: str) -> str:
    part = key.partition("-")[2]
    return {"": "annual", "H": "half", "Q": "quarter", "M": "month"}[part[:1]]


def parse(key: str) -> Period | None:
    match = _KEY.fullmatch(key or "")
    if not match or not 2000 <= int(match.group(1)) <= 2100:
        return None
    number, part = int(match.group(1)), match.group(2)
    if part is None:
        return year(number)
    if part[0] == "H":
        return half(number, int(part[1]))
    if part[0] == "Q":
        return quarter(number, int(part[1]))
    return month(number, int(part[1:]))

"""Reporting periods with the data cut-offs of Decree 09/2019/NĐ-CP: a year runs from 15 December
of the previous year to 14 December."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.i18n import Translator


@dataclass(frozen=True)
class Period:
    key: str  # "2026" for a year
    start: date
    end: date  # inclusive

    def label(self, t: Translator) -> str:
        """For running text ("counts towards year 2026")."""
        return t._("year {year}").format(year=self.key)

    def long_label(self, t: Translator) -> str:
        """For a button or a heading: capitalised, with its dates."""
        label = self.label(t)
        return t._("{label} ({start} – {end})").format(label=label[:1].upper() + label[1:],
                                                      start=t.date(self.start),
                                                      end=t.date(self.end))

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end


def year(number: int) -> Period:
    return Period(str(number), date(number - 1, 12, 15), date(number, 12, 14))


def year_of(day: date) -> Period:
    """The reporting year a day counts towards (15 December starts the next one)."""
    return year(day.year + 1 if (day.month, day.day) >= (12, 15) else day.year)


def parse(key: str) -> Period | None:
    return year(int(key)) if key.isdigit() and 2000 <= int(key) <= 2100 else None

"""Translators: gettext catalogs read with babel, plus babel date and number formatting."""

from __future__ import annotations

import gettext
import io
from datetime import date, datetime
from functools import cache, lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LOCALES_DIR = Path(__file__).resolve().parent
DOMAIN = "baocao"
LANGUAGES = ("vi", "en")


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated later, where the reader's locale is known."""
    return message


class Translator:
    """Gettext and babel formatting for one locale; handed to handlers, never installed globally."""

    def __init__(self, language: str, translations: gettext.NullTranslations, zone: ZoneInfo):
        self.language = language
        self.locale = Locale.parse(language)
        self.zone = zone
        self._translations = translations

    def _(self, message: str) -> str:
        return self._translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self._translations.ngettext(singular, plural, n)

    def number(self, value: int | float) -> str:
        if type(value) is int:
            return _whole_number(value, self.language)
        return format_decimal(value, locale=self.locale)

    def date(self, value: date) -> str:
        pattern = "dd/MM/yyyy" if self.language == "vi" else "d MMM yyyy"
        return format_date(value, pattern, locale=self.locale)

    def datetime(self, value: datetime) -> str:
        """Format an aware datetime in the configured time zone."""
        local = value.astimezone(self.zone)
        # Administrative Vietnamese puts the time first: "08:00 ngày 30/11/2026".
        pattern = "HH:mm 'ngày' dd/MM/yyyy" if self.language == "vi" else "d MMM yyyy, HH:mm"
        return format_datetime(local, pattern, locale=self.locale)


@cache
def _load(language: str) -> gettext.NullTranslations:
    # The .po files are the single source: they are compiled in memory at start, so a stale
    # .mo can never be served.
    po_path = LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def translator(language: str | None, zone: ZoneInfo | str = "Asia/Ho_Chi_Minh",
               default: str = "vi") -> Translator:
    """The translator for a code such as 'vi', 'en' or 'en-US'; unknown codes get the default."""
    return _translator(pick_language(language, default), str(zone))


@cache
def _translator(code: str, zone: str) -> Translator:
    # Translators are immutable, so one per (language, zone) serves every message.
    return Translator(code, _load(code), ZoneInfo(zone))


@lru_cache(maxsize=4096)
def _whole_number(value: int, language: str) -> str:
    # Form steps show the same few counts again and again (summaries, limits): babel takes
    # several microseconds a number, a look-up a fraction of one.
    return format_decimal(value, locale=language)


def pick_language(language_code: str | None, default: str) -> str:
    """The supported language closest to a platform's language code, else the default."""
    code = (language_code or "").replace("_", "-").split("-")[0].lower()
    return code if code in LANGUAGES else default

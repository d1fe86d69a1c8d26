from datetime import UTC, date, datetime

from locales.catalogs import problems
from locales.i18n import translator


def test_catalogs_are_complete_and_current():
    assert problems() == []


def test_translators_format_in_the_users_locale():
    vi, en = translator("vi"), translator("en-GB")
    assert vi.number(1200) == "1.200"
    assert en.number(1200) == "1,200"
    assert vi.date(date(2026, 12, 14)) == "14/12/2026"
    assert en.date(date(2026, 12, 14)) == "14 Dec 2026"
    moment = datetime(2026, 12, 14, 1, 30, tzinfo=UTC)
    assert vi.datetime(moment) == "08:30 ngày 14/12/2026"
    assert vi._("Invalid setting {detail}") == "Cài đặt không hợp lệ: {detail}"
    assert translator("fr")._("Invalid setting {detail}").startswith("Cài đặt")

"""Keeping the gettext catalogs in step with the code: extract, update, check.

`python -m locales.catalogs` extracts the messages, updates `locales/*/LC_MESSAGES/baocao.po`, fills
English entries that are still empty with their (English) msgid, and lists what still needs a
Vietnamese translation. The test suite calls `problems()` and fails on any.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from locales.i18n import DOMAIN, LANGUAGES, LOCALES_DIR

ROOT = LOCALES_DIR.parent
SOURCE_DIRS = ("bot", "handlers", "storage")
KEYWORDS = {"_": None, "ngettext": (1, 2), "N_": None}


# _("...") in the web desk's templates (bot/web/templates): one literal argument, no plurals.
_TEMPLATE_CALL = re.compile(r"""_\(\s*"((?:[^"\\]|\\.)*)"\s*\)""")


def extract_template(fileobj, keywords, comment_tags, options):
    """Babel extractor for the desk's tornado templates."""
    text = fileobj.read().decode("utf-8")
    for found in _TEMPLATE_CALL.finditer(text):
        yield text.count("\n", 0, found.start()) + 1, "_", found.group(1), []


def extract() -> Catalog:
    """Every translatable message in the source, as a template catalog."""
    template = Catalog(domain=DOMAIN, project="baocao")
    for folder in SOURCE_DIRS:
        for filename, lineno, message, comments, context in extract_from_dir(
                ROOT / folder, method_map=[("**.py", "python"),
                                           ("**/templates/*.html",
                                            "locales.catalogs:extract_template")],
                keywords=KEYWORDS):
            template.add(message, None, [(f"{folder}/{filename}", lineno)],
                         auto_comments=comments, context=context)
    return template


def _po_path(language: str) -> Path:
    return LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def _read(language: str) -> Catalog:
    path = _po_path(language)
    if not path.exists():
        return Catalog(locale=language, domain=DOMAIN, project="baocao", fuzzy=False)
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def problems() -> list[str]:
    """Messages missing, untranslated, fuzzy or obsolete in any catalog, or bad placeholders."""
    template = extract()
    wanted = {m.id for m in template if m.id}
    found: list[str] = []
    for language in LANGUAGES:
        catalog = _read(language)
        present = {m.id for m in catalog if m.id}
        for msgid in sorted(wanted - present, key=str):
            found.append(f"{language}: missing {msgid!r}")
        for msgid in sorted(present - wanted, key=str):
            found.append(f"{language}: stale (no longer in the code) {msgid!r}")
        for message in catalog:
            if not message.id or message.id not in wanted:
                continue
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            if message.fuzzy or not all(strings):
                found.append(f"{language}: untranslated {message.id!r}")
            for _message, errors in [(message, list(message.check(catalog)))]:
                found.extend(f"{language}: {message.id!r}: {e}" for e in errors)
    return found


def update() -> list[str]:
    """Bring both catalogs in line with the code; return what still needs a human translator."""
    template = extract()
    for language in LANGUAGES:
        catalog = _read(language)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        if language == "en":
            for message in catalog:
                strings = message.string if isinstance(message.string, tuple) else (
                    message.string,)
                if message.id and not any(strings):
                    message.string = message.id
        with _po_path(language).open("wb") as handle:
            write_po(handle, catalog, width=100, omit_header=False, sort_output=False)
    return problems()


if __name__ == "__main__":
    remaining = update()
    print("\n".join(remaining) or "catalogs complete")
    sys.exit(1 if remaining else 0)

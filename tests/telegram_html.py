"""What Telegram refuses in a message we send: text its HTML parse mode cannot parse, blank or
too long texts and captions, button data over 64 bytes. The fake Bot API answers these with a 400,
as Telegram does, so every test that sends through it checks them."""

from __future__ import annotations

import html
import json
import re
import unicodedata

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64  # bytes of UTF-8

# The tags of Telegram's HTML style (core.telegram.org/bots/api#html-style), with the attributes
# each may (or must) carry.
ALLOWED = {"b": set(), "strong": set(), "i": set(), "em": set(), "u": set(), "ins": set(),
           "s": set(), "strike": set(), "del": set(), "a": {"href"}, "code": {"class"},
           "pre": set(), "span": {"class"}, "tg-spoiler": set(), "blockquote": {"expandable"},
           "tg-emoji": {"emoji-id"}}
REQUIRED = {"a": {"href"}, "span": {"class"}, "tg-emoji": {"emoji-id"}}
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'"
                  r"|[^\s\"'>]+))?)*)\s*>")
_ATTRIBUTE = re.compile(r"([a-zA-Z-]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'>]+)))?")
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});")


def parse_html(text: str) -> tuple[str, str | None]:
    """(the text Telegram would show, the reason it refuses the markup or None)."""
    plain: list[str] = []
    open_tags: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "<":
            match = _TAG.match(text, i)
            if match is None:
                return "", f"unescaped '<' at {i}"
            closing, name, attributes = match.group(1), match.group(2), match.group(3)
            problem = (_close(open_tags, name) if closing
                       else _open(open_tags, name, attributes))
            if problem:
                return "", problem
            i = match.end()
        elif char == "&":
            match = _ENTITY.match(text, i)
            if match is None:
                return "", f"unescaped '&' at {i}"
            plain.append(html.unescape(match.group(0)))
            i = match.end()
        elif char == ">":
            return "", f"unescaped '>' at {i}"
        else:
            plain.append(char)
            i += 1
    if open_tags:
        return "", f"unclosed <{open_tags[-1]}>"
    return "".join(plain), None


def _open(open_tags: list[str], name: str, attributes: str) -> str | None:
    if name not in ALLOWED:
        return f"unsupported tag <{name}>"
    if open_tags and open_tags[-1] in ("pre", "code") and not (
            open_tags[-1] == "pre" and name == "code"):
        return f"<{name}> inside <{open_tags[-1]}>"
    given = {m.group(1): next((g for g in m.groups()[1:] if g is not None), "")
             for m in _ATTRIBUTE.finditer(attributes)}
    if set(given) - ALLOWED[name] or REQUIRED.get(name, set()) - set(given):
        return f"bad attributes on <{name}>: {attributes.strip()!r}"
    if name == "span" and given["class"] != "tg-spoiler":
        return "<span> without class tg-spoiler"
    open_tags.append(name)
    return None


def _close(open_tags: list[str], name: str) -> str | None:
    if not open_tags or open_tags[-1] != name:
        return f"</{name}> does not close {'<' + open_tags[-1] + '>' if open_tags else 'a tag'}"
    open_tags.pop()
    return None


def is_blank(text: str) -> bool:
    """Nothing to show: only spaces, line breaks, zero-width and other format characters."""
    return all(c.isspace() or unicodedata.category(c) in ("Cf", "Cc", "Zs", "Zl", "Zp")
               for c in text)


def refusal(method: str, params: dict) -> str | None:
    """Telegram's error description for this call, or None if Telegram would accept it."""
    problem = _buttons_problem(params.get("reply_markup"))
    if problem:
        return problem
    if method in ("sendMessage", "editMessageText"):
        return _text_problem(params.get("text") or "", params.get("parse_mode"), TEXT_LIMIT,
                             blank_ok=False)
    if method in ("sendPhoto", "sendDocument") and params.get("caption"):
        return _text_problem(params["caption"], params.get("parse_mode"), CAPTION_LIMIT,
                             blank_ok=True)
    return None


def _text_problem(text: str, parse_mode: str | None, limit: int, blank_ok: bool) -> str | None:
    plain, problem = parse_html(text) if parse_mode == "HTML" else (text, None)
    if problem:
        return f"Bad Request: can't parse entities: {problem}"
    if not blank_ok and is_blank(plain):
        return "Bad Request: message text is empty"
    if len(plain) > limit:
        return "Bad Request: message is too long"
    return None


def _buttons_problem(markup) -> str | None:
    if not markup:
        return None
    if isinstance(markup, str):
        markup = json.loads(markup)
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(data.encode()) <= CALLBACK_DATA_LIMIT:
                return "Bad Request: BUTTON_DATA_INVALID"
            if not button.get("text"):
                return "Bad Request: text buttons are unallowed in the inline keyboard"
    return None

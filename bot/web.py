"""The coordinators' web desk (issue 18): status grid, reports, difficulties, notices, charts and
downloads, served by the bot's one web server (tornado, with /healthz and /metrics; see
bot/health.py) under /desk/.

Tornado because it is already in the process: python-telegram-bot's webhook server and our
operations server run on it, in the bot's own event loop, so the desk reads the same database
connection and writes through the same outbox as the chats, with no second framework.

Sign-in, without passwords:
- in Telegram, as a Mini App: the page puts Telegram's signed `initData` in a cookie and every
  request is checked against it (HMAC-SHA256 keyed with HMAC_SHA256("WebAppData", bot token),
  `auth_date` younger than WEB_INITDATA_MAX_AGE);
- in any browser: `/web` in a private chat gives a one-time link (WEB_LINK_MINUTES); it opens a
  session cookie that ends on sign-out, after WEB_SESSION_HOURS, or when the person's role or unit
  changes.
Either way the person (role, unit, active) is read from the database on every request. Every
write goes through the handlers' own code (handlers.core.press, handlers.forms.submit_typed), so
it checks role and state and tells people exactly as the same action in a chat does.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import json
import logging
import re
import secrets
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlparse

import tornado.web

from handlers import charts, compile, core, desk, difficulties, export, forms, reports
from handlers.admin import unit_kind_label
from handlers.context import Ctx
from handlers.kinds import KINDS
from handlers.types import Inbound
from locales.i18n import N_
from storage.models import Contact, Role
from storage.reports import ReportStatus

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent / "web"
SESSION_COOKIE = "baocao_session"
MINIAPP_COOKIE = "baocao_tma"  # Telegram's initData, set by the Mini App page (static/app.js)
CHANNEL = "web"  # what the handlers see as the channel of a desk action
PAGE = 25  # reports per page of the list
FLASH_SECONDS = 120


# ---------------------------------------------------------------------------------------------
# Telegram Mini App signature

def check_init_data(init_data: str, bot_token: str, now: float, max_age: int) -> dict | None:
    """The Telegram user of a Mini App's `initData` if Telegram signed it for this bot and it
    is not older than `max_age` seconds; else None."""
    try:
        fields = dict(parse_qsl(init_data, keep_blank_values=True, strict_parsing=True))
    except ValueError:
        return None
    given = fields.pop("hash", "")
    check = "\n".join(f"{key}={value}" for key, value in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    expected = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    if not given or not hmac.compare_digest(expected, given):
        return None
    try:
        auth_date = int(fields.get("auth_date", ""))
        user = json.loads(fields.get("user", ""))
    except ValueError:
        return None
    if not (now - max_age <= auth_date <= now + 60) or not isinstance(user, dict) \
            or not isinstance(user.get("id"), int):
        return None
    return user


# ---------------------------------------------------------------------------------------------
# Who is asking

@dataclass(frozen=True)
class Visitor:
    contact: Contact
    csrf: str
    by_session: bool  # a browser session (it can sign out), not the Mini App's signature


class Desk:
    """What the desk's pages share: the runtime, the signing secret, messages after a POST."""

    def __init__(self, runtime):
        self.runtime = runtime
        self.settings = runtime.settings
        self._secret: str | None = None
        self.flashes: dict[str, tuple[int, float, list[str]]] = {}

    @property
    def config(self):
        return self.runtime.config

    async def secret(self) -> str:
        if self._secret is None:
            async with self.runtime.db.transaction() as tx:
                self._secret = await tx.web.secret(secrets.token_hex(32))
        return self._secret

    async def visitor(self, session_token: str | None, init_data: str | None
                      ) -> Visitor | None:
        """The person a request comes from, with their role as the database has it now."""
        now = self.runtime.clock()
        if session_token:
            async with self.runtime.db.read() as tx:
                session = await tx.web.session(session_token, now)
                contact = await tx.contacts.get(session.contact_id) if session else None
            if session is not None:
                if contact is not None and contact.active and contact.role.value == session.role \
                        and contact.unit_id == session.unit_id:
                    return Visitor(contact, session.csrf, True)
                # The role or unit changed, or the person was deactivated: the session ends.
                async with self.runtime.db.transaction() as tx:
                    await tx.web.end_session(session_token, now)
        token = self.settings.telegram_bot_token
        if init_data and token is not None:
            user = check_init_data(init_data, token.get_secret_value(), now.timestamp(),
                                   self.settings.web_initdata_max_age)
            if user is not None:
                async with self.runtime.db.read() as tx:
                    contact = await tx.contacts.by_identity("telegram", str(user["id"]))
                if contact is not None and contact.active:
                    csrf = hmac.new((await self.secret()).encode(), init_data.encode(),
                                    hashlib.sha256).hexdigest()
                    return Visitor(contact, csrf, False)
        return None

    def flash(self, contact_id: int, texts: list[str]) -> str:
        """Keep what an action said for the page shown after it (POST, redirect, GET)."""
        now = time.monotonic()
        self.flashes = {k: v for k, v in self.flashes.items() if v[1] > now}
        key = secrets.token_urlsafe(8)
        self.flashes[key] = (contact_id, now + FLASH_SECONDS, texts)
        return key

    def take_flash(self, contact_id: int, key: str | None) -> list[str]:
        found = self.flashes.pop(key, None) if key else None
        return found[2] if found and found[0] == contact_id else []

    async def act(self, contact: Contact, run: Callable[[Ctx], Awaitable[str | None]]
                  ) -> list[str]:
        """Run a handler-layer action as this person, in one transaction with the messages it
        sends to others (the outbox); what it says to the person comes back as text."""
        runtime = self.runtime
        now = runtime.clock()
        t = self.config.translator(contact.language)
        event = Inbound(CHANNEL, f"web-{secrets.token_hex(8)}", str(contact.id),
                        f"web:{contact.id}", language_code=contact.language, name=contact.name)
        async with runtime.db.transaction() as tx:
            fresh = await tx.contacts.get(contact.id)  # the role as it is at this moment
            ctx = Ctx(tx, event, fresh, t, now, self.config)
            refusal = await run(ctx)
            mine = [o.reply.text for o in ctx.out if o.channel == CHANNEL]
            await runtime.write(tx, [o for o in ctx.out if o.channel != CHANNEL], now)
        runtime.wake()
        runtime.start_jobs()
        return [refusal] if refusal else mine


# ---------------------------------------------------------------------------------------------
# Pages

def _can(contact: Contact, action_name: str) -> bool:
    """Whether the person may do what the chat command of that name does."""
    return contact.role in core.ACTIONS[action_name].roles


class Page(tornado.web.RequestHandler):
    """A desk page: signed-in person, their language, no caching, CSRF on every POST."""

    open_to_all = False  # the sign-in and Mini App start pages need no one signed in
    desk: Desk
    me: Visitor | None = None

    def initialize(self, desk: Desk) -> None:
        self.desk = desk

    def set_default_headers(self) -> None:
        # A page shows one person's data: never kept by a browser or a proxy for another.
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")
        # Not "no-referrer": with it a browser posts forms with "Origin: null", which the
        # origin check (_foreign_origin) must refuse. Other sites are told nothing.
        self.set_header("Referrer-Policy", "same-origin")
        # Telegram Web shows a Mini App in a frame; nobody else may.
        self.set_header("Content-Security-Policy",
                        "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                        "script-src 'self'; frame-ancestors 'self' https://web.telegram.org")

    def check_xsrf_cookie(self) -> None:
        """Forms carry the person's CSRF token (checked in prepare, against the session)."""

    @property
    def t(self):
        language = self.me.contact.language if self.me else self.desk.config.default_locale
        return self.desk.config.translator(language)

    def _foreign_origin(self) -> bool:
        """A POST sent by another site's page (a browser names the page's origin): refused,
        the sign-in too, so nobody can be signed in to someone else's account unawares."""
        origin = self.request.headers.get("Origin")
        if not origin or self.request.method != "POST":
            return False
        ours = {self.request.host, urlparse(self.desk.settings.web_url).netloc}
        return urlparse(origin).netloc not in ours

    async def prepare(self) -> None:
        self.me = await self.desk.visitor(self.get_cookie(SESSION_COOKIE),
                                          unquote(self.get_cookie(MINIAPP_COOKIE) or ""))
        if self._foreign_origin():
            self.me = None
            self.refuse(403)
            return
        if self.open_to_all:
            return
        if self.me is None:
            self.set_status(401)
            self.render("signed_out.html", reason=self.t._(
                "You are not signed in, or your session has ended. Send /web to the bot in a "
                "private chat for a new sign-in link, or open the desk from the bot's menu "
                "button in Telegram."))
            return
        if self.request.method == "POST" and not hmac.compare_digest(
                self.get_body_argument("csrf", ""), self.me.csrf):
            self.set_status(403)
            self.render("signed_out.html", reason=self.t._(
                "This form has expired. Please reload the page and try again."))

    def get_template_path(self) -> str:
        return str(HERE / "templates")

    def get_template_namespace(self) -> dict:
        namespace = super().get_template_namespace()
        t = self.t
        me = self.me
        nav = []
        if me is not None:
            c = me.contact
            nav = [("/desk/", t._("Status")), ("/desk/reports", t._("Reports")),
                   ("/desk/difficulties", t._("Difficulties"))]
            if _can(c, "broadcasts"):
                nav.append(("/desk/broadcasts", t._("Notices")))
            if _can(c, "digest"):
                nav.append(("/desk/charts", t._("Charts")))
            if _can(c, "export") or _can(c, "compile"):
                nav.append(("/desk/downloads", t._("Downloads")))
        namespace.update(_=t._, t=t, me=me, nav=nav, lang=t.language,
                         body=self.desk.config.letterhead.body(t.language),
                         flashes=self.desk.take_flash(me.contact.id, self.get_argument(
                             "flash", None)) if me else [])
        return namespace

    def refuse(self, status: int = 404) -> None:
        self.set_status(status)
        self.render("signed_out.html", reason=self.t._("This page is not available to you."))

    def done(self, texts: list[str], to: str) -> None:
        """After an action: back to a page, with what the action said."""
        key = self.desk.flash(self.me.contact.id, texts)
        self.redirect(f"{to}{'&' if '?' in to else '?'}flash={key}")

    def ctx(self, tx) -> Ctx:
        """A handler context for reading as this person (nothing it says is sent)."""
        contact = self.me.contact
        event = Inbound(CHANNEL, "read", str(contact.id), f"web:{contact.id}")
        return Ctx(tx, event, contact, self.t, self.desk.runtime.clock(), self.desk.config)


class SignIn(Page):
    """GET shows a button (link previews fetch GETs: they must not use up the link); POST
    uses the one-time link and opens a session."""

    open_to_all = True

    async def get(self) -> None:
        code = self.get_argument("code", "")
        async with self.desk.runtime.db.read() as tx:
            usable = bool(code) and await tx.web.link_usable(code, self.desk.runtime.clock())
        self.me = None  # the page speaks to whoever holds the link, not to a signed-in person
        if not usable:
            self.set_status(410)
        self.render("signin.html", code=code, usable=usable)

    async def post(self) -> None:
        code = self.get_body_argument("code", "")
        desk, now = self.desk, self.desk.runtime.clock()
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        async with desk.runtime.db.transaction() as tx:
            contact_id = await tx.web.use_link(code, now) if code else None
            contact = await tx.contacts.get(contact_id) if contact_id else None
            if contact is not None and contact.active:
                await tx.web.open_session(
                    token, contact.id, contact.role.value, contact.unit_id, csrf, now,
                    now + timedelta(hours=desk.settings.web_session_hours))
                await tx.audit.record(f"contact:{contact.id}", "web.signin", now)
        if contact is None or not contact.active:
            self.me = None
            self.set_status(410)
            self.render("signin.html", code="", usable=False)
            return
        self.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Strict", path="/desk",
                        secure=self.request.protocol == "https",
                        expires_days=desk.settings.web_session_hours / 24)
        self.redirect("/desk/")


class SignOut(Page):
    async def post(self) -> None:
        token = self.get_cookie(SESSION_COOKIE)
        if token:
            async with self.desk.runtime.db.transaction() as tx:
                await tx.web.end_session(token, self.desk.runtime.clock())
        self.clear_cookie(SESSION_COOKIE, path="/desk")
        self.clear_cookie(MINIAPP_COOKIE, path="/desk")
        self.me = None
        self.render("signed_out.html", reason=self.t._("You have signed out."))


class MiniApp(Page):
    """The page Telegram opens: static/app.js keeps Telegram's initData and goes to the desk."""

    open_to_all = True

    def get(self) -> None:
        self.me = None
        self.render("app.html")


def _cell(status, deadline, today) -> str:
    """on time / late / missing (deadline passed) / due (not yet) / gone (unit ceased)."""
    if status.first_at:
        return "ok" if status.on_time else "late"
    if status.ended_before(today):
        return "gone"
    return "missing" if (status.extended_to or deadline) < today else "due"


class Status(Page):
    """Every unit against every obligation of the chosen year, coloured; rates per kind."""

    async def get(self) -> None:
        t, contact = self.t, self.me.contact
        db, config = self.desk.runtime.db, self.desk.config
        today = self.desk.runtime.clock().astimezone(config.zone).date()
        this_year = today.year if (today.month, today.day) < (12, 15) else today.year + 1
        year = self.get_argument("year", "")
        year = int(year) if year.isdigit() and 2000 <= int(year) <= 2100 else this_year
        only_kind = self.get_argument("kind", "")
        async with db.read() as tx:
            found = await desk.completeness(tx, config, today, year)
            names = await tx.units.kinds()
        officer = contact.role is Role.OFFICER
        columns, rows, summary = [], {}, defaultdict(lambda: [0, 0, 0])
        for index, column in enumerate(found):
            deadline = column.deadline
            columns.append((column.obligation.label(t.language), column.period.label(t),
                            t.date(deadline)))
            for status in column.statuses:
                if officer and status.unit_id != contact.unit_id:
                    continue  # an officer sees their own unit only
                state = _cell(status, deadline, today)
                row = rows.setdefault(status.unit_id, {"unit": status, "cells": {}})
                row["cells"][index] = state  # (when it came: on the unit's page)
                if state != "gone":
                    counts = summary[status.kind]
                    counts[0] += 1
                    counts[1] += bool(status.first_at)
                    counts[2] += status.on_time
        order = list(names)
        kinds = [(k, unit_kind_label(t, k, names)) for k in sorted(
            summary, key=lambda k: (order.index(k) if k in order else len(order), k))]
        shown = sorted((r for r in rows.values() if not only_kind
                        or r["unit"].kind == only_kind),
                       key=lambda r: (order.index(r["unit"].kind) if r["unit"].kind in order
                                      else len(order), r["unit"].code))
        rates = [(label, t.number(n[1]), t.number(n[0]),
                  t.number(round(n[1] / n[0] * 100, 1) if n[0] else 0),
                  t.number(round(n[2] / n[0] * 100, 1) if n[0] else 0))
                 for (kind, label), n in ((k, summary[k[0]]) for k in kinds)]
        labels = {"ok": t._("on time"), "late": t._("late"), "missing": t._("missing"),
                  "due": t._("not yet due"), "gone": t._("unit no longer exists")}
        self.render("status.html", year=year, years=[this_year, this_year - 1, this_year - 2],
                    columns=columns, rows=_grid_rows(shown, len(columns), labels), rates=rates,
                    kinds=kinds, only_kind=only_kind, labels=labels, day=t.date(today))


def _grid_rows(rows: list[dict], columns: int, labels: dict[str, str]) -> list[str]:
    """The grid's rows as HTML, made here rather than in the template: a thousand units by a
    few obligations is thousands of cells, and the template's escaping of each value cost
    more than the data (about 100 ms a page). Every value from the database is escaped."""
    cells = {state: f'<td class="cell {state}"><a href="/desk/units/{{id}}">'
                    f"{html.escape(label)}</a></td>" for state, label in labels.items()}
    empty = '<td class="na">—</td>'
    made = []
    for row in rows:
        unit = row["unit"]
        link = f"/desk/units/{unit.unit_id}"
        made.append(f'<tr><th><a href="{link}">{html.escape(unit.name)}</a> '
                    f"<small>{html.escape(unit.code)}</small></th>" + "".join(
                        cells[row["cells"][i]].replace("{id}", str(unit.unit_id))
                        if i in row["cells"] else empty for i in range(columns)) + "</tr>")
    return made


class Unit(Page):
    """One unit: where it stands on each obligation, its latest reports and open difficulties."""

    async def get(self, unit_id: str) -> None:
        t, contact = self.t, self.me.contact
        if contact.role is Role.OFFICER and int(unit_id) != contact.unit_id:
            self.refuse()
            return
        config = self.desk.config
        today = self.desk.runtime.clock().astimezone(config.zone).date()
        async with self.desk.runtime.db.read() as tx:
            unit = await tx.units.get(int(unit_id))
            if unit is None:
                self.refuse()
                return
            names = await tx.units.kinds()
            ctx = self.ctx(tx)
            latest = await reports.find(ctx, {"unit": unit.id}, limit=20)
            open_ = await tx.difficulties.listing(statuses=difficulties.NOT_RESOLVED,
                                                  unit_id=unit.id, limit=50)
            found = await desk.completeness(tx, config, today)
        states = []
        for column in found:
            mine = next((s for s in column.statuses if s.unit_id == unit.id), None)
            if mine is not None:
                deadline = column.deadline
                states.append((column.obligation.label(t.language), column.period.label(t),
                               t.date(deadline), _cell(mine, deadline, today),
                               t.datetime(mine.first_at) if mine.first_at else ""))
        labels = {"ok": t._("on time"), "late": t._("late"), "missing": t._("missing"),
                  "due": t._("not yet due"), "gone": t._("unit no longer exists")}
        self.render("unit.html", unit=unit, kind=unit_kind_label(t, unit.kind, names),
                    states=states, labels=labels, reports=[_report_row(t, r) for r in latest],
                    difficulties=[_difficulty_row(t, config, d, self.desk.runtime.clock())
                                  for d in open_])


# What happened to a report, as its history lists it.
REPORT_EVENTS = {"submitted": N_("sent"), "edited": N_("changed by the unit"),
                 **{s.value: label for s, label in reports.STATUS_LABELS.items()}}


def _report_row(t, report) -> dict:
    return {"id": report.id, "number": report.number, "unit": report.unit_name,
            "kind": t._(KINDS[report.kind].title) if report.kind in KINDS else report.kind,
            "day": t.date(report.activity_date) if report.activity_date else "—",
            "status": report.status.value,
            "status_label": t._(reports.STATUS_LABELS[report.status]),
            "received": t.datetime(report.created_at)}


class ReportList(Page):
    """The filterable list: period, kind, unit, unit kind, review state, words; newest first,
    a page at a time (keyset paging on the id: no count over the whole table)."""

    async def get(self) -> None:
        t, contact = self.t, self.me.contact
        config = self.desk.config
        today = self.desk.runtime.clock().astimezone(config.zone).date()
        arg = self.get_argument
        query = {"period": arg("period", ""), "kind": arg("kind", ""),
                 "unit_kind": arg("unit_kind", ""), "status": arg("status", ""),
                 "text": arg("q", "").strip()[:200]}
        unit_words = arg("unit", "").strip()[:100]
        before = arg("before", "")
        note = ""
        async with self.desk.runtime.db.read() as tx:
            names = await tx.units.kinds()
            if unit_words and contact.role is not Role.OFFICER:
                units = await tx.units.search(unit_words)
                if len(units) == 1:
                    query["unit"] = units[0].id
                else:
                    note = t._("No single unit matches “{query}”. Type its code.").format(
                        query=unit_words)
                    query["unit"] = -1
            if query["period"] and config.programme.period(query["period"]) is None:
                query["period"] = ""
            if query["kind"] not in KINDS:
                query["kind"] = ""
            found = await reports.find(self.ctx(tx), {k: v for k, v in query.items() if v},
                                       int(before) if before.isdigit() else None, PAGE + 1)
        shown = found[:PAGE]
        params = {"period": query["period"], "kind": query["kind"], "unit": unit_words,
                  "unit_kind": query["unit_kind"], "status": query["status"],
                  "q": query["text"]}
        older = ("/desk/reports?" + urlencode({**params, "before": shown[-1].id})
                 if len(found) > PAGE else "")
        periods = [(p.key, p.short_label(t)) for p in export.offered_periods(config, today)]
        self.render("reports.html", rows=[_report_row(t, r) for r in shown], params=params,
                    older=older, note=note, periods=periods,
                    kinds=[(k, t._(v.title)) for k, v in KINDS.items()],
                    unit_kinds=[(k, unit_kind_label(t, k, names)) for k in names],
                    statuses=[(s.value, t._(reports.STATUS_LABELS[s])) for s in ReportStatus],
                    officer=contact.role is Role.OFFICER, paged=bool(before))


class ReportPage(Page):
    """One report: its answers, evidence, versions and review; approve or send back."""

    async def get(self, report_id: str) -> None:
        t = self.t
        async with self.desk.runtime.db.read() as tx:
            ctx = self.ctx(tx)
            report = await reports.readable(ctx, int(report_id))
            if report is None:
                self.refuse()
                return
            files = await tx.reports.attachments(report.id)
            versions = await tx.reports.versions(report.id)
            events = await tx.reports.events(report.id)
        form = reports.FORM_OF[report.kind]
        period = self.desk.config.programme.period(report.period_key) \
            if report.period_key else None
        history = [(v.version, t.datetime(v.changed_at), v.changer_name,
                    forms.summary_lines(t, form, v.answers, skip={"evidence"}))
                   for v in versions]
        role = self.me.contact.role
        self.render(
            "report.html", report=_report_row(t, report), raw=report,
            period=period.label(t) if period else "",
            answers=forms.summary_lines(t, form, report.answers, skip={"evidence"}),
            files=files, history=history,
            events=[(t.datetime(e.at), t._(REPORT_EVENTS.get(e.kind, e.kind)), e.note or "")
                    for e in events],
            can_approve=role in reports.REVIEWERS and report.status is not ReportStatus.APPROVED,
            can_send_back=role in reports.REVIEWERS
            and report.status is ReportStatus.RECEIVED)

    async def post(self, report_id: str) -> None:
        what = self.get_body_argument("action", "")
        number = int(report_id)
        if what == "approve":
            async def run(ctx: Ctx) -> None:
                await core.press(ctx, f"rv:ok:{number}")
        elif what == "send_back":
            note = self.get_body_argument("note", "")

            async def run(ctx: Ctx) -> str | None:
                if await reports.readable(ctx, number) is None:
                    return ctx.t._("This report is not available to you.")
                return await forms.submit_typed(ctx, reports.RETURN_NOTE,
                                                {"report_id": number}, {"note": note})
        else:
            self.refuse(400)
            return
        self.done(await self.desk.act(self.me.contact, run), f"/desk/reports/{number}")


def _difficulty_row(t, config, d, now) -> dict:
    acknowledge_by, answer_by = difficulties.deadlines(config, d)
    waiting = d.status in difficulties.UNANSWERED
    return {"id": d.id, "number": d.number, "unit": d.unit_name, "urgent": d.urgency == "urgent",
            "urgency": t._(dict(difficulties.URGENCIES)[d.urgency]),
            "field": t._(dict(difficulties.FIELDS).get(d.field, d.field)),
            "status": t._(difficulties.STATUS_LABELS[d.status]),
            "age": t.ngettext("{n} day", "{n} days", (now - d.opened_at).days).format(
                n=t.number((now - d.opened_at).days)),
            "days": (now - d.opened_at).days,
            "acknowledge_by": t.datetime(acknowledge_by) if d.status.value == "open" else "",
            "answer_by": t.datetime(answer_by) if waiting else "",
            "overdue": waiting and answer_by <= now, "text": d.text}


class DifficultyList(Page):
    async def get(self) -> None:
        t = self.t
        now = self.desk.runtime.clock()
        async with self.desk.runtime.db.read() as tx:
            items = await difficulties.waiting(self.ctx(tx))
        rows = [_difficulty_row(t, self.desk.config, d, now) for d in items]
        order = self.get_argument("sort", "age")
        if order == "urgency":
            rows.sort(key=lambda r: (not r["urgent"], -r["days"]))
        self.render("difficulties.html", rows=rows, order=order)


class DifficultyPage(Page):
    async def get(self, difficulty_id: str) -> None:
        t, role = self.t, self.me.contact.role
        async with self.desk.runtime.db.read() as tx:
            d = await difficulties.visible(self.ctx(tx), int(difficulty_id))
            if d is None:
                self.refuse()
                return
            events = await tx.difficulties.events(d.id)
            files = await tx.difficulties.attachments(d.id)
        thread = [(t.datetime(e.at), *difficulties.event_parts(t, e)) for e in events]
        actions = [(c.id.split(":")[1], c.label)
                   for c in difficulties.actions(t, d, role)]
        self.render("difficulty.html", d=_difficulty_row(t, self.desk.config, d,
                                                         self.desk.runtime.clock()),
                    raw=d, thread=thread, files=files,
                    proposal=d.proposal or "", actions=actions,
                    texts=difficulties.TEXT_ACTIONS)

    async def post(self, difficulty_id: str) -> None:
        what = self.get_body_argument("action", "")
        number = int(difficulty_id)
        text = self.get_body_argument("text", "")

        async def run(ctx: Ctx) -> str | None:
            if what in difficulties.TEXT_ACTIONS:
                if await difficulties.visible(ctx, number) is None:
                    return ctx.t._("This difficulty is not available to you.")
                return await forms.submit_typed(
                    ctx, forms.FORMS[difficulties.TEXT_ACTIONS[what]], {"id": number},
                    {"text": text})
            # Resolving is asked once more in a chat; the web form asked before posting.
            await core.press(ctx, f"kk:{'resok' if what == 'res' else what}:{number}")
            return None

        if what not in ("ack", "res", "esc", *difficulties.TEXT_ACTIONS):
            self.refuse(400)
            return
        self.done(await self.desk.act(self.me.contact, run), f"/desk/difficulties/{number}")


class Broadcasts(Page):
    async def get(self) -> None:
        if not _can(self.me.contact, "broadcasts"):
            self.refuse(403)
            return
        t = self.t
        rows = []
        async with self.desk.runtime.db.read() as tx:
            for b in await tx.broadcasts.recent(limit=20):
                f = await tx.broadcasts.figures(b.id)
                missing = await tx.broadcasts.unacknowledged(b.id)
                rows.append({"id": b.id, "when": t.datetime(b.created_at), "text": b.text,
                             "recipients": f.recipients, "delivered": f.sent,
                             "read": f.acknowledged, "unreachable": f.unreachable + f.failed,
                             "waiting": f.queued,
                             "unread": sorted({unit or person for _d, _c, unit, person
                                               in missing})})
        self.render("broadcasts.html", rows=rows)


class _ChartPage(Page):
    async def chart_data(self) -> tuple[dict[str, list[int]], list[tuple[str, int]], dict] | None:
        """What the digest's chart shows (units sent per kind, reports per week) and the kinds'
        names; None, with the page refused, for someone who does not get digests."""
        if not _can(self.me.contact, "digest"):
            self.refuse(403)
            return None
        config, now = self.desk.config, self.desk.runtime.clock()
        async with self.desk.runtime.db.read() as tx:
            sent = charts.sent_by_kind(await desk.counted(tx, config,
                                                          now.astimezone(config.zone).date()))
            weekly = await tx.reports.weekly_counts(now - timedelta(weeks=8))
            return sent, weekly, await tx.units.kinds()


class Charts(_ChartPage):
    async def get(self) -> None:
        found = await self.chart_data()
        if found is None:
            return
        t, (sent, weekly, names) = self.t, found
        self.render("charts.html", sent=[(unit_kind_label(t, k, names), t.number(v[0]),
                                          t.number(v[1])) for k, v in sorted(sent.items())],
                    weekly=[(t.date(date.fromisoformat(w)), t.number(n))
                            for w, n in weekly])


class ChartImage(_ChartPage):
    async def get(self) -> None:
        found = await self.chart_data()
        if found is None:
            return
        sent, weekly, names = found
        # The digest's own chart, drawn off the event loop (about half a second).
        path = await asyncio.to_thread(charts.digest_chart, self.t, sent, weekly,
                                       self.desk.config.files_dir, self.desk.runtime.clock(),
                                       names)
        self.set_header("Content-Type", "image/png")
        self.write(await asyncio.to_thread(path.read_bytes))


class Downloads(Page):
    async def get(self) -> None:
        contact, config = self.me.contact, self.desk.config
        if not (_can(contact, "export") or _can(contact, "compile")):
            self.refuse(403)
            return
        t = self.t
        today = self.desk.runtime.clock().astimezone(config.zone).date()
        periods = [(p.key, p.short_label(t)) for p in export.offered_periods(config, today)]
        drafts = [(p.key, p.short_label(t)) for p in compile.choices(config, today)]
        made = sorted((p for p in config.files_dir.glob("baocao-*.docx")),
                      key=lambda p: p.stat().st_mtime, reverse=True)[:10] \
            if config.files_dir.is_dir() and _can(contact, "compile") else []
        self.render("downloads.html", periods=periods, drafts=drafts,
                    made=[p.name for p in made], can_export=_can(contact, "export"),
                    can_compile=_can(contact, "compile"))


class Download(Page):
    """A spreadsheet or a draft report made now by the handlers' own writers, or a draft a
    /compile job made earlier."""

    async def get(self, what: str) -> None:
        contact, config = self.me.contact, self.desk.config
        if not _can(contact, "export" if what == "export" else "compile"):
            self.refuse(403)
            return
        t, db, now = self.t, self.desk.runtime.db, self.desk.runtime.clock()
        if what == "made":
            name = self.get_argument("name", "")
            path = config.files_dir / name
            if not re.fullmatch(r"baocao-[\w.-]+\.docx", name) or not path.is_file():
                self.refuse()
                return
        else:
            period = config.programme.period(self.get_argument("period", ""))
            if period is None:
                self.refuse(400)
                return
            suffix = "xlsx" if what == "export" else "docx"
            path = config.files_dir / f"desk-{period.key}-{secrets.token_hex(4)}.{suffix}"
            config.files_dir.mkdir(parents=True, exist_ok=True)
            try:
                if what == "export":
                    await export.write_workbook(db, config, t, period, path)
                else:
                    await compile.write_report(db, config, t, period, path,
                                               self.get_argument("all", "") == "1", now)
            except compile.CompileError as exc:
                self.set_status(500)
                self.render("signed_out.html", reason=str(exc))
                return
            name = f"baocao-{period.key}.{suffix}"
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Disposition", f'attachment; filename="{name}"')
        self.write(await asyncio.to_thread(path.read_bytes))


def image_type(data: bytes) -> str | None:
    """The type of a photo from its first bytes: platforms do not say (Telegram's photos are
    JPEG; Zalo passes on what the person sent), and the desk serves files with nosniff."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


class File(Page):
    """Evidence sent with a report or a difficulty, fetched from the channel it came on."""

    async def get(self, attachment_id: str) -> None:
        async with self.desk.runtime.db.read() as tx:
            found = await tx.web.attachment(int(attachment_id))
            ctx = self.ctx(tx)
            readable = {"report": reports.readable, "difficulty": difficulties.visible}.get(
                found["owner_kind"]) if found else None
            allowed = readable is not None and await readable(ctx, found["owner_id"]) is not None
        worker = self.desk.runtime.workers.get(found["channel"]) if allowed else None
        fetch = getattr(worker.sender, "fetch", None) if worker else None
        if fetch is None:
            self.refuse()
            return
        try:
            data = await fetch(found["file_id"])
        except Exception as exc:  # the platform no longer has it, or cannot be reached
            log.info("desk: file %s not fetched (%s)", attachment_id, type(exc).__name__)
            self.refuse()
            return
        image = image_type(data) if found["kind"] == "photo" else None
        self.set_header("Content-Type", image or "application/octet-stream")
        if image is None:  # a document, or a "photo" that is no image we know: downloaded
            name = re.sub(r"[^\w.-]", "_", found["name"] or "file")
            self.set_header("Content-Disposition", f'attachment; filename="{name}"')
        self.write(data)


class Static(tornado.web.StaticFileHandler):
    def set_extra_headers(self, path: str) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")


def routes(runtime) -> list:
    """The desk's routes, for the one web server (bot/health.py)."""
    desk_ = Desk(runtime)
    pages = [(r"/desk/?", Status), (r"/desk/signin", SignIn), (r"/desk/signout", SignOut),
             (r"/desk/app", MiniApp), (r"/desk/units/(\d+)", Unit),
             (r"/desk/reports", ReportList), (r"/desk/reports/(\d+)", ReportPage),
             (r"/desk/difficulties", DifficultyList),
             (r"/desk/difficulties/(\d+)", DifficultyPage), (r"/desk/broadcasts", Broadcasts),
             (r"/desk/charts", Charts), (r"/desk/chart.png", ChartImage),
             (r"/desk/downloads", Downloads), (r"/desk/download/(export|compile|made)", Download),
             (r"/desk/files/(\d+)", File)]
    return [(pattern, page, {"desk": desk_}) for pattern, page in pages] + [
        (r"/desk/static/(.*)", Static, {"path": str(HERE / "static")})]

"""Double taps: the same button pressed twice on the same message, before the bot's answer to
the first press is seen (two updates with their own ids), has the effect of one press, for
every kind of button the bot shows. The second press is still answered."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable

import pytest

from handlers import forms
from handlers.context import Ctx
from handlers.core import ACTIONS, CALLBACKS
from handlers.forms import Form, Kind, Question
from handlers.state import Session
from handlers.types import Inbound
from locales.i18n import translator
from storage.models import Role
from tests.telegram_fakes import Chat, Harness, Sent, invite, register
from tests.test_search import seed_reports

# Rows that record traffic rather than effects; timestamps move with the clock between taps.
TRAFFIC = {"outbox", "processed_updates", "schema_migrations"}
# What the bot says when a press is refused: the first press of each case must not get this.
REFUSALS = ("không hợp lệ", "không dành cho vai trò", "không có quyền", "không thực hiện được",
            "không còn hiệu lực", "bước trước")

Reach = Callable[[Harness], Awaitable[tuple[Chat, Sent, str]]]


def _timeless(column: str) -> bool:
    return column != "at" and not column.endswith("_at")


async def table_names(tx) -> list[str]:
    """The tables, on either backend."""
    if tx.conn.__class__.__name__ == "PgConnection":
        query = ("SELECT table_name FROM information_schema.tables WHERE table_schema = "
                 "current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name")
    else:
        query = ("SELECT name FROM sqlite_master WHERE type = 'table' "
                 "AND name NOT LIKE 'sqlite_%' ORDER BY name")
    return [r[0] for r in await tx.conn.execute_fetchall(query)]


async def snapshot(h: Harness) -> dict[str, list[tuple]]:
    """Every table that holds the program's state, without timestamps."""
    found = {}
    async with h.runtime.db.read() as tx:
        for name in await table_names(tx):
            if name in TRAFFIC:
                continue
            cursor = await tx.conn.execute(f"SELECT * FROM {name}")  # noqa: S608 (our names)
            columns = [d[0] for d in cursor.description]
            keep = [i for i, column in enumerate(columns) if _timeless(column)]
            found[name] = [tuple(row[i] for i in keep) for row in await cursor.fetchall()]
    return found


async def queued(h: Harness, after: int) -> list[tuple[str, str]]:
    """(chat, text) of the messages queued after outbox row `after`."""
    async with h.runtime.db.read() as tx:
        rows = await tx.conn.execute_fetchall(
            "SELECT chat_id, payload FROM outbox WHERE id > ? ORDER BY id", (after,))
    return [(row[0], json.loads(row[1]).get("text", "")) for row in rows]


async def scalar(h: Harness, query: str) -> int:
    async with h.runtime.db.read() as tx:
        rows = await tx.conn.execute_fetchall(query)
    return rows[0][0]


async def last_outbox_id(h: Harness) -> int:
    return await scalar(h, "SELECT COALESCE(MAX(id), 0) FROM outbox")


def newest(chat: Chat, pattern: str) -> tuple[Sent, str]:
    """The newest message of the chat with a button whose data matches, and that data."""
    for sent in reversed(chat.h.request.sent(chat.chat_id)):
        for _label, data in sent.buttons:
            if re.fullmatch(pattern, data):
                return sent, data
    raise AssertionError(f"no button {pattern!r}; last: {chat.last().text!r} "
                         f"{chat.last().buttons!r}")


def form_button(value: str) -> str:
    return rf"f:\d+:{re.escape(value)}"


async def tap(chat: Chat, pattern: str) -> None:
    sent, data = newest(chat, pattern)
    await chat.press_data(data, sent)


Step = str | Callable[[Harness, Chat], Awaitable[None]]


async def act(h: Harness, chat: Chat, *steps: Step) -> None:
    """Steps of a conversation: 'f:VALUE' presses that form button, 'tap:PATTERN' the newest
    button whose data matches, other text is typed; a callable does something else."""
    for step in steps:
        if callable(step):
            await step(h, chat)
        elif step.startswith("f:"):
            await tap(chat, form_button(step[2:]))
        elif step.startswith("tap:"):
            await tap(chat, step[4:])
        else:
            await chat.say(step)


# ---------------------------------------------------------------------------------------------
# People, and the ways to where each button is shown

async def officer(h: Harness) -> Chat:
    return await register(h, 501, "Trần Thị Bình")


async def coordinator(h: Harness) -> Chat:
    return await register(h, 301, "Phạm Văn Điều", Role.COORDINATOR, unit="SO-TTTT")


async def leader(h: Harness) -> Chat:
    return await register(h, 401, "Lê Văn Lãnh", Role.LEADER, unit=None)


async def admin(h: Harness) -> Chat:
    chat = h.chat(1, "Quản trị")
    await chat.say("/start")
    return chat


PLAN_UNTIL_EVIDENCE = ("/report", "tap:rk:plan", "45/KH-UBND", "02/03/2026",
                       "Kế hoạch triển khai", "Phân công nhiệm vụ")
PLAN_SUMMARY = (*PLAN_UNTIL_EVIDENCE, "f:skip")
PLAN = (*PLAN_SUMMARY, "f:ok")
STUDY_GROUP_TOGGLED = ("/report", "tap:rk:study", "hôm nay", "f:in_person", "f:party")
DIFFICULTY = ("/difficulty", "Thiếu kinh phí in tài liệu", "f:funding", "f:normal", "f:skip",
              "f:skip", "f:ok")
NOTICE = ("/broadcast", "Họp giao ban lúc 14:00", "f:skip", "f:all", "f:now", "f:ok")


async def _idle(h: Harness, _chat: Chat) -> None:
    h.clock.advance(hours=13)
    await h.runtime.tick()
    await h.drain()


async def _eleven_reports(h: Harness, _chat: Chat) -> None:
    await seed_reports(h, 11)


async def _an_invite(h: Harness, _chat: Chat) -> None:
    await invite(h)


async def _photo(_h: Harness, chat: Chat) -> None:
    await chat.send_photo()


async def _yes_no_form(h: Harness, chat: Chat) -> None:
    """No form of the product asks yes or no yet: open one as a handler would."""
    async with h.runtime.db.transaction() as tx:
        contact = await tx.contacts.by_identity("telegram", str(chat.user_id))
        flow, state, _at = await tx.sessions.get(contact.id)
        ctx = Ctx(tx, Inbound("telegram", "setup", str(chat.user_id), str(chat.chat_id)),
                  contact, translator("vi"), h.clock(), h.runtime.config, flow, Session.load(state))
        await forms.start(ctx, YES_NO_FORM)
        tx.sessions.save(contact.id, ctx.flow, ctx.state.dump(), h.clock())
        await h.runtime.write(tx, ctx.out, h.clock())
    await h.drain()


async def _another_invite(h: Harness, chat: Chat) -> None:
    await chat.say(f"/start {await invite(h, Role.COORDINATOR, 'SO-TTTT')}")


async def _linked_on_zalo(h: Harness, chat: Chat) -> None:
    """The person's /link code used on another app: their Telegram chat gets an Undo button."""
    await chat.say("/link")
    code = re.search(r"/start (\w+)", chat.last().text).group(1)
    await h.runtime.handle(Inbound("zalo", "z-upd-1", "z-1", "z-1", text=f"/start {code}",
                                   name="Bình trên Zalo"))
    await h.drain()


async def admin_after_officer(h: Harness) -> Chat:
    """An officer (#1), then the admin (#2) who manages them."""
    await officer(h)
    return await admin(h)


async def _noted(ctx: Ctx, _answers: dict, _params: dict) -> None:
    ctx.reply("Đã lưu.")


YES_NO_FORM = forms.register(Form(
    id="tap_yes_no", title="Yes or no", roles=frozenset({Role.OFFICER}), submit=_noted,
    questions=(Question("ok", Kind.YESNO, "Agreed", "Agreed?"),
               Question("note", Kind.TEXT, "Note", "A note?"))))


def shown(who, pattern: str, *steps: Step) -> Reach:
    """A case: `who` (made by this maker) does `steps`; then the newest button of
    their chat whose data matches `pattern` is the one tapped twice."""
    async def reach(h: Harness) -> tuple[Chat, Sent, str]:
        chat = await who(h)
        await act(h, chat, *steps)
        sent, data = newest(chat, pattern)
        return chat, sent, data
    return reach


def desk_after(*unit_steps: Step):
    """A coordinator, then an officer who does `unit_steps`."""
    async def make(h: Harness) -> Chat:
        desk = await coordinator(h)
        await act(h, await officer(h), *unit_steps)
        return desk
    return make


def after_difficulty(desk_step: str | tuple[str, ...] | None, who: str):
    """A leader, a coordinator and an officer who reports a difficulty; the coordinator takes
    `desk_step`; then the chat of `who`."""
    async def make(h: Harness) -> Chat:
        people = {"leader": await leader(h), "desk": await coordinator(h),
                  "unit": await officer(h)}
        await act(h, people["unit"], *DIFFICULTY)
        if desk_step:  # one step, or several in a tuple
            await act(h, people["desk"], *((desk_step,) if isinstance(desk_step, str)
                                           else desk_step))
        return people[who]
    return make


def after_notice(who: str):
    """An officer, and an admin who sends a notice to every unit; then the chat of `who`."""
    async def make(h: Harness) -> Chat:
        people = {"unit": await officer(h), "admin": await admin(h)}
        await act(h, people["admin"], *NOTICE)
        await h.drain()
        return people[who]
    return make


ID = r"\d+"
TAPS: dict[str, Reach] = {
    "lang": shown(officer, "lang:en", "/language"),
    "d": shown(officer, "d:report_plan", "/report", "tap:rk:plan", "45/KH-UBND", _idle),
    "d:-": shown(officer, "d:-report_plan", "/report", "tap:rk:plan", "45/KH-UBND", _idle),
    "rk": shown(officer, "rk:plan", "/report"),
    "rk:periodic": shown(officer, "rk:periodic", "/report"),
    "rp": shown(officer, f"rp:{ID}", "/report", "tap:rk:periodic"),
    "r:open": shown(officer, f"r:open:{ID}", *PLAN),
    "r:edit": shown(officer, f"r:edit:{ID}", *PLAN, f"tap:r:open:{ID}"),
    "r:hist": shown(desk_after(*PLAN, f"tap:r:open:{ID}", f"tap:r:edit:{ID}", "f:chg", "f:q0",
                               "45/KH-UBND-2", "f:ok"),
                    f"r:hist:{ID}", "/reports", f"tap:r:open:{ID}"),
    "rf": shown(desk_after(*PLAN), r"rf:\d*:plan", "/reports"),
    "rq": shown(desk_after(_eleven_reports), f"rq:{ID}", "/reports"),
    "rv:ok": shown(desk_after(*PLAN), f"rv:ok:{ID}"),
    "rv:back": shown(desk_after(*PLAN), f"rv:back:{ID}"),
    "rv:all": shown(desk_after(*PLAN), rf"rv:all:{ID}:{ID}", "/reports le chan"),
    "rv:allok": shown(desk_after(*PLAN), rf"rv:allok:{ID}:{ID}:{ID}", "/reports le chan",
                      rf"tap:rv:all:{ID}:{ID}"),
    "kk:open": shown(after_difficulty(None, "desk"), f"kk:open:{ID}", "/difficulties"),
    "kk:ack": shown(after_difficulty(None, "desk"), f"kk:ack:{ID}"),
    "kk:ans": shown(after_difficulty(None, "desk"), f"kk:ans:{ID}"),
    "kk:res": shown(after_difficulty(None, "desk"), f"kk:res:{ID}"),
    "kk:resok": shown(after_difficulty(f"tap:kk:res:{ID}", "desk"), f"kk:resok:{ID}"),
    "kk:esc": shown(after_difficulty(None, "desk"), f"kk:esc:{ID}"),
    "kk:rep": shown(after_difficulty(f"tap:kk:ack:{ID}", "unit"), f"kk:rep:{ID}"),
    "kk:reo": shown(after_difficulty((f"tap:kk:res:{ID}", f"tap:kk:resok:{ID}"), "unit"),
                    f"kk:reo:{ID}"),
    "kk:ret": shown(after_difficulty(f"tap:kk:esc:{ID}", "leader"), f"kk:ret:{ID}"),
    "kf": shown(after_difficulty(None, "desk"), "kf:u", "/difficulties"),
    "st:year": shown(coordinator, f"st:year:{ID}", "/status"),
    "st:miss": shown(coordinator, r"st:miss:.+", "/status"),
    "rm": shown(desk_after(), r"rm:.+", "/status", r"tap:st:miss:.+"),
    "dx": shown(coordinator, r"dx:.+", "/status", r"tap:st:miss:.+"),
    "set:each": shown(coordinator, "set:each:off", "/settings"),
    "set:hour": shown(coordinator, "set:hour:10", "/settings"),
    "bc:ack": shown(after_notice("unit"), f"bc:ack:{ID}"),
    "bc:st": shown(after_notice("admin"), f"bc:st:{ID}"),
    "bc:cx": shown(after_notice("admin"), f"bc:cx:{ID}"),
    "bc:open": shown(after_notice("admin"), f"bc:open:{ID}", "/broadcasts"),
    "bc:rem": shown(after_notice("admin"), f"bc:rem:{ID}", "/broadcasts", f"tap:bc:open:{ID}"),
    "ex": shown(coordinator, f"ex:{ID}", "/export"),
    "cp": shown(coordinator, f"cp:{ID}", "/compile"),
    "dl": shown(admin, r"dl:.+", "/deadlines"),
    "rd": shown(officer, r"rd:[A-Z0-9]+", _another_invite),
    "rd:-": shown(officer, "rd:-", _another_invite),
    "ul": shown(officer, "ul:zalo:z-1", _linked_on_zalo),
    "pp": shown(admin_after_officer, r"pp:\d+", "/people"),
    "pp:off": shown(admin_after_officer, "pp:off:1", "/people #1"),
    "pp:on": shown(admin_after_officer, "pp:on:1", "/people #1", "tap:pp:off:1", "/people #1"),
    "pp:rm": shown(admin_after_officer, "pp:rm:1:telegram:501", "/people #1"),
    "pp:role": shown(admin_after_officer, "pp:role:1", "/people #1"),
    "iv": shown(admin, r"iv:rv:.+", _an_invite, "/invites"),
    # Form buttons: f:STEP:VALUE
    "f:choice": shown(officer, form_button("conference"), "/report", "tap:rk:dissemination"),
    "f:yesno": shown(officer, form_button("yes"), _yes_no_form),
    "f:multi": shown(officer, form_button("officials"), *STUDY_GROUP_TOGGLED),
    "f:multi-done": shown(officer, form_button("done"), *STUDY_GROUP_TOGGLED),
    "f:attachment-done": shown(officer, form_button("done"), *PLAN_UNTIL_EVIDENCE, _photo),
    "f:skip": shown(officer, form_button("skip"), *PLAN_UNTIL_EVIDENCE),
    "f:confirm": shown(officer, form_button("ok"), *PLAN_SUMMARY),
    "f:change": shown(officer, form_button("chg"), *PLAN_SUMMARY),
    "f:cancel": shown(officer, form_button("cxl"), *PLAN_SUMMARY),
    "f:pick": shown(officer, form_button("q2"), *PLAN_SUMMARY, "f:chg"),
}
# Every menu button, pressed by someone whose menu shows it.
MAKERS = {Role.OFFICER: officer, Role.COORDINATOR: coordinator, Role.LEADER: leader,
          Role.ADMIN: admin}
for _name, _action in ACTIONS.items():
    if _action.in_menu:
        _role = next(r for r in MAKERS if r in (_action.menu_roles or _action.roles))
        TAPS[f"m:{_name}"] = shown(MAKERS[_role], f"m:{_name}")


def test_every_kind_of_button_has_a_double_tap_case():
    prefixes = {kind.split(":")[0] for kind in TAPS}
    assert prefixes == set(CALLBACKS) | {"m", "f"}
    assert {kind for kind in TAPS if kind.startswith("m:")} == {
        f"m:{name}" for name, found in ACTIONS.items() if found.in_menu}
    assert {kind for kind in TAPS if kind.startswith("f:")} == {
        "f:choice", "f:yesno", "f:multi", "f:multi-done", "f:attachment-done", "f:skip",
        "f:confirm", "f:change", "f:cancel", "f:pick"}


@pytest.mark.parametrize("kind", list(TAPS))
async def test_a_double_tap_has_the_effect_of_one_tap(harness, kind):
    h = harness
    chat, sent, data = await TAPS[kind](h)
    assert data.startswith("f:" if kind.startswith("f:") else kind), data
    before = await last_outbox_id(h)
    await chat.press_data(data, sent, drain=False)
    once = await snapshot(h)
    first = [text for to, text in await queued(h, before) if to == str(chat.chat_id)]
    assert first, "the first tap is answered"
    assert not any(refusal in text for text in first for refusal in REFUSALS), first
    between = await last_outbox_id(h)
    await chat.press_data(data, sent, drain=False)  # the same button again, at once
    twice = await snapshot(h)
    second = await queued(h, between)
    assert second, "the second tap is answered too"
    assert {to for to, _text in second} == {str(chat.chat_id)}, f"sent to others: {second}"
    changed = {table for table in once if once[table] != twice[table]}
    assert not changed, {table: (once[table], twice[table]) for table in changed}
    await h.drain()


async def test_double_tap_on_a_report_kind_then_the_report_goes_on(harness):
    h = harness
    chat = await officer(h)
    await chat.say("/report")
    sent, data = newest(chat, "rk:plan")
    await chat.press_data(data, sent, drain=False)
    await chat.press_data(data, sent, drain=False)
    await h.drain()
    again = chat.last().text
    assert "đã bấm nút này rồi" in again and "Số, ký hiệu văn bản" in again
    await act(h, chat, *PLAN[2:])
    assert "BC-2026-0001" in chat.last().text
    assert await scalar(h, "SELECT COUNT(*) FROM drafts") == 0
    assert await scalar(h, "SELECT COUNT(*) FROM reports") == 1


async def test_double_tap_on_an_option_selects_it_once(harness):
    h = harness
    chat = await officer(h)
    await act(h, chat, *STUDY_GROUP_TOGGLED[:-1])
    sent, data = newest(chat, form_button("party"))
    await chat.press_data(data, sent, drain=False)
    await chat.press_data(data, sent, drain=False)
    await h.drain()
    labels = [label for label, _data in sent.buttons]  # the question, redrawn in place
    assert "✓ Đảng viên" in labels and sum(label.startswith("✓") for label in labels) == 1
    await act(h, chat, "f:officials", "f:done")
    async with h.runtime.db.read() as tx:
        state = (await tx.sessions.get(1))[1]
    assert state["form"]["answers"]["groups"] == ["officials", "party"]


async def test_export_and_send_back_are_not_done_twice_from_two_messages(harness):
    h = harness
    desk = await coordinator(h)
    await desk.say("/export")
    await desk.say("/export")
    # The second press comes while the first spreadsheet is still being made.
    await desk.press_data("ex:2026", h.request.sent(desk.chat_id)[-2], drain=False)
    await desk.press_data("ex:2026", desk.last())
    assert any("đang được chuẩn bị" in text for text in desk.texts()[-2:]), desk.texts()[-4:]
    assert await scalar(h, "SELECT COUNT(*) FROM jobs") == 1

    await act(h, await officer(h), *PLAN)
    await act(h, desk, f"tap:rv:back:{ID}", "Bổ sung số liệu")
    in_group = h.chat(301, "Phạm Văn Điều", chat_id=-100900)  # the coordinators' group
    await act(h, in_group, f"tap:rv:back:{ID}")
    assert "đã được trả lại trước đó" in in_group.last().text
    await act(h, desk, "/reports", f"tap:r:open:{ID}")
    assert [data for _label, data in desk.last().buttons] == ["rv:ok:1"]

"""Difficulties: a unit reports one, the coordinating department answers, resolves or escalates
it to the leaders; every message and change is an event of its thread.

```mermaid
stateDiagram-v2
    [*] --> open: officer reports (KK-YYYY-NNNN), coordinators pushed at once
    open --> acknowledged: coordinator
    open --> answered: coordinator answers
    acknowledged --> answered: coordinator answers
    open --> escalated: coordinator, or not answered in time
    acknowledged --> escalated
    answered --> escalated
    escalated --> answered: leader answers
    escalated --> acknowledged: leader sends it back with an instruction
    open --> resolved
    acknowledged --> resolved
    answered --> resolved
    escalated --> resolved
    resolved --> open: the unit reopens it with a reason
```
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from handlers import forms
from handlers.context import Config, Ctx
from handlers.core import Action, action, callback, start_form
from handlers.forms import Form, Kind, Question
from handlers.text import esc, parse_id, person
from handlers.types import Attachment, Choice, Outgoing, Reply
from locales.i18n import N_, Translator
from storage.difficulties import Difficulty, DifficultyEvent, DifficultyStatus
from storage.models import Role
from storage.repos import Tx

OFFICERS = frozenset({Role.OFFICER})
# Admins have the coordinator's views and buttons (README).
DESK = frozenset({Role.COORDINATOR, Role.LEADER, Role.ADMIN})
Status = DifficultyStatus

FIELDS = (
    ("guidance", N_("Plans and guidance")),
    ("funding", N_("Funding")),
    ("staff", N_("Staff")),
    ("facilities", N_("Facilities and equipment")),
    ("coordination", N_("Coordination between agencies")),
    ("hostile", N_("Hostile information online")),
    ("other", N_("Other")),
)
URGENCIES = (("normal", N_("Normal")), ("urgent", N_("Urgent")))
STATUS_LABELS = {Status.OPEN: N_("waiting to be acknowledged"),
                 Status.ACKNOWLEDGED: N_("acknowledged"), Status.ANSWERED: N_("answered"),
                 Status.RESOLVED: N_("resolved"), Status.ESCALATED: N_("with the leaders")}
EVENT_LABELS = {"opened": N_("reported"), "acknowledged": N_("acknowledged"),
                "answer": N_("answered"), "reply": N_("replied"), "resolved": N_("resolved"),
                "escalated": N_("escalated to the leaders"),
                "instruction": N_("sent back with an instruction"), "reopened": N_("reopened")}
UNANSWERED = [Status.OPEN, Status.ACKNOWLEDGED]
NOT_RESOLVED = [Status.OPEN, Status.ACKNOWLEDGED, Status.ANSWERED, Status.ESCALATED]


def _label(t: Translator, options: Sequence[tuple[str, str]], value: str) -> str:
    return t._(dict(options).get(value, value))


def headline(t: Translator, difficulty: Difficulty) -> str:
    mark = "🔴 " if difficulty.urgency == "urgent" else ""
    return (f"{mark}<b>{difficulty.number}</b> · {esc(difficulty.unit_name)} · "
            f"{_label(t, FIELDS, difficulty.field)} · {_label(t, URGENCIES, difficulty.urgency)}")


def _buttons(t: Translator, difficulty: Difficulty, role: Role) -> tuple[Choice, ...]:
    """The actions open to a role on a difficulty in its current state."""
    d, status = difficulty.id, difficulty.status
    if role is Role.OFFICER:
        if status is Status.RESOLVED:
            return (Choice(f"kk:reo:{d}", t._("Reopen")),)
        return (Choice(f"kk:rep:{d}", t._("Reply")),)
    if status is Status.RESOLVED:
        return ()
    if role is Role.LEADER:
        if status is not Status.ESCALATED:
            return ()
        return (Choice(f"kk:ans:{d}", t._("Answer")),
                Choice(f"kk:ret:{d}", t._("Send back to coordinators")),
                Choice(f"kk:res:{d}", t._("Resolve")))
    if status is Status.ESCALATED:
        return ()
    buttons = [Choice(f"kk:ack:{d}", t._("Acknowledge"))] if status is Status.OPEN else []
    return (*buttons, Choice(f"kk:ans:{d}", t._("Answer")), Choice(f"kk:res:{d}", t._("Resolve")),
            Choice(f"kk:esc:{d}", t._("Escalate to leaders")))


async def _tell(tx: Tx, config: Config, roles: list[Role], difficulty: Difficulty,
                text_for: Callable[[Translator], str], unit_only: bool = False,
                group: bool = False) -> list[Outgoing]:
    """A message to everyone reachable with these roles (of the difficulty's unit, if
    `unit_only`), each in their language with the buttons of their role."""
    out = []
    people = await tx.contacts.reachable_identities(
        roles=roles, unit_id=difficulty.unit_id if unit_only else None)
    targets: list[tuple[str, str, int | None, str, Role]] = [
        (identity.channel, identity.chat_id, contact.id, contact.language, contact.role)
        for contact, identity in people]
    if group and config.coordinator_chat_id:
        targets.append(("telegram", config.coordinator_chat_id, None, config.default_locale,
                        Role.COORDINATOR))
    for channel, chat_id, contact_id, language, role in targets:
        t = config.translator(language)
        out.append(Outgoing(channel, chat_id,
                            Reply(text_for(t), _buttons(t, difficulty, role)), contact_id))
    return out


# ---------------------------------------------------------------------------------------------
# Reporting a difficulty

async def _submit(ctx: Ctx, answers: dict, _params: dict) -> None:
    t = ctx.t
    assert ctx.contact.unit_id is not None  # the form is for officers, each of one unit
    difficulty = await ctx.tx.difficulties.create(
        unit_id=ctx.contact.unit_id, contact_id=ctx.contact.id, field=answers["field"],
        urgency=answers["urgency"], text=answers["text"], proposal=answers.get("proposal"),
        attachments=answers.get("evidence") or [], channel=ctx.event.channel, now=ctx.now,
        local_year=ctx.today.year)
    ctx.reply(t._("Difficulty <b>{number}</b> was sent to the {body}. You will be told here "
                  "when it is acknowledged and answered.").format(
        number=difficulty.number, body=ctx.config.body(t)))

    def text_for(tt: Translator) -> str:
        return "\n".join([tt._("🆘 New difficulty") + " " + headline(tt, difficulty),
                          esc(difficulty.text), *proposal_line(tt, difficulty)])

    ctx.out += await _tell(ctx.tx, ctx.config, [Role.COORDINATOR], difficulty, text_for,
                           group=True)


DIFFICULTY_FORM = forms.register(Form(
    id="difficulty", title=N_("Difficulty or obstacle"), roles=OFFICERS, submit=_submit,
    questions=(
        Question("text", Kind.TEXT, N_("Difficulty"),
                 N_("Describe the difficulty or obstacle your unit meets."), max_length=3000),
        Question("field", Kind.CHOICE, N_("Field"), N_("Which field is it in?"), options=FIELDS),
        Question("urgency", Kind.CHOICE, N_("Urgency"), N_("How urgent is it?"),
                 options=URGENCIES),
        Question("proposal", Kind.TEXT, N_("Proposal"),
                 N_("What do you propose (a decision, support, guidance)?"), optional=True,
                 max_length=2000),
        Question("evidence", Kind.ATTACHMENT, N_("Documents"),
                 N_("Documents or photos that show the problem?"), optional=True),
    )))


async def _difficulty(ctx: Ctx, _args: str) -> None:
    if ctx.contact.unit_id is None:
        ctx.reply(ctx.t._("You are not attached to a unit."))
        return
    await start_form(ctx, DIFFICULTY_FORM)


# ---------------------------------------------------------------------------------------------
# Viewing and acting

async def visible(ctx: Ctx, difficulty_id: int) -> Difficulty | None:
    """The difficulty if this person may see it (officers: their own unit's), without a word."""
    difficulty = await ctx.tx.difficulties.get(difficulty_id)
    if difficulty is None or (ctx.role is Role.OFFICER
                              and difficulty.unit_id != ctx.contact.unit_id):
        return None
    return difficulty


async def waiting(ctx: Ctx, limit: int = 200) -> list[Difficulty]:
    """The difficulties this person follows, oldest first: leaders those escalated to them,
    officers their unit's, the others every one not resolved (as /difficulties lists them)."""
    statuses = [Status.ESCALATED] if ctx.role is Role.LEADER else NOT_RESOLVED
    unit_id = ctx.contact.unit_id if ctx.role is Role.OFFICER else None
    return await ctx.tx.difficulties.listing(statuses=statuses, unit_id=unit_id, limit=limit)


def deadlines(config: Config, difficulty: Difficulty) -> tuple[datetime, datetime]:
    """When it must be acknowledged and answered by (working hours from its opening)."""
    programme, limits = config.programme, config.programme.difficulties
    opened = difficulty.opened_at.astimezone(config.zone)
    return (programme.add_working_hours(opened, limits.acknowledge_hours[difficulty.urgency]),
            programme.add_working_hours(opened, limits.answer_hours[difficulty.urgency]))


def actions(t: Translator, difficulty: Difficulty, role: Role) -> tuple[Choice, ...]:
    """What a role may do to a difficulty now (the buttons a chat shows)."""
    return _buttons(t, difficulty, role)


# The action that needs a text, by its button -> the form that takes the text.
TEXT_ACTIONS = {"ans": "difficulty_answer", "rep": "difficulty_reply",
                "ret": "difficulty_return", "reo": "difficulty_reopen"}


async def _visible(ctx: Ctx, difficulty_id: str) -> Difficulty | None:
    number = parse_id(difficulty_id)
    difficulty = await visible(ctx, number) if number is not None else None
    if difficulty is None:
        await ctx.refuse(ctx.t._("This difficulty is not available to you."))
        return None
    return difficulty


def event_parts(t: Translator, event: DifficultyEvent) -> tuple[str, str, str]:
    """(who, what, text) of a thread event, in the reader's language: the clock's own steps
    name the system as their actor and say why, not an internal word."""
    who = person(t, event.who, event.erased, event.who_unit) or t._("Baocao (automatic)")
    text = event.text or ""
    if event.kind == "escalated" and event.contact_id is None and text == "overdue":
        text = t._("not answered in time")
    return who, t._(EVENT_LABELS.get(event.kind, event.kind)), text


def proposal_line(t: Translator, difficulty: Difficulty) -> list[str]:
    """The unit's proposal (Đề xuất), when it made one."""
    if not difficulty.proposal:
        return []
    return [t._("Proposal: {text}").format(text=esc(difficulty.proposal))]


async def show(ctx: Ctx, difficulty: Difficulty) -> None:
    t = ctx.t
    lines = [headline(t, difficulty),
             t._("State: {state}").format(state=t._(STATUS_LABELS[difficulty.status])),
             *proposal_line(t, difficulty), ""]
    for event in await ctx.tx.difficulties.events(difficulty.id):
        who, what, text = event_parts(t, event)
        line = f"{t.datetime(event.at)} · {esc(who)}: {what}"
        if text:
            line += f"\n  {esc(text)}"
        lines.append(line)
    files = await ctx.tx.difficulties.attachments(difficulty.id)
    attachments = tuple(Attachment(f["kind"], f["file_id"], f["name"]) for f in files
                        if f["channel"] == ctx.event.channel)
    ctx.reply("\n".join(lines), _buttons(t, difficulty, ctx.role), attachments)


def _refuse(ctx: Ctx, difficulty: Difficulty) -> None:
    ctx.reply(ctx.t._("{number} is {state}; this action is not available to you now.").format(
        number=difficulty.number, state=ctx.t._(STATUS_LABELS[difficulty.status])))


@callback("kk", frozenset(Role))
async def _act(ctx: Ctx, rest: str) -> None:
    what, _, target = rest.partition(":")
    difficulty = await _visible(ctx, target)
    if difficulty is None:
        return
    if what == "open":
        if await ctx.in_private():
            await show(ctx, difficulty)
        return
    allowed = {c.id.split(":")[1] for c in _buttons(ctx.t, difficulty, ctx.role)}
    if (what if what != "resok" else "res") not in allowed:
        _refuse(ctx, difficulty)
        return
    if what == "ack":
        await _acknowledge(ctx, difficulty)
    elif what == "res":  # closing a thread tells the unit: asked once more, on purpose
        ctx.reply(ctx.t._("Mark {headline} as resolved? The unit will be told; it can reopen "
                          "it with a reason.").format(headline=headline(ctx.t, difficulty)),
                  [Choice(f"kk:resok:{difficulty.id}", ctx.t._("Yes, resolved")),
                   Choice(f"kk:open:{difficulty.id}", ctx.t._("Not now"))])
    elif what == "resok":
        await _resolve(ctx, difficulty)
    elif what == "esc":
        await escalate(ctx.tx, ctx.config, difficulty, ctx.contact.id, ctx.now, ctx.out)
        ctx.reply(ctx.t._("{number} was sent to the leaders.").format(number=difficulty.number))
    else:  # answer, reply, send back, reopen: each needs a text
        if not await ctx.go_private():
            ctx.reply(ctx.t._("Please open a private chat with the bot first."))
            return
        form = forms.FORMS[TEXT_ACTIONS[what]]
        await forms.start(ctx, form, {"id": difficulty.id}, intro=headline(ctx.t, difficulty))


async def _acknowledge(ctx: Ctx, difficulty: Difficulty) -> None:
    tx = ctx.tx
    await tx.difficulties.set_status(difficulty.id, Status.ACKNOWLEDGED, ctx.now)
    await tx.difficulties.add_event(difficulty.id, "acknowledged", ctx.contact.id, None, ctx.now)
    acknowledged = difficulty.model_copy(update={"status": Status.ACKNOWLEDGED})
    # The pressed message loses its buttons; the next steps come with the confirmation.
    ctx.reply(ctx.t._("{number} acknowledged; the unit was told.").format(
        number=difficulty.number), _buttons(ctx.t, acknowledged, ctx.role))
    ctx.out += await _tell(tx, ctx.config, [Role.OFFICER], acknowledged, lambda t: t._(
        "👀 The {body} has acknowledged {number} and is handling it.").format(
        number=difficulty.number, body=ctx.config.body(t)), unit_only=True)


async def _resolve(ctx: Ctx, difficulty: Difficulty) -> None:
    tx = ctx.tx
    await tx.difficulties.set_status(difficulty.id, Status.RESOLVED, ctx.now)
    await tx.difficulties.add_event(difficulty.id, "resolved", ctx.contact.id, None, ctx.now)
    resolved = difficulty.model_copy(update={"status": Status.RESOLVED})
    ctx.reply(ctx.t._("{number} resolved; the unit was told.").format(number=difficulty.number))
    ctx.out += await _tell(tx, ctx.config, [Role.OFFICER], resolved, lambda t: t._(
        "✅ {number} was marked resolved. If the problem remains, press Reopen and say why.")
        .format(number=difficulty.number), unit_only=True)


async def escalate(tx: Tx, config: Config, difficulty: Difficulty, contact_id: int | None,
                   now: datetime, out: list[Outgoing], overdue: bool = False) -> None:
    """Hand a difficulty to the leaders (by a coordinator, or by the clock when unanswered)."""
    await tx.difficulties.set_status(difficulty.id, Status.ESCALATED, now)
    await tx.difficulties.add_event(difficulty.id, "escalated", contact_id,
                                    "overdue" if overdue else None, now)
    escalated = difficulty.model_copy(update={"status": Status.ESCALATED})

    def for_leaders(t: Translator) -> str:
        why = (t._("not answered in time") if overdue
               else t._("passed on by the coordinators"))
        return "\n".join([t._("🔺 Difficulty for your decision ({why})").format(why=why),
                          headline(t, escalated), esc(difficulty.text),
                          *proposal_line(t, escalated)])

    out += await _tell(tx, config, [Role.LEADER], escalated, for_leaders)
    if overdue:  # the coordinators did not do it themselves: they must know it left them
        out += await _tell(tx, config, [Role.COORDINATOR], escalated, lambda t: t._(
            "🔺 {headline} was not answered in time and has gone to the leaders.").format(
            headline=headline(t, escalated)), group=True)
    out += await _tell(tx, config, [Role.OFFICER], escalated, lambda t: t._(
        "🔺 {number} has been passed to the leaders for a decision.").format(
        number=difficulty.number), unit_only=True)


async def _on_text(ctx: Ctx, answers: dict, params: dict, kind: str) -> None:
    """An answer, a reply, an instruction or a reason to reopen: an event, and who is told."""
    t, tx = ctx.t, ctx.tx
    difficulty = await tx.difficulties.get(params["id"])
    allowed_before = {"answer": "ans", "reply": "rep", "instruction": "ret", "reopened": "reo"}
    # Checked again at the end: the form may have been opened before the person moved to
    # another unit (an officer then no longer speaks for this difficulty's unit).
    if difficulty is None or allowed_before[kind] not in {
            c.id.split(":")[1] for c in _buttons(t, difficulty, ctx.role)} or (
            ctx.role is Role.OFFICER and difficulty.unit_id != ctx.contact.unit_id):
        ctx.reply(t._("This difficulty has changed in the meantime; nothing was sent."))
        return
    text = answers["text"]
    new_status = {"answer": Status.ANSWERED, "instruction": Status.ACKNOWLEDGED,
                  "reopened": Status.OPEN}.get(kind, difficulty.status)
    await tx.difficulties.set_status(difficulty.id, new_status, ctx.now,
                                     reopened=kind == "reopened")
    await tx.difficulties.add_event(difficulty.id, kind, ctx.contact.id, text, ctx.now)
    updated = difficulty.model_copy(update={"status": new_status})
    who = esc(ctx.contact.name)
    if kind == "answer":
        ctx.out += await _tell(tx, ctx.config, [Role.OFFICER], updated, lambda tt: "\n".join([
            tt._("💬 Answer about {number} from {who}:").format(number=difficulty.number,
                                                              who=who), esc(text)]),
            unit_only=True)
        if ctx.role is Role.LEADER:
            ctx.out += await _tell(tx, ctx.config, [Role.COORDINATOR], updated,
                                   lambda tt: "\n".join([tt._(
                                       "💬 The leaders answered {number}:").format(
                                       number=difficulty.number), esc(text)]))
        ctx.reply(t._("Your answer was sent to {unit}.").format(unit=esc(difficulty.unit_name)))
        return
    if kind == "instruction":
        ctx.out += await _tell(tx, ctx.config, [Role.COORDINATOR], updated, lambda tt: "\n".join([
            tt._("↩️ The leaders sent {number} back with an instruction:").format(
                number=difficulty.number), esc(text)]))
        ctx.reply(t._("The instruction was sent to the coordinators."))
        return
    roles = [Role.COORDINATOR] + ([Role.LEADER] if difficulty.status is Status.ESCALATED else [])
    head = (N_("🔁 {unit} reopened {number}:") if kind == "reopened"
            else N_("↩️ {unit} replied about {number}:"))
    ctx.out += await _tell(tx, ctx.config, roles, updated, lambda tt: "\n".join([
        tt._(head).format(unit=esc(difficulty.unit_name), number=difficulty.number), esc(text)]),
        group=kind == "reopened")
    ctx.reply(t._("Sent to the {body}.").format(body=ctx.config.body(t)))


def _text_form(form_id: str, title: str, prompt: str, kind: str,
               roles: frozenset[Role]) -> Form:
    async def submit(ctx: Ctx, answers: dict, params: dict) -> None:
        await _on_text(ctx, answers, params, kind)

    return forms.register(Form(id=form_id, title=title, roles=roles, submit=submit,
                               confirm=False, questions=(
        Question("text", Kind.TEXT, N_("Text"), prompt, max_length=3000),)))


ANSWER_FORM = _text_form("difficulty_answer", N_("Answer a difficulty"),
                         N_("Your answer to the unit?"), "answer", DESK)
REPLY_FORM = _text_form("difficulty_reply", N_("Reply about a difficulty"),
                        N_("Your reply about the difficulty?"), "reply", OFFICERS)
RETURN_FORM = _text_form("difficulty_return", N_("Send back to coordinators"),
                         N_("Your instruction to the coordinators?"), "instruction",
                         frozenset({Role.LEADER}))
REOPEN_FORM = _text_form("difficulty_reopen", N_("Reopen a difficulty"),
                         N_("Why is the difficulty not resolved?"), "reopened", OFFICERS)


# ---------------------------------------------------------------------------------------------
# /difficulties

async def _difficulties(ctx: Ctx, args: str) -> None:
    """Open difficulties, oldest first; `/difficulties UNIT` for one unit."""
    unit_id = None
    if args:
        found = await ctx.tx.units.search(args)
        if len(found) != 1:
            ctx.reply(ctx.t._("No single unit matches “{query}”. Type its code.").format(
                query=esc(args[:60])))
            return
        unit_id = found[0].id
    await _listing(ctx, "", unit_id)


async def _listing(ctx: Ctx, filter_: str, unit_id: int | None = None) -> None:
    t = ctx.t
    statuses = [Status.ESCALATED] if ctx.role is Role.LEADER else NOT_RESOLVED
    field = urgency = None
    kind, _, value = filter_.partition(":")
    if kind == "u":
        urgency = "urgent"
    elif kind == "s" and value in {s.value for s in NOT_RESOLVED}:
        statuses = [Status(value)]
    elif kind == "f" and value in dict(FIELDS):
        field = value
    items = await ctx.tx.difficulties.listing(statuses=statuses, unit_id=unit_id, field=field,
                                              urgency=urgency)
    lines = [t._("<b>Open difficulties, oldest first</b>")]
    for item in items:
        days = (ctx.now - item.opened_at).days
        lines.append(headline(t, item) + " · " + t._(STATUS_LABELS[item.status]) + " · " +
                     t.ngettext("{n} day", "{n} days", days).format(n=days))
    if not items:
        lines.append(t._("None."))
    choices = [Choice(f"kk:open:{i.id}", i.number) for i in items]
    if not filter_ and ctx.role in (Role.COORDINATOR, Role.ADMIN):
        choices += [Choice("kf:u", t._("Urgent only")),
                    Choice("kf:s:open", t._("Not yet acknowledged")),
                    Choice("kf:s:escalated", t._("With the leaders"))]
        choices += [Choice(f"kf:f:{key}", t._(label)) for key, label in FIELDS]
    ctx.reply("\n".join(lines), choices)


@callback("kf", DESK, private_data=True)
async def _filter(ctx: Ctx, rest: str) -> None:
    await _listing(ctx, rest)


async def unit_difficulty_lines(ctx: Ctx) -> tuple[list[str], list[Choice]]:
    """For /myreports: the unit's difficulties that are not resolved."""
    items = await ctx.tx.difficulties.listing(statuses=NOT_RESOLVED,
                                              unit_id=ctx.contact.unit_id, limit=10)
    lines = [f"{i.number} · {_label(ctx.t, FIELDS, i.field)} · "
             f"{ctx.t._(STATUS_LABELS[i.status])}" for i in items]
    return lines, [Choice(f"kk:open:{i.id}", i.number) for i in items]


# ---------------------------------------------------------------------------------------------
# Deadlines

async def tick(tx: Tx, config: Config, now: datetime) -> list[Outgoing]:
    """Remind coordinators of difficulties not acknowledged in time; hand those not answered
    in time to the leaders. Each once per opening, in working hours only."""
    programme = config.programme
    local = now.astimezone(config.zone)
    if not programme.is_working_time(local):
        return []
    out: list[Outgoing] = []
    for difficulty in await tx.difficulties.awaiting():
        key = f"kk:{difficulty.id}:{difficulty.opened_at.isoformat()}"
        acknowledge_by, answer_by = deadlines(config, difficulty)
        if local >= answer_by:
            if await tx.tracking.first_notification(f"{key}:escalate", "escalation", now):
                await escalate(tx, config, difficulty, None, now, out, overdue=True)
            continue
        if difficulty.status is Status.OPEN and local >= acknowledge_by and \
                await tx.tracking.first_notification(f"{key}:acknowledge", "reminder", now):
            def not_acknowledged(t: Translator, d: Difficulty = difficulty) -> str:
                return t._("⏰ Not yet acknowledged: {headline}").format(headline=headline(t, d))

            out += await _tell(tx, config, [Role.COORDINATOR], difficulty, not_acknowledged,
                               group=True)
    return out


action(Action("difficulty", N_("Report a difficulty"), N_("report a difficulty or obstacle"),
              OFFICERS, _difficulty, aliases=("khokhan",), private_only=True))
action(Action("difficulties", N_("Difficulties"), N_("open difficulties, oldest first"), DESK,
              _difficulties, aliases=("vuongmac",), private_data=True))

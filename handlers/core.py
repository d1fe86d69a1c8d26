"""The router: who is speaking, what they may do, and which handler answers.

```mermaid
flowchart TD
    E[inbound event] --> D{seen before?} -->|yes| X[ignore]
    D -->|no| C{known contact?}
    C -->|no| S{/start CODE or ADMIN_IDS?} -->|no| R[polite refusal]
    S -->|yes| REG[register, menu]
    C -->|yes| K{command / button / text}
    K -->|button pressed again on the same message| G[no effect: say so, show where we are]
    K -->|command or menu button| A[action, role checked]
    K -->|form button or text| F[form engine]
    K -->|other button| B[callback, role checked]
    K -->|text, no form| O[offered choice by number or label, else menu]
```
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from handlers import access, forms
from handlers.access import ROLE_NAMES
from handlers.access import ROLE_TITLES as ROLE_TITLES  # imported from here by other modules
from handlers.context import MENU_FLOW, Config, Ctx
from handlers.state import FormState, Session
from handlers.text import esc, match_option
from handlers.types import Choice, Inbound, Outgoing, Reply
from locales.i18n import N_, Translator, pick_language
from storage.models import Contact, Invite, Role
from storage.repos import Tx
from storage.units import InviteProblem

ALL_ROLES = frozenset(Role)
# How many of a person's latest button presses are remembered, to recognise one pressed again.
PRESSES_KEPT = 10


@dataclass(frozen=True)
class Action:
    """Something a role can do, by command (`/name` or an alias) or from the main menu."""

    name: str
    label: str  # N_
    description: str  # N_, shown by /help
    roles: frozenset[Role]
    run: Callable[[Ctx, str], Awaitable[None]]
    aliases: tuple[str, ...] = ()
    private_only: bool = False
    # Shows unit data: answered in the person's private chat, never in a group.
    private_data: bool = False
    in_menu: bool = True
    menu_rank: int = 0  # the menu lists lower ranks first: the role's own work, then the rest
    # Who finds it among the menu's buttons, if not every role it is for.
    menu_roles: frozenset[Role] | None = None
    # Whether the settings let it work (e.g. /web needs the web server); menus and /help list
    # it only then. None: always.
    offered: Callable[[Config], bool] | None = None

    def listed_for(self, ctx: Ctx) -> bool:
        """Whether /help lists it for the person."""
        return ctx.role in self.roles and (self.offered is None or self.offered(ctx.config))

    def in_menu_for(self, ctx: Ctx) -> bool:
        """Whether the main menu shows it to the person."""
        return self.in_menu and self.listed_for(ctx) and ctx.role in (
            self.menu_roles or self.roles)


@dataclass(frozen=True)
class Callback:
    """A button family ('prefix:...') other than forms and menu actions."""

    roles: frozenset[Role]
    run: Callable[[Ctx, str], Awaitable[None]]
    private_data: bool = False  # as Action.private_data


ACTIONS: dict[str, Action] = {}
CALLBACKS: dict[str, Callback] = {}


def action(action_: Action) -> Action:
    ACTIONS[action_.name] = action_
    return action_


CallbackRun = Callable[[Ctx, str], Awaitable[None]]


def callback(prefix: str, roles: frozenset[Role],
             private_data: bool = False) -> Callable[[CallbackRun], CallbackRun]:
    def decorate(run: CallbackRun) -> CallbackRun:
        CALLBACKS[prefix] = Callback(roles, run, private_data)
        return run
    return decorate


def _find_action(name: str) -> Action | None:
    return ACTIONS.get(name) or next((a for a in ACTIONS.values() if name in a.aliases), None)


# ---------------------------------------------------------------------------------------------
# Entry point

async def handle(event: Inbound, tx: Tx, config: Config, now: datetime) -> list[Outgoing]:
    """Everything one inbound event causes, written by the caller in the same transaction."""
    speaker = await tx.contacts.speaker(event.channel, event.user_id, event.update_id)
    if speaker.duplicate:
        return []
    tx.updates.record(event.channel, event.update_id, now)
    if speaker.contact is None:
        # Registration binds the chat the person writes from, so it happens in private only.
        if event.is_group or not (event.channel == "telegram"
                                  and event.user_id in config.admin_ids):
            return await _stranger(event, tx, config, now)
        contact, flow, state = await _enrol_admin(event, tx, config, now), MENU_FLOW, Session()
        notices: list[Outgoing] = []
    else:
        contact, flow = speaker.contact, speaker.flow or MENU_FLOW
        state = Session.load(speaker.state)
        if not speaker.reachable and not event.is_group:
            # (A word in a group does not show the person unblocked the bot in private.)
            await tx.contacts.seen(event.channel, event.user_id)
        tx.contacts.touch(event.channel, event.user_id, now, speaker.last_seen)
        contact, notices = await access.follow_admin_ids(tx, config, contact, event, now)
        if not contact.active:
            return notices or _withdrawn(event, config, contact)
    ctx = Ctx(tx, event, contact, config.translator(contact.language), now, config, flow, state,
              notices)
    # A step in a form, or ending in one, is always saved (its time keeps the form alive); only
    # a conversation staying at the menu is left alone when nothing changed, so only there is
    # the state before needed.
    before = state.dump() if flow == MENU_FLOW else None
    press = _press(event)
    if press is not None and press in ctx.state.pressed:
        await _pressed_again(ctx)
    else:
        await _route(ctx)
        _mark_pressed(ctx, event, press)
    after = ctx.state.dump()
    if ctx.flow != MENU_FLOW or flow != MENU_FLOW or after != before:
        tx.sessions.save(contact.id, ctx.flow, after, now)
    return ctx.out


def _withdrawn(event: Inbound, config: Config, contact: Contact) -> list[Outgoing]:
    """A deactivated person: nothing they send is acted on; they are told why (not to a
    group's chatter). The reply carries no contact id, which would cancel it."""
    if event.is_group and event.command is None and event.choice is None:
        return []
    text = access.withdrawn(config, config.translator(contact.language))
    return [Outgoing(event.channel, event.chat_id, Reply(text))]


def _press(event: Inbound) -> str | None:
    """What identifies a button press: the button's data on one message of one chat."""
    if event.choice is None or event.pressed_message_id is None:
        return None
    return f"{event.chat_id}:{event.pressed_message_id}:{event.choice}"


def _mark_pressed(ctx: Ctx, event: Inbound, press: str | None) -> None:
    """Replace the pressed message's buttons by the choice made, unless a handler redrew it,
    and remember the press: the same button of that message pressed again (a double tap, or a
    second device that still shows it) must not act twice. `event` is the press as it came
    (a handler may have moved the conversation to the private chat since). A refused press in
    a group leaves the group's message alone: it is everyone's, not the presser's."""
    if press is None or (ctx.refused and event.is_group) or any(
            o.reply.edit_message_id == event.pressed_message_id and o.chat_id == event.chat_id
            for o in ctx.out):
        return  # a redrawn message keeps live buttons (Refresh, a multi-choice question)
    ctx.state.pressed = [*ctx.state.pressed, press][-PRESSES_KEPT:]
    if not event.pressed_message_text or (event.is_group and ctx.event.chat_id != event.chat_id):
        return  # answered in private: the group's message stays usable by the others
    label = f"\n\n✓ <b>{esc(event.pressed_label)}</b>" if event.pressed_label else ""
    ctx.out.insert(0, Outgoing(event.channel, event.chat_id,
                               Reply(event.pressed_message_text + label,
                                     edit_message_id=event.pressed_message_id), ctx.contact.id))


async def _pressed_again(ctx: Ctx) -> None:
    """A button pressed again on the same message: the first press has done what it does, so
    this one only says so, with the running form's current question if there is one."""
    t = ctx.t
    form = forms.FORMS.get(ctx.flow)
    if form is not None and ctx.state.form is not None and not ctx.event.is_group:
        await forms.show_current(ctx, form, t._(
            "You pressed that button already. Here is where we are:"))
        return
    if await ctx.go_private():  # in a group, only the presser is told
        ctx.reply(t._("You pressed that button already; its answer is above."))


async def _enrol_admin(event: Inbound, tx: Tx, config: Config, now: datetime) -> Contact:
    """A person listed in ADMIN_IDS becomes an admin on first contact."""
    language = pick_language(event.language_code, config.default_locale)
    contact = await tx.contacts.create(unit_id=None, role=Role.ADMIN, name=event.name,
                                       language=language, now=now, admin_by_setting=True)
    await tx.contacts.bind(contact.id, event.channel, event.user_id, event.chat_id, now)
    await tx.audit.record(f"{event.channel}:{event.user_id}", "admin.first_contact", now)
    return contact


async def _stranger(event: Inbound, tx: Tx, config: Config, now: datetime) -> list[Outgoing]:
    """Someone not registered: register them with an invite code, or refuse politely."""
    language = pick_language(event.language_code, config.default_locale)
    t = config.translator(language)
    command = event.command
    code = command[1] if command and command[0] == "start" else ""
    if event.is_group:
        if not command:
            return []  # group chatter is not for us
        return [Outgoing(event.channel, event.chat_id, Reply(t._(
            "Please register in a private chat with the bot: open it and send /start CODE "
            "there.")))]
    if not code:
        text = t._("Hello! This bot is for the contact persons of units reporting on the "
                   "implementation of the resolution. To use it you need an invite code "
                   "from the {body}. When you have it, send: /start CODE").format(
                       body=config.body(t))
        return [Outgoing(event.channel, event.chat_id, Reply(text))]
    found = await tx.invites.check(code, now)
    if isinstance(found, InviteProblem):
        return [Outgoing(event.channel, event.chat_id, Reply(_invite_problem(config, t, found)))]
    if found.for_contact is not None:
        return await _link(event, tx, config, now, found)
    contact = await tx.contacts.create(unit_id=found.unit_id, role=found.role, name=event.name,
                                       language=language, now=now)
    ctx = Ctx(tx, event, contact, t, now, config)
    await _redeem(ctx, code, new=True)
    if ctx.state.dump():
        tx.sessions.save(contact.id, ctx.flow, ctx.state.dump(), now)
    return ctx.out


async def _link(event: Inbound, tx: Tx, config: Config, now: datetime,
                invite: Invite) -> list[Outgoing]:
    """Bind this channel address to an existing contact (a code made with /link on another
    app). The person's other apps are told, with a button to undo it: whoever read the code
    over their shoulder is found out at once."""
    contact_id = invite.for_contact
    contact = await tx.contacts.get(contact_id) if contact_id is not None else None
    t = config.translator(contact.language if contact else event.language_code)
    if contact_id is None or contact is None or not contact.active:
        return [Outgoing(event.channel, event.chat_id,
                         Reply(_invite_problem(config, t, InviteProblem.UNKNOWN)))]
    if event.channel == invite.made_on:
        return [Outgoing(event.channel, event.chat_id, Reply(t._(
            "This code links another app to your account: send it to the Baocao bot in that "
            "app (e.g. Zalo), not here.")))]
    others = await tx.contacts.identities(contact_id)
    await tx.invites.mark_used(invite.code, contact_id, now)
    await tx.contacts.bind(contact_id, event.channel, event.user_id, event.chat_id, now)
    await tx.audit.record(f"{event.channel}:{event.user_id}", "contact.link", now,
                          contact=contact_id)
    ctx = Ctx(tx, event, contact, t, now, config)
    for identity in others:
        if identity.reachable:
            ctx.send(identity.channel, identity.chat_id, contact_id, Reply(t._(
                "A {app} account ({name}) was just linked to your Baocao account with a link "
                "code. If this was not you, press Undo: it will be unlinked at once.").format(
                app=access.channel_name(t, event.channel), name=esc(event.name or event.user_id)),
                (Choice(f"ul:{event.channel}:{event.user_id}", t._("Undo: unlink it")),)))
    ctx.reply(ctx.t._("This account is now linked to your Baocao account; you can report from "
                      "here too."))
    await show_menu(ctx, greeting=True)
    if ctx.state.dump():
        tx.sessions.save(contact_id, ctx.flow, ctx.state.dump(), now)
    return ctx.out


async def _link_code(ctx: Ctx, _args: str) -> None:
    """A one-day code that links another app (e.g. Zalo) to this contact. It works only on
    another channel than this one, and a new code voids the older ones."""
    await ctx.tx.invites.void_links(ctx.contact.id, ctx.now)
    invite = await ctx.tx.invites.create(unit_id=ctx.contact.unit_id, role=ctx.role,
                                         created_by=f"contact:{ctx.contact.id}", now=ctx.now,
                                         days=1, for_contact=ctx.contact.id,
                                         made_on=ctx.event.channel)
    ctx.reply(ctx.t._("To use Baocao in another app (e.g. Zalo), send this message to the Baocao "
                      "bot there within 24 hours:\n<code>/start {code}</code>").format(
        code=invite.code) + "\n" + ctx.t._("Keep it to yourself: whoever sends it gets your "
                                           "account. It works once, and a new code replaces it."))


@callback("ul", ALL_ROLES)
async def _undo_link(ctx: Ctx, rest: str) -> None:
    """Undo a link the person was told of: unlink that app from their account."""
    channel, _, external_id = rest.partition(":")
    if (channel, external_id) == (ctx.event.channel, ctx.event.user_id):
        ctx.reply(ctx.t._("This button is not valid."))
        return
    out = await access.remove_identity(ctx.tx, ctx.config, ctx.contact, channel, external_id,
                                       f"contact:{ctx.contact.id}", ctx.now)
    if not out:
        ctx.reply(ctx.t._("That account is not linked to yours (any more)."))
    ctx.out += out


async def _route(ctx: Ctx) -> None:
    event = ctx.event
    command = event.command
    # The private form running before a command or a button other than its own (see below).
    running = ctx.state.form if not event.is_group else None
    if command is not None:
        await _on_command(ctx, *command)
        await _set_aside_if_hidden(ctx, running)
    elif event.choice is not None:
        await _on_choice(ctx, event.choice)
        if not event.choice.startswith("f:"):
            await _set_aside_if_hidden(ctx, running)
    elif event.is_group:
        return  # plain group messages are conversation between people, not with the bot
    elif ctx.flow in forms.FORMS:
        form = forms.FORMS[ctx.flow]
        if ctx.role not in form.roles:
            forms.leave(ctx)
            ctx.reply(ctx.t._("You no longer have access to this form."))
            return
        await forms.on_event(ctx, form)
    elif event.unsupported or event.attachment is not None:
        ctx.reply(ctx.t._("I can only read text, buttons, photos and documents here. "
                          "Please use the menu."))
        await show_menu(ctx)
    else:
        offered = ctx.state.offered
        chosen = match_option(event.text or "", offered) if offered else None
        if chosen is not None:
            await _on_choice(ctx, chosen)
            return
        ctx.reply(ctx.t._("I did not understand that. Please choose from the menu."))
        await show_menu(ctx)


async def _on_command(ctx: Ctx, name: str, args: str) -> None:
    t = ctx.t
    if name == "start":
        if args and ctx.event.is_group:  # an invite binds the chat it is used in: private only
            ctx.reply(t._("Please register in a private chat with the bot: open it and send "
                          "/start CODE there."))
        elif args:
            await _redeem(ctx, args)
        else:
            await show_menu(ctx, greeting=True)
        return
    if name in ("cancel", "huy"):
        had_form = ctx.flow != MENU_FLOW
        forms.leave(ctx)
        ctx.reply(t._("Cancelled. Nothing was saved.") if had_form
                  else t._("There is nothing to cancel."))
        await show_menu(ctx)
        return
    # A command in a group says nothing about the person's private form.
    form = forms.FORMS.get(ctx.flow) if ctx.state.form is not None and not ctx.event.is_group \
        else None
    found = _find_action(name)
    if found is None and name != "menu" and form is not None:
        # The form stays in front: what is typed next answers the question shown again here.
        await forms.show_current(ctx, form, t._(
            "Unknown command /{name}. /menu keeps this form as a draft, /cancel leaves it. "
            "Here is where we are:").format(name=esc(name[:30])))
        return
    if name in ("menu",):
        await show_menu(ctx)
        return
    if found is None:
        ctx.reply(t._("Unknown command /{name}. Here is what you can do:").format(
            name=esc(name[:30])))
        await _help(ctx, "")
        return
    await _run_action(ctx, found, args)


async def _set_aside_if_hidden(ctx: Ctx, running: FormState | None) -> None:
    """A command or another button showed a screen with its own choices while a form runs:
    the form is kept as a draft (and the person told), so a number typed next means one of
    the choices on screen, never an answer to a question no longer shown."""
    form = forms.FORMS.get(ctx.flow)
    if running is None or form is None or ctx.state.form is not running or not any(
            o.reply.choices and o.reply.asks is None and o.chat_id == ctx.event.chat_id
            for o in ctx.out):
        return
    await forms.shelve(ctx)
    ctx.out.insert(0, Outgoing(ctx.event.channel, ctx.event.chat_id, Reply(ctx.t._(
        "Your unfinished “{title}” is kept as a draft; you can continue it later.").format(
        title=ctx.t._(form.title))), ctx.contact.id))


async def _run_action(ctx: Ctx, found: Action, args: str) -> None:
    t = ctx.t
    if ctx.role not in found.roles:
        await _not_for_role(ctx)
        return
    if found.private_only and ctx.event.is_group:
        link = f" https://t.me/{ctx.config.bot_username}" if ctx.config.bot_username else ""
        ctx.reply(t._("Let us continue in a private chat, so the group is not flooded:{link}")
                  .format(link=link))
        return
    if found.private_data and not await ctx.in_private():
        return
    await found.run(ctx, args)


async def _not_for_role(ctx: Ctx) -> None:
    await ctx.refuse(ctx.t._("Sorry, this is not available for your role ({role}).").format(
        role=ctx.t._(ROLE_NAMES[ctx.role])))


async def press(ctx: Ctx, choice: str) -> None:
    """A button pressed outside a chat (the web desk): the same checks of role and state, and
    the same handler, as the button in a chat."""
    await _on_choice(ctx, choice)


async def _on_choice(ctx: Ctx, choice: str) -> None:
    t = ctx.t
    prefix, _, rest = choice.partition(":")
    if prefix == "f":
        form = forms.FORMS.get(ctx.flow)
        if form is None or ctx.event.is_group:
            await ctx.refuse(t._("This button is no longer valid."))
            return
        if ctx.role not in form.roles:
            forms.leave(ctx)
            ctx.reply(t._("You no longer have access to this form."))
            return
        await forms.on_event(ctx, form)
        return
    if prefix == "m" and (found := _find_action(rest)):
        await _run_action(ctx, found, "")
        return
    handler = CALLBACKS.get(prefix)
    if handler is None:
        await ctx.refuse(t._("This button is not valid."))
        return
    if ctx.role not in handler.roles:
        await _not_for_role(ctx)
        return
    if handler.private_data and not await ctx.in_private():
        return
    await handler.run(ctx, rest)


# ---------------------------------------------------------------------------------------------
# Registration, menu, help, language

def _invite_problem(config: Config, t: Translator, problem: InviteProblem) -> str:
    return {
        InviteProblem.UNKNOWN: t._("This invite code is not valid. Please check it, or ask the "
                                   "{body} for a new one."),
        InviteProblem.USED: t._("This invite code has already been used. Each code works once; "
                                "please ask the {body} for a new one."),
        InviteProblem.EXPIRED: t._("This invite code has expired. Please ask the {body} for a "
                                   "new one."),
        InviteProblem.REVOKED: t._("This invite code has been withdrawn. Please ask the {body} "
                                   "for a new one."),
    }[problem].format(body=config.body(t))


async def _redeem(ctx: Ctx, code: str, new: bool = False, confirmed: bool = False) -> None:
    """/start CODE: register a new person with the invite's unit and role, bound to this
    channel address; a registered person first confirms the change (an invite link can be
    slipped to anyone), and an administrator is never lowered this way."""
    t, tx = ctx.t, ctx.tx
    found = await tx.invites.check(code, ctx.now)
    if isinstance(found, InviteProblem):
        ctx.reply(_invite_problem(ctx.config, t, found))
        return
    if found.for_contact is not None:  # a /link code links an app; it never changes a role
        ctx.reply(t._("This app is already linked to your account; the code was not used.")
                  if found.for_contact == ctx.contact.id
                  else _invite_problem(ctx.config, t, InviteProblem.UNKNOWN))
        return
    contact = ctx.contact
    if not new:
        if contact.role is Role.ADMIN and found.role is not Role.ADMIN:
            ctx.reply(t._("You are an administrator: an invite cannot change your role. Another "
                          "administrator can change it with /people. The invite was not used."))
            return
        current = await access.role_text(tx, t, contact.role, contact.unit_id)
        offered = await access.role_text(tx, t, found.role, found.unit_id)
        if current == offered:
            ctx.reply(t._("You are already registered as {who}; the invite was not used.")
                      .format(who=current))
            return
        if not confirmed:
            ctx.reply(t._("You are registered as {current}. This invite would make you {new} "
                          "instead. Change?").format(current=current, new=offered),
                      [Choice(f"rd:{found.code}", t._("Yes, change")),
                       Choice("rd:-", t._("No, keep my role"))])
            return
    if not await tx.invites.mark_used(found.code, contact.id, ctx.now):
        ctx.reply(_invite_problem(ctx.config, t, InviteProblem.USED))
        return
    actor = f"{ctx.event.channel}:{ctx.event.user_id}"
    await tx.audit.record(actor, "invite.redeem", ctx.now, code=found.code,
                          role=found.role.value, contact=contact.id)
    ctx.contact = contact.model_copy(update={"unit_id": found.unit_id, "role": found.role})
    if not new:
        ctx.out += await access.change_role(tx, ctx.config, contact, found.role, found.unit_id,
                                            actor, ctx.now)
        await show_menu(ctx)
        return
    await tx.contacts.bind(contact.id, ctx.event.channel, ctx.event.user_id, ctx.event.chat_id,
                           ctx.now)
    unit = await tx.units.get(found.unit_id) if found.unit_id else None
    role = t._(ROLE_NAMES[found.role])
    if unit:
        text = t._("Welcome, {name}. You are registered as {role} of {unit}.").format(
            name=esc(ctx.event.name), role=role, unit=esc(unit.name))
    else:
        text = t._("Welcome, {name}. You are registered as {role}.").format(
            name=esc(ctx.event.name), role=role)
    ctx.reply(text)
    await show_menu(ctx)


@callback("rd", ALL_ROLES)
async def _confirm_redeem(ctx: Ctx, code: str) -> None:
    """The answer to "This invite would make you ... Change?"."""
    if code == "-":
        ctx.reply(ctx.t._("Nothing was changed."))
        await show_menu(ctx)
        return
    await _redeem(ctx, code, confirmed=True)


def menu_choices(ctx: Ctx) -> list[Choice]:
    t = ctx.t
    ordered = sorted(ACTIONS.values(), key=lambda a: a.menu_rank)
    return [Choice(f"m:{a.name}", t._(a.label)) for a in ordered if a.in_menu_for(ctx)]


async def show_menu(ctx: Ctx, greeting: bool = False) -> None:
    t = ctx.t
    text = t._("What would you like to do?")
    if greeting:
        unit = await ctx.tx.units.get(ctx.contact.unit_id) if ctx.contact.unit_id else None
        who = t._(ROLE_NAMES[ctx.role]) + (f", {esc(unit.name)}" if unit else "")
        text = t._("Hello, {name} ({who}).").format(name=esc(ctx.contact.name),
                                                            who=who) + "\n" + text
    ctx.reply(text, menu_choices(ctx))


async def _help(ctx: Ctx, _args: str) -> None:
    t = ctx.t
    lines = [t._("<b>Commands for your role ({role})</b>").format(role=t._(ROLE_NAMES[ctx.role]))]
    for found in ACTIONS.values():
        if found.listed_for(ctx):
            lines.append(f"/{found.name} — {t._(found.description)}")
    lines.append("/cancel — " + t._("leave the current form"))
    lines.append(t._("You can also tap the buttons, or type an option's number."))
    ctx.reply("\n".join(lines), menu_choices(ctx))


async def _language(ctx: Ctx, _args: str) -> None:
    ctx.reply(ctx.t._("Choose your language:"),
              [Choice("lang:vi", "Tiếng Việt"), Choice("lang:en", "English")])


@callback("lang", ALL_ROLES)
async def _set_language(ctx: Ctx, code: str) -> None:
    if code not in ("vi", "en"):
        ctx.reply(ctx.t._("This button is not valid."))
        return
    await ctx.tx.contacts.set_language(ctx.contact.id, code)
    ctx.contact = ctx.contact.model_copy(update={"language": code})
    ctx.t = ctx.config.translator(code)
    ctx.reply(ctx.t._("Language set to English."))
    await show_menu(ctx)


@callback("d", ALL_ROLES)
async def _resume_draft(ctx: Ctx, flow: str) -> None:
    """Resume (d:FORM) or discard (d:-FORM) a form that was closed for idleness."""
    discard = flow.startswith("-")
    form = forms.FORMS.get(flow.lstrip("-"))
    state = await ctx.tx.sessions.take_draft(ctx.contact.id, flow.lstrip("-")) if form else None
    if form is None or state is None or ctx.role not in form.roles:
        ctx.reply(ctx.t._("There is no saved draft to resume."))
        return
    if discard:
        ctx.reply(ctx.t._("The draft was discarded."))
        await show_menu(ctx)
        return
    await forms.resume(ctx, form, state)


async def start_form(ctx: Ctx, form: forms.Form, params: dict | None = None,
                     answers: dict | None = None) -> None:
    """Open a form, offering the saved draft first if there is one."""
    if await ctx.tx.sessions.has_draft(ctx.contact.id, form.id):
        ctx.reply(ctx.t._("You have an unfinished “{title}”. Continue it or discard it?").format(
            title=ctx.t._(form.title)),
            [Choice(f"d:{form.id}", ctx.t._("Continue")),
             Choice(f"d:-{form.id}", ctx.t._("Discard"))])
        return
    await forms.start(ctx, form, params, answers)


action(Action("help", N_("Help"), N_("the commands you can use"), ALL_ROLES, _help,
              aliases=("trogiup",), menu_rank=9))
action(Action("link", N_("Use on Zalo"), N_("a code to use Baocao in another app, e.g. Zalo"),
              ALL_ROLES, _link_code, aliases=("lienket",), private_only=True, in_menu=False))
action(Action("language", N_("Language / Ngôn ngữ"), N_("switch between Vietnamese and English"),
              ALL_ROLES, _language, aliases=("ngonngu", "lang"), menu_rank=9))


# ---------------------------------------------------------------------------------------------
# Idle sessions

async def expire_idle_sessions(tx: Tx, config: Config, now: datetime) -> list[Outgoing]:
    """Close forms left alone too long: keep the answers as a draft and tell the person."""
    out: list[Outgoing] = []
    for contact_id, flow, stored in await tx.sessions.idle(now - config.session_idle,
                                                           MENU_FLOW):
        state = Session.load(stored)
        contact = await tx.contacts.get(contact_id)
        form = await access.park_form(tx, contact_id, flow, state, now) if contact else None
        if form is None or contact is None:
            await tx.sessions.delete(contact_id)
            continue
        t = config.translator(contact.language)
        text = t._("Your unfinished “{title}” was closed after a long pause. Your answers are "
                   "kept: press Continue when you are ready.").format(title=t._(form.title))
        reply = Reply(text, (Choice(f"d:{flow}", t._("Continue")),
                             Choice(f"d:-{flow}", t._("Discard"))))
        state.offer(reply.choices)
        for identity in await tx.contacts.identities(contact_id):
            if identity.reachable:
                out.append(Outgoing(identity.channel, identity.chat_id, reply, contact_id))
        tx.sessions.save(contact_id, MENU_FLOW, state.dump(), now)
    return out

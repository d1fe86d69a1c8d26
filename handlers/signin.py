"""/web: a one-time link that signs the person in to the web desk in any browser (and, on
Telegram, a button that opens the desk as a Mini App)."""

from __future__ import annotations

import secrets
from datetime import timedelta

from handlers.context import Ctx
from handlers.core import ALL_ROLES, Action, action
from handlers.reminders import DESK
from handlers.types import Choice
from locales.i18n import N_

SIGNIN_PATH = "/desk/signin"
APP_PATH = "/desk/app"


def signin_url(base: str, code: str) -> str:
    return f"{base}{SIGNIN_PATH}?code={code}"


async def _web(ctx: Ctx, _args: str) -> None:
    t = ctx.t
    base = ctx.config.web_url
    if not base:
        ctx.reply(t._("The web desk is not switched on (WEB_PORT=0). Please ask the "
                      "administrator."))
        return
    code = secrets.token_urlsafe(24)
    minutes = ctx.config.web_link_minutes
    await ctx.tx.web.add_link(code, ctx.contact.id, ctx.now, ctx.now + timedelta(minutes=minutes))
    text = t._("Your sign-in link to the web desk, for this device only: it works once, within "
               "{n} minutes. Do not pass it on.\n{url}").format(
        n=t.number(minutes), url=signin_url(base, code))
    choices = []
    # Telegram opens a Mini App (signed in by Telegram itself) only from an https address.
    if ctx.event.channel == "telegram" and base.startswith("https://"):
        choices.append(Choice(f"webapp:{base}{APP_PATH}", t._("Open the web desk")))
    ctx.reply(text, choices)


# Every role may sign in (an officer sees their unit); the menu offers it to the desk's roles,
# who work there, and only when the web server runs.
action(Action("web", N_("Web desk"), N_("a sign-in link to the web desk (tables, charts, "
                                        "downloads)"), ALL_ROLES, _web, aliases=("bantlv",),
              private_only=True, menu_rank=8,
              menu_roles=DESK,
              offered=lambda config: config.web_url is not None))

"""What a handler gets: the event, the person, their translator, the transaction and a reply pad."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo

from handlers.programme import Programme, load_programme
from handlers.state import FormState, Session
from handlers.text import esc
from handlers.types import Attachment, Choice, Inbound, Outgoing, Reply
from locales.i18n import Translator, translator
from storage.models import Contact, Role
from storage.repos import Tx

MENU_FLOW = "menu"


@dataclass(frozen=True)
class Letterhead:
    """Who coordinates the programme, the city, and how the compiled report is headed and signed
    (settings COORDINATING_*, CITY*, COMPILE_*). Messages take these names as format arguments;
    no message names a department itself."""

    issuing_body: str = "Sở Văn hóa, Thể thao và Du lịch"
    issuing_body_en: str = "Department of Culture, Sports and Tourism"
    superior: str = "Ủy ban nhân dân thành phố Hải Phòng"
    superior_en: str = "Hai Phong City People's Committee"
    place: str = "Hải Phòng"
    place_en: str = "Hai Phong"
    # The code of the coordinating department's own unit record (`baocao doctor` checks it).
    unit_code: str = "SO-VHTTDL"
    symbol: str = "SVHTTDL"
    signer: tuple[str, ...] = ("KT. GIÁM ĐỐC", "PHÓ GIÁM ĐỐC")
    signer_name: str = ""
    recipients: tuple[str, ...] = ("UBND thành phố (để b/c)", "Lãnh đạo Sở", "Lưu: VT")
    # An office's own copy of the Word template; None uses the one shipped in bot/data.
    template: Path | None = None

    def body(self, language: str) -> str:
        """The coordinating body's name in a language."""
        return self.issuing_body_en if language == "en" else self.issuing_body

    def city(self, language: str) -> str:
        return self.place_en if language == "en" else self.place

    def city_body(self, language: str) -> str:
        return self.superior_en if language == "en" else self.superior


@dataclass(frozen=True)
class Config:
    """The settings handlers need, without the platform secrets."""

    admin_ids: frozenset[str] = frozenset()
    coordinator_chat_id: str | None = None
    default_locale: str = "vi"
    zone: ZoneInfo = ZoneInfo("Asia/Ho_Chi_Minh")
    session_idle: timedelta = timedelta(hours=12)
    invite_days: int = 14
    bot_username: str | None = None
    # Kế hoạch 221-KH/TU of 15/02/2023 set the programme going; earlier activities do not count.
    programme_start: date = date(2023, 2, 15)
    programme: Programme = field(default_factory=load_programme)
    # Where made files (charts, spreadsheets) are kept until they are sent.
    files_dir: Path = Path("data/files")
    max_files_per_answer: int = 10
    max_files_per_form: int = 20
    message_retention: timedelta = timedelta(days=30)
    file_retention: timedelta = timedelta(days=7)
    letterhead: Letterhead = field(default_factory=Letterhead)
    # The web desk's address (WEB_PUBLIC_URL, else the local server's), and how long a /web
    # sign-in link works.
    web_url: str | None = None
    web_link_minutes: int = 10
    # The desk's address when it is published (WEB_PUBLIC_URL): messages may point people to it.
    web_public_url: str | None = None

    def body(self, t: Translator) -> str:
        """The coordinating body's name for a message in t's language."""
        return self.letterhead.body(t.language)

    def translator(self, language: str | None) -> Translator:
        """A person's translator: their language if supported, else the default."""
        return translator(language, self.zone, self.default_locale)


@dataclass
class Ctx:
    tx: Tx
    event: Inbound
    contact: Contact
    t: Translator
    now: datetime
    config: Config
    flow: str = MENU_FLOW
    state: Session = field(default_factory=Session)
    out: list[Outgoing] = field(default_factory=list)
    # The event was refused (role, invalid or someone else's button): a pressed group message
    # is then left as it is (see core._mark_pressed).
    refused: bool = False

    @cached_property  # the zone's conversion, once a step
    def today(self) -> date:
        return self.now.astimezone(self.config.zone).date()

    @property
    def role(self) -> Role:
        return self.contact.role

    def translator_for(self, language: str | None) -> Translator:
        """The translator of someone else (a message to another person is in their language)."""
        return self.config.translator(language)

    def reply(self, text: str, choices: list[Choice] | tuple[Choice, ...] = (),
              attachments: tuple[Attachment, ...] = (), edit: str | None = None,
              asks: str | None = None) -> None:
        """Answer in the chat the event came from; the offered choices are remembered so that
        typing an option's number or label works on channels without buttons. `asks` names the
        form question the message puts (see Reply.asks)."""
        self.say(Reply(text, tuple(choices), attachments, edit, asks))

    def say(self, reply: Reply) -> None:
        """A reply made elsewhere (the form engine's), sent as `reply` sends its own."""
        self.out.append(Outgoing(self.event.channel, self.event.chat_id, reply, self.contact.id))
        if reply.choices and not self.event.is_group:
            self.state.offer(reply.choices)

    def send(self, channel: str, chat_id: str, contact_id: int | None, reply: Reply) -> None:
        """A message to someone else (or to a group)."""
        self.out.append(Outgoing(channel, chat_id, reply, contact_id))

    async def go_private(self) -> bool:
        """Send what follows to the person's private chat (a form cannot run in a group)."""
        if not self.event.is_group:
            return True
        for identity in await self.tx.contacts.identities(self.contact.id):
            if identity.channel == self.event.channel and identity.reachable:
                self.event = replace(self.event, chat_id=identity.chat_id, is_group=False)
                return True
        return False

    async def refuse(self, text: str) -> None:
        """Say no to the person only: a refusal in a group goes to their private chat (or
        nowhere), never to everyone in the group."""
        self.refused = True
        if await self.go_private():
            self.reply(text)

    async def in_private(self) -> bool:
        """Unit data is shown in the person's private chat, never in a group: move what
        follows there and say so in the group. False (the group told why) when the person has
        no private chat with the bot on this channel."""
        group = self.event
        if not group.is_group:
            return True
        t = self.t
        if not await self.go_private():
            link = f" https://t.me/{self.config.bot_username}" if self.config.bot_username \
                else ""
            self.reply(t._("This shows unit data, so it is sent only in a private chat. Please "
                           "open a private chat with the bot and ask there:{link}").format(
                link=link))
            return False
        self.out.append(Outgoing(group.channel, group.chat_id, Reply(t._(
            "{name}, I have sent the answer to you in a private chat.").format(
            name=esc(self.contact.name))), self.contact.id))
        return True

    def set_flow(self, flow: str, form_state: FormState | None = None) -> None:
        self.flow = flow
        self.state.form = form_state

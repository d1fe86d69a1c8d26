"""The small frozen types handlers speak: an inbound event in, outgoing replies out.

A Reply is what a handler means to say; bot/delivery.py's `compose` cuts it into the typed
messages the outbox holds (storage/messages.py) to fit each channel's limits."""

from __future__ import annotations

from dataclasses import dataclass

from storage import jsontext
from storage.messages import Attachment

__all__ = ["Attachment", "Choice", "Inbound", "Outgoing", "Reply"]


@dataclass(frozen=True)
class Inbound:
    """One thing a person did: a message, a command, a button press, a file."""

    channel: str
    update_id: str
    user_id: str
    chat_id: str
    text: str | None = None
    choice: str | None = None
    attachment: Attachment | None = None
    # Something the bot cannot read (a sticker, a voice note, a location...).
    unsupported: bool = False
    is_group: bool = False
    language_code: str | None = None
    name: str = ""
    # The message whose button was pressed, so its buttons can be replaced by the choice made.
    pressed_message_id: str | None = None
    pressed_message_text: str | None = None
    pressed_label: str | None = None
    # The platform's number of this message and of the message it replies to, where a chat's
    # messages are numbered in one sequence (Telegram): they tell which question was answered.
    message_id: int | None = None
    reply_to: int | None = None
    # The platform's handle to acknowledge a button press once it has been stored (Telegram's
    # callback query id).
    ack: str | None = None

    def to_json(self) -> str:
        # Every field, as asdict() would give them, without its deep copy of each value (the
        # inbox stores every update: this is on the hot path). A dataclass's instance dict
        # holds its fields, in their order.
        data = vars(self).copy()
        if self.attachment is not None:
            data["attachment"] = vars(self.attachment).copy()
        return jsontext.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> Inbound:
        data = jsontext.loads(text)
        if data.get("attachment"):
            data["attachment"] = Attachment(**data["attachment"])
        return cls(**data)

    @property
    def command(self) -> tuple[str, str] | None:
        """('start', 'ABC') for '/start ABC' (also '/start@bot ABC'), else None."""
        if not self.text or not self.text.startswith("/"):
            return None
        head, _, rest = self.text[1:].partition(" ")
        return head.split("@")[0].lower(), rest.strip()


@dataclass(frozen=True)
class Choice:
    id: str
    label: str


@dataclass(frozen=True)
class Reply:
    """A message in a tiny neutral markup: <b>, <i> and escaped text (see handlers.text.esc)."""

    text: str
    choices: tuple[Choice, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    # Replace the text of an earlier message (and drop its buttons) instead of sending a new one.
    edit_message_id: str | None = None
    # The form question this message asks ("form id:step"), so a typed answer can be bound to it.
    asks: str | None = None


@dataclass(frozen=True)
class Outgoing:
    """A reply addressed to one chat on one channel."""

    channel: str
    chat_id: str
    reply: Reply
    contact_id: int | None = None
    # A notice's delivery, so that what happens to the message counts in its figures.
    delivery_id: int | None = None
    # Goes ahead of the messages already queued for the chat (the flood warning).
    urgent: bool = False
    # The notice whose live figures this message shows: the notice keeps the message's id, so
    # that the figures can be rewritten in it while the notice goes out.
    status_of: int | None = None

"""Settings: one pydantic-settings model read once from the environment and `.env`."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from storage.backend import is_postgres, sqlite_path

Locale = Literal["vi", "en"]


class SettingsError(Exception):
    """A setting has a bad value; the message names it in one line."""


class Settings(BaseSettings):
    """Every setting of the program; `.env.example` documents each one."""

    # Env expansion and JSON decoding of lists are off on purpose: ADMIN_IDS is written the way
    # operators expect ("1, 2"), not as JSON.
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore",
                                      populate_by_name=True)

    telegram_bot_token: SecretStr | None = None
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_bot_username: str | None = None
    database_path: Path = Path("data/baocao.db")
    # sqlite:///path or postgresql://user:password@host/db; unset: DATABASE_PATH. Secret: the
    # URL may carry the password.
    database_url: SecretStr | None = None
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    coordinator_chat_id: int | None = None
    default_locale: Locale = "vi"
    timezone: str = "Asia/Ho_Chi_Minh"
    invite_expiry_days: int = Field(default=14, ge=1, le=365)
    programme_start: date = date(2023, 2, 15)
    programme_file: Path | None = None
    # The units the console demo starts with on an empty database (see .env.example).
    units_file: Path | None = None

    # Who coordinates the programme, and the city: named in messages, the compiled report and
    # its letterhead. The letter of 2023 gave the task to the Department of Information and
    # Communications; since the merger of 1 March 2025 its press and information work (which
    # this programme is) belongs to the Department of Culture, Sports and Tourism. The old
    # COMPILE_* names still work, so an existing .env keeps its meaning.
    coordinating_unit: str = "SO-VHTTDL"
    coordinating_body: str = Field(
        default="Sở Văn hóa, Thể thao và Du lịch",
        validation_alias=AliasChoices("coordinating_body", "compile_issuing_body"))
    coordinating_body_en: str = "Department of Culture, Sports and Tourism"
    city: str = Field(default="Hải Phòng",
                      validation_alias=AliasChoices("city", "compile_place"))
    city_en: str = "Hai Phong"
    city_body: str = Field(default="Ủy ban nhân dân thành phố Hải Phòng",
                           validation_alias=AliasChoices("city_body", "compile_superior"))
    city_body_en: str = "Hai Phong City People's Committee"
    compile_symbol: str = "SVHTTDL"
    compile_signer: str = "KT. GIÁM ĐỐC|PHÓ GIÁM ĐỐC"
    compile_signer_name: str = ""
    compile_recipients: str = "UBND thành phố (để b/c)|Lãnh đạo Sở|Lưu: VT"
    compile_template: Path | None = None

    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(default=8443, ge=1, le=65535)

    zalo_bot_token: SecretStr | None = None
    zalo_base_url: str = "https://bot-api.zaloplatforms.com"
    zalo_webhook_url: str | None = None
    zalo_webhook_secret: SecretStr | None = None
    zalo_webhook_port: int = Field(default=8444, ge=1, le=65535)
    zalo_per_second: float = Field(default=10.0, gt=0, le=100)

    session_idle_minutes: int = Field(default=720, ge=1)
    max_message_chars: int = Field(default=4000, ge=100)
    flood_max_messages: int = Field(default=30, ge=1)
    flood_window_seconds: int = Field(default=30, ge=1)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    max_files_per_answer: int = Field(default=10, ge=1, le=100)
    max_files_per_form: int = Field(default=20, ge=1, le=200)
    message_retention_days: int = Field(default=30, ge=0, le=3650)
    file_retention_days: int = Field(default=7, ge=1, le=3650)

    # --- Operations (issue 20): health server, logs, scheduled backups ---
    # One web server in the bot's process serves the operations pages and the web desk (issue
    # 18). WEB_* are its names now; the HEALTH_* names of issue 20 still work.
    web_listen: str = Field(default="127.0.0.1",
                            validation_alias=AliasChoices("web_listen", "health_listen"))
    web_port: int = Field(default=9464, ge=0, le=65535,  # 0: no web server
                          validation_alias=AliasChoices("web_port", "health_port"))
    ready_poll_seconds: int = Field(default=180, ge=10)
    ready_send_seconds: int = Field(default=120, ge=10)
    log_format: Literal["text", "json"] = "text"
    backup_dir: Path | None = None
    backup_every_hours: float = Field(default=24, gt=0)
    backup_keep: int = Field(default=14, ge=1)

    # --- The web desk (issue 18) ---
    # The address people open (behind the HTTPS proxy); empty: http://WEB_LISTEN:WEB_PORT.
    # Telegram opens a Mini App only from an https:// address.
    web_public_url: str | None = None
    web_link_minutes: int = Field(default=10, ge=1, le=120)  # a /web sign-in link works this long
    web_session_hours: int = Field(default=12, ge=1, le=24 * 30)  # a browser session lasts this
    # A Mini App request whose Telegram signature is older than this is refused.
    web_initdata_max_age: int = Field(default=3600, ge=60, le=7 * 86400)

    @property
    def health_listen(self) -> str:
        return self.web_listen

    @property
    def health_port(self) -> int:
        return self.web_port

    @property
    def web_url(self) -> str:
        """Where the desk is opened from, without a trailing slash."""
        if self.web_public_url:
            return self.web_public_url.rstrip("/")
        return f"http://{self.web_listen}:{self.web_port}"

    @field_validator("web_public_url", mode="before")
    @classmethod
    def _blank_url(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, str) and not value.strip().startswith(("http://", "https://")):
            raise ValueError("must start with https:// (or http:// for a local test)")
        return value.strip() if isinstance(value, str) else value

    @field_validator("backup_dir", mode="before")
    @classmethod
    def _blank_backup_dir(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value
    # --- end of operations settings ---

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        elif isinstance(value, int):
            value = [value]
        # A user id is written as plain digits: "-5", "12345.0" or "1_000" (all of which int()
        # or pydantic would take) are typos that would make the wrong person an admin.
        for part in value if isinstance(value, list) else ():
            if isinstance(part, bool) or not (
                    (isinstance(part, int) and part > 0)
                    or (isinstance(part, str) and part.isascii() and part.isdigit()
                        and int(part) > 0)):
                raise ValueError(f"{str(part)[:20]!r} is not a Telegram user id (digits only)")
        return value

    @field_validator("telegram_bot_token", "webhook_secret", "telegram_bot_username",
                     "zalo_bot_token", "zalo_webhook_secret", "zalo_webhook_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("coordinator_chat_id", "webhook_url", "programme_file", "compile_template",
                     "units_file", mode="before")
    @classmethod
    def _blank_optional(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("coordinating_body", "coordinating_body_en", "city", "city_en",
                     "city_body", "city_body_en")
    @classmethod
    def _named(cls, value: str) -> str:
        # Every message that names the coordinating body or the city would read "của ." otherwise.
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if not value.get_secret_value().startswith(("sqlite:///", "postgresql://",
                                                    "postgres://")):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value

    @property
    def database(self) -> Path | str:
        """The database to open: DATABASE_URL (sqlite:/// or postgresql://) or DATABASE_PATH."""
        if self.database_url is None:
            return self.database_path
        url = self.database_url.get_secret_value()
        return sqlite_path(url) if url.startswith("sqlite:///") else url

    @property
    def on_postgres(self) -> bool:
        return is_postgres(self.database)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secret_charset(cls, value: SecretStr | None) -> SecretStr | None:
        # Telegram accepts only 1-256 characters of A-Z, a-z, 0-9, _ and - as a secret token.
        if value is not None:
            raw = value.get_secret_value()
            if not (1 <= len(raw) <= 256) or not all(c.isalnum() or c in "_-" for c in raw):
                raise ValueError("use 1-256 characters: letters, digits, _ or -")
        return value

    @model_validator(mode="after")
    def _webhook_secrets(self) -> Settings:
        # A webhook without a secret would take updates from anyone who finds its URL.
        if self.zalo_webhook_url and not self.zalo_webhook_secret:
            raise ValueError("ZALO_WEBHOOK_SECRET must be set when ZALO_WEBHOOK_URL is")
        if self.webhook_url and not self.webhook_secret:
            raise ValueError("WEBHOOK_SECRET must be set when WEBHOOK_URL is")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load_settings(**overrides: object) -> Settings:
    """Build the settings, turning a validation error into one line that names the setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        if error["loc"]:
            raise SettingsError(f"{str(error['loc'][0]).upper()}: {error['msg']}") from None
        raise SettingsError(str(error["msg"]).removeprefix("Value error, ")) from None

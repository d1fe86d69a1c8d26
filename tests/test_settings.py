import subprocess
import sys

import pytest

from bot.settings import SettingsError, load_settings


def test_defaults(monkeypatch):
    monkeypatch.delenv("DATABASE_PATH")
    settings = load_settings()
    assert str(settings.database_path) == "data/baocao.db"
    assert settings.default_locale == "vi"
    assert settings.timezone == "Asia/Ho_Chi_Minh"
    assert settings.telegram_bot_token is None
    assert settings.telegram_base_url == "https://api.telegram.org/bot"


def test_values_from_env_and_dotenv(monkeypatch, tmp_path):
    (tmp_path / ".env").write_text("ADMIN_IDS=11, 22\nTELEGRAM_BOT_TOKEN=123:abc\n")
    monkeypatch.setenv("COORDINATOR_CHAT_ID", "-100123")
    settings = load_settings()
    assert settings.admin_ids == [11, 22]
    assert settings.coordinator_chat_id == -100123
    assert settings.telegram_bot_token.get_secret_value() == "123:abc"
    assert "123:abc" not in repr(settings)


@pytest.mark.parametrize(("name", "value"), [
    ("ADMIN_IDS", "12,abc"),
    ("ADMIN_IDS", "-5"),
    ("ADMIN_IDS", "12345.0"),
    ("ADMIN_IDS", "1_000"),
    ("ADMIN_IDS", "12, ０"),
    ("MAX_FILES_PER_FORM", "0"),
    ("DEFAULT_LOCALE", "fr"),
    ("TIMEZONE", "Mars/Olympus"),
    ("WEBHOOK_PORT", "99999"),
    ("WEBHOOK_SECRET", "has space"),
    ("COORDINATOR_CHAT_ID", "group"),
])
def test_bad_value_names_the_setting(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value).startswith(f"{name}:")
    assert "\n" not in str(caught.value)


def test_cli_bad_setting_is_one_line_and_exit_2(monkeypatch):
    monkeypatch.setenv("WEBHOOK_PORT", "not-a-port")
    done = subprocess.run([sys.executable, "-m", "bot", "units", "list"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "WEBHOOK_PORT" in lines[0]
    assert "Traceback" not in done.stderr


def test_env_example_documents_every_setting():
    from pathlib import Path

    from bot.settings import Settings

    example = (Path(__file__).resolve().parent.parent / ".env.example").read_text()
    assert [n.upper() for n in Settings.model_fields if f"\n{n.upper()}=" not in example] == []

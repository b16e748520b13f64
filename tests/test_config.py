import re
from datetime import time
from pathlib import Path

import pytest

from bot.config import TELEGRAM_API, Settings, SettingsError, load_settings


def test_defaults():
    s = load_settings()
    assert s.database_path == "data/newsbot.sqlite3"
    assert s.telegram_api_base == TELEGRAM_API
    assert s.digest_time == time(9, 0) and s.timezone == "Europe/Moscow"
    assert s.admin_ids == frozenset()


def test_values_from_environment(monkeypatch):
    monkeypatch.setenv("ADMIN_IDS", " 12, 34 ,")
    monkeypatch.setenv("DIGEST_TIME", "7:30")
    monkeypatch.setenv("TELEGRAM_API_BASE", "http://127.0.0.1:8081/")
    s = load_settings()
    assert s.admin_ids == {12, 34}
    assert s.digest_time == time(7, 30)
    assert s.telegram_api_base == "http://127.0.0.1:8081"


def test_values_from_dotenv_file(tmp_path):
    (tmp_path / ".env").write_text("ADMIN_IDS=5\nTIMEZONE=Asia/Novosibirsk\n")
    s = load_settings()
    assert s.admin_ids == {5} and s.timezone == "Asia/Novosibirsk"


@pytest.mark.parametrize(("name", "value"), [
    ("ADMIN_IDS", "12,abc"), ("DIGEST_TIME", "25:99"), ("TIMEZONE", "Mars/Base"),
    ("TELEGRAM_API_BASE", "not a url"), ("SUMMARIZER_BACKEND", "magic"), ("DELIVERY_RATE", "0"),
    ("WEBHOOK_URL", "bot.example.org/hook"), ("WEBHOOK_SECRET", "has spaces!"), ("WEBHOOK_LISTEN", "8080"),
    ("METRICS_LISTEN", "localhost"), ("DATABASE_URL", "mysql://bot@db/news"),
])
def test_wrong_value_names_the_variable_in_one_line(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert name in message and "\n" not in message


def test_database_url_chooses_postgresql_and_its_password_is_kept_out_of_logs(monkeypatch):
    assert load_settings().database == "data/newsbot.sqlite3"  # empty: the SQLite file
    monkeypatch.setenv("DATABASE_URL", "postgresql://bot:pa55word@db.internal:5432/news")
    s = load_settings()
    assert s.database == "postgresql://bot:pa55word@db.internal:5432/news"
    assert "pa55word" not in s.database_name and "pa55word" in s.secrets
    assert "pa55word" not in repr(s)


def test_the_search_graph_is_saved_beside_a_sqlite_file_and_nowhere_by_default_with_postgresql(monkeypatch):
    monkeypatch.setenv("DATABASE_PATH", "/srv/bot/news.sqlite3")
    assert load_settings().vector_graph_path == "/srv/bot/news.sqlite3.vectors"
    monkeypatch.setenv("DATABASE_URL", "postgresql://bot@db.internal/news")
    assert load_settings().vector_graph_path is None
    monkeypatch.setenv("VECTOR_INDEX_PATH", "/var/cache/bot/graph")
    assert load_settings().vector_graph_path == "/var/cache/bot/graph"


def test_env_example_lists_every_setting_and_what_compose_reads():
    root = Path(__file__).resolve().parents[1]
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", (root / ".env.example").read_text(), re.MULTILINE))
    compose = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", (root / "compose.yaml").read_text()))
    assert compose == {"POSTGRES_PASSWORD"}  # the test must see what compose reads
    assert listed == {name.upper() for name in Settings.model_fields} | compose


def test_channel_base_must_be_a_url(monkeypatch):
    monkeypatch.setenv("SOURCES_CHANNEL_BASE", "t.me")
    with pytest.raises(SettingsError, match="SOURCES_CHANNEL_BASE"):
        load_settings()
    monkeypatch.setenv("SOURCES_CHANNEL_BASE", "http://127.0.0.1:8080/s")
    assert load_settings().sources_channel_base == "http://127.0.0.1:8080/s/"


def test_the_settings_documentation_lists_every_setting_and_no_other():
    table = Path(__file__).parents[1].joinpath("docs", "settings.md").read_text()
    rows = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]
    documented = {name.lower() for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row)}
    assert documented == set(Settings.model_fields)

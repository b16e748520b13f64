from datetime import UTC, date, datetime

import pytest

from bot.render import item_messages
from bot.timezones import describe_timezone, parse_timezone
from digest.markup import MAX_MESSAGE_CHARS, split_escaped
from storage.items import Item
from storage.statements import content_hash
from storage.summaries import Summary


@pytest.mark.parametrize(("typed", "zone"), [
    ("Europe/Moscow", "Europe/Moscow"), ("europe/moscow", "Europe/Moscow"), ("Москва", "Europe/Moscow"),
    ("новосибирск", "Asia/Novosibirsk"), ("UTC+3", "Etc/GMT-3"), ("utc-5", "Etc/GMT+5"), ("+5", "Etc/GMT-5"),
    ("МСК+4", "Etc/GMT-7"), ("UTC", "UTC"), ("America/New York", "America/New_York"),
    ("Mars/Base", None), ("UTC+15", None), ("", None), ("привет", None), ("../../etc/passwd", None),
])
def test_parse_timezone(typed, zone):
    assert parse_timezone(typed) == zone


def test_describe_timezone_reads_offsets_the_human_way():
    assert describe_timezone("Etc/GMT-3") == "UTC+3"
    assert describe_timezone("Europe/Moscow") == "Europe/Moscow (UTC+3)"


def test_split_escaped_respects_the_limit_after_escaping():
    text = ("<&> " * 3000) + "\n\n" + "Обычный текст. " * 500
    chunks = split_escaped(text, 4096)
    assert all(len(c) <= 4096 for c in chunks) and len(chunks) > 2
    assert "<" not in "".join(chunks)


def test_long_item_is_split_and_keeps_header_and_summary():
    text = "Первое предложение длинного заявления. " * 400
    item = Item(7, text, "Заголовок <b>", date(2025, 8, 9), "admin:1", content_hash(text), datetime.now(UTC))
    parts = item_messages(item, Summary(7, "Кратко & ясно.", "extractive"))
    assert len(parts) > 1 and all(len(p) <= MAX_MESSAGE_CHARS for p in parts)
    assert parts[0].startswith("<b>#7</b> · 9 августа 2025 · admin:1\n<b>Заголовок &lt;b&gt;</b>")
    assert parts[-1].endswith("<i>Кратко:</i> Кратко &amp; ясно.")

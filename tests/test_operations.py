"""What an operator relies on: no token in logs, a private database file, a shutdown that lets replies finish."""

from __future__ import annotations

import asyncio
import logging
import stat
import sys

from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import SendMessage

from bot.config import load_settings
from bot.logs import REDACTED, RedactingFormatter
from bot.middlewares import InFlightMiddleware
from storage.items import ItemsRepo
from storage.sqlite import SqliteDatabase
from storage.statements import parse_statement

TOKEN = "123456789:AAH-abcdefghijklmnopqrstuvwxyz_0123"


def test_the_bot_token_never_reaches_a_log_line():
    formatter = RedactingFormatter("%(levelname)s %(message)s", [TOKEN])
    try:
        raise TelegramNetworkError(SendMessage(chat_id=1, text="x"),
                                   f"ClientConnectorError: https://api.telegram.org/bot{TOKEN}/sendMessage")
    except TelegramNetworkError:
        record = logging.LogRecord("aiogram", logging.ERROR, __file__, 1, "request to %s failed", (
            f"https://api.telegram.org/bot{TOKEN}/getUpdates",), exc_info=sys.exc_info())
    line = formatter.format(record)
    assert TOKEN not in line and "AAH-abc" not in line and line.count(REDACTED) >= 2
    other = "987654321:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"  # a token not configured here is hidden too
    assert other not in RedactingFormatter("%(message)s", []).format(
        logging.LogRecord("x", logging.INFO, __file__, 1, f"url /bot{other}/x", (), None))


def test_the_token_is_a_secret_in_settings(monkeypatch):
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    settings = load_settings()
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.model_dump())
    assert settings.bot_token.get_secret_value() == TOKEN


async def test_a_new_database_file_is_private(tmp_path):
    db = await SqliteDatabase.open(tmp_path / "data" / "bot.sqlite3")
    try:
        await ItemsRepo(db).add(parse_statement("Заявление."))  # the -wal and -shm files exist while it is open
        for name in ("bot.sqlite3", "bot.sqlite3-wal", "bot.sqlite3-shm"):
            assert stat.S_IMODE((tmp_path / "data" / name).stat().st_mode) == 0o600, name
    finally:
        await db.close()


async def test_shutdown_waits_for_updates_in_progress():
    in_flight = InFlightMiddleware()
    release = asyncio.Event()
    done = []

    async def slow_handler(_event, _data):
        await release.wait()
        done.append(True)

    task = asyncio.create_task(in_flight(slow_handler, object(), {}))
    await asyncio.sleep(0)
    assert not await in_flight.wait_idle(0.01)  # a reply is still being written
    release.set()
    assert await in_flight.wait_idle(5) and done == [True]
    await task


def test_routine_library_lines_stay_out_of_the_log():
    from bot.logs import setup_logging

    routine = ("apscheduler.executors.default", "pymorphy3.opencorpora_dict.wrapper")
    try:
        setup_logging("INFO", [])
        assert not any(logging.getLogger(name).isEnabledFor(logging.INFO) for name in routine)
        assert all(logging.getLogger(name).isEnabledFor(logging.WARNING) for name in routine)  # trouble shows
    finally:
        for name in ("apscheduler", "pymorphy3"):
            logging.getLogger(name).setLevel(logging.NOTSET)

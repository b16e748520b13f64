"""An admin hears each post's summary once, whichever process made it, across restarts."""

from __future__ import annotations

import pytest

from bot.config import load_settings
from bot.services import Services
from storage.base import Database
from storage.notices import NoticesRepo
from storage.statements import parse_statement

pytestmark = pytest.mark.both_backends  # each test taking `db` runs on SQLite and PostgreSQL


def services_on(db: Database) -> Services:
    return Services.build(load_settings(summarizer_backend="extractive", embedding_backend="none"), db)


async def test_the_summary_made_by_another_process_after_a_restart_is_announced_once(db, reopen):
    poster = services_on(db)
    result = await poster.intake.add(parse_statement("Курс рубля укрепился на открытии торгов."), 100, 7)
    assert await poster.notices.take_ready() == []  # no summary yet
    await db.close()  # the posting process stops before the summary is made

    other = await reopen()  # a worker elsewhere, on the same database
    await services_on(other).worker.drain()
    restarted = await reopen()
    (notice,) = await NoticesRepo(restarted).take_ready()
    assert (notice.item_id, notice.chat_id, notice.message_id) == (result.item_id, 100, 7)
    assert "рубля" in notice.summary
    assert await NoticesRepo(other).take_ready() == []  # taken once: nobody sends it again


async def test_a_deleted_post_is_not_announced(db):
    services = services_on(db)
    result = await services.intake.add(parse_statement("Жара в Москве продлится до выходных."), 100, 8)
    await services.items.delete(result.item_id)
    await services.worker.drain()
    assert await services.notices.take_ready() == []

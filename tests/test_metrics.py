"""What an operator watches: counters where events happen, backlogs read at scrape time, /healthz."""

from __future__ import annotations

from aiogram.exceptions import TelegramServerError
from aiogram.methods import SendMessage
from aiohttp.test_utils import TestClient, TestServer

from bot.config import load_settings
from bot.metrics_server import metrics_app
from bot.middlewares import ReplyRetryMiddleware, TelegramMetricsMiddleware
from bot.services import Services
from storage.statements import parse_statement
from tests.helpers import ADMIN, USER, Harness


def sample(services: Services, name: str, labels: dict | None = None) -> float:
    return services.metrics.registry.get_sample_value(name, labels or {}) or 0.0


async def test_replies_searches_and_telegram_errors_are_counted(db):
    h = Harness(Services.build(load_settings(admin_ids=frozenset({ADMIN}), summarizer_backend="extractive",
                                             embedding_backend="none"), db))
    async def no_wait(_seconds: float) -> None:
        pass

    h.session.middleware(ReplyRetryMiddleware(sleep=no_wait))  # as the running bot: retries outside,
    h.session.middleware(TelegramMetricsMiddleware(h.services.metrics))  # each attempt counted inside
    await h.send(ADMIN, "Курс рубля укрепился на торгах.")
    await h.send(USER, "курс рубля")
    services = h.services
    assert sample(services, "newsdigest_statements_stored_total") == 1
    assert sample(services, "newsdigest_search_seconds_count") == 1
    assert sample(services, "newsdigest_messages_sent_total") == 2  # "Сохранено" and the results
    h.session.failures = [TelegramServerError(SendMessage(chat_id=USER, text="x"), "Bad Gateway")]
    await h.send(USER, "/help")  # the reply is retried and gets through
    assert sample(services, "newsdigest_telegram_errors_total", {"kind": "server_5xx"}) == 1
    assert sample(services, "newsdigest_messages_sent_total") == 3


async def test_metrics_show_the_backlogs_and_healthz_the_database(db):
    services = Services.build(load_settings(summarizer_backend="extractive", embedding_backend="none"), db)
    await services.items.add_many([parse_statement("Курс рубля укрепился."), parse_statement("Жара в Москве.")])
    async with TestClient(TestServer(metrics_app(services))) as client:
        text = await (await client.get("/metrics")).text()
        assert "newsdigest_statements 2.0" in text and "newsdigest_summary_backlog 2.0" in text
        await services.worker.summarize_batch()
        text = await (await client.get("/metrics")).text()
        assert "newsdigest_summary_backlog 0.0" in text and "newsdigest_embedding_backlog 2.0" in text
        healthy = await client.get("/healthz")
        assert healthy.status == 200 and (await healthy.json())["ok"] is True
        await db.close()
        broken = await client.get("/healthz")
        assert broken.status == 503 and (await broken.json())["ok"] is False
        assert (await client.get("/metrics")).status == 200  # the counters, even without the database


async def test_digest_deliveries_are_counted_by_how_they_ended(db):
    from datetime import timedelta

    from aiogram.exceptions import TelegramForbiddenError

    from bot.delivery import Fanout
    from tests.helpers import NOW, FakeBot, instant, subscribe
    services = Services.build(load_settings(summarizer_backend="extractive", digest_skip_empty=True), db)
    bot = FakeBot()
    fanout = Fanout(bot, services, sleep=instant)
    await services.items.add(parse_statement("Курс рубля укрепился на торгах."), now=NOW - timedelta(hours=2))
    for chat in (10, 11, 12):
        await subscribe(services, chat)
    bot.script[12] = [TelegramForbiddenError(SendMessage(chat_id=12, text="x"), "bot was blocked by the user")]
    await fanout.run(NOW)
    await fanout.run(NOW + timedelta(days=1))  # nothing new: two empty days, the blocked chat is gone
    counted = {s: sample(services, "newsdigest_digests_total", {"status": s}) for s in ("sent", "blocked", "empty")}
    assert counted == {"sent": 2, "blocked": 1, "empty": 2}


async def test_scheduled_job_runs_are_counted_by_name_failed_ones_too():
    import pytest

    from bot.app import counted
    from bot.metrics import Metrics
    metrics = Metrics()

    async def fine() -> None:
        pass

    async def broken() -> None:
        raise RuntimeError("the database went away")

    await counted("summary-notices", fine, metrics)()
    with pytest.raises(RuntimeError):
        await counted("digest-tick", broken, metrics)()
    runs = {job: metrics.registry.get_sample_value("newsdigest_job_runs_total", {"job": job})
            for job in ("summary-notices", "digest-tick")}
    assert runs == {"summary-notices": 1.0, "digest-tick": 1.0}

"""The webhook's own handler: replays handled once (across replicas), bad bodies refused politely."""

from __future__ import annotations

import itertools
import logging
from datetime import datetime, timedelta

import pytest
from aiogram.methods import SendMessage
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.config import load_settings
from bot.services import Services
from bot.webhook import SECRET_HEADER, WebhookHandler
from storage.items import utc_now
from storage.updates import STALE, UpdatesRepo
from tests.helpers import ADMIN, USER, Harness

pytestmark = pytest.mark.both_backends  # each test taking `db` runs on SQLite and PostgreSQL

SECRET = "hook-Secret_1"
_ids = itertools.count(500)


def update(user_id: int, text: str, update_id: int | None = None) -> dict:
    return {"update_id": update_id or next(_ids), "message": {
        "message_id": next(_ids), "date": int(datetime.now().timestamp()), "text": text,
        "chat": {"id": user_id, "type": "private"}, "from": {"id": user_id, "is_bot": False, "first_name": "Т"}}}


@pytest.fixture
async def replicas(db):
    """Two replicas behind one load balancer: two dispatchers and bots on the same store."""
    settings = load_settings(admin_ids=frozenset({ADMIN}), summarizer_backend="extractive")
    harnesses = [Harness(Services.build(settings, db)) for _ in range(2)]
    clients = []
    for h in harnesses:
        app = web.Application()
        app.router.add_post("/hook", WebhookHandler(h.dp, h.bot, SECRET, UpdatesRepo(db)).handle)
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
    yield harnesses, clients
    for client in clients:
        await client.close()


def answers(*harnesses) -> list[str]:
    return [r.text for h in harnesses for r in h.session.requests if isinstance(r, SendMessage)]


async def post(client, body, secret=SECRET, **kwargs):
    resp = await client.post("/hook", headers={SECRET_HEADER: secret}, **kwargs,
                             **({"json": body} if not isinstance(body, bytes) else {"data": body}))
    return resp.status


async def test_a_replayed_update_is_handled_once_whichever_replica_gets_it(replicas):
    (one, two), (first, second) = replicas
    posted = update(ADMIN, "В Казани открыли новую станцию метро.")
    assert await post(first, posted) == 200
    assert await post(second, posted) == 200  # the Bot API did not get the answer, and posted it again
    assert await post(first, posted) == 200
    (reply,) = answers(one, two)
    assert reply.startswith("✅ Сохранено")
    assert (await one.services.items.stats())["items"] == 1


async def test_an_update_another_replica_is_handling_is_asked_again_later(replicas, db):
    (one, two), (first, second) = replicas
    posted = update(USER, "/help")
    assert await UpdatesRepo(db).claim(posted["update_id"]) == "yours"  # a replica has it in hand
    assert await post(second, posted) == 503
    assert answers(one, two) == []
    # A claim left by a replica that died handling it is taken over.
    assert await UpdatesRepo(db).claim(posted["update_id"], now=utc_now() + STALE + timedelta(seconds=1)) == "yours"


async def test_a_handler_that_fails_is_apologised_for_once_and_not_handled_again(replicas):
    (one, two), (first, second) = replicas
    posted = update(USER, "/help")
    one.session.failures = [RuntimeError("a bug in a handler")]
    assert await post(first, posted) == 200  # handled: the dispatcher's error handler answered
    assert await post(second, posted) == 200  # a replay: not handled again
    assert answers(one, two) == ["Что-то пошло не так — я уже записал ошибку. Попробуйте ещё раз чуть позже."]
    assert one.services.metrics.handler_errors.labels("message")._value.get() == 1


async def test_an_update_the_dispatcher_could_not_handle_is_handled_when_posted_again(replicas, monkeypatch):
    (one, two), (first, second) = replicas
    posted = update(USER, "/help")

    async def crash(*_args, **_kwargs):
        raise RuntimeError("the dispatcher itself failed")

    monkeypatch.setattr(one.dp, "feed_update", crash)
    assert await post(first, posted) == 500  # the Bot API posts it again
    assert await post(second, posted) == 200
    assert len(answers(one, two)) == 1


@pytest.mark.parametrize("body", [b"{not json", b"", b"[]", b'{"update_id": "x"}', b'{"foo": 1}', b"\xff\xfe"])
async def test_a_body_that_is_no_update_gets_400_and_no_traceback(replicas, caplog, body):
    (one, two), (first, _second) = replicas
    with caplog.at_level(logging.INFO):
        assert await post(first, body) == 400
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert answers(one, two) == []


async def test_a_wrong_secret_is_refused(replicas):
    (one, two), (first, _second) = replicas
    assert await post(first, update(USER, "/help"), secret="guess") == 401
    assert await post(first, update(USER, "/help"), secret="") == 401
    assert answers(one, two) == []

"""/addsource, /sources, /delsource, /pause, /resume through aiogram's dispatcher, against a local feed server."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.app import poll_sources
from bot.config import load_settings
from bot.services import Services
from storage.items import utc_now
from tests.feed_server import FEEDS
from tests.helpers import ADMIN, USER, Harness


@pytest.fixture
async def h(db, server):
    settings = load_settings(admin_ids=frozenset({ADMIN}), summarizer_backend="extractive",
                             sources_allow_private=True, sources_channel_base=server.url("/s/"))
    harness = Harness(Services.build(settings, db))
    yield harness
    await harness.services.sources.close()


async def test_admin_adds_a_feed_and_is_told_what_it_holds(h, server):
    checking, done = await h.send(ADMIN, f"/addsource {server.url('/rss2.xml')}")
    assert checking == "⏳ Проверяю источник…"
    assert done.startswith("✅ Источник #1 добавлен: <b>Пресс-служба Минэкономразвития</b> (RSS).")
    assert "Записей сейчас: 3, сохранено новых: 3 сообщения." in done and "каждые 10 мин" in done
    assert (await h.services.items.stats())["items"] == 3
    _, again = await h.send(ADMIN, f"/addsource {server.url('/rss2.xml')}")
    assert again.startswith("Этот источник уже есть: #1") and "сохранено новых: 0 сообщений" in again


async def test_a_channel_by_its_name(h):
    _, done = await h.send(ADMIN, "/addsource @gov_news")
    assert "(канал Telegram)" in done and "<b>Тестовый канал новостей</b>" in done


async def test_a_source_that_cannot_be_read_is_not_added(h, server):
    _, answer = await h.send(ADMIN, f"/addsource {server.url('/status/404')}")
    assert answer == "Не добавлено: сайт ответил 404 Not Found."
    _, answer = await h.send(ADMIN, "/addsource https://t.me/+PrivateInvite")
    assert answer.startswith("Не добавлено: это не публичный канал")
    assert await h.send(ADMIN, "/addsource") == [
        "Укажите адрес ленты, сайта или канала:\n/addsource https://example.ru/rss\n/addsource @channel_name"]
    assert await h.send(ADMIN, "/sources") == [
        "Источников пока нет. Добавить: /addsource https://example.ru/rss или @channel_name"]


async def test_sources_show_their_state_and_errors(h, server):
    await h.send(ADMIN, f"/addsource {server.url('/feed.json')}")
    await h.send(ADMIN, f"/addsource {server.url('/atom.xml')}")
    poller = h.services.sources
    atom = await poller.sources.by_url(server.url("/atom.xml"))
    await poller.sources.failed(atom.id, "сайт ответил 500 Internal Server Error", atom.next_poll_at)
    (listing,) = await h.send(ADMIN, "/sources")
    assert listing.startswith("<b>Источники (2)</b>")
    first, second = listing.split("\n\n")[1:]
    assert first.startswith("#1 · JSON Feed <b>Городские новости</b>") and "· 2 сообщения" in first
    assert "⚠️" not in first
    assert second.startswith("#2 · Atom <b>Новости региона</b>")
    assert "⚠️ Ошибка: сайт ответил 500 Internal Server Error (подряд: 1, следующая попытка" in second
    (stats,) = await h.send(ADMIN, "/stats")
    assert "\nИсточников: 2, с ошибкой: 1 (/sources)\n" in stats


async def test_pause_resume_and_delete(h, server):
    await h.send(ADMIN, f"/addsource {server.url('/atom.xml')}")
    assert await h.send(ADMIN, "/pause 1") == ["⏸ Источник #1 на паузе. Продолжить — /resume 1"]
    (listing,) = await h.send(ADMIN, "/sources")
    assert "⏸ На паузе — /resume 1" in listing
    poller = h.services.sources
    poller.clock = lambda: utc_now() + timedelta(hours=1)
    assert await poller.poll_due() == []
    assert await h.send(ADMIN, "/resume 1") == ["▶️ Источник #1 снова читается."]
    assert len(await poller.poll_due()) == 1
    assert await h.send(ADMIN, "/delsource 1") == ["Источник #1 удалён; его сообщения остаются в базе."]
    assert await h.send(ADMIN, "/delsource 1") == ["Источника #1 нет. Список — /sources"]
    assert await h.send(ADMIN, "/pause abc") == ["Укажите номер источника: /pause 3 (номера — в /sources)"]
    assert (await h.services.items.stats())["items"] == 2


@pytest.mark.parametrize("command", ["/addsource https://example.ru/rss", "/sources", "/delsource 1", "/pause 1",
                                     "/resume 1"])
async def test_only_admins_change_sources(h, server, command):
    await h.send(ADMIN, f"/addsource {server.url('/atom.xml')}")
    (answer,) = await h.send(USER, command)
    assert answer.startswith("Источники новостей меняют только администраторы.") and "/rhythm пауза" in answer
    (source,) = await h.services.sources.sources.all()
    assert not source.paused and source.url == server.url("/atom.xml")


async def test_an_item_names_the_other_sources_that_carried_it(h, server):
    await h.send(ADMIN, "Программа предусматривает льготные кредиты для малого и среднего бизнеса в регионах.")
    await h.send(ADMIN, f"/addsource {server.url('/rss2.xml')}")
    await h.send(ADMIN, f"/addsource {server.url('/cp1251.xml')}")  # the same three entries again
    (posted,) = await h.send(USER, "/item 1")
    assert "\n<i>То же сообщали:</i> Пресс-служба Минэкономразвития, Лента в windows-1251\n" in posted
    (from_feed,) = await h.send(USER, "/item 2")
    assert "\n<i>То же сообщали:</i> Лента в windows-1251\n" in from_feed  # not the feed it came from
    await h.send(USER, "/start")
    digest = "\n".join(await h.send(ADMIN, "/preview"))
    (line,) = [ln for ln in digest.splitlines() if "/item1" in ln]
    assert "3 источника)</i>" in line  # the post, and both feeds that carried its text


async def test_polls_are_counted_for_metrics(h, server):
    await h.send(ADMIN, f"/addsource {server.url('/atom.xml')}")
    server.bodies["gone"] = ((FEEDS / "feed.json").read_bytes(), "application/feed+json")
    await h.send(ADMIN, f"/addsource {server.url('/live/gone')}")
    del server.bodies["gone"]
    services = h.services
    services.sources.clock = lambda: utc_now() + timedelta(hours=1)
    await poll_sources(services)
    sample = services.metrics.registry.get_sample_value
    assert sample("newsdigest_source_polls_total", {"outcome": "unchanged"}) == 1
    assert sample("newsdigest_source_polls_total", {"outcome": "error"}) == 1
    assert sample("newsdigest_statements_stored_total") == 4  # what /addsource stored


async def test_an_item_links_to_its_original(h, server):
    await h.send(ADMIN, f"/addsource {server.url('/rss2.xml')}")
    items = await h.services.items.get_many([1, 2, 3])
    gdp = next(i for i in items.values() if i.link and i.link.endswith("/1001"))
    (shown,) = await h.send(USER, f"/item {gdp.id}")
    assert '\n<a href="https://economy.example.ru/news/1001">Оригинал</a>\n' in shown
    unsafe = next(i for i in items.values() if i.title == "Опасная ссылка в заголовке")
    (shown,) = await h.send(USER, f"/item {unsafe.id}")
    assert "<a href" not in shown and "javascript" not in shown

import threading
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

import digest.maker as digest_maker_module
from digest.maker import DigestMaker
from digest.markup import MAX_MESSAGE_CHARS, message_length
from digest.render import build_digest, continuation, plural, russian_date, russian_period
from digest.stories import group_stories
from storage.items import Item, ItemsRepo
from storage.statements import content_hash, parse_statement
from storage.summaries import SummariesRepo, Summary

pytestmark = pytest.mark.both_backends  # each test taking `db` runs on SQLite and PostgreSQL

DAY = date(2025, 8, 9)


def item(i: int, text: str, day: date = DAY) -> Item:
    return Item(i, text, None, day, "", content_hash(text), datetime(2025, 8, 9, tzinfo=UTC))


def test_a_statement_that_several_sources_carried_counts_them_all():
    wire = replace(item(1, "Центробанк сохранил ключевую ставку."), reposts=4)  # five outlets, one text
    told_twice = [item(2, "Курс рубля укрепился на торгах биржи."),
                  item(3, "Рубль укрепился на торгах биржи в пятницу.")]
    digest = build_digest([*told_twice, wire], {}, DAY, DAY)
    assert digest.entries[0].startswith("• Центробанк сохранил ключевую ставку. <i>(5 источников)</i>")


def test_a_story_from_a_source_links_to_its_original():
    linked = replace(item(1, "Курс рубля заметно укрепился."), link='https://news.example.ru/a?x=1&y="2"')
    (message,) = build_digest([linked, item(2, "Школы готовы к учебному году.")], {}, DAY, DAY).messages
    assert ('/item1 · <a href="https://news.example.ru/a?x=1&amp;y=&quot;2&quot;">оригинал</a>' in message)
    assert "/item2\n" in message + "\n" and message.count("<a href") == 1


def test_russian_dates():
    assert russian_date(DAY) == "9 августа 2025"
    assert russian_period(date(2025, 8, 8), DAY) == "8–9 августа 2025"
    assert russian_period(date(2025, 7, 30), date(2025, 8, 2)) == "30 июля – 2 августа 2025"
    assert russian_period(date(2024, 12, 31), date(2025, 1, 1)) == "31 декабря 2024 – 1 января 2025"


def test_plural():
    assert [plural(n, "источник", "источника", "источников") for n in (1, 2, 5, 11, 21, 22, 112)] == [
        "1 источник", "2 источника", "5 источников", "11 источников", "21 источник", "22 источника",
        "112 источников"]


def test_title_and_one_line_per_item_with_item_command():
    # A first line of two sentences: the model's summary is its line; a one-sentence line is its own.
    messages = build_digest([item(1, "Курс рубля укрепился на торгах. Биржа закрылась ростом."),
                             item(2, "Школы готовы к учебному году.")],
                            {1: Summary(1, "Рубль укрепился.", "m")}, DAY, DAY).messages
    assert len(messages) == 1
    text = messages[0]
    assert text.startswith("<b>Дайджест за 9 августа 2025</b>")
    assert "• Рубль укрепился. /item1" in text
    assert "• Школы готовы к учебному году. /item2" in text  # no summary yet: the text itself


def test_user_text_is_html_escaped():
    text = build_digest([item(1, "<script>alert(1)</script> & <b>жирный</b>")], {}, DAY, DAY).messages[0]
    assert "<script>" not in text and "&lt;script&gt;" in text and "&amp;" in text
    assert "<b>жирный</b>" not in text


def test_empty_period_says_no_news():
    messages = build_digest([], {}, DAY, DAY).messages
    assert messages == ["<b>Дайджест за 9 августа 2025</b>\n\nНовостей за этот период нет."]


def test_near_duplicates_merge_and_show_source_count():
    a = "В Казани открыли новую станцию метро «Дубравная-2». Она примет двадцать тысяч пассажиров в сутки."
    b = "Новая станция метро «Дубравная-2» открылась в Казани и будет принимать двадцать тысяч пассажиров в сутки."
    c = "Курс рубля укрепился на открытии торгов Московской биржи."
    messages = build_digest([item(1, a), item(2, c), item(3, b)], {}, DAY, DAY).messages
    text = messages[0]
    assert "(2 источника)" in text and "/item1" in text and "/item3" not in text
    assert text.index("/item1") < text.index("/item2")  # the bigger story first
    assert len(group_stories([item(1, a), item(2, c)])) == 2


def test_long_digest_splits_at_entries_under_4096():
    items = [item(i, f"Уникальная новость {i}: " + " ".join(f"слово{i}x{j}" for j in range(40)) + ".")
             for i in range(1, 120)]
    messages = build_digest(items, {}, DAY, DAY, max_stories=200).messages
    assert len(messages) > 1
    assert all(len(m) <= MAX_MESSAGE_CHARS for m in messages)
    joined = "\n".join(messages)
    for i in range(1, 120):
        assert joined.count(f"/item{i}\n") + joined.endswith(f"/item{i}") == 1  # every entry whole, once
    for m in messages:
        for line in m.splitlines():
            assert not line.startswith("•") or line.rstrip().split()[-1].startswith("/item")


async def test_digest_for_dates_reads_stored_items_and_summaries(db):
    items = ItemsRepo(db)
    r1 = await items.add(parse_statement("date 2025-08-09\nКурс рубля укрепился на торгах. Биржа закрылась ростом."))
    await items.add(parse_statement("date 2025-08-01\nСтарое заявление."))
    await SummariesRepo(db).put_many([Summary(r1.item_id, "Рубль вырос.", "model")])
    messages = (await DigestMaker(db).for_dates(DAY, DAY)).messages
    assert "Рубль вырос." in messages[0] and "Старое" not in messages[0]


def distinct(n: int) -> list[Item]:
    return [item(i, f"Уникальная новость {i}: " + " ".join(f"слово{i}x{j}" for j in range(8)) + ".")
            for i in range(1, n + 1)]


def test_a_big_day_shows_the_top_stories_then_says_how_many_more():
    digest = build_digest(distinct(100), {}, DAY, DAY, max_stories=30)
    text = "\n".join(digest.messages)
    assert text.count("• ") == 30 and "…и ещё 70 сюжетов" in text
    assert "100 сообщений, 100 сюжетов" in text
    assert len(digest.entries) == 100 and digest.shown == 30 and digest.more == 70


def test_the_first_page_holds_the_biggest_stories():
    same = "В Казани открыли новую станцию метро «Дубравная-2». Она примет двадцать тысяч пассажиров в сутки."
    items = distinct(40) + [item(100 + i, same + " " * i) for i in range(3)]
    items[-1] = item(102, "Новая станция метро «Дубравная-2» открылась в Казани, двадцать тысяч пассажиров.")
    digest = build_digest(items, {}, DAY, DAY, max_stories=5)
    assert "/item100" in digest.messages[0].split("\n")[3]  # the first story line: 3 sources
    assert all("/item" not in line or "источник" not in line for line in digest.entries[1:])


def test_continuation_numbers_the_stories_and_fits():
    digest = build_digest(distinct(100), {}, DAY, DAY, max_stories=30)
    parts = continuation(digest.title, digest.entries[30:60], 30, 100)
    assert "Сюжеты 31–60 из 100" in parts[0]
    assert "\n".join(parts).count("• ") == 30 and all(message_length(p) <= MAX_MESSAGE_CHARS for p in parts)


async def test_a_digest_is_built_off_the_event_loop_once_and_stored(db, monkeypatch):
    """Grouping a big day costs seconds of CPU: it must not run on the event loop's thread."""
    threads = []
    real = digest_maker_module.events_of

    def spy(*args, **kwargs):
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(digest_maker_module, "events_of", spy)
    await ItemsRepo(db).add_many([parse_statement(f"date 2025-08-09\nНовость {i} о погоде. Подробности позже.")
                                  for i in range(5)])
    maker = DigestMaker(db)
    first = await maker.for_dates(DAY, DAY)
    again = await maker.for_dates(DAY, DAY)
    assert threads and threading.main_thread() not in threads
    assert again.id == first.id and len(threads) == 1  # the same items: the stored digest, not a rebuild
    await SummariesRepo(db).put_many([Summary(1, "Погода хорошая.", "m")])
    changed = await maker.for_dates(DAY, DAY)
    assert changed.id != first.id and "Погода хорошая." in changed.messages[0]
    assert len(threads) == 1  # a new summary changes a line, not the stories: they are not grouped again

from datetime import UTC, date, datetime, timedelta

import pytest

from storage.items import ItemsRepo
from storage.sqlite import MIGRATIONS, SqliteDatabase
from storage.statements import parse_statement
from storage.summaries import SummariesRepo, Summary

pytestmark = pytest.mark.both_backends  # each test taking `db` runs on SQLite and PostgreSQL


async def test_item_is_stored_with_all_fields(db):
    items = ItemsRepo(db)
    now = datetime(2025, 8, 10, 12, 0, tzinfo=UTC)
    result = await items.add(parse_statement("date 2025-08-09\nТекст заявления.", source="admin:1"), now=now)
    item = await items.get(result.item_id)
    assert not result.duplicate
    assert (item.text, item.statement_date, item.source) == ("Текст заявления.", date(2025, 8, 9), "admin:1")
    assert item.created_at == now and len(item.content_hash) == 64


async def test_statement_without_date_gets_arrival_day(db):
    now = datetime(2025, 8, 10, 12, 0, tzinfo=UTC)
    result = await ItemsRepo(db).add(parse_statement("Без даты."), now=now)
    assert (await ItemsRepo(db).get(result.item_id)).statement_date == date(2025, 8, 10)


async def test_same_text_twice_is_stored_once_and_names_the_original(db):
    items = ItemsRepo(db)
    first = await items.add(parse_statement("Курс рубля  укрепился."))
    second = await items.add(parse_statement("курс РУБЛЯ укрепился."))
    assert second.duplicate and second.item_id == first.item_id
    assert (await items.stats())["items"] == 1


async def test_duplicates_inside_one_batch(db):
    results = await ItemsRepo(db).add_many([parse_statement("А б в."), parse_statement("а  Б в.")])
    assert [r.duplicate for r in results] == [False, True]
    assert results[0].item_id == results[1].item_id


async def test_delete_removes_item_summary_and_search_row(db):
    from search.searcher import Searcher
    items = ItemsRepo(db)
    item_id = (await items.add(parse_statement("Уникальное заявление о мостах."))).item_id
    await SummariesRepo(db).put_many([Summary(item_id, "Кратко.", "extractive")])
    assert await items.delete(item_id)
    assert await items.get(item_id) is None
    assert await SummariesRepo(db).get(item_id) is None
    assert (await Searcher(db).search("мосты")).hits == []
    assert not await items.delete(item_id)


async def test_created_between_selects_by_arrival(db):
    items = ItemsRepo(db)
    t0 = datetime(2025, 8, 9, 6, 0, tzinfo=UTC)
    await items.add(parse_statement("Раннее."), now=t0)
    await items.add(parse_statement("Позднее."), now=t0 + timedelta(hours=5))
    got = await items.created_between(t0 + timedelta(hours=1), t0 + timedelta(hours=6))
    assert [i.text for i in got] == ["Позднее."]


async def test_database_survives_reopen_in_wal_mode(tmp_path):
    path = tmp_path / "x.sqlite3"
    db = await SqliteDatabase.open(path)
    await ItemsRepo(db).add(parse_statement("Сохранится."))
    await db.close()
    db = await SqliteDatabase.open(path)
    async with db.conn.execute("PRAGMA journal_mode") as cur:
        assert (await cur.fetchone())[0] == "wal"
    async with db.conn.execute("PRAGMA user_version") as cur:
        assert (await cur.fetchone())[0] == len(MIGRATIONS)
    assert (await ItemsRepo(db).stats())["items"] == 1
    await db.close()


async def test_summaries_record_method_and_missing_lists_unsummarized(db):
    items = ItemsRepo(db)
    a = (await items.add(parse_statement("Первое."))).item_id
    b = (await items.add(parse_statement("Второе."))).item_id
    summaries = SummariesRepo(db)
    await summaries.put_many([Summary(a, "Итог.", "ruT5")])
    assert await summaries.missing() == [b]
    assert (await summaries.get(a)).method == "ruT5"
    assert await summaries.count_by_method() == {"ruT5": 1}


async def test_arrival_day_is_taken_in_the_configured_time_zone(db):
    from zoneinfo import ZoneInfo
    late = datetime(2025, 8, 9, 22, 30, tzinfo=UTC)  # already 10 August in Moscow
    result = await ItemsRepo(db, ZoneInfo("Europe/Moscow")).add(parse_statement("Поздняя новость."), now=late)
    assert (await ItemsRepo(db).get(result.item_id)).statement_date == date(2025, 8, 10)

"""`newsbot copy`: a bot's SQLite file moved into a new database (PostgreSQL, or another file) loses nothing
and sends no digest twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from search.searcher import Searcher
from storage.copy import TargetNotEmpty, copy_store
from storage.deliveries import DeliveriesRepo
from storage.digests import DigestsRepo
from storage.embeddings import EmbeddingsRepo
from storage.items import ItemsRepo
from storage.sources import SourcesRepo
from storage.sqlite import SqliteDatabase
from storage.statements import parse_statement
from storage.subscribers import SubscribersRepo
from storage.summaries import SummariesRepo, Summary

pytestmark = pytest.mark.both_backends  # each test taking `db` runs on SQLite and PostgreSQL

NOW = datetime(2025, 8, 9, 9, 0, tzinfo=UTC)


@pytest.fixture
async def source(tmp_path):
    db = await SqliteDatabase.open(tmp_path / "source.sqlite3")
    items = ItemsRepo(db)
    for text in ("Курс рубля укрепился на торгах.", "Удалённое заявление.", "Министр обсудил санкции с коллегами."):
        await items.add(parse_statement(text, link="https://news.example.ru/3" if "санкции" in text else None))
    await items.delete(2)  # ids with a gap: links to /item3 must still lead to the same statement
    await SummariesRepo(db).put_many([Summary(1, "Рубль укрепился.", "extractive")])
    await EmbeddingsRepo(db).put_many("e5", [1, 3], np.eye(2, 4, dtype=np.float32))
    await SubscribersRepo(db).subscribe(100, "09:00", "Europe/Moscow")
    digest = await DigestsRepo(db).put("k", "Дайджест", ["<b>Дайджест</b>"], ["line"], 1)
    delivery = await DeliveriesRepo(db).claim(100, "2025-08-09", NOW - timedelta(days=1), NOW, digest.id)
    await DeliveriesRepo(db).finish(delivery, "sent")
    feed, _ = await SourcesRepo(db).add("https://news.example.ru/rss", "rss", "Новости", 1, NOW)
    await SourcesRepo(db).remember(feed.id, [("entry-3", 3, True)])
    yield db
    await db.close()


async def test_everything_is_copied_with_its_ids_and_found_in_the_new_database(source, db):
    counts = await copy_store(source, db)
    assert counts["items"] == 2 and counts["deliveries"] == 1
    items = ItemsRepo(db)
    assert (await items.get(3)).text == "Министр обсудил санкции с коллегами." and await items.get(2) is None
    assert (await items.get(3)).link == "https://news.example.ru/3"
    (feed,) = await SourcesRepo(db).all()  # a source keeps its entries: a re-poll after the move adds nothing
    assert (feed.url, feed.statements) == ("https://news.example.ru/rss", 1)
    assert await SourcesRepo(db).known_keys(feed.id, ["entry-3", "entry-4"]) == {"entry-3"}
    page = await Searcher(db).search("санкций")  # the word index is rebuilt in the target's own kind
    assert [h.item_id for h in page.hits] == [3]
    assert (await SummariesRepo(db).get_many([1]))[1].summary == "Рубль укрепился."
    assert set(await EmbeddingsRepo(db).of_items("e5", [1, 3])) == {1, 3}
    subscriber = await SubscribersRepo(db).get(100)
    assert subscriber.active and subscriber.last_digest_at == NOW
    # Today's digest was sent before the move: the new database knows, and does not send it again.
    assert await DeliveriesRepo(db).slots_taken({100: "2025-08-09"}) == {100}
    # What the new database makes next gets ids above the copied ones.
    assert (await DigestsRepo(db).put("k2", "Дайджест", ["x"], ["x"], 1)).id == 2
    assert (await items.add(parse_statement("Новое заявление после переезда."))).item_id == 4
    assert (await SourcesRepo(db).add("https://other.example.ru/rss", "rss", "", 1, NOW))[0].id == 2


async def test_a_database_that_already_holds_statements_is_refused(source, db):
    await ItemsRepo(db).add(parse_statement("Уже здесь."))
    with pytest.raises(TargetNotEmpty):
        await copy_store(source, db)
    assert (await db.fetchone("SELECT count(*) FROM items"))[0] == 1

"""A database made by an earlier release opens with its data and its pending digests intact."""

from __future__ import annotations

import json
import sqlite3
from datetime import date

from search.searcher import Searcher
from storage.deliveries import DeliveriesRepo
from storage.items import ItemsRepo
from storage.searches import SearchesRepo
from storage.sqlite import MIGRATIONS, SqliteDatabase
from storage.statements import parse_statement


async def test_version_2_database_upgrades_with_pending_deliveries_kept(tmp_path):
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(f"{MIGRATIONS[0]}\n{MIGRATIONS[1]}\nPRAGMA user_version = 2;")
    conn.executemany(
        "INSERT INTO deliveries(chat_id, slot, period_start, period_end, messages, parts_sent, status, created_at)"
        " VALUES (?, ?, '2025-08-08T06:00:00.000000+00:00', '2025-08-09T06:00:00.000000+00:00', ?, ?, ?, ?)",
        [(10, "2025-08-09", json.dumps(["часть 1", "часть 2"]), 1, "pending", "2025-08-09T06:00:00+00:00"),
         (11, "2025-08-09", "[]", 0, "empty", "2025-08-09T06:00:00+00:00")])
    conn.execute("INSERT INTO searches(query, created_at) VALUES ('чужой запрос', '2025-08-09')")
    conn.commit()
    conn.close()

    db = await SqliteDatabase.open(path)
    try:
        (pending,) = await DeliveriesRepo(db).pending()
        assert (pending.chat_id, pending.messages, pending.parts_sent) == (10, ["часть 1", "часть 2"], 1)
        assert await DeliveriesRepo(db).count_by_status() == {"pending": 1, "empty": 1}
        assert await SearchesRepo(db, max_chars=1000).get(1, 0) is None  # ownerless searches are not kept
        (version,) = await db.fetchone("PRAGMA user_version")
        assert version == len(MIGRATIONS)
    finally:
        await db.close()


async def test_statements_indexed_before_the_day_table_are_found_by_date_and_ranked_by_recency(tmp_path):
    path = tmp_path / "v10.sqlite3"
    db = await SqliteDatabase.open(path)
    await ItemsRepo(db).add_many([parse_statement("date 2025-08-01\nСанкции против банков."),
                                  parse_statement("date 2025-08-09\nСанкции против заводов.")])
    await db.close()
    conn = sqlite3.connect(path)  # as a version-10 database left it: no item_days
    conn.executescript("DROP TABLE item_days; DROP INDEX items_source; ALTER TABLE summaries DROP COLUMN headline;"
                       " DROP TABLE updates_seen; ALTER TABLE source_entries DROP COLUMN taken_at;"
                       " DROP TABLE channels; DROP TABLE search_graphs;"
                       " PRAGMA user_version = 10;")  # what versions 11 to 16 added gone
    conn.close()

    db = await SqliteDatabase.open(path)
    try:
        search = Searcher(db)
        assert [h.statement_date.day for h in (await search.search("санкции")).hits] == [9, 1]  # newer first
        page = await search.search("санкции", date_to=date(2025, 8, 5))
        assert [h.statement_date.day for h in page.hits] == [1]
    finally:
        await db.close()

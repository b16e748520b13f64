"""Writes while a read is in progress and another process commits: they wait for the lock, never fail at once."""

from __future__ import annotations

import sqlite3

from storage.db import Database
from storage.items import ItemsRepo
from storage.statements import parse_statement


async def test_a_write_during_a_read_and_another_process_commit_is_stored(tmp_path):
    path = tmp_path / "shared.sqlite3"
    db = await Database.open(path)
    items = ItemsRepo(db)
    await items.add_many([parse_statement(f"Заявление номер {i}.") for i in range(300)])

    reading = await db.conn.execute("SELECT id FROM items")  # a search or digest half-way through its rows
    await reading.fetchone()
    other = sqlite3.connect(path, isolation_level=None)  # another process, e.g. `newsbot ingest`, commits
    other.execute("INSERT INTO subscribers(chat_id, digest_time, timezone, created_at)"
                  " VALUES (1, '09:00', 'UTC', '2025-01-01')")
    other.close()

    result = await items.add(parse_statement("Пост администратора во время импорта."))
    await reading.close()
    assert (await items.get(result.item_id)).text == "Пост администратора во время импорта."
    await db.close()

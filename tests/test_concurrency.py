"""Writes while a read is in progress and another process commits: they wait for the lock, never fail at once."""

from __future__ import annotations

import contextlib
import sqlite3

from storage.items import ItemsRepo
from storage.sqlite import SqliteDatabase
from storage.statements import parse_statement


async def test_a_write_during_a_read_and_another_process_commit_is_stored(tmp_path):
    path = tmp_path / "shared.sqlite3"
    db = await SqliteDatabase.open(path)
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


async def test_a_transaction_cancelled_while_it_waits_to_begin_leaves_the_connection_usable(db, tmp_path):
    import asyncio
    other = await SqliteDatabase.open(tmp_path / "test.sqlite3")
    holding = other.transaction()
    await holding.__aenter__()  # another process holds the write lock: our BEGIN waits in its thread

    async def write() -> None:
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO leases(name, holder, expires_at) VALUES ('x', 'y', 'z')")

    waiting = asyncio.create_task(write())
    for _ in range(1000):  # the write lock taken: its BEGIN is in the connection's thread, waiting
        if db._write_lock.locked():
            break
        await asyncio.sleep(0.001)
    assert db._write_lock.locked() and not waiting.done()
    waiting.cancel()  # a shutdown
    await holding.__aexit__(None, None, None)  # the lock is free: the queued BEGIN now succeeds
    await other.close()
    with contextlib.suppress(asyncio.CancelledError):
        await waiting
    async with db.transaction() as conn:  # and the next transaction still begins
        await conn.execute("INSERT INTO leases(name, holder, expires_at) VALUES ('after', 'y', 'z')")
    assert [r[0] for r in await db.fetchall("SELECT name FROM leases")] == ["after"]


async def test_processes_started_together_on_a_new_file_migrate_it_once(tmp_path):
    import asyncio

    from storage.sqlite import MIGRATIONS
    for attempt in range(3):
        path = tmp_path / f"new{attempt}.sqlite3"
        opened = await asyncio.gather(*(SqliteDatabase.open(path) for _ in range(4)))  # a bot and its workers
        versions = [(await db.fetchone("PRAGMA user_version"))[0] for db in opened]
        for db in opened:
            await db.close()
        assert versions == [len(MIGRATIONS)] * 4

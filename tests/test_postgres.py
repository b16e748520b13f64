"""PostgreSQL as the store: chosen by DATABASE_URL, claims taken side by side, a lost connection survived,
an unreachable server reported in one line. (The storage, search, delivery and claim tests of the other
modules run on both backends too: see conftest.)"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import asyncpg
import pytest

from bot.cli import main
from search.searcher import Searcher
from storage.items import ItemsRepo, iso_utc, utc_now
from storage.morphology import index_stems
from storage.postgres import MIGRATIONS, PostgresDatabase
from storage.statements import parse_statement
from storage.summaries import SummariesRepo
from storage.tsvector import tsvector_literal
from tests.conftest import new_postgres_database

pytestmark = pytest.mark.both_backends  # each test taking `db` runs on SQLite and PostgreSQL

ROOT = Path(__file__).resolve().parents[1]


def test_an_unreachable_server_is_one_clear_line_without_the_password(tmp_path):
    env = {**os.environ, "DATABASE_URL": "postgresql://bot:s3cretpw@127.0.0.1:1/news", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "bot", "stats"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 3
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach PostgreSQL at 127.0.0.1:1/news" in lines[0]
    assert "s3cretpw" not in done.stderr + done.stdout


async def test_the_cli_stores_and_finds_statements_on_postgres(postgres_url, monkeypatch, capsys):
    async with new_postgres_database(postgres_url) as url:
        monkeypatch.setenv("DATABASE_URL", url)
        # main() runs its own event loop: run it beside this test's
        assert await asyncio.to_thread(main, ["ingest", str(ROOT / "examples")]) == 0
        assert "added 9" in capsys.readouterr().out
        assert await asyncio.to_thread(main, ["search", "санкции", "--json"]) == 0
        hits = json.loads(capsys.readouterr().out)
        assert hits and all("санкц" in (h["snippet"] + (h["title"] or "")).lower() for h in hits)
        assert await asyncio.to_thread(main, ["stats"]) == 0
        stats = json.loads(capsys.readouterr().out)
        assert stats["items"] == 9 and stats["database"].startswith("postgresql://")


async def test_claims_taken_at_once_by_many_workers_never_overlap(db, reopen):
    await ItemsRepo(db).add_many([parse_statement(f"Заявление {n}: новость номер {n}.") for n in range(60)])
    workers = [db, *[await reopen() for _ in range(5)]]
    now = utc_now()
    ids: list[int] = []
    for _ in range(5):  # a claimer that lost a race takes fewer this round; the next round takes the rest
        taken = await asyncio.gather(*(SummariesRepo(w).claim_missing(f"w{n}", 10, now)
                                       for n, w in enumerate(workers)))
        ids += [i for batch in taken for i in batch]
    assert sorted(ids) == list(range(1, 61))  # every item claimed once, by one worker


async def test_reads_and_new_transactions_survive_a_lost_connection(postgres_url):
    async with new_postgres_database(postgres_url) as url:
        db = await PostgresDatabase.open(url)
        try:
            items = ItemsRepo(db)
            await items.add(parse_statement("Курс рубля укрепился на открытии торгов."))
            admin = await asyncpg.connect(postgres_url)
            # The server drops every connection of the bot (a restart, a failover, an idle timeout).
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                " WHERE datname = $1 AND pid <> pg_backend_pid()", url.rsplit("/", 1)[1])
            await admin.close()
            page = await Searcher(db).search("рубль")
            assert [h.item_id for h in page.hits] == [1]
            added = await items.add(parse_statement("Биржа закрылась ростом индексов."))
            assert added.item_id == 2 and (await items.get(2)) is not None
        finally:
            await db.close()


async def test_a_read_in_flight_when_the_server_drops_its_connection_is_retried(postgres_url):
    async with new_postgres_database(postgres_url) as url:
        db = await PostgresDatabase.open(url)
        try:
            # asyncpg hands a connection lost mid-query back to its pool before the error reaches us.
            read = asyncio.create_task(db.fetchall("SELECT 7 FROM pg_sleep(0.5)"))
            admin = await asyncpg.connect(postgres_url)
            try:
                while not await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = $1"
                                               " AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()",
                                               url.rsplit("/", 1)[1]):
                    await asyncio.sleep(0.01)
                await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                    " WHERE datname = $1 AND pid <> pg_backend_pid()", url.rsplit("/", 1)[1])
            finally:
                await admin.close()
            assert [tuple(r) for r in await read] == [(7,)]
        finally:
            await db.close()


async def test_the_move_from_the_sqlite_file_to_postgresql_as_the_readme_tells_it(postgres_url, monkeypatch,
                                                                                  capsys):
    assert await asyncio.to_thread(main, ["ingest", str(ROOT / "examples")]) == 0  # the SQLite default
    async with new_postgres_database(postgres_url) as url:
        assert await asyncio.to_thread(main, ["copy", "--to", url]) == 0
        assert "items 9," in capsys.readouterr().out
        assert await asyncio.to_thread(main, ["copy", "--to", url]) == 2  # a second copy would mix two stores
        assert "already holds items" in capsys.readouterr().err
        monkeypatch.setenv("DATABASE_URL", url)
        assert await asyncio.to_thread(main, ["search", "санкции", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)


async def test_processes_started_together_on_a_new_database_migrate_it_once(postgres_url):
    async with new_postgres_database(postgres_url) as url:
        opened = await asyncio.gather(*(PostgresDatabase.open(url) for _ in range(4)))  # a bot and its workers
        try:
            versions = [tuple(r) for r in await opened[0].fetchall("SELECT version FROM schema_version")]
            assert versions == [(len(MIGRATIONS),)]
            await ItemsRepo(opened[3]).add(parse_statement("Курс рубля укрепился."))
            assert (await ItemsRepo(opened[0]).get(1)) is not None
        finally:
            for db in opened:
                await db.close()


def test_placeholders_are_numbered_outside_literals_identifiers_and_comments():
    from storage.postgres import numbered
    sql = ("SELECT a FROM t WHERE x = ? AND y = '?' -- why?\n"
           "AND \"we?ird\" = ? /* a ? here */ AND z = 'it''s ?' AND w = ?")
    assert numbered(sql) == ("SELECT a FROM t WHERE x = $1 AND y = '?' -- why?\n"
                             "AND \"we?ird\" = $2 /* a ? here */ AND z = 'it''s ?' AND w = $3")


async def test_both_backends_have_the_same_schema_and_copy_knows_every_table(postgres_url, tmp_path):
    """The schema is written twice (storage/db.py, storage/postgres.py) and listed once more (storage/copy.py):
    a column added to one and not the other, or a table copy forgets, fails here."""
    from storage.copy import NOT_COPIED, TABLES
    from storage.sqlite import SqliteDatabase

    lite = await SqliteDatabase.open(tmp_path / "schema.sqlite3")
    sqlite_tables = {name: {row[1] for row in await lite.fetchall(f"PRAGMA table_info({name})")}
                     for (name,) in await lite.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")}
    await lite.close()
    async with new_postgres_database(postgres_url) as url:
        pg = await PostgresDatabase.open(url)
        postgres_tables: dict[str, set[str]] = {}
        for table, column in await pg.fetchall("SELECT table_name, column_name FROM information_schema.columns"
                                               " WHERE table_schema = 'public'"):
            postgres_tables.setdefault(table, set()).add(column)
        await pg.close()
    # Each backend's own word index (and PostgreSQL's migration counter, SQLite's is a pragma).
    assert {t for t in sqlite_tables if t not in postgres_tables} == {
        "item_days", "items_fts", "items_fts_config", "items_fts_content", "items_fts_data", "items_fts_docsize",
        "items_fts_idx", "items_fts_vocab"}
    assert {t for t in postgres_tables if t not in sqlite_tables} == {"items_words", "stem_docs", "schema_version"}
    shared = set(sqlite_tables) & set(postgres_tables)
    assert {t: sqlite_tables[t] for t in shared} == {t: postgres_tables[t] for t in shared}
    copied = [table for table, _key in TABLES]
    assert sorted(copied + list(NOT_COPIED)) == sorted(shared)


async def test_moments_and_days_are_native_types_read_back_as_the_text_written(postgres_url, monkeypatch):
    """A store made before the native types is migrated in place; every moment and day reads back exactly as it
    was written (so `newsbot copy` moves them unchanged), and the server compares them as moments, not text."""
    async with new_postgres_database(postgres_url) as url:
        native = next(n for n, sql in enumerate(MIGRATIONS) if "TYPE TIMESTAMPTZ" in sql)
        monkeypatch.setattr("storage.postgres.MIGRATIONS", MIGRATIONS[:native])  # the text columns of before
        old = await PostgresDatabase.open(url)
        async with old.transaction() as conn:  # as the version before stored a statement
            await conn.execute("INSERT INTO items(id, text, title, statement_date, source, content_hash, created_at)"
                               " VALUES (1, 'Рубль укрепился на торгах.', 'Курс рубля', ?, '', 'h1', ?)",
                               ("2024-11-04", iso_utc(utc_now())))
            stems = tsvector_literal(index_stems("Курс рубля"), index_stems("Рубль укрепился на торгах."))
            await conn.execute("INSERT INTO items_words(item_id, day, tsv) VALUES (1, 2460619, CAST(? AS tsvector))",
                               (stems,))
        written = [tuple(r) for r in await old.fetchall("SELECT created_at, statement_date FROM items")]
        await old.close()
        monkeypatch.setattr("storage.postgres.MIGRATIONS", MIGRATIONS)
        db = await PostgresDatabase.open(url)
        try:
            types = {(t, c): kind for t, c, kind in await db.fetchall(
                "SELECT table_name, column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = 'public'")}
            moments = {k for k in types if k[1].endswith("_at") or k[1].startswith("period_")}
            assert {types[k] for k in moments} == {"timestamp with time zone"}
            assert types["items", "statement_date"] == "date"
            assert [tuple(r) for r in await db.fetchall("SELECT created_at, statement_date FROM items")] == written
            created = written[0][0]  # e.g. 2026-12-07T18:06:30.123456+00:00
            assert created.endswith("+00:00") and len(created) == len("2026-12-07T18:06:30.123456+00:00")
            # The same moment written in another zone is the same moment (text would compare it as later).
            moscow = datetime.fromisoformat(created).astimezone(timezone(timedelta(hours=3))).isoformat()
            assert await db.value("SELECT count(*) FROM items WHERE created_at = ?", (moscow,)) == 1
            item = await ItemsRepo(db).add(parse_statement("Новое заявление.", statement_date=date(2024, 11, 5)))
            assert (await ItemsRepo(db).get(item.item_id)).statement_date == date(2024, 11, 5)
            # The word index of before gained what ranking reads beside it: the title's stems, the stems' count.
            assert [tuple(r) for r in await db.fetchall("SELECT title::text, stems FROM items_words WHERE item_id = 1")
                    ] == [("'курс':1A 'рубл':2A", 4)]
            assert [h.item_id for h in (await Searcher(db).search("рубль")).hits] == [1]
        finally:
            await db.close()

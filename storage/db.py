"""One SQLite connection in WAL mode, numbered migrations, serialized write transactions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite

log = logging.getLogger(__name__)

# Append only: a migration that has shipped is never edited. Index i is version i + 1.
MIGRATIONS: list[str] = [
    # 1: statements, their search index and summaries
    """
    CREATE TABLE items (
        id INTEGER PRIMARY KEY,
        text TEXT NOT NULL,
        title TEXT,
        statement_date TEXT NOT NULL,          -- YYYY-MM-DD
        source TEXT NOT NULL DEFAULT '',
        content_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL               -- UTC, ISO 8601
    );
    CREATE INDEX items_statement_date ON items(statement_date);
    CREATE INDEX items_created_at ON items(created_at);
    -- Stems, not words: FTS5 has no Russian morphology. rowid = items.id;
    -- day (Julian day of the statement) feeds the recency boost without a join.
    CREATE VIRTUAL TABLE items_fts USING fts5(
        title, body, day UNINDEXED, tokenize = 'unicode61 remove_diacritics 0'
    );
    CREATE TABLE summaries (
        item_id INTEGER PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,
        summary TEXT NOT NULL,
        method TEXT NOT NULL,                  -- model name or 'extractive'
        created_at TEXT NOT NULL
    );
    """,
    # 2: subscribers, the digest delivery log, saved searches for paging buttons
    """
    CREATE TABLE subscribers (
        chat_id INTEGER PRIMARY KEY,
        active INTEGER NOT NULL DEFAULT 1,
        digest_time TEXT NOT NULL,             -- HH:MM, the subscriber's local time
        timezone TEXT NOT NULL,                -- IANA name
        last_digest_at TEXT,                   -- UTC end of the last period delivered
        created_at TEXT NOT NULL
    );
    -- One row per (chat, local day): the unique key is what makes a digest go out once.
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY,
        chat_id INTEGER NOT NULL,
        slot TEXT NOT NULL,                    -- the subscriber's local date, YYYY-MM-DD
        period_start TEXT NOT NULL,
        period_end TEXT NOT NULL,
        messages TEXT NOT NULL,                -- JSON list of the rendered parts
        parts_sent INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL DEFAULT 'pending', -- pending | sent | empty | blocked | failed
        error TEXT,
        created_at TEXT NOT NULL,
        finished_at TEXT,
        UNIQUE (chat_id, slot)
    );
    CREATE INDEX deliveries_status ON deliveries(status);
    CREATE TABLE searches (
        id INTEGER PRIMARY KEY,
        query TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    """,
]


class Database:
    """The one connection of a process. Writers go through `transaction()`."""

    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self.conn = conn
        self.path = path
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | Path) -> Database:
        path = str(path)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)  # we issue BEGIN/COMMIT ourselves
        conn.row_factory = aiosqlite.Row
        # synchronous FULL: in WAL mode NORMAL may lose the last commits on power loss, and a
        # statement the bot has confirmed must survive that. Bulk ingest commits in batches.
        for pragma in ("journal_mode = WAL", "synchronous = FULL", "foreign_keys = ON",
                       "busy_timeout = 5000", "temp_store = MEMORY", "cache_size = -65536"):
            await conn.execute(f"PRAGMA {pragma}")
        db = cls(conn, path)
        await db.migrate()
        return db

    async def migrate(self) -> None:
        async with self.conn.execute("PRAGMA user_version") as cur:
            (version,) = await cur.fetchone()
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            # executescript commits on its own, so the version bump rides inside the script.
            await self.conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
            log.info("database %s migrated to version %d", self.path, number)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._write_lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            await self.conn.execute("COMMIT")

    async def close(self) -> None:
        async with self._write_lock:
            with contextlib.suppress(Exception):
                await self.conn.execute("PRAGMA optimize")
            await self.conn.close()

"""SQLite in WAL mode: a read connection, a write connection, numbered migrations, serialized writes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from storage.base import DatabaseBusy, DatabaseUnavailable, RowReads

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
    # 3: a rendered digest stored once and referenced by every delivery of it; saved searches owned by a
    # chat; leases that let exactly one process run the digest fan-out
    """
    CREATE TABLE digests (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,              -- what it was built from: the same request reuses it
        title TEXT NOT NULL,
        messages TEXT NOT NULL,                -- JSON list of the rendered parts of its first page
        story_count INTEGER NOT NULL,
        shown INTEGER NOT NULL,                -- stories on the first page; the rest are behind a button
        created_at TEXT NOT NULL
    );
    -- Every story's rendered line, in digest order: the "more" button pages through them.
    CREATE TABLE digest_entries (
        digest_id INTEGER NOT NULL REFERENCES digests(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        html TEXT NOT NULL,
        PRIMARY KEY (digest_id, position)
    ) WITHOUT ROWID;
    INSERT INTO digests(id, key, title, messages, story_count, shown, created_at)
        SELECT id, 'delivery:' || id, '', messages, 0, 0, created_at FROM deliveries WHERE messages != '[]';
    CREATE TABLE deliveries_v3 (
        id INTEGER PRIMARY KEY,
        chat_id INTEGER NOT NULL,
        slot TEXT NOT NULL,                    -- the subscriber's local date, YYYY-MM-DD
        period_start TEXT NOT NULL,
        period_end TEXT NOT NULL,
        digest_id INTEGER REFERENCES digests(id) ON DELETE SET NULL,  -- NULL: nothing to send
        parts_sent INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL DEFAULT 'pending', -- pending | sent | empty | blocked | failed
        error TEXT,
        created_at TEXT NOT NULL,
        finished_at TEXT,
        UNIQUE (chat_id, slot)
    );
    INSERT INTO deliveries_v3(id, chat_id, slot, period_start, period_end, digest_id, parts_sent, status, error,
                              created_at, finished_at)
        SELECT id, chat_id, slot, period_start, period_end, CASE WHEN messages = '[]' THEN NULL ELSE id END,
               parts_sent, status, error, created_at, finished_at
        FROM deliveries;
    DROP TABLE deliveries;
    ALTER TABLE deliveries_v3 RENAME TO deliveries;
    CREATE INDEX deliveries_status ON deliveries(status);
    CREATE INDEX deliveries_digest ON deliveries(digest_id);
    -- Old saved searches had no owner: nobody may page through them any more.
    DROP TABLE searches;
    CREATE TABLE searches (
        id INTEGER PRIMARY KEY,
        chat_id INTEGER NOT NULL,
        query TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX searches_created_at ON searches(created_at);
    CREATE INDEX digests_created_at ON digests(created_at);
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at TEXT NOT NULL               -- UTC, ISO 8601
    );
    """,
    # 4: one sentence vector per statement, with the encoder that made it (a changed encoder re-embeds)
    """
    CREATE TABLE embeddings (
        item_id INTEGER PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        vector BLOB NOT NULL                   -- float32, little-endian, unit length
    );
    CREATE INDEX embeddings_model ON embeddings(model);
    """,
    # 5: the statements behind each digest line that tells a story from more than one: /item N lists them
    """
    CREATE TABLE story_members (
        digest_id INTEGER NOT NULL REFERENCES digests(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,             -- the line: digest_entries.position
        item_id INTEGER NOT NULL,
        PRIMARY KEY (digest_id, position, item_id)
    ) WITHOUT ROWID;
    CREATE INDEX story_members_item ON story_members(item_id, digest_id);
    """,
    # 6: how many statements hold each stem, read from the index itself: a query's common words are left
    # out of finding its partial matches
    """
    CREATE VIRTUAL TABLE items_fts_vocab USING fts5vocab(items_fts, 'row');
    """,
    # 7: the admin's post to answer with each item's summary, kept across restarts and processes
    """
    CREATE TABLE summary_notices (
        item_id INTEGER PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,
        chat_id INTEGER NOT NULL,
        message_id INTEGER NOT NULL,
        created_at TEXT NOT NULL
    );
    """,
    # 8: which worker process is making which summary or vector now (storage/claims.py)
    """
    CREATE TABLE claims (
        kind TEXT NOT NULL,                    -- summary | embedding
        item_id INTEGER NOT NULL,
        holder TEXT NOT NULL,
        expires_at TEXT NOT NULL,              -- UTC, ISO 8601: then another worker may take it
        PRIMARY KEY (kind, item_id)
    ) WITHOUT ROWID;
    """,
    # 9: a subscriber's own digest: followed and muted terms, only followed stories, how many stories, how often
    """
    CREATE TABLE digest_filters (
        id INTEGER PRIMARY KEY,
        chat_id INTEGER NOT NULL,
        kind TEXT NOT NULL,                    -- follow | mute
        term TEXT NOT NULL,                    -- as typed: a word, "a phrase", words that must all be there
        created_at TEXT NOT NULL,
        UNIQUE (chat_id, kind, term)
    );
    ALTER TABLE subscribers ADD COLUMN only_followed INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE subscribers ADD COLUMN digest_size INTEGER;  -- stories on the first page; NULL: the operator's
    ALTER TABLE subscribers ADD COLUMN rhythm TEXT NOT NULL DEFAULT 'daily';  -- daily | twice | weekly | paused
    ALTER TABLE subscribers ADD COLUMN second_time TEXT;     -- twice: the other HH:MM
    ALTER TABLE subscribers ADD COLUMN weekday INTEGER;      -- weekly: 0 Monday … 6 Sunday
    -- A subscriber's own digest keeps no lines of its own: the order of its base digest's lines (JSON
    -- [[position, followed], …]), so ten thousand filters cost ten thousand small rows, not their lines.
    ALTER TABLE digests ADD COLUMN base_id INTEGER REFERENCES digests(id) ON DELETE CASCADE;
    ALTER TABLE digests ADD COLUMN lines TEXT;
    """,
    # 10: sources that post by themselves (feeds, public channels); a statement keeps its link to the original
    """
    CREATE TABLE sources (
        id INTEGER PRIMARY KEY,
        url TEXT NOT NULL UNIQUE,              -- what is polled: the feed, or the channel's web preview
        kind TEXT NOT NULL,                    -- rss | atom | json | channel
        title TEXT NOT NULL DEFAULT '',
        added_by INTEGER,
        created_at TEXT NOT NULL,
        paused INTEGER NOT NULL DEFAULT 0,
        etag TEXT,                             -- for conditional GET
        last_modified TEXT,
        body_hash TEXT,                        -- of the last body read: the same body again is not parsed again
        last_success_at TEXT,
        last_error TEXT,                       -- NULL after a success
        failures INTEGER NOT NULL DEFAULT 0,   -- in a row: the backoff grows with them
        next_poll_at TEXT NOT NULL
    );
    -- Entries already taken, by their id or link: a re-poll or an edited entry never adds a statement again.
    CREATE TABLE source_entries (
        source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
        entry_key TEXT NOT NULL,
        item_id INTEGER NOT NULL,
        new INTEGER NOT NULL DEFAULT 1,        -- 0: the text was stored already (a post, another source)
        PRIMARY KEY (source_id, entry_key)
    ) WITHOUT ROWID;
    CREATE INDEX source_entries_item ON source_entries(item_id);
    ALTER TABLE items ADD COLUMN link TEXT;
    """,
    # 11: each statement's day in a narrow table beside the word index. Ranking reads it for thousands of rows
    # a query; read from the index's own rows, which hold all the stems, it cost as much as bm25 (bench/search).
    """
    CREATE TABLE item_days (id INTEGER PRIMARY KEY, day INTEGER NOT NULL);
    INSERT INTO item_days(id, day) SELECT rowid, day FROM items_fts;
    """,
    # 12: a source's newest statements, read to learn its footers (summarizer/cleaning.py)
    """
    CREATE INDEX items_source ON items(source, id);
    """,
    # 13: a headline model's line beside each summary (HEADLINE_MODEL)
    """
    ALTER TABLE summaries ADD COLUMN headline TEXT;
    """,    # 14: updates taken from the webhook, so a replayed one is handled once (across replicas); when a source's
    # entry was taken, so a source keeps only its newest ones
    """
    CREATE TABLE updates_seen (
        update_id INTEGER PRIMARY KEY,
        done INTEGER NOT NULL DEFAULT 0,       -- 0: being handled (by the replica that took it at claimed_at)
        claimed_at TEXT NOT NULL
    );
    CREATE INDEX updates_seen_claimed ON updates_seen(claimed_at);
    ALTER TABLE source_entries ADD COLUMN taken_at TEXT;  -- NULL: taken before this column
    """,    # 15: Telegram channels the digest is published to (their schedule: the subscriber row of the same chat)
    """
    CREATE TABLE channels (
        chat_id INTEGER PRIMARY KEY,           -- -100…: also the subscriber's chat_id
        username TEXT,                         -- without @; NULL for a private channel
        title TEXT NOT NULL,
        added_by INTEGER NOT NULL,             -- the admin told when the bot loses its rights there
        created_at TEXT NOT NULL,
        problem TEXT                           -- why the bot cannot post there (NULL: it can)
    );
    CREATE UNIQUE INDEX channels_username ON channels(username);
    """,
    # 16: the search graph, saved where every process on the store can read it (PostgreSQL's replicas; SQLite's
    # processes share the file beside the database), in parts
    """
    CREATE TABLE search_graphs (
        model TEXT NOT NULL,                   -- the encoder whose vectors it holds
        kind TEXT NOT NULL,                    -- graph | hubness
        part INTEGER NOT NULL,
        data BLOB NOT NULL,
        newest INTEGER NOT NULL,               -- the newest item id it holds
        PRIMARY KEY (model, kind, part)
    );
    """,
]

WRITE_WAIT_MS = 15_000  # how long a write waits for another process's write lock before it fails
MMAP_BYTES = 2 << 30  # of the database file mapped into memory for reads


async def _connect(path: str) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)  # we issue BEGIN/COMMIT ourselves
    conn.row_factory = aiosqlite.Row
    # synchronous FULL: in WAL mode NORMAL may lose the last commits on power loss, and a
    # statement the bot has confirmed must survive that. Bulk ingest commits in batches.
    # busy_timeout first: switching a new file to WAL waits for another process opening it at the same moment.
    # mmap: reads map the file instead of copying each page through a system call (bench/search at 1M: keyword
    # p99 121 → 63 ms); SQLite caps the size at its build's limit (2 GiB on most).
    for pragma in (f"busy_timeout = {WRITE_WAIT_MS}", "journal_mode = WAL", "synchronous = FULL",
                   "foreign_keys = ON", "temp_store = MEMORY", "cache_size = -65536", f"mmap_size = {MMAP_BYTES}"):
        for attempt in range(100):  # switching to WAL may answer "locked" at once, without the busy timeout
            try:
                await conn.execute(f"PRAGMA {pragma}")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 99:
                    raise
                await asyncio.sleep(0.05)
    return conn


def _statements(script: str) -> Iterator[str]:
    """A migration script's statements one by one (sqlite3 knows where one ends, triggers included)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                yield buffer
            buffer = ""
    if buffer.strip() and not all(ln.strip().startswith("--") or not ln.strip() for ln in buffer.splitlines()):
        raise ValueError(f"incomplete statement in a migration: {buffer.strip()[:80]}")


def _create_private(path: str) -> None:
    """A new database file readable by its owner only: it holds chat ids and queries.
    SQLite gives the -wal and -shm files the same permissions."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


class SqliteDatabase(RowReads):
    """Two connections of a process: reads run on one, write transactions on the other.

    Reads (`fetchall`, `fetchone`) run whole in one call, so no cursor stays open across
    an await. Writes go through `transaction()`, one at a time, on a connection that
    never holds a read snapshot between transactions: so BEGIN IMMEDIATE waits for
    another process's lock (busy timeout) instead of failing at once with "database
    is locked", and a slow read never blocks a write."""

    dialect = "sqlite"

    def __init__(self, reader: aiosqlite.Connection, writer: aiosqlite.Connection, path: str) -> None:
        self.conn = reader
        self._writer = writer
        self.path = path
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | Path) -> SqliteDatabase:
        path = str(path)
        try:
            if path != ":memory:":
                _create_private(path)
            writer = await _connect(path)
        except (OSError, sqlite3.Error) as exc:  # a folder, no permission, a full or read-only disk
            raise DatabaseUnavailable(f"cannot open the SQLite database {path}: {exc}") from exc
        db = cls(writer, writer, path)
        await db.migrate()
        if path != ":memory:":  # a second connection to :memory: would open another, empty database
            db.conn = await _connect(path)
        return db

    async def migrate(self) -> None:
        """Each missing migration in a write transaction of its own that reads the version itself: processes
        started together on a new file (a bot and its workers) wait for each other instead of migrating twice."""
        (current,) = list(await self._writer.execute_fetchall("PRAGMA user_version"))[0]
        while current < len(MIGRATIONS):
            async with self.transaction() as conn:
                (version,) = list(await conn.execute_fetchall("PRAGMA user_version"))[0]
                if version >= len(MIGRATIONS):
                    return
                for statement in _statements(MIGRATIONS[version]):
                    await conn.execute(statement)
                await conn.execute(f"PRAGMA user_version = {version + 1}")
            current = version + 1
            log.info("database %s migrated to version %d", self.path, current)

    async def fetchall(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        return list(await self.conn.execute_fetchall(sql, params))

    @contextlib.asynccontextmanager
    async def transaction(self, lock: str | None = None) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction. Every one holds the database's write lock, so `lock` (work that must not run
        twice at once: PostgreSQL takes it by name) is already held."""
        async with self._write_lock:
            try:
                await self._writer.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorname in ("SQLITE_BUSY", "SQLITE_LOCKED"):  # another process held it WRITE_WAIT_MS
                    raise DatabaseBusy(f"{self.path}: another process held the write lock too long") from exc
                raise
            except BaseException:
                # Cancelled (a shutdown) while BEGIN waited in the connection's thread: it may still begin after
                # this. A ROLLBACK queued behind it leaves the connection clean for the next transaction.
                with contextlib.suppress(sqlite3.OperationalError):  # "no transaction is active"
                    await self._writer.execute("ROLLBACK")
                raise
            try:
                yield self._writer
            except BaseException:
                await self._writer.execute("ROLLBACK")
                raise
            await self._writer.execute("COMMIT")

    async def close(self) -> None:
        async with self._write_lock:
            with contextlib.suppress(Exception):
                await self._writer.execute("PRAGMA optimize")
            if self.conn is not self._writer:
                await self.conn.close()
            await self._writer.close()

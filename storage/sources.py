"""Sources that post by themselves (feeds, public channels): what is polled, when, and how it went."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from storage.base import Database, chunks, placeholders
from storage.items import iso_utc, utc_now

KINDS = ("rss", "atom", "json", "channel")
ENTRIES_KEPT = 1000  # per source: five polls of a feed of 200 entries


@dataclass(frozen=True, slots=True)
class Source:
    id: int
    url: str
    kind: str
    title: str
    added_by: int | None
    created_at: datetime
    paused: bool
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    last_success_at: datetime | None
    last_error: str | None
    failures: int
    next_poll_at: datetime
    statements: int = 0  # entries stored as statements (or found already stored)


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _row_to_source(row, statements: int = 0) -> Source:
    return Source(
        id=row["id"], url=row["url"], kind=row["kind"], title=row["title"], added_by=row["added_by"],
        created_at=datetime.fromisoformat(row["created_at"]), paused=bool(row["paused"]), etag=row["etag"],
        last_modified=row["last_modified"], body_hash=row["body_hash"], last_success_at=_moment(row["last_success_at"]),
        last_error=row["last_error"], failures=row["failures"],
        next_poll_at=datetime.fromisoformat(row["next_poll_at"]), statements=statements,
    )


class SourcesRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, url: str, kind: str, title: str, added_by: int | None, now: datetime) -> tuple[Source, bool]:
        """The source at `url`, and whether it is new (a URL already added is not added twice)."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind of source: {kind}")
        async with self.db.transaction() as conn:
            rows = await conn.execute_fetchall(
                "INSERT INTO sources(url, kind, title, added_by, created_at, next_poll_at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (url) DO NOTHING RETURNING id", (url, kind, title, added_by, iso_utc(now), iso_utc(now)))
        source = await self.by_url(url)
        assert source is not None
        return source, bool(rows)

    async def get(self, source_id: int) -> Source | None:
        row = await self.db.fetchone("SELECT * FROM sources WHERE id = ?", (source_id,))
        return _row_to_source(row, await self._statements(source_id)) if row else None

    async def by_url(self, url: str) -> Source | None:
        row = await self.db.fetchone("SELECT * FROM sources WHERE url = ?", (url,))
        return _row_to_source(row, await self._statements(row["id"])) if row else None

    async def _statements(self, source_id: int) -> int:
        count = await self.db.value("SELECT count(*) FROM source_entries WHERE source_id = ?", (source_id,))
        return count

    async def all(self) -> list[Source]:
        counts = dict(await self.db.fetchall("SELECT source_id, count(*) FROM source_entries GROUP BY source_id"))
        rows = await self.db.fetchall("SELECT * FROM sources ORDER BY id")
        return [_row_to_source(row, counts.get(row["id"], 0)) for row in rows]

    async def remove(self, source_id: int) -> bool:
        """The source goes with its entries (ON DELETE CASCADE); the statements it brought stay (they may be in
        digests already sent)."""
        async with self.db.transaction() as conn:
            cur = await conn.execute("DELETE FROM sources WHERE id = ?", (source_id,))
            return cur.rowcount > 0

    async def set_paused(self, source_id: int, paused: bool, now: datetime) -> bool:
        async with self.db.transaction() as conn:
            cur = await conn.execute("UPDATE sources SET paused = ?, next_poll_at = ? WHERE id = ?",
                                     (int(paused), iso_utc(now), source_id))
            return cur.rowcount > 0

    async def due(self, now: datetime, limit: int = 1000) -> list[Source]:
        rows = await self.db.fetchall(
            "SELECT * FROM sources WHERE paused = 0 AND next_poll_at <= ? ORDER BY next_poll_at LIMIT ?",
            (iso_utc(now), limit))
        return [_row_to_source(row) for row in rows]

    async def claim(self, due: list[tuple[Source, datetime]]) -> list[Source]:
        """Take due sources for one poll each, in one transaction: a source's next poll moves to its `until`
        unless another process moved it first (replicas never poll one source twice at once; a poller that
        dies leaves it due again at `until`). The sources taken."""
        taken = []
        async with self.db.transaction() as conn:
            for source, until in due:
                cur = await conn.execute(
                    "UPDATE sources SET next_poll_at = ? WHERE id = ? AND next_poll_at = ? AND paused = 0",
                    (iso_utc(until), source.id, iso_utc(source.next_poll_at)))
                if cur.rowcount > 0:
                    taken.append(source)
        return taken

    async def succeeded(self, source_id: int, *, etag: str | None, last_modified: str | None, body_hash: str | None,
                        title: str | None, now: datetime, next_poll_at: datetime) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE sources SET etag = ?, last_modified = ?, body_hash = coalesce(?, body_hash),"
                " title = coalesce(?, title), last_success_at = ?, last_error = NULL, failures = 0, next_poll_at = ?"
                " WHERE id = ?",
                (etag, last_modified, body_hash, title, iso_utc(now), iso_utc(next_poll_at), source_id))

    async def failed(self, source_id: int, error: str, next_poll_at: datetime) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE sources SET last_error = ?, failures = failures + 1, next_poll_at = ? WHERE id = ?",
                (error, iso_utc(next_poll_at), source_id))

    async def known_keys(self, source_id: int, keys: Iterable[str]) -> set[str]:
        known: set[str] = set()
        for chunk in chunks(list(keys)):
            rows = await self.db.fetchall(
                f"SELECT entry_key FROM source_entries WHERE source_id = ? AND entry_key IN ({placeholders(chunk)})",
                (source_id, *chunk))
            known.update(key for (key,) in rows)
        return known

    async def remember(self, source_id: int, entries: list[tuple[str, int, bool]], *,
                       now: datetime | None = None) -> None:
        """Entries taken, each with the statement it became (new) or already was (a post, another source). A
        source keeps its ENTRIES_KEPT newest: a feed whose entry ids change at every poll would otherwise add
        rows forever (an entry forgotten and seen again is the same text: stored once all the same)."""
        if not entries:
            return
        taken = iso_utc(now or utc_now())
        async with self.db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO source_entries(source_id, entry_key, item_id, new, taken_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (source_id, entry_key) DO NOTHING",
                [(source_id, k, i, int(n), taken) for k, i, n in entries])
            await conn.execute(
                "DELETE FROM source_entries WHERE source_id = ? AND entry_key NOT IN (SELECT entry_key FROM"
                " source_entries WHERE source_id = ? ORDER BY taken_at IS NULL, taken_at DESC, item_id DESC LIMIT ?)",
                (source_id, source_id, ENTRIES_KEPT))

    async def also_carrying(self, item_id: int) -> list[str]:
        """Titles of the sources that carried this statement after it was stored (from a post or another
        source): the same news told again, shown beside it."""
        rows = await self.db.fetchall(
            "SELECT s.title, s.url FROM source_entries e JOIN sources s ON s.id = e.source_id"
            " WHERE e.item_id = ? AND e.new = 0 ORDER BY s.id", (item_id,))
        return [title or url for title, url in rows]

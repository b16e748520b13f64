"""Rendered digests, stored once: every delivery of one references it, and its "more" button pages through it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.base import Database, placeholders
from storage.items import iso_utc, utc_now

RETENTION = timedelta(days=30)  # older digests go, unless a delivery of one is still pending


@dataclass(frozen=True, slots=True)
class StoredDigest:
    id: int
    title: str
    messages: list[str]  # the first page, as sent
    story_count: int
    shown: int           # stories on the first page

    @property
    def more(self) -> int:
        return self.story_count - self.shown


def _row(row) -> StoredDigest:
    return StoredDigest(row["id"], row["title"], json.loads(row["messages"]), row["story_count"], row["shown"])


class DigestsRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def by_key(self, key: str) -> StoredDigest | None:
        row = await self.db.fetchone("SELECT * FROM digests WHERE key = ?", (key,))
        return _row(row) if row else None

    async def get(self, digest_id: int) -> StoredDigest | None:
        row = await self.db.fetchone("SELECT * FROM digests WHERE id = ?", (digest_id,))
        return _row(row) if row else None

    async def put(self, key: str, title: str, messages: list[str], entries: list[str], shown: int,
                  stories: list[list[int]] | None = None, *, now: datetime | None = None) -> StoredDigest:
        """Store a digest with all its story lines and the statements behind each (`stories`, line by line);
        one built meanwhile under the same key wins."""
        async with self.db.transaction() as conn:
            inserted = await conn.execute_fetchall(
                "INSERT INTO digests(key, title, messages, story_count, shown, created_at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(key) DO NOTHING RETURNING id",
                (key, title, json.dumps(messages, ensure_ascii=False), len(entries), shown,
                 iso_utc(now or utc_now())))
            if inserted:
                digest_id = inserted[0][0]
                await conn.executemany("INSERT INTO digest_entries(digest_id, position, html) VALUES (?, ?, ?)",
                                       [(digest_id, n, html) for n, html in enumerate(entries)])
                await conn.executemany(
                    "INSERT INTO story_members(digest_id, position, item_id) VALUES (?, ?, ?)",
                    [(digest_id, n, item_id) for n, story in enumerate(stories or []) if len(story) > 1
                     for item_id in story])
            (row,) = await conn.execute_fetchall("SELECT * FROM digests WHERE key = ?", (key,))
        return _row(row)

    async def put_personal(self, key: str, base: StoredDigest, title: str, messages: list[str],
                           lines: list[tuple[int, bool]], shown: int, *, now: datetime | None = None) -> StoredDigest:
        """Store a subscriber's own digest of `base`'s lines: `lines` are (base position, followed) in this
        digest's order. One built meanwhile under the same key wins."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO digests(key, title, messages, story_count, shown, created_at, base_id, lines)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO NOTHING",
                (key, title, json.dumps(messages, ensure_ascii=False), len(lines), shown,
                 iso_utc(now or utc_now()), base.id, json.dumps([[p, int(f)] for p, f in lines])))
            (row,) = await conn.execute_fetchall("SELECT * FROM digests WHERE key = ?", (key,))
        return _row(row)

    async def entries(self, digest_id: int, offset: int, limit: int) -> list[tuple[str, bool]]:
        """Lines offset… of a digest, each with whether its story is followed (a subscriber's own digest: its
        base's lines, in its order)."""
        row = await self.db.fetchone("SELECT base_id, lines FROM digests WHERE id = ?", (digest_id,))
        if row is None:
            return []
        if row[0] is None:
            rows = await self.db.fetchall(
                "SELECT html FROM digest_entries WHERE digest_id = ? AND position >= ? ORDER BY position LIMIT ?",
                (digest_id, offset, limit))
            return [(r[0], False) for r in rows]
        wanted = json.loads(row[1])[offset:offset + limit]
        if not wanted:
            return []
        positions = [p for p, _ in wanted]
        html = dict(await self.db.fetchall(
            "SELECT position, html FROM digest_entries WHERE digest_id = ?"
            f" AND position IN ({placeholders(positions)})", (row[0], *positions)))
        return [(html[p], bool(f)) for p, f in wanted if p in html]

    async def story_of(self, item_id: int) -> list[int]:
        """The other statements of this one's story, as the newest digest that told it grouped them
        (none when no digest has grouped it with others)."""
        rows = await self.db.fetchall(
            "SELECT m.item_id FROM story_members m JOIN"
            " (SELECT digest_id, position FROM story_members WHERE item_id = ? ORDER BY digest_id DESC LIMIT 1) s"
            " ON m.digest_id = s.digest_id AND m.position = s.position WHERE m.item_id != ? ORDER BY m.item_id",
            (item_id, item_id))
        return [r[0] for r in rows]

    async def prune(self, *, now: datetime | None = None) -> int:
        """Drop digests past retention that no pending delivery still needs; how many went."""
        cutoff = iso_utc((now or utc_now()) - RETENTION)
        needed = "SELECT digest_id FROM deliveries WHERE status = 'pending' AND digest_id IS NOT NULL"
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                f"DELETE FROM digests WHERE created_at < ? AND id NOT IN ({needed})"
                f" AND id NOT IN (SELECT base_id FROM digests WHERE id IN ({needed}) AND base_id IS NOT NULL)",
                (cutoff,))
            return cur.rowcount

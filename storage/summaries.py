"""Summaries of items, each recorded with the method (model) that made it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.base import Database, chunks, placeholders
from storage.claims import claim
from storage.items import iso_utc, utc_now

# Items without a summary.
MISSING_SQL = "SELECT i.id FROM items i WHERE i.id NOT IN (SELECT item_id FROM summaries)"


@dataclass(frozen=True, slots=True)
class Summary:
    item_id: int
    summary: str
    method: str
    headline: str | None = None  # a headline model's line (HEADLINE_MODEL), when one is configured


class SummariesRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def put_many(self, summaries: list[Summary]) -> None:
        now = iso_utc(utc_now())
        async with self.db.transaction() as conn:
            # An item deleted while it was being summarized is skipped by the join.
            await conn.executemany(
                "INSERT INTO summaries(item_id, summary, method, headline, created_at)"
                " SELECT id, ?, ?, ?, ? FROM items WHERE id = ?"
                " ON CONFLICT(item_id) DO UPDATE SET summary = excluded.summary, method = excluded.method,"
                " headline = excluded.headline, created_at = excluded.created_at",
                [(s.summary, s.method, s.headline, now, s.item_id) for s in summaries],
            )

    async def get_many(self, item_ids: list[int]) -> dict[int, Summary]:
        out: dict[int, Summary] = {}
        for chunk in chunks(item_ids):
            rows = await self.db.fetchall(
                f"SELECT item_id, summary, method, headline FROM summaries WHERE item_id IN ({placeholders(chunk)})",
                chunk)
            out.update({r[0]: Summary(r[0], r[1], r[2], r[3]) for r in rows})
        return out

    async def get(self, item_id: int) -> Summary | None:
        return (await self.get_many([item_id])).get(item_id)

    async def missing(self, limit: int = 1000) -> list[int]:
        """Ids of items without a summary, oldest first."""
        rows = await self.db.fetchall(f"{MISSING_SQL} ORDER BY id LIMIT ?", (limit,))
        return [r[0] for r in rows]

    async def claim_missing(self, holder: str, limit: int, now: datetime) -> list[int]:
        """Like `missing`, but only items no other worker is summarizing, claimed for `holder`."""
        return await claim(self.db, "summary", holder, MISSING_SQL, (), limit, now)

    async def count_by_method(self) -> dict[str, int]:
        rows = await self.db.fetchall("SELECT method, count(*) FROM summaries GROUP BY method ORDER BY 2 DESC")
        return {m: n for m, n in rows}

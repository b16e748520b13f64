"""Saved search queries, behind the paging buttons of search results."""

from __future__ import annotations

from storage.db import Database
from storage.items import iso_utc, utc_now


class SearchesRepo:
    """Queries behind paging buttons (callback data holds 64 bytes, a query may not fit)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def save(self, query: str) -> int:
        async with self.db.transaction() as conn:
            cur = await conn.execute("INSERT INTO searches(query, created_at) VALUES (?, ?)",
                                     (query, iso_utc(utc_now())))
            return cur.lastrowid

    async def get(self, search_id: int) -> str | None:
        async with self.db.conn.execute("SELECT query FROM searches WHERE id = ?", (search_id,)) as cur:
            row = await cur.fetchone()
        return row[0] if row else None

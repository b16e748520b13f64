"""Saved search queries, behind the paging buttons of search results; each belongs to the chat that asked."""

from __future__ import annotations

from datetime import datetime, timedelta

from storage.base import Database
from storage.items import iso_utc, utc_now

RETENTION = timedelta(days=7)  # raw queries are personal: kept only as long as their buttons are useful


class SearchesRepo:
    """Queries behind paging buttons (callback data holds 64 bytes, a query may not fit)."""

    def __init__(self, db: Database, max_chars: int) -> None:
        self.db = db
        self.max_chars = max_chars  # no more than search reads of a query

    async def save(self, chat_id: int, query: str, *, now: datetime | None = None) -> int:
        now = now or utc_now()
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM searches WHERE created_at < ?", (iso_utc(now - RETENTION),))
            ((search_id,),) = await conn.execute_fetchall(
                "INSERT INTO searches(chat_id, query, created_at) VALUES (?, ?, ?) RETURNING id",
                (chat_id, query[:self.max_chars], iso_utc(now)))
            return search_id

    async def get(self, search_id: int, chat_id: int, *, now: datetime | None = None) -> str | None:
        """The query, if it is this chat's and not older than the retention period."""
        cutoff = iso_utc((now or utc_now()) - RETENTION)
        row = await self.db.fetchone("SELECT query FROM searches WHERE id = ? AND chat_id = ? AND created_at >= ?",
                                     (search_id, chat_id, cutoff))
        return row[0] if row else None

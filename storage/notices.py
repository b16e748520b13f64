"""Who is told an item's summary once it is made: the admin's post that stored it.

Kept in the database, not in one process's memory: a restart keeps them, and whichever process
sees the summary first sends the notice; taking a notice deletes it, so it goes out at most once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.base import Database, placeholders
from storage.items import iso_utc, utc_now

RETENTION = timedelta(days=7)  # a summary not made within a week is not announced any more


@dataclass(frozen=True, slots=True)
class Notice:
    item_id: int
    chat_id: int
    message_id: int
    summary: str


class NoticesRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, item_id: int, chat_id: int, message_id: int, *, now: datetime | None = None) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO summary_notices(item_id, chat_id, message_id, created_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(item_id) DO UPDATE SET chat_id = excluded.chat_id, message_id = excluded.message_id,"
                " created_at = excluded.created_at",
                (item_id, chat_id, message_id, iso_utc(now or utc_now())))

    async def take_ready(self, limit: int = 100) -> list[Notice]:
        """The notices whose summaries exist, removed as they are taken (another process will not send them)."""
        async with self.db.transaction() as conn:
            taken = await conn.execute_fetchall(
                "DELETE FROM summary_notices WHERE item_id IN (SELECT n.item_id FROM summary_notices n"
                " JOIN summaries s ON s.item_id = n.item_id ORDER BY n.item_id LIMIT ?)"
                " RETURNING item_id, chat_id, message_id", (limit,))
            if not taken:
                return []
            ids = [r[0] for r in taken]
            texts = dict(await conn.execute_fetchall(
                f"SELECT item_id, summary FROM summaries WHERE item_id IN ({placeholders(ids)})", ids))
        return sorted((Notice(r[0], r[1], r[2], texts[r[0]]) for r in taken), key=lambda n: n.item_id)

    async def prune(self, *, now: datetime | None = None) -> int:
        async with self.db.transaction() as conn:
            cur = await conn.execute("DELETE FROM summary_notices WHERE created_at < ?",
                                     (iso_utc((now or utc_now()) - RETENTION),))
            return cur.rowcount

"""The digest delivery log: a digest is claimed once per (chat, local day) and sent part by part."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from storage.base import Database
from storage.items import iso_utc, utc_now


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    chat_id: int
    slot: str
    period_start: datetime
    period_end: datetime
    digest_id: int | None
    messages: list[str]  # the digest's first page (stored once, in digests)
    story_count: int
    shown: int           # stories on the first page; the rest are behind its "more" button
    parts_sent: int
    status: str


def _row(row) -> Delivery:
    return Delivery(row["id"], row["chat_id"], row["slot"], datetime.fromisoformat(row["period_start"]),
                    datetime.fromisoformat(row["period_end"]), row["digest_id"],
                    json.loads(row["messages"] or "[]"), row["story_count"] or 0, row["shown"] or 0,
                    row["parts_sent"], row["status"])


_SELECT = ("SELECT d.*, g.messages, g.story_count, g.shown FROM deliveries d"
           " LEFT JOIN digests g ON g.id = d.digest_id")


class DeliveriesRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def claim(self, chat_id: int, slot: str, start: datetime, end: datetime,
                    digest_id: int | None) -> Delivery | None:
        """Record the digest for (chat, slot); None if that slot was claimed before (by any process).
        No digest: nothing to send, and the period counts as delivered."""
        async with self.db.transaction() as conn:
            inserted = await conn.execute_fetchall(
                "INSERT INTO deliveries(chat_id, slot, period_start, period_end, digest_id, status, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(chat_id, slot) DO NOTHING RETURNING id",
                (chat_id, slot, iso_utc(start), iso_utc(end), digest_id,
                 "pending" if digest_id else "empty", iso_utc(utc_now())),
            )
            if not inserted:
                return None
            if digest_id is None:
                await conn.execute("UPDATE subscribers SET last_digest_at = ? WHERE chat_id = ?",
                                   (iso_utc(end), chat_id))
            (row,) = await conn.execute_fetchall(f"{_SELECT} WHERE d.id = ?", (inserted[0][0],))
            return _row(row)

    async def slots_taken(self, slot_by_chat: dict[int, str]) -> set[int]:
        """Chats among these whose slot is already in the log."""
        taken: set[int] = set()
        for slot in set(slot_by_chat.values()):
            rows = await self.db.fetchall("SELECT chat_id FROM deliveries WHERE slot = ?", (slot,))
            taken.update(r[0] for r in rows if slot_by_chat.get(r[0]) == slot)
        return taken

    async def published_in_a_channel(self, digest_id: int) -> bool:
        """Whether this digest went to a channel: public, so anyone may read the rest of it."""
        row = await self.db.fetchone("SELECT 1 FROM deliveries d JOIN channels c ON c.chat_id = d.chat_id"
                                     " WHERE d.digest_id = ? LIMIT 1", (digest_id,))
        return row is not None

    async def still_due(self, delivery_id: int, parts_sent: int) -> bool:
        """Whether the store, read now, still has this delivery pending at `parts_sent` (no other sender has
        moved it on). Read before each part: a store that cannot answer gets no send it could not record."""
        row = await self.db.fetchone("SELECT parts_sent, status FROM deliveries WHERE id = ?", (delivery_id,))
        return row is not None and row["status"] == "pending" and row["parts_sent"] == parts_sent

    async def part_sent(self, delivery_id: int, parts_sent: int) -> None:
        async with self.db.transaction() as conn:
            await conn.execute("UPDATE deliveries SET parts_sent = ? WHERE id = ?", (parts_sent, delivery_id))

    async def finish(self, delivery: Delivery, status: str, error: str | None = None) -> None:
        async with self.db.transaction() as conn:
            await conn.execute("UPDATE deliveries SET status = ?, error = ?, finished_at = ? WHERE id = ?",
                               (status, error, iso_utc(utc_now()), delivery.id))
            if status == "sent":
                await conn.execute("UPDATE subscribers SET last_digest_at = ? WHERE chat_id = ?",
                                   (iso_utc(delivery.period_end), delivery.chat_id))
            elif status == "blocked":
                await conn.execute("UPDATE subscribers SET active = 0 WHERE chat_id = ?", (delivery.chat_id,))

    async def pending(self) -> list[Delivery]:
        return [_row(r) for r in await self.db.fetchall(f"{_SELECT} WHERE d.status = 'pending' ORDER BY d.id")]

    async def count_by_status(self) -> dict[str, int]:
        return {s: n for s, n in await self.db.fetchall("SELECT status, count(*) FROM deliveries GROUP BY status")}

"""The digest delivery log: a digest is claimed once per (chat, local day) and sent part by part."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from storage.db import Database
from storage.items import iso_utc, utc_now


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    chat_id: int
    slot: str
    period_start: datetime
    period_end: datetime
    messages: list[str]
    parts_sent: int
    status: str


def _row(row) -> Delivery:
    return Delivery(row["id"], row["chat_id"], row["slot"], datetime.fromisoformat(row["period_start"]),
                    datetime.fromisoformat(row["period_end"]), json.loads(row["messages"]), row["parts_sent"],
                    row["status"])


class DeliveriesRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def claim(self, chat_id: int, slot: str, start: datetime, end: datetime,
                    messages: list[str]) -> Delivery | None:
        """Record the digest for (chat, slot); None if that slot was claimed before (by any run)."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "INSERT INTO deliveries(chat_id, slot, period_start, period_end, messages, status, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(chat_id, slot) DO NOTHING",
                (chat_id, slot, iso_utc(start), iso_utc(end), json.dumps(messages, ensure_ascii=False),
                 "pending" if messages else "empty", iso_utc(utc_now())),
            )
            if cur.rowcount == 0:
                return None
            if not messages:  # nothing to send: the period is done all the same
                await conn.execute("UPDATE subscribers SET last_digest_at = ? WHERE chat_id = ?",
                                   (iso_utc(end), chat_id))
            async with conn.execute("SELECT * FROM deliveries WHERE id = ?", (cur.lastrowid,)) as c:
                return _row(await c.fetchone())

    async def slots_taken(self, slot_by_chat: dict[int, str]) -> set[int]:
        """Chats among these whose slot is already in the log."""
        taken: set[int] = set()
        slots = set(slot_by_chat.values())
        for slot in slots:
            async with self.db.conn.execute("SELECT chat_id FROM deliveries WHERE slot = ?", (slot,)) as cur:
                taken.update(r[0] for r in await cur.fetchall() if slot_by_chat.get(r[0]) == slot)
        return taken

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
        async with self.db.conn.execute("SELECT * FROM deliveries WHERE status = 'pending' ORDER BY id") as cur:
            return [_row(r) for r in await cur.fetchall()]

    async def count_by_status(self) -> dict[str, int]:
        async with self.db.conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status") as cur:
            return {s: n for s, n in await cur.fetchall()}


"""Subscribers: who gets a digest, at what local time, in which time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.base import Database
from storage.items import iso_utc, utc_now


@dataclass(frozen=True, slots=True)
class Subscriber:
    chat_id: int
    active: bool
    digest_time: str  # HH:MM
    timezone: str
    last_digest_at: datetime | None
    created_at: datetime
    rhythm: str = "daily"  # daily | twice | weekly | paused
    second_time: str | None = None  # twice: the other HH:MM
    weekday: int | None = None  # weekly: 0 Monday … 6 Sunday


def _row(row) -> Subscriber:
    last = row["last_digest_at"]
    return Subscriber(row["chat_id"], bool(row["active"]), row["digest_time"], row["timezone"],
                      datetime.fromisoformat(last) if last else None, datetime.fromisoformat(row["created_at"]),
                      row["rhythm"], row["second_time"], row["weekday"])


class SubscribersRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, chat_id: int) -> Subscriber | None:
        row = await self.db.fetchone("SELECT * FROM subscribers WHERE chat_id = ?", (chat_id,))
        return _row(row) if row else None

    async def subscribe(self, chat_id: int, digest_time: str, timezone: str) -> tuple[Subscriber, bool]:
        """Subscribe (keeping earlier settings); True if they were not subscribed before."""
        before = await self.get(chat_id)
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO subscribers(chat_id, active, digest_time, timezone, created_at) VALUES (?, 1, ?, ?, ?)"
                " ON CONFLICT(chat_id) DO UPDATE SET active = 1",
                (chat_id, digest_time, timezone, iso_utc(utc_now())),
            )
        now = await self.get(chat_id)
        assert now is not None  # just written in the transaction above
        return now, not (before and before.active)

    async def set_active(self, chat_id: int, active: bool) -> bool:
        async with self.db.transaction() as conn:
            cur = await conn.execute("UPDATE subscribers SET active = ? WHERE chat_id = ? AND active != ?",
                                     (int(active), chat_id, int(active)))
            return cur.rowcount > 0

    async def update(self, chat_id: int, *, digest_time: str | None = None, timezone: str | None = None) -> None:
        async with self.db.transaction() as conn:
            if digest_time:
                await conn.execute("UPDATE subscribers SET digest_time = ? WHERE chat_id = ?", (digest_time, chat_id))
            if timezone:
                await conn.execute("UPDATE subscribers SET timezone = ? WHERE chat_id = ?", (timezone, chat_id))

    async def set_rhythm(self, chat_id: int, rhythm: str, *, digest_time: str | None = None,
                         second_time: str | None = None, weekday: int | None = None) -> None:
        """How often the digest comes: daily, twice (at digest_time and second_time), weekly (on weekday) or
        paused."""
        async with self.db.transaction() as conn:
            await conn.execute("UPDATE subscribers SET rhythm = ?, second_time = ?, weekday = ? WHERE chat_id = ?",
                               (rhythm, second_time, weekday, chat_id))
            if digest_time:
                await conn.execute("UPDATE subscribers SET digest_time = ? WHERE chat_id = ?", (digest_time, chat_id))

    async def active(self) -> list[Subscriber]:
        return [_row(r) for r in await self.db.fetchall("SELECT * FROM subscribers WHERE active = 1 ORDER BY chat_id")]

    async def counts(self) -> dict[str, int]:
        active, total = await self.db.fetchone("SELECT coalesce(sum(active), 0), count(*) FROM subscribers")
        return {"active": active, "total": total}

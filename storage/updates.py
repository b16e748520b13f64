"""Updates taken from the webhook: Telegram posts an update again when its answer did not arrive, and a load
balancer may give the replay to another replica. The first to claim an update handles it; a replay of one
handled is answered at once; one being handled elsewhere is asked to come back later."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from storage.base import Database
from storage.items import iso_utc, utc_now

STALE = timedelta(minutes=2)  # a claim this old was left by a replica that died handling it: taken over
RETENTION = timedelta(days=2)  # Telegram gives up on an update within a day

Claim = Literal["yours", "done", "busy"]


class UpdatesRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def claim(self, update_id: int, *, now: datetime | None = None) -> Claim:
        """"yours": handle it (new, or left by a dead replica); "done": handled before; "busy": being handled."""
        now = now or utc_now()
        async with self.db.transaction() as conn:
            taken = await conn.execute_fetchall(
                "INSERT INTO updates_seen(update_id, claimed_at) VALUES (?, ?) ON CONFLICT(update_id) DO UPDATE"
                " SET claimed_at = excluded.claimed_at WHERE updates_seen.done = 0 AND updates_seen.claimed_at < ?"
                " RETURNING update_id", (update_id, iso_utc(now), iso_utc(now - STALE)))
            if taken:
                return "yours"
            (row,) = await conn.execute_fetchall("SELECT done FROM updates_seen WHERE update_id = ?", (update_id,))
        return "done" if row[0] else "busy"

    async def done(self, update_id: int) -> None:
        async with self.db.transaction() as conn:
            await conn.execute("UPDATE updates_seen SET done = 1 WHERE update_id = ?", (update_id,))

    async def release(self, update_id: int) -> None:
        """Handling failed: the next post of this update is handled again."""
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM updates_seen WHERE update_id = ? AND done = 0", (update_id,))

    async def prune(self, *, now: datetime | None = None) -> int:
        async with self.db.transaction() as conn:
            cur = await conn.execute("DELETE FROM updates_seen WHERE claimed_at < ?",
                                     (iso_utc((now or utc_now()) - RETENTION),))
            return cur.rowcount

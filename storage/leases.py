"""Leases: a named job that exactly one process runs at a time, taken over when its holder stops renewing."""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from storage.base import Database
from storage.items import iso_utc, utc_now


def process_name() -> str:
    """Who holds a lease: host, pid and a random part (pids are reused after a restart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeasesRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def acquire(self, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
        """Take the lease if free or expired, or renew it if `holder` has it; False if another holds it."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "INSERT INTO leases(name, holder, expires_at) VALUES (?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at"
                " WHERE leases.holder = excluded.holder OR leases.expires_at < ?",
                (name, holder, iso_utc(now + ttl), iso_utc(now)))
            return cur.rowcount > 0

    async def release(self, name: str, holder: str) -> None:
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))

    async def holder(self, name: str, now: datetime) -> str | None:
        row = await self.db.fetchone("SELECT holder FROM leases WHERE name = ? AND expires_at >= ?",
                                     (name, iso_utc(now)))
        return row[0] if row else None


class Lease:
    """This process's claim on a job. The database row expires `ttl` after the last renewal; this process
    trusts it for a quarter of that by its own monotonic clock and then renews, so it stops well before
    anyone else can take over."""

    def __init__(self, repo: LeasesRepo, name: str, *, holder: str | None = None, ttl: float = 60.0,
                 clock: Callable[[], datetime] = utc_now, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.repo = repo
        self.name = name
        self.holder = holder or process_name()
        self.ttl = ttl
        self._clock = clock
        self._monotonic = monotonic
        self._renew_after = 0.0
        self._stopped = False
        self._lock = asyncio.Lock()

    async def keep(self) -> bool:
        """Take or renew the lease when due; True while this process may run the job."""
        async with self._lock:
            if self._stopped:
                return False
            if self._monotonic() < self._renew_after:
                return True
            asked = self._monotonic()
            if await self.repo.acquire(self.name, self.holder, self._clock(), timedelta(seconds=self.ttl)):
                self._renew_after = asked + self.ttl / 4
                return True
            self._renew_after = 0.0
            return False

    def stop(self) -> None:
        """This process is shutting down: it neither renews nor trusts the lease any more."""
        self._stopped = True
        self._renew_after = 0.0

    async def release(self) -> None:
        """Hand the lease on at once (after the job has stopped)."""
        self.stop()
        await self.repo.release(self.name, self.holder)

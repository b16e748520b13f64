"""Work claimed by one worker process at a time: any number of workers share the backlog, none twice.

A claim is a row per (kind, item) with its holder and an expiry, taken inside one write
transaction: SQLite lets one writer in at a time; PostgreSQL locks the rows it takes and skips those
another worker is taking (`FOR UPDATE SKIP LOCKED`). While a worker works on its claims it renews them
every RENEW_EVERY, like a lease; a worker that dies stops renewing, its claims expire within CLAIM_TTL,
and the next worker to look takes them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta

from storage.base import Database, chunks, placeholders
from storage.items import iso_utc, utc_now

log = logging.getLogger(__name__)

CLAIM_TTL = timedelta(seconds=60)  # a dead worker's claims pass on this long after its last renewal
RENEW_EVERY = CLAIM_TTL / 4       # a live worker's: its event loop may stall for 45 s and keep them
CLAIM_ATTEMPTS = 3  # looks for work when each row found went to another claimer first
# PostgreSQL runs claims side by side: each locks the rows it takes, and skips those another is taking.
_SKIP_LOCKED = {"postgres": " FOR UPDATE OF i SKIP LOCKED"}


async def claim(db: Database, kind: str, holder: str, missing_sql: str, params: tuple, limit: int,
                now: datetime) -> list[int]:
    """Up to `limit` item ids that `missing_sql` (a `SELECT i.id FROM items i … WHERE …`) finds and no live claim
    holds, oldest first, claimed for `holder`."""
    for _attempt in range(CLAIM_ATTEMPTS):
        async with db.transaction() as conn:
            await conn.execute("DELETE FROM claims WHERE kind = ? AND expires_at < ?", (kind, iso_utc(now)))
            rows = await conn.execute_fetchall(
                f"{missing_sql} AND i.id NOT IN (SELECT item_id FROM claims WHERE kind = ?) ORDER BY i.id LIMIT ?"
                f"{_SKIP_LOCKED.get(db.dialect, '')}", (*params, kind, limit))
            ids = []
            for (item_id,) in rows:
                # On PostgreSQL a statement that began before another claimer committed does not see its claims,
                # and finds the rows unlocked again: the key settles who has it.
                if await conn.execute_fetchall(
                        "INSERT INTO claims(kind, item_id, holder, expires_at) VALUES (?, ?, ?, ?)"
                        " ON CONFLICT(kind, item_id) DO NOTHING RETURNING item_id",
                        (kind, item_id, holder, iso_utc(now + CLAIM_TTL))):
                    ids.append(item_id)
        # Every row found was another claimer's: look again, now that its claims are seen. An empty answer
        # means "nothing left" to a draining worker, which stopped with work left when it lost this race.
        if ids or not rows:
            return ids
    return []


@contextlib.asynccontextmanager
async def holding(db: Database, kind: str, holder: str, item_ids: list[int],
                  clock: Callable[[], datetime] = utc_now) -> AsyncIterator[None]:
    """Work on claimed items, renewing the claims meanwhile: they are released when it ends, done or failed.
    Not when it is cancelled (a stop mid-batch): those claims expire, and the next worker to look makes it."""
    renewing = asyncio.create_task(_renew(db, kind, holder, item_ids, clock))
    try:
        yield
    except BaseException as exc:
        renewing.cancel()
        if not isinstance(exc, asyncio.CancelledError):
            await release(db, kind, holder, item_ids)
        raise
    renewing.cancel()
    await release(db, kind, holder, item_ids)


async def _renew(db: Database, kind: str, holder: str, item_ids: list[int], clock: Callable[[], datetime]) -> None:
    while True:
        await asyncio.sleep(RENEW_EVERY.total_seconds())
        try:
            async with db.transaction() as conn:
                for chunk in chunks(item_ids):
                    await conn.execute(f"UPDATE claims SET expires_at = ? WHERE kind = ? AND holder = ?"
                                       f" AND item_id IN ({placeholders(chunk)})",
                                       (iso_utc(clock() + CLAIM_TTL), kind, holder, *chunk))
        except Exception:  # the store away for a moment: the claims hold for CLAIM_TTL, the next renewal may do
            log.warning("renewing %s claims of %s failed", kind, holder, exc_info=True)


async def release(db: Database, kind: str, holder: str, item_ids: list[int]) -> None:
    async with db.transaction() as conn:
        for chunk in chunks(item_ids):
            await conn.execute(
                f"DELETE FROM claims WHERE kind = ? AND holder = ? AND item_id IN ({placeholders(chunk)})",
                (kind, holder, *chunk))

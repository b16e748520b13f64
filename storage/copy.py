"""Copy what a bot keeps from one store into another, empty one: how a bot moves from its SQLite file to
PostgreSQL without losing a statement, a subscriber or the record of the digests already sent.

Not copied: claims and leases (they belong to running processes, which are stopped for the move) and
saved searches (the paging buttons behind them expire within a day)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from storage.base import julian_day
from storage.morphology import index_stems
from storage.words import word_index

# In dependency order. Tables keyed by one column are read in pages by that key; the others are small.
TABLES: list[tuple[str, str | None]] = [
    ("items", "id"), ("summaries", "item_id"), ("embeddings", "item_id"), ("subscribers", "chat_id"),
    ("digests", "id"), ("digest_entries", None), ("story_members", None), ("deliveries", "id"),
    ("summary_notices", "item_id"), ("digest_filters", "id"), ("sources", "id"), ("source_entries", None),
    ("channels", "chat_id"),
]
# Left behind, each short-lived and owned by the processes of the old store: work claims and leases, the
# queries behind search buttons (7 days), webhook updates already handled (2 days); and the saved search graph,
# which the target's processes build from the copied vectors.
NOT_COPIED = ("claims", "leases", "searches", "updates_seen", "search_graphs")
PAGE = 1000


class TargetNotEmpty(ValueError):
    pass


async def copy_store(source, target, progress: Callable[[str, int], None] = lambda table, rows: None
                     ) -> dict[str, int]:
    """Every row of TABLES from `source` into `target` (which must hold no statements and no subscribers), the
    word index rebuilt in the target's own kind; rows copied per table. `progress(table, rows)` after each page."""
    for table in ("items", "subscribers"):
        if await target.value(f"SELECT count(*) FROM {table}"):
            raise TargetNotEmpty(f"the target database already holds {table}: copy only into a new one")
    counts: dict[str, int] = {}
    for table, key in TABLES:
        counts[table] = 0
        async for rows in _pages(source, table, key):
            async with target.transaction(lock="items" if table == "items" else None) as conn:
                columns = list(rows[0].keys())
                await conn.executemany(
                    f"INSERT INTO {table}({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                    [tuple(row) for row in rows])
                if table == "items":
                    await word_index(target).add(conn, [
                        (r["id"], index_stems(r["title"] or ""), index_stems(r["text"]),
                         julian_day(date.fromisoformat(r["statement_date"]))) for r in rows])
            counts[table] += len(rows)
            progress(table, len(rows))
    if target.dialect == "postgres":  # ids the target hands out next start above the copied ones
        for table in ("digests", "deliveries", "searches", "digest_filters", "sources"):
            await target.fetchone(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                                  f" (SELECT coalesce(max(id), 0) + 1 FROM {table}), false)")
    return counts


async def _pages(db, table: str, key: str | None):
    if key is None:
        rows = await db.fetchall(f"SELECT * FROM {table}")
        for start in range(0, len(rows), PAGE):
            yield rows[start:start + PAGE]
        return
    after = None
    while True:
        where = f"WHERE {key} > ?" if after is not None else ""
        rows = await db.fetchall(f"SELECT * FROM {table} {where} ORDER BY {key} LIMIT {PAGE}",
                                 (after,) if after is not None else ())
        if not rows:
            return
        yield rows
        after = rows[-1][key]

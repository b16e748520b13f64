"""Items (statements) and their search-index rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo

from storage.db import Database
from storage.morphology import index_stems
from storage.statements import NewItem

_IN_CHUNK = 500  # stays under SQLite's bound-parameter limit


@dataclass(frozen=True, slots=True)
class Item:
    id: int
    text: str
    title: str | None
    statement_date: date
    source: str
    content_hash: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AddResult:
    item_id: int
    duplicate: bool  # True: the text was already stored as item_id


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    """Fixed-width UTC text, so that SQLite compares times as strings correctly."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def julian_day(d: date) -> int:
    return d.toordinal() + 1721425  # 0001-01-01 is JD 1721425.5; whole days are enough


def _row_to_item(row) -> Item:
    return Item(
        id=row["id"], text=row["text"], title=row["title"],
        statement_date=date.fromisoformat(row["statement_date"]), source=row["source"],
        content_hash=row["content_hash"], created_at=datetime.fromisoformat(row["created_at"]),
    )


class ItemsRepo:
    def __init__(self, db: Database, zone: tzinfo = UTC) -> None:
        self.db = db
        self.zone = zone  # whose calendar day a statement without a `date` line belongs to

    async def add(self, item: NewItem, *, now: datetime | None = None) -> AddResult:
        return (await self.add_many([item], now=now))[0]

    async def add_many(self, items: list[NewItem], *, now: datetime | None = None) -> list[AddResult]:
        """Store new items in one transaction; a text already stored is reported, not stored twice."""
        now = now or utc_now()
        hashes = [it.content_hash for it in items]
        async with self.db.transaction() as conn:
            known = await self._ids_by_hash(conn, set(hashes))
            async with conn.execute("SELECT coalesce(max(id), 0) FROM items") as cur:
                (next_id,) = await cur.fetchone()
            rows, fts_rows, results = [], [], []
            for it, h in zip(items, hashes, strict=True):
                if h in known:
                    results.append(AddResult(known[h], True))
                    continue
                next_id += 1
                known[h] = next_id
                day = it.statement_date or now.astimezone(self.zone).date()
                rows.append((next_id, it.text, it.title, day.isoformat(), it.source, h, iso_utc(now)))
                fts_rows.append((next_id, " ".join(index_stems(it.title or "")),
                                 " ".join(index_stems(it.text)), julian_day(day)))
                results.append(AddResult(next_id, False))
            await conn.executemany(
                "INSERT INTO items(id, text, title, statement_date, source, content_hash, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            await conn.executemany(
                "INSERT INTO items_fts(rowid, title, body, day) VALUES (?, ?, ?, ?)", fts_rows)
        return results

    @staticmethod
    async def _ids_by_hash(conn, hashes: set[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        hashes_list = list(hashes)
        for i in range(0, len(hashes_list), _IN_CHUNK):
            chunk = hashes_list[i:i + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            async with conn.execute(
                f"SELECT content_hash, id FROM items WHERE content_hash IN ({marks})", chunk
            ) as cur:
                found.update({h: i for h, i in await cur.fetchall()})
        return found

    async def get(self, item_id: int) -> Item | None:
        async with self.db.conn.execute("SELECT * FROM items WHERE id = ?", (item_id,)) as cur:
            row = await cur.fetchone()
        return _row_to_item(row) if row else None

    async def get_many(self, ids: list[int]) -> dict[int, Item]:
        out: dict[int, Item] = {}
        for i in range(0, len(ids), _IN_CHUNK):
            chunk = ids[i:i + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            async with self.db.conn.execute(f"SELECT * FROM items WHERE id IN ({marks})", chunk) as cur:
                out.update({row["id"]: _row_to_item(row) for row in await cur.fetchall()})
        return out

    async def delete(self, item_id: int) -> bool:
        async with self.db.transaction() as conn:
            cur = await conn.execute("DELETE FROM items WHERE id = ?", (item_id,))
            deleted = cur.rowcount > 0
            await conn.execute("DELETE FROM items_fts WHERE rowid = ?", (item_id,))
        return deleted

    async def by_statement_dates(self, first: date, last: date) -> list[Item]:
        async with self.db.conn.execute(
            "SELECT * FROM items WHERE statement_date BETWEEN ? AND ? ORDER BY statement_date, id",
            (first.isoformat(), last.isoformat()),
        ) as cur:
            return [_row_to_item(r) for r in await cur.fetchall()]

    async def created_between(self, start: datetime, end: datetime) -> list[Item]:
        """Items that arrived in [start, end)."""
        async with self.db.conn.execute(
            "SELECT * FROM items WHERE created_at >= ? AND created_at < ? ORDER BY id",
            (iso_utc(start), iso_utc(end)),
        ) as cur:
            return [_row_to_item(r) for r in await cur.fetchall()]

    async def latest_statement_date(self) -> date | None:
        async with self.db.conn.execute("SELECT max(statement_date) FROM items") as cur:
            (value,) = await cur.fetchone()
        return date.fromisoformat(value) if value else None

    async def stats(self) -> dict[str, object]:
        async with self.db.conn.execute(
            "SELECT count(*), min(statement_date), max(statement_date), max(created_at) FROM items"
        ) as cur:
            count, first, last, newest = await cur.fetchone()
        return {"items": count, "first_date": first, "last_date": last, "last_added": newest}

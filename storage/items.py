"""Items (statements) and their search-index rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo

from storage.base import Database, chunks, julian_day, placeholders
from storage.morphology import index_stems
from storage.statements import NewItem
from storage.words import word_index


@dataclass(frozen=True, slots=True)
class Item:
    id: int
    text: str
    title: str | None
    statement_date: date
    source: str
    content_hash: str
    created_at: datetime
    link: str | None = None  # the original on the web (statements from sources)
    reposts: int = 0  # sources that carried the same text after it was stored (read for digests only)


@dataclass(frozen=True, slots=True)
class AddResult:
    item_id: int
    duplicate: bool  # True: the text was already stored as item_id


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    """Fixed-width UTC text, so that SQLite compares times as strings correctly."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


# How many sources carried an item's text after it was stored: a wire story that five outlets print word for
# word is one statement, and its digest line still counts five.
_ALSO = "(SELECT count(*) FROM source_entries e WHERE e.item_id = items.id AND e.new = 0) AS also"


def _row_to_item(row) -> Item:
    return Item(
        id=row["id"], text=row["text"], title=row["title"],
        statement_date=date.fromisoformat(row["statement_date"]), source=row["source"],
        content_hash=row["content_hash"], created_at=datetime.fromisoformat(row["created_at"]), link=row["link"],
        reposts=row["also"] if "also" in row.keys() else 0,  # noqa: SIM118 (`in row` looks at the values)
    )


class ItemsRepo:
    def __init__(self, db: Database, zone: tzinfo = UTC) -> None:
        self.db = db
        self.zone = zone  # whose calendar day a statement without a `date` line belongs to
        self.words = word_index(db)

    async def add(self, item: NewItem, *, now: datetime | None = None) -> AddResult:
        return (await self.add_many([item], now=now))[0]

    async def add_many(self, items: list[NewItem], *, now: datetime | None = None) -> list[AddResult]:
        """Store new items in one transaction; a text already stored is reported, not stored twice."""
        now = now or utc_now()
        hashes = [it.content_hash for it in items]
        async with self.db.transaction(lock="items") as conn:  # ids are counted up: one writer at a time
            known = await self._ids_by_hash(conn, set(hashes))
            ((next_id,),) = await conn.execute_fetchall("SELECT coalesce(max(id), 0) FROM items")
            rows, fts_rows, results = [], [], []
            for it, h in zip(items, hashes, strict=True):
                if h in known:
                    results.append(AddResult(known[h], True))
                    continue
                next_id += 1
                known[h] = next_id
                day = it.statement_date or now.astimezone(self.zone).date()
                rows.append((next_id, it.text, it.title, day.isoformat(), it.source, h, iso_utc(now), it.link))
                fts_rows.append((next_id, index_stems(it.title or ""), index_stems(it.text), julian_day(day)))
                results.append(AddResult(next_id, False))
            await conn.executemany(
                "INSERT INTO items(id, text, title, statement_date, source, content_hash, created_at, link)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            await self.words.add(conn, fts_rows)
        return results

    @staticmethod
    async def _ids_by_hash(conn, hashes: set[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in chunks(list(hashes)):
            rows = await conn.execute_fetchall(
                f"SELECT content_hash, id FROM items WHERE content_hash IN ({placeholders(chunk)})", chunk)
            found.update({h: i for h, i in rows})
        return found

    async def get(self, item_id: int) -> Item | None:
        row = await self.db.fetchone("SELECT * FROM items WHERE id = ?", (item_id,))
        return _row_to_item(row) if row else None

    async def get_many(self, ids: list[int]) -> dict[int, Item]:
        out: dict[int, Item] = {}
        for chunk in chunks(ids):
            rows = await self.db.fetchall(f"SELECT * FROM items WHERE id IN ({placeholders(chunk)})", chunk)
            out.update({row["id"]: _row_to_item(row) for row in rows})
        return out

    async def delete(self, item_id: int) -> bool:
        async with self.db.transaction(lock="items") as conn:
            await self.words.delete(conn, item_id)  # first: it may read the index row to update word counts
            cur = await conn.execute("DELETE FROM items WHERE id = ?", (item_id,))
            deleted = cur.rowcount > 0
        return deleted

    async def by_statement_dates(self, first: date, last: date) -> list[Item]:
        """Items dated first..last, each with how many sources carried it again (a digest counts its outlets)."""
        rows = await self.db.fetchall(
            f"SELECT items.*, {_ALSO} FROM items WHERE statement_date BETWEEN ? AND ? ORDER BY statement_date, id",
            (first.isoformat(), last.isoformat()))
        return [_row_to_item(r) for r in rows]

    async def created_between(self, start: datetime, end: datetime) -> list[Item]:
        """Items that arrived in [start, end), each with how many sources carried it again."""
        rows = await self.db.fetchall(
            f"SELECT items.*, {_ALSO} FROM items WHERE created_at >= ? AND created_at < ? ORDER BY id",
            (iso_utc(start), iso_utc(end)))
        return [_row_to_item(r) for r in rows]

    async def recent_texts(self, source: str, limit: int) -> list[str]:
        """The texts of a source's newest `limit` statements (its footers are learned from them)."""
        rows = await self.db.fetchall("SELECT text FROM items WHERE source = ? ORDER BY id DESC LIMIT ?",
                                      (source, limit))
        return [r[0] for r in rows]

    async def count(self) -> int:
        return await self.db.value("SELECT count(*) FROM items")

    async def newest_id(self) -> int:
        """The newest statement's id: how many statements the store has held (ids are never reused)."""
        return await self.db.value("SELECT coalesce(max(id), 0) FROM items")

    async def latest_statement_date(self) -> date | None:
        value = await self.db.value("SELECT max(statement_date) FROM items")
        return date.fromisoformat(value) if value else None

    async def stats(self) -> dict[str, object]:
        count, first, last, newest = await self.db.fetchone(
            "SELECT count(*), min(statement_date), max(statement_date), max(created_at) FROM items")
        return {"items": count, "first_date": first, "last_date": last, "last_added": newest}

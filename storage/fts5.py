"""SQLite's word index: FTS5 over stems, ranked by bm25; query syntax in FTS5's language."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from storage.base import chunks, day_range, placeholders

TITLE_WEIGHT, BODY_WEIGHT = 2.0, 1.0
RECENCY_DAYS = 30.0  # boost 1 + 1 / (1 + age / RECENCY_DAYS): 2× today, 1.5× at 30 days, toward 1× after
# bm25 is negative (lower is better); recent items get up to twice the weight. The day is item_days's.
_SCORE = (f"(bm25(items_fts, {TITLE_WEIGHT}, {BODY_WEIGHT})"
          f" * (1.0 + 1.0 / (1.0 + max(julianday('now') - d.day, 0) / {RECENCY_DAYS})))")
_WITH_DAYS = "items_fts JOIN item_days d ON d.id = items_fts.rowid"
# FTS5 counts a stem's statements by reading its whole list of them: at 1M statements, 5-25 ms a query, most of
# it for the common words, which come back in query after query. The counts only tell common words from rare
# ones, so a count is kept until the index has grown by COUNT_GROWTH since it was read.
COUNTS_KEPT = 20_000
COUNT_GROWTH = 0.01


def _rows(days: tuple[int | None, int | None]) -> str:
    """What a query over the index reads: joined to the days only when a date filter needs them."""
    return _WITH_DAYS if any(d is not None for d in days) else "items_fts"


class Fts5Syntax:
    # Stems are \w+ only, so quoting cannot be broken; quoting also neutralises words such as AND/OR/NOT
    # and characters such as ':' that FTS5 would parse.
    @staticmethod
    def phrase(stems: Sequence[str], prefix: bool = False) -> str:
        return '"' + " ".join(stems) + '"' + ("*" if prefix else "")

    @staticmethod
    def any(parts: Sequence[str]) -> str:
        return " OR ".join(parts)

    @staticmethod
    def all(parts: Sequence[str]) -> str:
        return " AND ".join(parts)

    @staticmethod
    def but_not(wanted: str, unwanted: str) -> str:
        return f"({wanted}) NOT ({unwanted})"


class Fts5Index:
    syntax = Fts5Syntax

    def __init__(self, db) -> None:
        self.db = db
        self._counts: OrderedDict[str, tuple[int, int]] = OrderedDict()  # stem -> (its statements, newest id then)

    @staticmethod
    async def add(conn, rows: list[tuple[int, list[str], list[str], int]]) -> None:
        """(item id, title stems, body stems, Julian day) rows, inside the caller's transaction."""
        await conn.executemany("INSERT INTO items_fts(rowid, title, body, day) VALUES (?, ?, ?, ?)",
                               [(i, " ".join(title), " ".join(body), day) for i, title, body, day in rows])
        await conn.executemany("INSERT INTO item_days(id, day) VALUES (?, ?)", [(r[0], r[3]) for r in rows])

    @staticmethod
    async def delete(conn, item_id: int) -> None:
        await conn.execute("DELETE FROM items_fts WHERE rowid = ?", (item_id,))
        await conn.execute("DELETE FROM item_days WHERE id = ?", (item_id,))

    async def ranked(self, match: str, terms: object, days: tuple[int | None, int | None], window: int,
                     limit: int, every_term: bool = False, some_of: object = ()) -> dict[int, float]:
        """The best `limit` documents matching `match` with their scores (higher is better), best first, among
        the newest `window` matches. (`every_term`, `some_of`: what a match holds, which FTS5 needs not be told:
        its bm25 reads its own index, and it finds where the window starts from the matches themselves.)"""
        where, params = day_range(days, "d.day")
        where, params = ["items_fts MATCH ?", *where], [match, *params]
        # Walking a doclist by rowid is cheap; ranking it is not. Find where the window starts.
        row = await self.db.fetchone(
            f"SELECT items_fts.rowid FROM {_rows(days)} WHERE {' AND '.join(where)}"
            " ORDER BY items_fts.rowid DESC LIMIT 1 OFFSET ?", (*params, window - 1))
        if row:
            where.append("items_fts.rowid >= ?")
            params.append(row[0])
        sql = f"SELECT items_fts.rowid, {_SCORE} AS s FROM {_WITH_DAYS} WHERE {' AND '.join(where)} ORDER BY s LIMIT ?"
        return {r[0]: -r[1] for r in await self.db.fetchall(sql, (*params, limit))}

    async def doc_counts(self, stems: list[str], newest: int) -> dict[str, int]:
        """How many statements hold each stem, as of up to COUNT_GROWTH of the statements ago (`newest`: the
        newest statement's id now, which tells a kept count that is out of date)."""
        fresh = {s: kept[0] for s in stems
                 if (kept := self._counts.get(s)) and newest - kept[1] <= COUNT_GROWTH * kept[1]}
        unread = [s for s in stems if s not in fresh]
        if unread:
            read = {}
            for part in chunks(unread):
                read.update(await self.db.fetchall(
                    f"SELECT term, doc FROM items_fts_vocab WHERE term IN ({placeholders(part)})", part))
            for stem in unread:  # a stem no statement holds is kept too: a count of 0
                fresh[stem] = read.get(stem, 0)
                self._counts[stem] = (fresh[stem], newest)
        for stem in stems:
            self._counts.move_to_end(stem)
        while len(self._counts) > COUNTS_KEPT:
            self._counts.popitem(last=False)
        return {s: n for s, n in fresh.items() if n}

    async def allowed(self, ids: list[int], days: tuple[int | None, int | None], required: str | None,
                      excluded: str | None) -> set[int]:
        """Those of `ids` within the days, matching `required` (if any) and not `excluded` (if any)."""
        where, params = day_range(days, "d.day")
        where, params = [f"items_fts.rowid IN ({placeholders(ids)})", *where], [*ids, *params]
        if required:
            where.append("items_fts MATCH ?")
            params.append(required)
        if excluded:
            where.append(f"items_fts.rowid NOT IN (SELECT rowid FROM items_fts WHERE items_fts MATCH ? AND rowid IN "
                         f"({placeholders(ids)}))")
            params += [excluded, *ids]
        return {r[0] for r in await self.db.fetchall(
            f"SELECT items_fts.rowid FROM {_rows(days)} WHERE {' AND '.join(where)}", params)}

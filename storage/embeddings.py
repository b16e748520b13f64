"""Sentence vectors of statements, each stored with the name of the encoder that made it."""

from __future__ import annotations

from datetime import datetime

import numpy as np

from storage.base import Database, chunks, placeholders
from storage.claims import claim

# Items with no vector from the encoder given as the parameter (none at all, or another encoder's).
MISSING_SQL = ("SELECT i.id AS id FROM items i LEFT JOIN embeddings e ON e.item_id = i.id"
               " WHERE (e.item_id IS NULL OR e.model != ?)")
NO_VECTORS = (np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32))  # (item ids, vectors), none


class EmbeddingsRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def put_many(self, model: str, item_ids: list[int], vectors: np.ndarray) -> None:
        rows = [(i, model, np.asarray(v, dtype="<f4").tobytes()) for i, v in zip(item_ids, vectors, strict=True)]
        async with self.db.transaction() as conn:
            # An item deleted while it was being embedded is skipped.
            existing: set[int] = set()
            for chunk in chunks(item_ids):
                existing.update(r[0] for r in await conn.execute_fetchall(
                    f"SELECT id FROM items WHERE id IN ({placeholders(chunk)})", chunk))
            await conn.executemany(
                "INSERT INTO embeddings(item_id, model, vector) VALUES (?, ?, ?)"
                " ON CONFLICT(item_id) DO UPDATE SET model = excluded.model, vector = excluded.vector",
                [row for row in rows if row[0] in existing])

    async def missing(self, model: str, limit: int = 1000) -> list[int]:
        """Ids of items with no vector from this encoder (none at all, or another encoder's), oldest first."""
        rows = await self.db.fetchall(f"{MISSING_SQL} ORDER BY id LIMIT ?", (model, limit))
        return [r[0] for r in rows]

    async def claim_missing(self, model: str, holder: str, limit: int, now: datetime) -> list[int]:
        """Like `missing`, but only items no other worker is embedding, claimed for `holder`."""
        return await claim(self.db, "embedding", holder, MISSING_SQL, (model,), limit, now)

    async def load(self, model: str, after: int = 0, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(item ids, vectors) of this encoder, for items after `after` (the first `limit` of them, if given),
        in id order."""
        sql = "SELECT item_id, vector FROM embeddings WHERE model = ? AND item_id > ? ORDER BY item_id"
        rows = await self.db.fetchall(*((sql, (model, after)) if limit is None else
                                        (f"{sql} LIMIT ?", (model, after, limit))))
        if not rows:
            return NO_VECTORS
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        return ids, np.vstack([np.frombuffer(r[1], dtype="<f4") for r in rows])

    async def item_ids(self, model: str, upto: int) -> np.ndarray:
        """The ids of the items up to `upto` with a vector of this encoder, in order."""
        rows = await self.db.fetchall(
            "SELECT item_id FROM embeddings WHERE model = ? AND item_id <= ? ORDER BY item_id", (model, upto))
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    async def of_items(self, model: str, item_ids: list[int]) -> dict[int, np.ndarray]:
        """The vectors this encoder made of these items (items without one are left out)."""
        found: dict[int, np.ndarray] = {}
        for chunk in chunks(item_ids):
            rows = await self.db.fetchall(
                f"SELECT item_id, vector FROM embeddings WHERE model = ? AND item_id IN ({placeholders(chunk)})",
                (model, *chunk))
            found.update((r[0], np.frombuffer(r[1], dtype="<f4")) for r in rows)
        return found

    async def forget(self, model: str | None = None) -> int:
        """Drop the vectors of other encoders than `model` (None: all), so they are made again."""
        async with self.db.transaction() as conn:
            cur = await conn.execute("DELETE FROM embeddings WHERE CAST(? AS TEXT) IS NULL OR model != ?",
                                     (model, model))
            return cur.rowcount

    async def count_by_model(self) -> dict[str, int]:
        return {m: n for m, n in await self.db.fetchall("SELECT model, count(*) FROM embeddings GROUP BY model")}

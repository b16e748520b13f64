"""Nearest neighbours over the stored statement vectors: an exact search in memory (numpy).

Exact, because it is fast enough at this size (a matrix product over 384-wide float32 rows:
about 5 ms at 28k rows on one core) and never misses. The vectors live in the database, so a
restart loads them instead of recomputing them; new ones are read as they appear."""

from __future__ import annotations

import asyncio

import numpy as np

from storage.embeddings import EmbeddingsRepo


class VectorIndex:
    def __init__(self, repo: EmbeddingsRepo) -> None:
        self.repo = repo
        self.model: str | None = None
        self.ids = np.zeros(0, dtype=np.int64)
        self.matrix = np.zeros((0, 0), dtype=np.float32)
        self._lock = asyncio.Lock()

    async def sync(self, model: str) -> None:
        """Take in the vectors stored since the last call (all of them when the encoder changed)."""
        async with self._lock:
            if model != self.model:
                self.model, self.ids, self.matrix = model, np.zeros(0, dtype=np.int64), np.zeros((0, 0), np.float32)
            after = int(self.ids[-1]) if len(self.ids) else 0
            ids, vectors = await self.repo.load(model, after)
            if len(ids):
                self.ids = np.concatenate([self.ids, ids])
                self.matrix = vectors if not len(self.matrix) else np.vstack([self.matrix, vectors])

    def nearest(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k stored items most similar to a unit query vector: (item id, cosine), best first."""
        if not len(self.ids) or k <= 0:
            return []
        scores = self.matrix @ np.asarray(query, dtype=np.float32).reshape(-1)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(int(self.ids[i]), float(scores[i])) for i in top]

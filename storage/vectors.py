"""Nearest neighbours over the stored statement vectors: an exact search in memory (numpy).

Exact, because it is fast enough at this size (a matrix product over 384-wide float32 rows:
about 5 ms at 28k rows on one core) and never misses. The vectors live in the database, so a
restart loads them instead of recomputing them; new ones are read as they appear."""

from __future__ import annotations

import asyncio

import numpy as np

from storage.embeddings import NO_VECTORS, EmbeddingsRepo


class VectorIndex:
    def __init__(self, repo: EmbeddingsRepo) -> None:
        self.repo = repo
        self.model: str | None = None
        # (item ids, their vectors), replaced whole: a search in a thread always sees a matching pair
        self._snapshot = NO_VECTORS
        self._lock = asyncio.Lock()

    @property
    def ids(self) -> np.ndarray:
        return self._snapshot[0]

    @property
    def matrix(self) -> np.ndarray:
        return self._snapshot[1]

    async def sync(self, model: str) -> None:
        """Take in the vectors stored since the last call (all of them when the encoder changed)."""
        async with self._lock:
            if model != self.model:
                self.model = model
                self._snapshot = NO_VECTORS
            known, matrix = self._snapshot
            ids, vectors = await self.repo.load(model, int(known[-1]) if len(known) else 0)
            if len(ids):
                grown = vectors if not len(matrix) else np.vstack([matrix, vectors])
                self._snapshot = (np.concatenate([known, ids]), grown)

    def nearest(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k stored items most similar to a unit query vector: (item id, cosine), best first."""
        ids, matrix = self._snapshot
        if not len(ids) or k <= 0:
            return []
        scores = matrix @ np.asarray(query, dtype=np.float32).reshape(-1)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(int(ids[i]), float(scores[i])) for i in top]

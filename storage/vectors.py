"""Nearest neighbours over the stored statement vectors: an exact search in memory (numpy).

Exact, because it is fast enough at this size (a matrix product over 384-wide float32 rows:
about 5 ms at 28k rows on one core, ~30 ms at the VECTOR_WINDOW) and never misses. The vectors
live in the database, so a restart loads them instead of recomputing them; new ones are read as
they appear."""

from __future__ import annotations

import asyncio

import numpy as np

from storage.embeddings import NO_VECTORS, EmbeddingsRepo

# An exact search costs per row: a million float32 rows take ~150 ms a query on one core here. So meaning
# reaches the newest VECTOR_WINDOW statements (months of news for most bots; 300 MB), words reach all.
VECTOR_WINDOW = 200_000


class VectorIndex:
    def __init__(self, repo: EmbeddingsRepo) -> None:
        self.repo = repo
        self.model: str | None = None
        # (item ids, their vectors), replaced whole: a search in a thread always sees a matching pair.
        # Both are views of the first rows of larger buffers: new rows are written after them (no reader
        # sees those rows until the next snapshot), so taking in a batch does not copy what is there.
        self._snapshot = NO_VECTORS
        self._buffers = NO_VECTORS
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
                self._snapshot = self._buffers = NO_VECTORS
            known = self._snapshot[0]
            ids, vectors = await self.repo.load(model, int(known[-1]) if len(known) else 0, VECTOR_WINDOW)
            if len(ids):
                self._append(ids, vectors)

    def _append(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        (known, matrix), (id_buffer, buffer) = self._snapshot, self._buffers
        size = len(known) + len(ids)
        if size > len(id_buffer):  # full: a new buffer of twice the size (amortised), or the window rolls on
            keep = min(size, VECTOR_WINDOW) - len(ids)
            capacity = min(max(2 * size, 1024), VECTOR_WINDOW + max(VECTOR_WINDOW // 4, len(ids)))
            id_buffer = np.empty(capacity, dtype=np.int64)
            buffer = np.empty((capacity, vectors.shape[1]), dtype=np.float32)
            if keep:
                id_buffer[:keep] = known[len(known) - keep:]
                buffer[:keep] = matrix[len(known) - keep:]
            known = id_buffer[:keep]
            self._buffers = (id_buffer, buffer)
        start = len(known)
        id_buffer[start:start + len(ids)] = ids
        buffer[start:start + len(ids)] = vectors
        self._snapshot = (id_buffer[:start + len(ids)], buffer[:start + len(ids)])

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

    def similarities(self, query: np.ndarray, item_ids: list[int]) -> dict[int, float]:
        """The cosine of each of these items that has a vector in the window with a unit query vector."""
        ids, matrix = self._snapshot
        if not len(ids) or not item_ids:
            return {}
        wanted = np.asarray(item_ids, dtype=np.int64)
        rows = np.minimum(np.searchsorted(ids, wanted), len(ids) - 1)  # ids are in ascending order
        held = ids[rows] == wanted
        scores = matrix[rows[held]] @ np.asarray(query, dtype=np.float32).reshape(-1)
        return dict(zip(wanted[held].tolist(), scores.tolist(), strict=True))

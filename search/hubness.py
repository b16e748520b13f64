"""How crowded each statement's neighbourhood is: the mean cosine of its NEIGHBOURS nearest statements.

Some statements sit near everything on their broad topic: "Кадры с места пожара. Подписаться", a
bare headline, a weather line. Such "hubs" are among the nearest of almost any query on the topic and crowd
out the statement the user means. Local scaling (the CSLS of cross-lingual retrieval) takes a share of
that mean, over the store's median, off the statement's cosine to a query: a statement must be closer to
the query than to its own neighbours to rank high (bench/relevance: more teasers found, by vectors alone
most of all, other outlets' headlines unchanged; figures in docs/benchmarks.md).

Kept beside the search graph, and updated as it grows: a new statement's nearest give its own mean, and
it enters their lists of best cosines (otherwise the first statements stored would count as specific
forever, having had few neighbours when they came)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

NEIGHBOURS = 10
WEIGHT = 0.5  # bench/relevance: 0.25 to 1.0 and 5 to 20 neighbours all land within one teaser of each other
# The median is found again once the store has changed by this share (at 1M it costs ~20 ms: not every search).
MEDIAN_DRIFT = 0.01


class Hubness:
    def __init__(self) -> None:
        self.keys = np.zeros(0, dtype=np.int64)  # item ids, sorted
        self.best = np.zeros((0, NEIGHBOURS), dtype=np.float16)  # each one's best cosines to others; NaN: none yet
        self._mean = np.zeros(0, dtype=np.float32)
        self._median: float | None = None
        self._median_of = 0  # how many items the median was found over

    def add(self, keys: np.ndarray, neighbours: np.ndarray, cosines: np.ndarray, *, both_ways: bool = True) -> None:
        """Take in these items with their nearest (rows of item ids and cosines; -1: no neighbour). Their
        own lists are replaced; `both_ways`, each also enters its neighbours' lists (unless they came in the
        same call: then each is in the other's own list already)."""
        keys = np.asarray(keys, dtype=np.int64)
        neighbours = np.asarray(neighbours, dtype=np.int64)
        cosines = np.where((neighbours >= 0) & (neighbours != keys[:, None]), cosines, np.nan)
        own = -np.sort(-np.nan_to_num(cosines, nan=-np.inf), axis=1)[:, :NEIGHBOURS]
        own = np.where(np.isfinite(own), own, np.nan)
        if own.shape[1] < NEIGHBOURS:
            own = np.pad(own, ((0, 0), (0, NEIGHBOURS - own.shape[1])), constant_values=np.nan)
        self._put(keys, own)
        if both_ways:
            new = np.isin(neighbours, keys)
            kept = ~np.isnan(cosines) & ~new
            self._merge(neighbours[kept], cosines[kept])

    def drop(self, keys: np.ndarray) -> None:
        """Forget these items (their cosines stay in their neighbours' lists until those are recomputed)."""
        keep = ~np.isin(self.keys, np.asarray(keys, dtype=np.int64))
        self.keys, self.best, self._mean = self.keys[keep], self.best[keep], self._mean[keep]

    def lacking(self, keys: np.ndarray) -> np.ndarray:
        """Those of `keys` with no list here."""
        keys = np.asarray(keys, dtype=np.int64)
        return keys[~np.isin(keys, self.keys)]

    def penalty(self, keys: list[int] | np.ndarray) -> np.ndarray:
        """What to take off each item's cosine to a query: WEIGHT × its mean over the median (0 if unknown)."""
        keys = np.asarray(keys, dtype=np.int64)
        if not len(self.keys) or not len(keys):
            return np.zeros(len(keys), dtype=np.float32)
        rows, held = self._rows(keys)
        mean = np.where(held, self._mean[rows], np.nan)
        return np.nan_to_num(WEIGHT * (mean - self._centre()), nan=0.0).astype(np.float32)

    def save(self, path: Path) -> None:
        path.write_bytes(self.to_bytes())

    def to_bytes(self) -> bytes:
        out = io.BytesIO()
        np.savez(out, keys=self.keys, best=self.best)
        return out.getvalue()

    @classmethod
    def load(cls, path: Path) -> Hubness:
        """The lists saved at `path` (empty if there is none or it cannot be read: they are made again)."""
        try:
            return cls.from_bytes(path.read_bytes())
        except OSError:
            return cls()

    @classmethod
    def from_bytes(cls, data: bytes | bytearray) -> Hubness:
        """The lists saved as `data` (empty if they cannot be read: they are made again)."""
        hubness = cls()
        try:
            with np.load(io.BytesIO(data)) as saved:
                keys, best = saved["keys"].astype(np.int64), saved["best"].astype(np.float16)
        except (OSError, ValueError, KeyError, EOFError):
            return hubness
        if best.shape == (len(keys), NEIGHBOURS):
            hubness._put(keys, best)
        return hubness

    def _rows(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where each of `keys` sits in the arrays, and whether it is there at all (the arrays are not empty)."""
        rows = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        return rows, self.keys[rows] == keys

    def _centre(self) -> float:
        if self._median is None or abs(len(self.keys) - self._median_of) > MEDIAN_DRIFT * self._median_of:
            known = self._mean[~np.isnan(self._mean)]
            self._median = float(np.median(known)) if len(known) else None
            self._median_of = len(self.keys)
        return self._median or 0.0

    def _put(self, keys: np.ndarray, best: np.ndarray) -> None:
        """Set these items' lists, adding the items not held yet."""
        keys, first = np.unique(keys, return_index=True)
        best = best[first].astype(np.float16)
        mean = self._means(best)
        held = np.isin(keys, self.keys)
        if held.any():
            rows = np.searchsorted(self.keys, keys[held])
            self.best[rows], self._mean[rows] = best[held], mean[held]
        if not held.all():
            merged = np.concatenate([self.keys, keys[~held]])
            in_order = len(self.keys) == 0 or self.keys[-1] < merged[len(self.keys)]  # the usual case: newer items
            order = slice(None) if in_order else np.argsort(merged, kind="stable")
            self.keys = merged[order]
            self.best = np.concatenate([self.best, best[~held]])[order]
            self._mean = np.concatenate([self._mean, mean[~held]])[order]

    def _merge(self, keys: np.ndarray, cosines: np.ndarray) -> None:
        """Offer each (item, cosine) to the item's list: kept if among its NEIGHBOURS best."""
        if not len(self.keys):
            return
        rows, held = self._rows(keys)
        rows, cosines = rows[held], cosines[held]
        if not len(rows):
            return
        touched = np.unique(rows)
        # Every touched row's list and its offers, sorted by row then best first; the first NEIGHBOURS of each row stay.
        row_of = np.concatenate([np.repeat(touched, NEIGHBOURS), rows])
        value = np.concatenate([self.best[touched].astype(np.float32).ravel(), cosines.astype(np.float32)])
        order = np.lexsort((-np.nan_to_num(value, nan=-np.inf), row_of))
        row_of, value = row_of[order], value[order]
        starts = np.searchsorted(row_of, touched)
        place = np.arange(len(row_of)) - np.repeat(starts, np.diff(np.append(starts, len(row_of))))
        keep = place < NEIGHBOURS
        self.best[row_of[keep], place[keep]] = value[keep]
        self._mean[touched] = self._means(self.best[touched])

    @staticmethod
    def _means(best: np.ndarray) -> np.ndarray:
        values = best.astype(np.float32)
        counts = (~np.isnan(values)).sum(axis=1)
        sums = np.nansum(values, axis=1)
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan).astype(np.float32)

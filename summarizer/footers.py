"""Each source's footers, learned from its newest statements and kept a few minutes (summarizer/cleaning.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

from storage.items import Item, ItemsRepo
from summarizer.cleaning import RECENT_POSTS, clean, learn_footers

KEPT_SECONDS = 600.0  # a footer changes rarely; a new channel is read again after this


class SourceFooters:
    """One per process: the worker and the digest maker clean with the same footers."""

    def __init__(self, items: ItemsRepo, clock: Callable[[], float] = time.monotonic) -> None:
        self.items = items
        self._clock = clock
        self._known: dict[str, tuple[frozenset[str], float]] = {}

    async def of(self, sources: Iterable[str]) -> dict[str, frozenset[str]]:
        out: dict[str, frozenset[str]] = {}
        for source in set(sources):
            kept = self._known.get(source)
            if kept is None or self._clock() - kept[1] > KEPT_SECONDS:
                texts = await self.items.recent_texts(source, RECENT_POSTS)
                kept = (await asyncio.to_thread(learn_footers, texts), self._clock())
                self._known[source] = kept
            out[source] = kept[0]
        return out

    async def cleaned(self, items: Iterable[Item], chars: int | None = None) -> dict[int, str]:
        """Each item's cleaned text, by id (of its lines within the first `chars` characters, if given)."""
        items = list(items)
        footers = await self.of(i.source for i in items)
        return await asyncio.to_thread(lambda: {i.id: clean(i.text, footers[i.source], chars) for i in items})

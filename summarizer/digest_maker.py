"""Digests of stored statements: read the period, build off the event loop, store each distinct digest once."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import date, datetime

from storage.db import Database
from storage.digests import DigestsRepo, StoredDigest
from storage.items import Item, ItemsRepo
from storage.summaries import SummariesRepo, Summary
from summarizer.digest import DEFAULT_MAX_STORIES, build_digest


def digest_key(first: date, last: date, items: list[Item], summaries: dict[int, Summary], max_stories: int) -> str:
    """What a digest is made of: the same items with the same summaries make the same digest."""
    h = hashlib.sha256(f"{first}:{last}:{max_stories}".encode())
    for item in items:
        summary = summaries.get(item.id)
        h.update(f"|{item.id}:{summary.summary if summary else ''}".encode())
    return h.hexdigest()


class DigestMaker:
    """One per process. Grouping a big day costs seconds of CPU: it runs in a thread, one build at a time
    (the other core stays with the event loop), and a digest already built is reused, not rebuilt."""

    def __init__(self, db: Database, max_stories: int = DEFAULT_MAX_STORIES) -> None:
        self.items = ItemsRepo(db)
        self.summaries = SummariesRepo(db)
        self.digests = DigestsRepo(db)
        self.max_stories = max_stories
        self._cpu = asyncio.Lock()

    async def for_dates(self, first: date, last: date) -> StoredDigest:
        """The digest of statements dated first..last, as the CLI and /digest show it."""
        return await self._make(await self.items.by_statement_dates(first, last), first, last)

    async def for_arrivals(self, start: datetime, end: datetime, day: date) -> tuple[StoredDigest, int]:
        """The digest of statements that arrived in [start, end), titled with `day`; and how many there were."""
        items = await self.items.created_between(start, end)
        return await self._make(items, day, day), len(items)

    async def _make(self, items: list[Item], first: date, last: date) -> StoredDigest:
        summaries = await self.summaries.get_many([i.id for i in items])
        async with self._cpu:
            key = await asyncio.to_thread(digest_key, first, last, items, summaries, self.max_stories)
            found = await self.digests.by_key(key)
            if found:
                return found
            rendered = await asyncio.to_thread(build_digest, items, summaries, first, last, self.max_stories)
        return await self.digests.put(key, rendered.title, rendered.messages, rendered.entries, rendered.shown)

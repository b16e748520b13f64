"""Digests of stored statements: read the period, build off the event loop, store each distinct digest once."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np

from digest.ranking import Reading, events_of, rank
from digest.render import DEFAULT_MAX_STORIES, followed_line, render_digest
from digest.stories import StoreCounts, Story, burst_stems, event_words, join_bursting_events
from digest.subscriber_terms import StatementStems
from meaning.encoder import LazyEncoder
from storage.base import Database
from storage.digests import DigestsRepo, StoredDigest
from storage.embeddings import EmbeddingsRepo
from storage.items import Item, ItemsRepo, utc_now
from storage.preferences import Preferences
from storage.summaries import SummariesRepo, Summary
from storage.words import word_index
from summarizer.footers import SourceFooters
from summarizer.not_news import NotNewsClassifier

GROUPED_KEPT = 4  # periods whose stories are kept (a fan-out's subscribers share a few periods)
READ_CHARS = 1000  # of each statement, cleaned: its headline, lead and stems are in them (a big day: 3 s less)
PERIOD_KEPT_SECONDS = 60.0  # a period's statements are read again after this (one deleted meanwhile goes)
NAMING_KEPT = 40_000  # statements whose naming words are kept: two big days (~0.3 KB each)


def digest_key(first: date, last: date, items: list[Item], summaries: dict[int, Summary], max_stories: int,
               story_model: str = "", vectors: Mapping[int, np.ndarray] | None = None) -> str:
    """What a digest is made of: the same items with the same summaries (and the same of them embedded,
    which decides how they group into stories) make the same digest."""
    h = hashlib.sha256(f"{first}:{last}:{max_stories}:{story_model}".encode())
    for item in items:
        summary = summaries.get(item.id)
        embedded = "v" if vectors and item.id in vectors else ""
        h.update(f"|{item.id}{embedded}+{item.reposts}:{summary.summary if summary else ''}".encode())
    return h.hexdigest()


def grouping_key(items: list[Item], story_model: str = "", vectors: Mapping[int, np.ndarray] | None = None) -> str:
    """What a period's stories and their order depend on: its items, which of them are embedded and how many
    sources carried each (not their summaries)."""
    h = hashlib.sha256(story_model.encode())
    h.update(",".join(f"{i.id}{'v' if vectors and i.id in vectors else ''}+{i.reposts}" for i in items).encode())
    return h.hexdigest()


def _burst_reading(stories: list[Story], texts: Mapping[int, str], vectors: Mapping[int, np.ndarray],
                   kept: OrderedDict[int, tuple[str, ...]]) -> tuple[list[list[frozenset[str]]], list[str]]:
    """The stories' event words and the stems whose store counts the burst needs (pymorphy3: off the loop).
    `kept`: the statements' words read before, the newest NAMING_KEPT kept."""
    read = event_words(stories, texts, vectors, kept)
    while len(kept) > NAMING_KEPT:
        kept.popitem(last=False)
    return read, burst_stems(read)


@dataclass(frozen=True, slots=True)
class Cuts:
    """An encoder's calibrated cosines: one story, one event (None: not calibrated)."""
    story: float | None = None
    event: float | None = None


class DigestMaker:
    """One per process. Grouping a big day costs seconds of CPU: it runs in a thread, one build at a time
    (the other core stays with the event loop), and a digest already built is reused, not rebuilt. The
    stories of the last few periods are kept, so subscribers with their own filters cost a render each,
    not a grouping each."""

    def __init__(self, db: Database, max_stories: int = DEFAULT_MAX_STORIES,
                 encoder: LazyEncoder | None = None) -> None:
        self.items = ItemsRepo(db)
        self.summaries = SummariesRepo(db)
        self.digests = DigestsRepo(db)
        self.embeddings = EmbeddingsRepo(db)
        self.words = word_index(db)  # how many statements hold a word: what bursts in a period
        self.max_stories = max_stories
        self.encoder = encoder  # whose stored vectors group stories by meaning (None: by stems)
        self.footers = SourceFooters(self.items)
        self.not_news = NotNewsClassifier.load()
        self._cpu = asyncio.Lock()
        self._grouped: OrderedDict[str, tuple[list[Story], StatementStems, Reading]] = OrderedDict()
        self._lines: OrderedDict[str, dict] = OrderedDict()  # rendered lines, per digest (summaries included)
        self._naming: OrderedDict[int, tuple[str, ...]] = OrderedDict()  # statements' naming words, by id
        # A past period's statements and summaries, read once a minute: a fan-out's subscribers share one
        # digest even while the worker adds summaries (each new one would otherwise make the next subscriber's
        # digest differ, rendered again).
        self._periods: OrderedDict[tuple[datetime, datetime], tuple[list[Item], dict[int, Summary], float]] = (
            OrderedDict())

    async def for_dates(self, first: date, last: date, prefs: Preferences | None = None) -> StoredDigest:
        """The digest of statements dated first..last, as the CLI and /digest show it."""
        digest, _ = await self._make(await self.items.by_statement_dates(first, last), first, last, prefs)
        return digest

    async def for_arrivals(self, start: datetime, end: datetime, day: date,
                           prefs: Preferences | None = None) -> tuple[StoredDigest, int]:
        """The digest of statements that arrived in [start, end), titled with `day`, as a subscriber with
        `prefs` gets it; and how many stories it shows (0: nothing to send)."""
        key = (start, end)
        kept = self._periods.get(key)
        if kept and time.monotonic() - kept[2] < PERIOD_KEPT_SECONDS:
            items, summaries = kept[0], kept[1]
        else:
            items = await self.items.created_between(start, end)
            summaries = await self.summaries.get_many([i.id for i in items])
            if end <= utc_now():  # a past period gains no statements: the next subscriber's are these
                self._periods[key] = (items, summaries, time.monotonic())
                while len(self._periods) > GROUPED_KEPT:
                    self._periods.popitem(last=False)
        return await self._make(items, day, day, prefs, summaries)

    async def story_vectors(self, item_ids: list[int]) -> tuple[str, Cuts, dict[int, np.ndarray]]:
        """The encoder's name, its same-story and same-event cuts and its stored vectors of these items;
        nothing when there is no encoder or its cut is not calibrated (stories are then grouped by stems)."""
        encoder = await asyncio.to_thread(self.encoder.calibration) if self.encoder else None
        if encoder is None or encoder.same_story is None:
            return "", Cuts(), {}
        return (encoder.name, Cuts(encoder.same_story, encoder.same_event),
                await self.embeddings.of_items(encoder.name, item_ids))

    async def _make(self, items: list[Item], first: date, last: date, prefs: Preferences | None,
                    summaries: dict[int, Summary] | None = None) -> tuple[StoredDigest, int]:
        ids = [i.id for i in items]
        if summaries is None:
            summaries = await self.summaries.get_many(ids)
        model, cuts, vectors = await self.story_vectors(ids)
        async with self._cpu:
            base_key = await asyncio.to_thread(digest_key, first, last, items, summaries, self.max_stories, model,
                                               vectors)
            personal = bool(prefs and prefs.signature)
            key = f"{base_key}:{prefs.signature}" if prefs and personal else base_key
            found = await self.digests.by_key(key)
            if found:
                return found, found.story_count
            group = await asyncio.to_thread(grouping_key, items, model, vectors)
            if group not in self._grouped:
                self._grouped[group] = await self._group(items, model, vectors, cuts)
            stories, stems, reading, lines = self._kept(base_key, group)
            # Every line, stored once (a subscriber's own digest is an order of them): by now `found` said a
            # shared digest is not stored yet; a subscriber's own may find its base stored by another's.
            base = await self.digests.by_key(base_key) if personal else None
            if base is None:
                rendered = await asyncio.to_thread(render_digest, stories, len(items), summaries, first, last,
                                                   self.max_stories, None, stems, lines, reading)
                base = await self.digests.put(base_key, rendered.title, rendered.messages, rendered.entries,
                                              rendered.shown, rendered.stories)
            if not personal:
                return base, base.story_count
            rendered = await asyncio.to_thread(render_digest, stories, len(items), summaries, first, last,
                                               self.max_stories, prefs, stems, lines, reading)
        position = {story.lead.id: n for n, story in enumerate(stories)}
        order = [(position[members[0]], followed)
                 for members, followed in zip(rendered.stories, rendered.followed, strict=True)]
        digest = await self.digests.put_personal(key, base, rendered.title, rendered.messages, order, rendered.shown)
        return digest, digest.story_count

    async def entries(self, digest_id: int, offset: int, limit: int) -> list[str]:
        """Lines offset… of a stored digest, as its subscriber sees them (followed stories marked)."""
        return [followed_line(html) if followed else html
                for html, followed in await self.digests.entries(digest_id, offset, limit)]

    async def _group(self, items: list[Item], model: str, vectors: Mapping[int, np.ndarray], cuts: Cuts
                     ) -> tuple[list[Story], StatementStems, Reading]:
        """The period's stories, ranked, their statements' stems and what the digest reads of them. The grouping
        runs in threads; between them, the store is asked how often the period's words occur."""
        cleaned = await self.footers.cleaned(items, READ_CHARS)
        reading = await asyncio.to_thread(Reading.of, items, cleaned, vectors, self.not_news, model)
        stories = await asyncio.to_thread(events_of, items, reading, vectors, cuts.story, cuts.event)
        if vectors and cuts.event is not None:
            read, counted = await asyncio.to_thread(_burst_reading, stories, reading.cleaned, vectors, self._naming)
            store = await self._store_counts(counted)
            stories = await asyncio.to_thread(join_bursting_events, stories, vectors, cuts.event, read, store)
        by_id = {i.id: i for i in items}
        stems = StatementStems(lambda item_id: f"{by_id[item_id].title or ''} {by_id[item_id].text}")
        return rank(stories, reading), stems, reading

    async def _store_counts(self, stems: list[str]) -> StoreCounts:
        total = await self.items.newest_id()
        return StoreCounts(await self.words.doc_counts(stems, total) if stems else {}, total)

    def _kept(self, base: str, group: str) -> tuple[list[Story], StatementStems, Reading, dict]:
        """A grouped period's stories, stems and reading (`group` is grouping_key(): grouped again only when its
        items or their vectors change, not its summaries), and the lines rendered so far for the digest `base`."""
        self._grouped.move_to_end(group)
        lines = self._lines.setdefault(base, {})
        self._lines.move_to_end(base)
        stories, stems, reading = self._grouped[group]
        for kept in (self._grouped, self._lines):
            while len(kept) > GROUPED_KEPT:
                kept.popitem(last=False)
        return stories, stems, reading, lines

"""Adding sources and polling them: fetch, read the feed, store its new entries as statements.

Knows HTTP and the store, not Telegram: the bot's commands, the CLI and the scheduler job call it alike."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from urllib.parse import urlsplit

from sources.feeds import MAX_ENTRIES, Feed, NotAFeed
from sources.fetch import Fetched, Fetcher, FetchError
from sources.reader_pool import ReaderPool, TooHeavy
from storage.items import ItemsRepo, utc_now
from storage.sources import Source, SourcesRepo
from storage.statements import DAYS_AHEAD, EARLIEST_DATE, NewItem, StatementError, parse_statement

log = logging.getLogger(__name__)

CHANNEL_BASE = "https://t.me/s/"   # a public channel's web preview
MAX_BACKOFF = timedelta(hours=24)
CHANNEL_PAGES = 5  # a channel's preview pages read in one poll, at most (about 100 posts)
_CHANNEL_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")
_TELEGRAM_HOSTS = ("t.me", "telegram.me", "www.t.me", "www.telegram.me")


class SourceError(Exception):
    """A source that cannot be added or read; the message is for admins (in Russian)."""


@dataclass(frozen=True, slots=True)
class Added:
    source: Source
    new: bool        # False: this URL was added before
    feed: Feed
    stored: int      # entries stored as new statements now


@dataclass(frozen=True, slots=True)
class Polled:
    source_id: int
    stored: int = 0          # new statements
    known: int = 0           # entries taken before, or texts already stored
    not_modified: bool = False
    error: str | None = None


def source_url(text: str, channel_base: str = CHANNEL_BASE) -> str:
    """What an admin typed as the URL to poll: `@name`, `t.me/name` or `https://t.me/s/name` become the
    channel's web preview; a bare `example.com/feed` becomes https."""
    text = text.strip()
    if text.startswith("@") and _CHANNEL_NAME_RE.match(text[1:]):
        return channel_base + text[1:]
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if (parts.hostname or "").lower() in _TELEGRAM_HOSTS:
        path = [p for p in parts.path.split("/") if p]
        if path and path[0] == "s":
            path = path[1:]
        if len(path) == 1 and _CHANNEL_NAME_RE.match(path[0]):
            return channel_base + path[0]
        raise SourceError("это не публичный канал: нужен адрес вида https://t.me/имя_канала или @имя_канала")
    return text


def backoff(poll_every: timedelta, failures: int) -> timedelta:
    """How long a source that failed `failures` times in a row waits: doubling, at most a day."""
    return min(poll_every * 2 ** min(failures, 16), MAX_BACKOFF)


class SourcePoller:
    def __init__(self, sources: SourcesRepo, items: ItemsRepo, fetcher: Fetcher, *, poll_every: timedelta,
                 concurrency: int = 8, channel_base: str = CHANNEL_BASE, zone: tzinfo = UTC,
                 on_stored: Callable[[int], None] = lambda n: None,
                 clock: Callable[[], datetime] = utc_now, reader: ReaderPool | None = None) -> None:
        self.sources = sources
        self.items = items
        self.fetcher = fetcher
        self.reader = reader or ReaderPool()
        self.poll_every = poll_every
        self.concurrency = concurrency
        self.channel_base = channel_base
        self.zone = zone
        self.on_stored = on_stored  # told how many statements arrived: the summary worker starts on them
        self.clock = clock

    async def _read(self, url: str, known: Source | None = None) -> tuple[Fetched, Feed | None]:
        """The document at `url` and its feed; a page that advertises a feed leads to it. The feed is None when
        it is `known`'s and unchanged: a 304, or the very body read last time (many servers send no ETag)."""
        fetched = await self.fetcher.get(url, etag=known.etag if known else None,
                                         last_modified=known.last_modified if known else None)
        if fetched.status == 304 or known and known.body_hash == body_hash(fetched):
            return fetched, None
        try:
            return fetched, await self._parse(fetched)
        except NotAFeed as exc:
            if not exc.links:
                raise SourceError(str(exc)) from None
            fetched = await self.fetcher.get(exc.links[0])  # one step only: a feed does not lead to another page
            try:
                return fetched, await self._parse(fetched)
            except NotAFeed as again:
                raise SourceError(f"страница ведёт на {exc.links[0]}, но там {again}") from None

    async def _parse(self, fetched: Fetched) -> Feed:
        """The feed in a fetched document, read in a reader process (see sources.reader_pool)."""
        try:
            return await self.reader.read_feed(fetched.body, fetched.content_type, fetched.url,
                                               _post_base(self.channel_base))
        except TooHeavy as exc:
            raise SourceError(str(exc)) from None

    async def close(self) -> None:
        await self.fetcher.close()
        self.reader.close()

    async def add(self, text: str, added_by: int | None) -> Added:
        """Check the source at once and store what it holds now: the admin sees at once what they added."""
        url = source_url(text, self.channel_base)
        try:
            fetched, feed = await self._read(url)
        except FetchError as exc:
            raise SourceError(str(exc)) from None
        assert feed is not None
        now = self.clock()
        source, new = await self.sources.add(fetched.url, feed.kind, feed.title, added_by, now)
        stored, _known = await self._store(source, feed)
        await self.sources.succeeded(source.id, etag=fetched.etag, last_modified=fetched.last_modified,
                                     body_hash=body_hash(fetched), title=feed.title or None, now=now,
                                     next_poll_at=now + self.poll_every)
        return Added(await self.sources.get(source.id) or source, new, feed, stored)

    async def poll_due(self) -> list[Polled]:
        """Poll every due source, a few at a time; each is claimed first, so replicas share the work."""
        now = self.clock()
        claimed = await self.sources.claim([(s, now + backoff(self.poll_every, s.failures))
                                            for s in await self.sources.due(now)])
        gate = asyncio.Semaphore(self.concurrency)

        async def one(source: Source) -> Polled:
            async with gate:
                return await self.poll(source)

        return list(await asyncio.gather(*(one(s) for s in claimed)))

    async def poll(self, source: Source) -> Polled:
        """One poll of one source; a failure is recorded on the source (with its backoff), never raised."""
        try:
            fetched, feed = await self._read(source.url, source)
            if feed and feed.kind == "channel" and source.last_success_at:
                feed = await self._with_older_posts(source, feed)
            stored, known = await self._store(source, feed) if feed else (0, 0)
        except (FetchError, SourceError) as exc:
            return await self._failed(source, str(exc))
        except Exception as exc:  # a feed no reader foresaw: recorded, and the other sources go on
            log.exception("polling source %s (%s) failed", source.id, source.url)
            return await self._failed(source, f"внутренняя ошибка: {type(exc).__name__}")
        now = self.clock()
        await self.sources.succeeded(source.id, etag=fetched.etag, last_modified=fetched.last_modified,
                                     body_hash=body_hash(fetched), title=feed.title or None if feed else None, now=now,
                                     next_poll_at=now + self.poll_every)
        return Polled(source.id, stored, known, not_modified=feed is None)

    async def _with_older_posts(self, source: Source, feed: Feed) -> Feed:
        """A channel's preview shows its last 20 or so posts. When none of them was taken before, more were
        posted since the last poll: the older pages are read too (a few at most) until a known post."""
        entries = list(feed.entries)
        seen = {e.key for e in entries}
        page = feed
        for _ in range(CHANNEL_PAGES - 1):
            if not page.entries or await self.sources.known_keys(source.id, [e.key for e in page.entries]):
                break
            numbers = [int(n) for n in (e.key.rsplit("/", 1)[-1] for e in page.entries) if n.isdigit()]
            if not numbers:
                break
            page = await self._parse(await self.fetcher.get(f"{source.url}?before={min(numbers)}"))
            entries += [e for e in page.entries if e.key not in seen]
            seen.update(e.key for e in page.entries)
        return Feed(feed.kind, feed.title, entries[:MAX_ENTRIES], feed.total)

    async def _failed(self, source: Source, error: str) -> Polled:
        wait = backoff(self.poll_every, source.failures + 1)
        await self.sources.failed(source.id, error[:300], self.clock() + wait)
        log.info("source %s (%s): %s; next try in %s", source.id, source.url, error, wait)
        return Polled(source.id, error=error)

    async def _store(self, source: Source, feed: Feed) -> tuple[int, int]:
        """New entries as statements (a text stored before, from anywhere, is not stored twice); entries taken."""
        entries = list({e.key: e for e in feed.entries}.values())
        known = await self.sources.known_keys(source.id, [e.key for e in entries])
        fresh: list[tuple[str, NewItem]] = []
        for e in entries:
            if e.key in known:
                continue
            try:
                fresh.append((e.key, parse_statement(e.text, title=e.title if e.title != e.text else None,
                                                     source=_label(source, feed), link=e.link,
                                                     statement_date=self._day(e.published))))
            except StatementError:
                continue  # an empty or oversized entry; tried again at the next poll, cheaply
        if not fresh:
            return 0, len(known)
        results = await self.items.add_many([item for _, item in fresh])
        await self.sources.remember(source.id, [(key, r.item_id, not r.duplicate)
                                                for (key, _), r in zip(fresh, results, strict=True)],
                                    now=self.clock())
        stored = sum(not r.duplicate for r in results)
        if stored:
            self.on_stored(stored)
        return stored, len(known) + len(results) - stored

    def _day(self, published: datetime | None):
        if published is None:
            return None
        day = published.astimezone(self.zone).date()
        today = self.clock().astimezone(self.zone).date()
        return day if EARLIEST_DATE <= day <= today + timedelta(days=DAYS_AHEAD) else None


def body_hash(fetched: Fetched) -> str | None:
    return hashlib.sha256(fetched.body).hexdigest() if fetched.status != 304 else None


def _label(source: Source, feed: Feed) -> str:
    """What /item shows as the statement's source."""
    if source.kind == "channel":
        return "channel:@" + source.url.rstrip("/").rsplit("/", 1)[-1]
    return f"{source.kind}:{feed.title or source.title or urlsplit(source.url).hostname}"


def _post_base(channel_base: str) -> str:
    """Links to a channel's posts: `https://t.me/s/` previews → `https://t.me/name/123`."""
    return channel_base[:-2] if channel_base.endswith("/s/") else channel_base

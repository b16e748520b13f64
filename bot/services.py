"""Everything handlers need, built once per process and passed in as dispatcher workflow data."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bot.config import Settings
from bot.metrics import Metrics
from sources.fetch import Fetcher
from sources.poller import SourcePoller
from storage.base import Database
from storage.channels import ChannelsRepo
from storage.deliveries import DeliveriesRepo
from storage.embeddings import EmbeddingsRepo
from storage.items import AddResult, ItemsRepo
from storage.notices import NoticesRepo
from storage.preferences import PreferencesRepo
from storage.search import MAX_QUERY_CHARS, SearchPage, SearchRepo
from storage.searches import SearchesRepo
from storage.sources import SourcesRepo
from storage.statements import NewItem
from storage.subscribers import SubscribersRepo
from storage.summaries import SummariesRepo
from storage.vectors import VectorIndex
from summarizer.digest_maker import DigestMaker
from summarizer.encoder import LazyEncoder
from summarizer.loader import LazySummarizer
from summarizer.worker import StatementWorker

log = logging.getLogger(__name__)

QUERY_VECTORS_KEPT = 256  # recent queries' vectors: the next page of results does not embed the query again


def statement_worker(settings: Settings, db: Database, encoder: LazyEncoder | None = None) -> StatementWorker:
    """The background worker as configured: the summarizer, the headline model if one is set, the encoder."""
    headlines = settings.headline_config()
    return StatementWorker(db, LazySummarizer(settings.summarizer_config()), settings.summarizer_batch_size,
                           encoder, headliner=LazySummarizer(headlines) if headlines else None)


@dataclass
class Services:
    settings: Settings
    db: Database
    items: ItemsRepo
    summaries: SummariesRepo
    search: SearchRepo
    searches: SearchesRepo
    subscribers: SubscribersRepo
    preferences: PreferencesRepo  # followed and muted terms, digest size
    deliveries: DeliveriesRepo
    notices: NoticesRepo  # where each item's summary is to be announced
    summarizer: LazySummarizer
    worker: StatementWorker
    digest_maker: DigestMaker
    query_encoder: LazyEncoder  # its own instance: a query never waits behind the worker's batch
    sources: SourcePoller  # feeds and channels that post by themselves
    channels: ChannelsRepo  # Telegram channels the digest is published to
    query_vectors: OrderedDict[tuple[str, str], Any] = field(default_factory=OrderedDict)
    query_encoder_failed: bool = False
    metrics: Metrics = field(default_factory=Metrics)

    async def add_statement(self, item: NewItem, chat_id: int, message_id: int) -> AddResult:
        """Store at once; the summary is made in the background and reported back to this message."""
        result = await self.items.add(item)
        if not result.duplicate:
            self.metrics.statements_stored.inc()
            await self.notices.add(result.item_id, chat_id, message_id)
            self.worker.notify()
        return result

    async def find(self, text: str, *, limit: int, offset: int = 0, date_from=None, date_to=None) -> SearchPage:
        """Search by words and, when an encoder is available, by meaning (the query is embedded in a thread)."""
        with self.metrics.search_seconds.time():
            return await self._find(text, limit=limit, offset=offset, date_from=date_from, date_to=date_to)

    async def _find(self, text: str, *, limit: int, offset: int, date_from, date_to) -> SearchPage:
        encoder = await asyncio.to_thread(self.query_encoder.get)
        if encoder is None or self.search.index is None:
            return await self.search.search(text, limit=limit, offset=offset, date_from=date_from, date_to=date_to)
        # The query is embedded while the database ranks its words: the two waits overlap.
        meaning = asyncio.ensure_future(self._meaning_of(encoder, text))
        return await self.search.search(text, limit=limit, offset=offset, date_from=date_from, date_to=date_to,
                                        query_vector=meaning, min_similarity=encoder.min_similarity)

    async def prepare_search(self) -> None:
        """Bring the search graph up to date before searching, however long it takes (the command line's
        one search: there is no later search for a background build to serve)."""
        encoder = await asyncio.to_thread(self.query_encoder.get)
        if encoder is not None and self.search.index is not None:
            await self.search.index.sync(encoder.name, wait=True)

    async def refresh_metrics(self) -> None:
        """The store's gauges, read from the database now."""
        statements = await self.items.count()
        vectors = await self.worker.embeddings.count_by_model()
        model = self.query_encoder.loaded_name
        # Before the encoder is loaded here, the model with the most vectors stands for it.
        embedded = vectors.get(model, 0) if model else max(vectors.values(), default=0)
        self.metrics.store(statements, sum((await self.summaries.count_by_method()).values()), embedded,
                           (await self.subscribers.counts())["active"])

    async def close(self) -> None:
        """Save what is worth keeping for the next start (the search graph); close the sources' HTTP client and
        reader process. The database is its opener's to close."""
        try:
            if self.search.index is not None:
                await self.search.index.close()
        finally:
            await self.sources.close()

    async def _meaning_of(self, encoder: Any, text: str) -> Any:
        """The query's vector with the index up to date, or None when the encoder fails."""
        try:
            vector = await self._query_vector(encoder, text)
        except Exception:  # a broken encoder costs the meaning, never the search
            if not self.query_encoder_failed:  # said once, not at every query
                log.exception("embedding a query failed; searching by words")
            self.query_encoder_failed = True
            return None
        # Shielded: a search that needs no meaning (its page is all all-words matches) cancels this, not the sync.
        if self.search.index is not None:
            await asyncio.shield(self.search.index.sync(encoder.name))
        return vector

    async def _query_vector(self, encoder: Any, text: str) -> Any:
        key = (encoder.name, text)
        vector = self.query_vectors.get(key)
        if vector is None:
            # The words are read from the first MAX_QUERY_CHARS characters; so is the meaning (an encoder's
            # time grows with the text: a whole message would cost it seconds).
            vector = (await asyncio.to_thread(encoder.queries, [text[:MAX_QUERY_CHARS]]))[0]
            self.query_vectors[key] = vector
            while len(self.query_vectors) > QUERY_VECTORS_KEPT:
                self.query_vectors.popitem(last=False)
        self.query_vectors.move_to_end(key)
        return vector

    @classmethod
    def build(cls, settings: Settings, db: Database) -> Services:
        index = VectorIndex(EmbeddingsRepo(db), settings.vector_graph_path)
        encoder = LazyEncoder(settings.encoder_config())  # queries, and the same-story cut of digests
        items = ItemsRepo(db, settings.zone)
        worker = statement_worker(settings, db, LazyEncoder(settings.encoder_config()))
        summarizer = worker.summarizer
        metrics = Metrics()

        def stored(count: int) -> None:
            metrics.statements_stored.inc(count)
            worker.notify()

        fetcher = Fetcher(allow_private=settings.sources_allow_private,
                          max_bytes=int(settings.sources_max_mb * 1024 * 1024))
        poller = SourcePoller(SourcesRepo(db), items, fetcher,
                              poll_every=timedelta(minutes=settings.sources_poll_minutes),
                              concurrency=settings.sources_concurrency, channel_base=settings.sources_channel_base,
                              zone=settings.zone, on_stored=stored)
        return cls(settings=settings, db=db, items=items, summaries=SummariesRepo(db),
                   search=SearchRepo(db, index), searches=SearchesRepo(db), subscribers=SubscribersRepo(db),
                   preferences=PreferencesRepo(db), deliveries=DeliveriesRepo(db), notices=NoticesRepo(db),
                   summarizer=summarizer, worker=worker,
                   digest_maker=DigestMaker(db, settings.digest_max_stories, encoder),
                   query_encoder=encoder, sources=poller, channels=ChannelsRepo(db), metrics=metrics)

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.settings.admin_ids

    def model_in_use(self) -> str:
        loaded = self.summarizer.loaded_name
        return loaded or f"{self.settings.summarizer_model} (ещё не загружена)"

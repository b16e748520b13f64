"""Everything handlers need, built once per process and passed in as dispatcher workflow data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.config import Settings
from bot.intake import Intake
from bot.metrics import Metrics
from digest.maker import DigestMaker
from meaning.encoder import LazyEncoder
from search.query import MAX_QUERY_CHARS
from search.searcher import Searcher
from search.service import SearchService
from search.vectors import VectorIndex
from sources.fetch import Fetcher
from sources.poller import SourcePoller
from storage.base import Database
from storage.channels import ChannelsRepo
from storage.deliveries import DeliveriesRepo
from storage.embeddings import EmbeddingsRepo
from storage.graphs import GraphsRepo
from storage.items import ItemsRepo
from storage.leases import Lease, LeasesRepo
from storage.notices import NoticesRepo
from storage.preferences import PreferencesRepo
from storage.searches import SearchesRepo
from storage.sources import SourcesRepo
from storage.subscribers import SubscribersRepo
from storage.summaries import SummariesRepo
from summarizer.loader import LazySummarizer
from summarizer.worker import StatementWorker

GRAPH_BUILDER_LEASE = "search-graph-builder"  # held by the one process that builds a shared search graph


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
    search: SearchService
    searches: SearchesRepo
    subscribers: SubscribersRepo
    preferences: PreferencesRepo  # followed and muted terms, digest size
    deliveries: DeliveriesRepo
    notices: NoticesRepo  # where each item's summary is to be announced
    summarizer: LazySummarizer
    worker: StatementWorker
    digest_maker: DigestMaker
    sources: SourcePoller  # feeds and channels that post by themselves
    channels: ChannelsRepo  # Telegram channels the digest is published to
    intake: Intake  # statements posted by admins
    metrics: Metrics

    async def close(self) -> None:
        """Save what is worth keeping for the next start (the search graph); close the sources' HTTP client and
        reader process. The database is its opener's to close."""
        try:
            await self.search.close()
        finally:
            await self.sources.close()

    @classmethod
    def build(cls, settings: Settings, db: Database) -> Services:
        # Replicas sharing the store without a graph file: one builds the graph and saves it, the others load it.
        index = VectorIndex(EmbeddingsRepo(db), settings.vector_graph_path, shared=GraphsRepo(db),
                            builder=Lease(LeasesRepo(db), GRAPH_BUILDER_LEASE))
        encoder = LazyEncoder(settings.encoder_config())  # queries, and the same-story cut of digests: its own
        # instance, so that a query never waits behind the worker's batch
        items = ItemsRepo(db, settings.zone)
        worker = statement_worker(settings, db, LazyEncoder(settings.encoder_config()))
        metrics = Metrics()
        notices = NoticesRepo(db)
        intake = Intake(items, notices, worker, metrics)

        fetcher = Fetcher(allow_private=settings.sources_allow_private,
                          max_bytes=int(settings.sources_max_mb * 1024 * 1024))
        poller = SourcePoller(SourcesRepo(db), items, fetcher,
                              poll_every=timedelta(minutes=settings.sources_poll_minutes),
                              concurrency=settings.sources_concurrency, channel_base=settings.sources_channel_base,
                              zone=settings.zone, on_stored=intake.stored)
        return cls(settings=settings, db=db, items=items, summaries=SummariesRepo(db),
                   search=SearchService(Searcher(db, index), encoder, metrics.search_seconds.observe),
                   searches=SearchesRepo(db, MAX_QUERY_CHARS), subscribers=SubscribersRepo(db),
                   preferences=PreferencesRepo(db), deliveries=DeliveriesRepo(db), notices=notices,
                   summarizer=worker.summarizer, worker=worker,
                   digest_maker=DigestMaker(db, settings.digest_max_stories, encoder),
                   sources=poller, channels=ChannelsRepo(db), intake=intake, metrics=metrics)

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.settings.admin_ids

    def model_in_use(self) -> str:
        loaded = self.summarizer.loaded_name
        return loaded or f"{self.settings.summarizer_model} (ещё не загружена)"

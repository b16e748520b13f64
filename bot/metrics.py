"""What an operator watches: the Prometheus counters and gauges (bot/metrics_server.py serves them).

Counters are counted where the events happen (each process its own: Prometheus sums them);
the backlogs are read from the database when scraped, so every process reports the same.
One registry per running bot (not the library's global one), so tests can run several.
Imports no aiogram: commands that never talk to Telegram start without it.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:
    from bot.services import Services


@functools.cache
def error_kinds() -> tuple[tuple[type[BaseException], str], ...]:
    """Telegram's errors as an operator tells them apart: which call for a pause, a cleanup, a fix."""
    from aiogram.exceptions import (
        TelegramBadRequest,
        TelegramForbiddenError,
        TelegramNetworkError,
        TelegramRetryAfter,
        TelegramServerError,
    )

    return ((TelegramRetryAfter, "flood_429"), (TelegramForbiddenError, "blocked_403"),
            (TelegramBadRequest, "bad_request_400"), (TelegramServerError, "server_5xx"),
            (TelegramNetworkError, "network"), (TimeoutError, "network"))


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.statements_stored = Counter("newsdigest_statements_stored", "Statements stored from posts and sources",
                                         registry=r)
        self.source_polls = Counter("newsdigest_source_polls", "Polls of sources, by outcome (new, unchanged, error)",
                                    ["outcome"], registry=r)
        self.digests = Counter("newsdigest_digests", "Digest deliveries finished, by status", ["status"],
                               registry=r)
        self.messages_sent = Counter("newsdigest_messages_sent", "Messages Telegram accepted", registry=r)
        self.telegram_errors = Counter("newsdigest_telegram_errors", "Telegram API errors, by kind", ["kind"],
                                       registry=r)
        self.handler_errors = Counter("newsdigest_handler_errors", "Updates whose handling failed, by update type",
                                      ["update"], registry=r)
        self.search_seconds = Histogram("newsdigest_search_seconds", "Search time, query embedding included",
                                        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
                                        registry=r)
        self.statements = Gauge("newsdigest_statements", "Statements stored", registry=r)
        self.summary_backlog = Gauge("newsdigest_summary_backlog", "Statements without a summary", registry=r)
        self.embedding_backlog = Gauge("newsdigest_embedding_backlog",
                                       "Statements without a vector from the encoder in use", registry=r)
        self.subscribers = Gauge("newsdigest_subscribers", "Active subscribers", registry=r)

    def telegram_error(self, exc: BaseException) -> None:
        kind = next((name for cls, name in error_kinds() if isinstance(exc, cls)), "other")
        self.telegram_errors.labels(kind).inc()

    async def refresh(self, services: Services) -> None:
        """The gauges, read from the database now."""
        items = int((await services.items.stats())["items"])  # type: ignore[call-overload]
        summaries = sum((await services.summaries.count_by_method()).values())
        vectors = await services.worker.embeddings.count_by_model()
        model = services.query_encoder.loaded_name
        self.statements.set(items)
        self.summary_backlog.set(max(0, items - summaries))
        # Before the encoder is loaded here, the model with the most vectors stands for it.
        self.embedding_backlog.set(max(0, items - (vectors.get(model, 0) if model else max(vectors.values(),
                                                                                            default=0))))
        self.subscribers.set((await services.subscribers.counts())["active"])

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

"""What an operator watches: Prometheus metrics on `/metrics` and a health check on `/healthz`.

Counters are counted where the events happen (each process its own: Prometheus sums them);
the backlogs are read from the database when scraped, so every process reports the same.
One registry per running bot (not the library's global one), so tests can run several.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import SendMessage
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

# Telegram's errors as an operator tells them apart: which call for a pause, a cleanup, a fix.
ERROR_KINDS: tuple[tuple[type[Exception], str], ...] = (
    (TelegramRetryAfter, "flood_429"),
    (TelegramForbiddenError, "blocked_403"),
    (TelegramBadRequest, "bad_request_400"),
    (TelegramServerError, "server_5xx"),
    (TelegramNetworkError, "network"),
    (TimeoutError, "network"),
)


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
        self.search_seconds = Histogram("newsdigest_search_seconds", "Search time, query embedding included",
                                        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
                                        registry=r)
        self.statements = Gauge("newsdigest_statements", "Statements stored", registry=r)
        self.summary_backlog = Gauge("newsdigest_summary_backlog", "Statements without a summary", registry=r)
        self.embedding_backlog = Gauge("newsdigest_embedding_backlog",
                                       "Statements without a vector from the encoder in use", registry=r)
        self.subscribers = Gauge("newsdigest_subscribers", "Active subscribers", registry=r)

    def telegram_error(self, exc: BaseException) -> None:
        kind = next((name for cls, name in ERROR_KINDS if isinstance(exc, cls)), "other")
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


class TelegramMetricsMiddleware(BaseRequestMiddleware):
    """Counts every call's outcome: messages accepted, errors by kind (each attempt of a retried one)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def __call__(self, make_request: Callable[..., Awaitable[Any]], bot: Any, method: Any) -> Any:
        try:
            result = await make_request(bot, method)
        except Exception as exc:
            self.metrics.telegram_error(exc)
            raise
        if isinstance(method, SendMessage):
            self.metrics.messages_sent.inc()
        return result


def metrics_app(services: Services) -> web.Application:
    async def metrics(_request: web.Request) -> web.Response:
        try:
            await services.metrics.refresh(services)
        except Exception:  # the counters are still worth reading when the database is not
            log.exception("reading the backlogs for /metrics failed")
        return web.Response(body=services.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_request: web.Request) -> web.Response:
        started = time.monotonic()
        try:
            await services.db.fetchone("SELECT 1")
        except Exception as exc:
            return web.json_response({"ok": False, "database": type(exc).__name__}, status=503)
        return web.json_response({"ok": True, "database_ms": round((time.monotonic() - started) * 1000, 1)})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    return app


async def serve_metrics(services: Services, listen: str) -> web.AppRunner:
    """Start /metrics and /healthz on `host:port`; the caller cleans the runner up."""
    host, _, port = listen.rpartition(":")
    runner = web.AppRunner(metrics_app(services), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host or "127.0.0.1", int(port)).start()
    log.info("metrics on http://%s/metrics, health on /healthz", listen)
    return runner

"""`/metrics` (Prometheus) and `/healthz` (the database answers) on METRICS_LISTEN."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.config import SetupError

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)


async def read_store_gauges(services: Services) -> None:
    """The store's gauges, read from the database now."""
    statements = await services.items.count()
    vectors = await services.worker.embeddings.count_by_model()
    model = services.search.encoder.loaded_name
    # Before the encoder is loaded here, the model with the most vectors stands for it.
    embedded = vectors.get(model, 0) if model else max(vectors.values(), default=0)
    services.metrics.store(statements, sum((await services.summaries.count_by_method()).values()), embedded,
                           (await services.subscribers.counts())["active"])


def metrics_app(services: Services) -> web.Application:
    async def metrics(_request: web.Request) -> web.Response:
        try:
            await read_store_gauges(services)
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
    try:
        await web.TCPSite(runner, host or "127.0.0.1", int(port)).start()
    except OSError as exc:  # a port in use, an address not on this machine, a port below 1024
        await runner.cleanup()
        raise SetupError(f"METRICS_LISTEN={listen}: cannot listen there ({exc.strerror or exc})") from None
    log.info("metrics on http://%s/metrics, health on /healthz", listen)
    return runner

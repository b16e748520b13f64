"""Wiring of the running bot: Bot API session, dispatcher, summary worker, scheduler, shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError, TelegramUnauthorizedError
from aiogram.types import BotCommand, User
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot import texts
from bot.authority import ChatAuthorityMiddleware
from bot.config import Settings, SetupError
from bot.delivery import Fanout
from bot.handlers import routers
from bot.handlers.errors import on_error
from bot.metrics import Metrics
from bot.metrics_server import serve_metrics
from bot.middlewares import AdminFlagMiddleware, InFlightMiddleware, ReplyRetryMiddleware, TelegramMetricsMiddleware
from bot.services import Services
from bot.webhook import serve_webhook
from digest.markup import escape
from storage.db import open_database
from storage.updates import UpdatesRepo

log = logging.getLogger(__name__)

TICK_SECONDS = 30
NOTICE_SECONDS = 5
SOURCES_TICK_SECONDS = 60
GRAPH_SECONDS = 60
SHUTDOWN_GRACE_S = 10


def build_dispatcher(services: Services, in_flight: InFlightMiddleware | None = None,
                     fanout: Fanout | None = None) -> Dispatcher:
    dp = Dispatcher(services=services, fanout=fanout)  # workflow data: a handler may ask for either by name
    if in_flight:
        dp.update.outer_middleware(in_flight)
    dp.message.outer_middleware(AdminFlagMiddleware())
    dp.callback_query.outer_middleware(AdminFlagMiddleware())
    dp.message.middleware(ChatAuthorityMiddleware())  # inner: it reads the chosen handler's flags
    dp.callback_query.middleware(ChatAuthorityMiddleware())
    dp.include_routers(*routers())
    dp.errors.register(on_error)  # on the root: errors rise from the router where they happen to its parents
    return dp


def build_bot(settings: Settings, metrics: Metrics | None = None) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
    session.middleware(ReplyRetryMiddleware())
    if metrics:  # inside the retries: each attempt's outcome is counted
        session.middleware(TelegramMetricsMiddleware(metrics))
    return Bot(settings.bot_token.get_secret_value(), session=session,
               default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True))


async def send_summary_notices(bot: Bot, services: Services) -> None:
    """Tells each admin who posted an item its summary, once made (by this process's worker or another's)."""
    try:
        ready = await services.notices.take_ready()
    except Exception:
        log.exception("reading summary notices failed")
        return
    for notice in ready:
        try:
            await bot.send_message(notice.chat_id, f"📝 #{notice.item_id} кратко: {escape(notice.summary)}",
                                   reply_to_message_id=notice.message_id, allow_sending_without_reply=True)
        except Exception as exc:  # the admin may have blocked the bot; the summary is stored anyway
            log.warning("cannot tell chat %s about summary #%s: %s", notice.chat_id, notice.item_id, exc)


async def housekeeping(services: Services) -> None:
    """Stored digests past their retention go (saved searches are pruned as new ones are saved)."""
    try:
        pruned = await services.digest_maker.digests.prune()
        if pruned:
            log.info("pruned %d old digests", pruned)
        await services.notices.prune()
        await UpdatesRepo(services.db).prune()
    except Exception:
        log.exception("housekeeping failed")


async def poll_sources(services: Services) -> None:
    """Feeds and channels that are due; a source's failure is recorded on it, so only surprises land here."""
    try:
        polled = await services.sources.poll_due()
    except Exception:
        log.exception("polling sources failed")
        return
    for p in polled:
        services.metrics.source_polls.labels("error" if p.error else "new" if p.stored else "unchanged").inc()
    stored = sum(p.stored for p in polled)
    if stored:
        log.info("%d sources polled: %d new statements", len(polled), stored)


def counted(job: str, run: Callable[..., Awaitable[None]], metrics: Metrics) -> Callable[..., Awaitable[None]]:
    """A scheduled job whose finished runs are counted, by name: a run that raised too."""
    async def counted_run(*args: Any) -> None:
        try:
            await run(*args)
        finally:
            metrics.job_runs.labels(job).inc()
    return counted_run


async def bot_identity(bot: Bot, settings: Settings) -> User:
    """The bot, as the Bot API knows it: the first call, so a wrong token or an unreachable server is said in
    one line naming the setting (network errors were retried for about 15 s first)."""
    try:
        return await bot.get_me()
    except TelegramUnauthorizedError:
        raise SetupError(f"BOT_TOKEN: the Bot API at {settings.telegram_api_base} does not know this token "
                         "(401 Unauthorized); copy it again from @BotFather") from None
    except (TelegramNetworkError, aiohttp.ClientError, OSError, TimeoutError) as exc:  # before its base class
        raise SetupError(f"TELEGRAM_API_BASE: cannot reach the Bot API at {settings.telegram_api_base} "
                         f"({type(exc).__name__}: {exc})") from None
    except TelegramAPIError as exc:
        raise SetupError(f"BOT_TOKEN or TELEGRAM_API_BASE: the Bot API at {settings.telegram_api_base} "
                         f"refused the first call: {exc.message}") from None


async def run_bot(settings: Settings, *, webhook: bool = False, worker: bool = True) -> None:
    db = await open_database(settings.database)
    services = Services.build(settings, db)
    bot = build_bot(settings, services.metrics)
    fanout = Fanout(bot, services)
    services.worker.listeners.append(lambda _done: send_summary_notices(bot, services))
    in_flight = InFlightMiddleware()
    dp = build_dispatcher(services, in_flight, fanout)
    # A job due while the event loop is busy runs late rather than not at all (APScheduler's default grace is
    # 1 s: a busy second skipped a digest tick, and the next came 30 s later); late runs coalesce into one.
    scheduler = AsyncIOScheduler(timezone=UTC, job_defaults={"misfire_grace_time": None, "coalesce": True})

    def every(job: str, run: Callable[..., Awaitable[None]], *args: Any, at_start: bool = False,
              **interval: float) -> None:
        """A job of one instance at a time, its late runs coalesced, its finished runs counted."""
        start = {"next_run_time": datetime.now(UTC)} if at_start else {}
        scheduler.add_job(counted(job, run, services.metrics), "interval", args=args, max_instances=1,
                          coalesce=True, id=job, **interval, **start)

    metrics_runner = None
    try:
        if settings.metrics_listen:
            metrics_runner = await serve_metrics(services, settings.metrics_listen)
        me = await bot_identity(bot, settings)
        log.info("bot @%s starting against %s", me.username, settings.telegram_api_base)
        await bot.set_my_commands([BotCommand(command=c, description=d) for c, d in texts.COMMANDS])
        if worker:  # else `newsbot worker` processes make the summaries; their notices are sent from here
            services.worker.start()
        # One job every 30 s finds who is due; the delivery log makes overlapping or repeated ticks harmless,
        # and the first tick at start catches up digests missed while the bot was down.
        every("digest-tick", fanout.tick, seconds=TICK_SECONDS, at_start=True)
        # Summaries another process made are announced too, within seconds.
        every("summary-notices", send_summary_notices, bot, services, seconds=NOTICE_SECONDS)
        # Each source has its own next poll (backoff included); this job only looks for the due ones.
        every("sources-poll", poll_sources, services, seconds=SOURCES_TICK_SECONDS, at_start=True)
        every("housekeeping", housekeeping, services, hours=1, at_start=True)
        # The search graph kept current between searches (a replica's first search need not build or load it).
        every("search-graph", services.search.keep_current, seconds=GRAPH_SECONDS, at_start=True)
        scheduler.start()
        if webhook:
            await serve_webhook(dp, bot, settings, UpdatesRepo(db))
        else:
            await bot.delete_webhook()  # a webhook left from a run with --webhook would refuse getUpdates
            await dp.start_polling(bot, handle_signals=True, close_bot_session=False,
                                   allowed_updates=dp.resolve_used_update_types())
    finally:
        log.info("stopping: finishing replies and deliveries in progress (up to %d s)", SHUTDOWN_GRACE_S)
        if scheduler.running:
            scheduler.shutdown(wait=False)
        replies_done, _ = await asyncio.gather(in_flight.wait_idle(SHUTDOWN_GRACE_S),
                                               fanout.wait_idle(SHUTDOWN_GRACE_S))
        if not replies_done:
            log.warning("some updates were still being handled after %d s", SHUTDOWN_GRACE_S)
        await services.worker.stop()
        await services.close()
        if metrics_runner:
            await metrics_runner.cleanup()
        await bot.session.close()
        await db.close()
        log.info("stopped")

"""The webhook: updates the Bot API posts, each handled once across replicas and replays.

An update is claimed in the store (storage.updates) before it is handled and answered after: a replay of one
handled is answered 200 at once, one being handled by another replica gets 503 (the Bot API posts it again
later), and one whose handling failed is released, so its next post is handled again. A body that is not an
update is answered 400: the Bot API would retry a 5xx forever."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import signal
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from aiohttp import web
from pydantic import ValidationError

from bot.config import Settings, SetupError
from storage.updates import UpdatesRepo

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookHandler:
    def __init__(self, dp: Dispatcher, bot: Bot, secret: str, updates: UpdatesRepo) -> None:
        self.dp = dp
        self.bot = bot
        self.secret = secret
        self.updates = updates

    async def handle(self, request: web.Request) -> web.Response:
        if not hmac.compare_digest(request.headers.get(SECRET_HEADER, "").encode(), self.secret.encode()):
            return web.Response(status=401, text="Unauthorized")
        try:  # a body over aiohttp's client_max_size (1 MB) is refused with 413 before this reads it
            update = Update.model_validate(await request.json(loads=json.loads), context={"bot": self.bot})
        except (ValueError, ValidationError) as exc:  # JSON that does not parse, or no update
            log.warning("webhook: a body that is not an update, answered 400 (%s)", type(exc).__name__)
            return web.Response(status=400, text="not a Telegram update")
        claim = await self.updates.claim(update.update_id)
        if claim == "done":
            log.info("webhook: update %s again, handled before", update.update_id)
            return web.Response()
        if claim == "busy":
            return web.Response(status=503, headers={"Retry-After": "5"})
        try:
            await self.dp.feed_update(self.bot, update)
        except Exception:
            await self.updates.release(update.update_id)
            raise
        await self.updates.done(update.update_id)
        return web.Response()


async def serve_webhook(dp: Dispatcher, bot: Bot, settings: Settings, updates: UpdatesRepo) -> None:
    """Take updates the Bot API posts to WEBHOOK_URL until SIGTERM or SIGINT. Each update is handled before
    it is answered, so one a crash interrupts is posted again (a statement posted twice is stored once)."""
    secret = settings.webhook_secret.get_secret_value()
    app = web.Application()
    app.router.add_post(urlsplit(settings.webhook_url).path or "/", WebhookHandler(dp, bot, secret, updates).handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host, _, port = settings.webhook_listen.rpartition(":")
    try:
        await web.TCPSite(runner, host or None, int(port)).start()
    except OSError as exc:
        await runner.cleanup()
        raise SetupError(f"WEBHOOK_LISTEN={settings.webhook_listen}: cannot listen there ({exc.strerror or exc})") \
            from None
    await bot.set_webhook(settings.webhook_url, secret_token=secret, allowed_updates=dp.resolve_used_update_types())
    log.info("taking updates posted to %s on %s", settings.webhook_url, settings.webhook_listen)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        # The webhook stays set: the Bot API keeps updates for the next start, or the other replicas take them.
        await runner.cleanup()  # stops taking posts; the ones being handled finish first

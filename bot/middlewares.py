"""Middlewares: the admin flag for handlers, bounded retries for the bot's replies, a count of updates
in progress so that shutdown lets them finish before it closes the HTTP session, and the count of every
call's outcome for the metrics."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import GetUpdates, SendMessage
from aiogram.types import TelegramObject

from bot.metrics import Metrics
from bot.telegram_errors import TRANSIENT

log = logging.getLogger(__name__)

# Set by the digest fan-out, which paces itself and handles 429, 5xx and network errors for all its sends.
own_flood_control: contextvars.ContextVar[bool] = contextvars.ContextVar("own_flood_control", default=False)


class AdminFlagMiddleware(BaseMiddleware):
    """Adds `is_admin` to the handler data, from ADMIN_IDS and the update's sender."""

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        user = data.get("event_from_user")
        data["is_admin"] = data["services"].is_admin(user.id if user else None)
        return await handler(event, data)


class ReplyRetryMiddleware(BaseRequestMiddleware):
    """A reply is not lost to a passing fault: a 429 waits as told (up to `max_wait`), a 5xx or a network
    error is retried after 0.5, 1, 2, 4 and 8 s. Bounded: after that the error reaches the handler.
    A network error may mean the request arrived and only the answer was lost, so a retried reply can
    come twice; a lost one is worse."""

    def __init__(self, max_wait: float = 60.0, attempts: int = 6,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.max_wait = max_wait
        self.attempts = attempts
        self._sleep = sleep

    async def __call__(self, make_request, bot, method):
        if own_flood_control.get() or isinstance(method, GetUpdates):  # these have their own retries
            return await make_request(bot, method)
        backoff = 0.5
        for attempt in range(1, self.attempts + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if exc.retry_after > self.max_wait or attempt == self.attempts:
                    raise
                wait, why = float(exc.retry_after), "429"
            except TRANSIENT as exc:
                if attempt == self.attempts:
                    raise
                (wait, why), backoff = (backoff, type(exc).__name__), backoff * 2
            log.warning("%s on %s (attempt %d): retrying in %.1f s", why, type(method).__name__, attempt, wait)
            await self._sleep(wait)
        raise AssertionError("unreachable")


class InFlightMiddleware(BaseMiddleware):
    """Counts updates being handled; shutdown waits for them before it closes the HTTP session."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        self._count += 1
        self._idle.clear()
        try:
            return await handler(event, data)
        finally:
            self._count -= 1
            if not self._count:
                self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        """True if every update in progress finished within `timeout` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        return self._idle.is_set()


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

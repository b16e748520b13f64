"""Per-update context for handlers: whether the sender is an admin."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiogram.exceptions import TelegramRetryAfter
from aiogram.types import TelegramObject

log = logging.getLogger(__name__)

# Set by the digest fan-out, which paces itself and handles 429 for all its sends at once.
own_flood_control: contextvars.ContextVar[bool] = contextvars.ContextVar("own_flood_control", default=False)


class AdminFlagMiddleware(BaseMiddleware):
    """Adds `is_admin` to the handler data, from ADMIN_IDS and the update's sender."""

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        user = data.get("event_from_user")
        data["is_admin"] = data["services"].is_admin(user.id if user else None)
        return await handler(event, data)


class RetryAfterMiddleware(BaseRequestMiddleware):
    """A 429 on a handler's reply waits as told and tries again, instead of losing the reply."""

    def __init__(self, max_wait: float = 60.0, attempts: int = 5) -> None:
        self.max_wait = max_wait
        self.attempts = attempts

    async def __call__(self, make_request, bot, method):
        for attempt in range(self.attempts):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if own_flood_control.get() or exc.retry_after > self.max_wait or attempt == self.attempts - 1:
                    raise
                log.warning("429 on %s: retrying in %s s", type(method).__name__, exc.retry_after)
                await asyncio.sleep(exc.retry_after)
        raise AssertionError("unreachable")

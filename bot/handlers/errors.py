"""What no handler foresaw: the user is answered politely, the error counted and logged once with its
traceback, and the update counts as handled (a webhook's 500 would make the Bot API post it again and again).
Registered on the dispatcher itself: errors rise from the router where they happen to its parents only."""

from __future__ import annotations

import contextlib
import logging

from aiogram.types import ErrorEvent

from bot.services import Services

log = logging.getLogger(__name__)

SORRY = "Что-то пошло не так — я уже записал ошибку. Попробуйте ещё раз чуть позже."


async def on_error(event: ErrorEvent, services: Services) -> bool:
    update = event.update
    kind = update.event_type
    services.metrics.handler_errors.labels(kind).inc()
    log.error("handling update %s (%s) failed", update.update_id, kind, exc_info=event.exception)
    with contextlib.suppress(Exception):  # the apology itself may fail (Telegram away): it was logged
        if update.message:
            await update.message.answer(SORRY)
        elif update.callback_query:
            await update.callback_query.answer(SORRY, show_alert=True)
    return True

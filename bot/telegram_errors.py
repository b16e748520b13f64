"""Telegram's errors, told apart in one place: which are worth another try after a pause, which mean the bot
lost a chat, and the kind an operator's metric counts each one as."""

from __future__ import annotations

from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)

# A 5xx, a lost connection or a timeout: the request may go through if sent again a little later.
TRANSIENT: tuple[type[BaseException], ...] = (TelegramServerError, TelegramNetworkError, TimeoutError, OSError)

# What Telegram says (in a 400 or a 403) when the bot may not post to a chat any more.
NO_RIGHTS = ("not enough rights", "chat_write_forbidden", "need administrator rights", "chat not found",
             "bot is not a member", "bot was kicked", "have no rights")

_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (TelegramRetryAfter, "flood_429"), (TelegramForbiddenError, "blocked_403"),
    (TelegramBadRequest, "bad_request_400"), (TelegramServerError, "server_5xx"),
    (TelegramNetworkError, "network"), (TimeoutError, "network"))


def kind(exc: BaseException) -> str:
    """The error as an operator tells them apart: which call for a pause, a cleanup, a fix."""
    return next((name for cls, name in _KINDS if isinstance(exc, cls)), "other")


def means_no_rights(message: str) -> bool:
    return any(words in message.lower() for words in NO_RIGHTS)

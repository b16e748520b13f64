"""Who may change a chat's digest: one check for every handler that changes a chat's subscription or settings.

Such handlers are registered with `flags=CHANGES_CHAT`. ChatAuthorityMiddleware is an inner middleware (it
runs after the filters chose the handler, so it sees the handler's flags) and refuses other senders before
the handler runs: a handler cannot forget the check, and a new one gets it by its flag."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.dispatcher.flags import get_flag
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, Chat, Message, TelegramObject, User

CHANGES_CHAT = {"changes_chat": True}
GROUP_ONLY_ADMINS = "В группе настройки дайджеста меняют только администраторы группы."


async def may_configure(bot: Bot, chat: Chat, user: User, sender_chat: Chat | None = None) -> bool:
    """In a private chat its user; in a group the group's administrators, anonymous ones included (they post
    as the group itself)."""
    if chat.type == "private":
        return True
    if sender_chat is not None and sender_chat.id == chat.id:
        return True
    try:
        member = await bot.get_chat_member(chat.id, user.id)
    except TelegramAPIError:
        return False
    return member.status in ("creator", "administrator")


class ChatAuthorityMiddleware(BaseMiddleware):
    """Runs handlers flagged `changes_chat` only for those who may change the chat they were sent from (a
    button: the chat of the message it is under); the others are told why."""

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        if not get_flag(data, "changes_chat"):
            return await handler(event, data)
        chat, user = data.get("event_chat"), data.get("event_from_user")
        sender_chat = event.sender_chat if isinstance(event, Message) else None
        if chat is not None and user is not None and await may_configure(data["bot"], chat, user, sender_chat):
            return await handler(event, data)
        if isinstance(event, CallbackQuery):
            await event.answer(GROUP_ONLY_ADMINS, show_alert=True)
        elif isinstance(event, Message):
            await event.answer(GROUP_ONLY_ADMINS)
        return None

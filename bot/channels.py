"""When the bot can no longer post to a channel (removed, its rights taken, the channel gone): the channel's
digest stops, and the admin who connected it is told once. Called by the fan-out on a refused post and by the
handler of the bot's own membership changes."""

from __future__ import annotations

import contextlib
import logging

from aiogram import Bot

from bot.services import Services
from digest.markup import escape

log = logging.getLogger(__name__)

# Bot API errors that mean the bot may not post in a chat (as opposed to a message it did not like).
async def lose_channel(bot: Bot, services: Services, chat_id: int, why: str) -> None:
    """Record that the bot cannot post to the channel `chat_id`; its admin is told the first time."""
    channel = await services.channels.lost(chat_id, why)
    if channel is None:  # known already (or not a channel we publish to)
        return
    log.warning("channel %s (%s): the bot cannot post there (%s); its digest stopped", chat_id, channel.name, why)
    with contextlib.suppress(Exception):  # the admin may have blocked the bot too: the channel is marked anyway
        await bot.send_message(
            channel.added_by,
            f"⚠ Канал {escape(channel.name)}: бот больше не может публиковать ({escape(why[:200])}). Дайджест туда "
            f"остановлен. Верните боту права администратора с публикацией и отправьте "
            f"<code>/channel {escape(channel.ref)}</code>.")

"""Small pieces shared by the handlers."""

from __future__ import annotations

import re

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, Chat, InaccessibleMessage, InlineKeyboardMarkup, Message

from bot.keyboards import MAX_ID, digest_more
from storage.digests import StoredDigest

_NUMBER_RE = re.compile(r"#?([0-9]{1,18})")  # ASCII digits only: str.isdigit() accepts "²"


async def may_configure(bot: Bot, chat: Chat, user_id: int) -> bool:
    """Who may change a chat's digest: in a private chat its user, in a group the group's administrators."""
    if chat.type == "private":
        return True
    try:
        member = await bot.get_chat_member(chat.id, user_id)
    except TelegramAPIError:
        return False
    return member.status in ("creator", "administrator")


GROUP_ONLY_ADMINS = "В группе настройки дайджеста меняют только администраторы группы."


async def may_configure_here(message: Message) -> bool:
    """Whether the sender may change this chat's digest; if not, they are told so."""
    if message.from_user and await may_configure(message.bot, message.chat, message.from_user.id):
        return True
    await message.answer(GROUP_ONLY_ADMINS)
    return False


async def configurable_chat(callback: CallbackQuery) -> int | None:
    """The chat a pressed settings button belongs to, if the presser may change it (else answered so)."""
    if callback.message is None or not await may_configure(callback.bot, callback.message.chat,
                                                           callback.from_user.id):
        await callback.answer(GROUP_ONLY_ADMINS, show_alert=True)
        return None
    return callback.message.chat.id


def admin_only(_: object, is_admin: bool) -> bool:
    """Filter: the sender is in ADMIN_IDS (flag set by AdminFlagMiddleware)."""
    return is_admin


def item_number(arg: str | None) -> int | None:
    """`12` or `#12` as an item id; None for anything else."""
    match = _NUMBER_RE.fullmatch((arg or "").strip())
    return int(match.group(1)) if match and 0 < int(match.group(1)) <= MAX_ID else None


async def answer_parts(message: Message | InaccessibleMessage, parts: list[str],
                       last_markup: InlineKeyboardMarkup | None = None) -> None:
    """Messages in order; the last one carries `last_markup` (a button under the whole)."""
    for n, part in enumerate(parts, start=1):
        await message.answer(part, reply_markup=last_markup if n == len(parts) else None)


async def answer_digest(message: Message, digest: StoredDigest) -> None:
    """A digest's first page; its last message carries the button to the stories not shown."""
    await answer_parts(message, digest.messages, digest_more(digest.id, digest.shown, digest.story_count))

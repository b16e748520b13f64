"""Small pieces shared by the handlers."""

from __future__ import annotations

import re

from aiogram.types import CallbackQuery, InaccessibleMessage, InlineKeyboardMarkup, Message

from bot.keyboards import MAX_ID, digest_more
from digest.render import continuation
from storage.digests import StoredDigest

_NUMBER_RE = re.compile(r"#?([0-9]{1,18})")  # ASCII digits only: str.isdigit() accepts "²"


def button_chat(callback: CallbackQuery) -> int:
    """The chat of a pressed button's message: ChatAuthorityMiddleware let the press through, so it has one."""
    if callback.message is None:
        raise LookupError("a button without its message passed the chat's authority check")
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


DIGEST_GONE = "Этот дайджест устарел — свежий: /digest."


async def answer_digest(message: Message, digest: StoredDigest, button_key: bytes) -> None:
    """A digest's first page; its last message carries the button to the stories not shown."""
    await answer_parts(message, digest.messages, digest_more(digest.id, digest.shown, digest.story_count,
                                                             chat_id=message.chat.id, key=button_key))


async def answer_continuation(message: Message | InaccessibleMessage, digest: StoredDigest, offset: int,
                              page: list[str], button_key: bytes) -> None:
    """Stories offset… of a digest (`page`: their lines), then the button to the ones after them."""
    await answer_parts(message, continuation(digest.title, page, offset, digest.story_count),
                       digest_more(digest.id, offset + len(page), digest.story_count, chat_id=message.chat.id,
                                   key=button_key))

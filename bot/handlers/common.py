"""Small pieces shared by the handlers."""

from __future__ import annotations

from aiogram.types import Message


def admin_only(_: object, is_admin: bool) -> bool:
    """Filter: the sender is in ADMIN_IDS (flag set by AdminFlagMiddleware)."""
    return is_admin


async def answer_parts(message: Message, parts: list[str]) -> None:
    for part in parts:
        await message.answer(part)

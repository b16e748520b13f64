"""What nothing else matched: unknown commands, messages the bot cannot use, and stale or forged buttons."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery, Message

from bot import texts


async def unknown_command(message: Message, bot: Bot) -> None:
    command = (message.text or "").split()[0]
    if message.chat.type != "private":  # in groups, answer only commands addressed to us
        me = await bot.me()
        if not command.lower().endswith(f"@{(me.username or '').lower()}"):
            return
    await message.answer(texts.UNKNOWN_COMMAND)


async def unusable(message: Message) -> None:
    await message.answer("Я понимаю команды (/help) и текст для поиска по новостям.")


async def stale_button(callback: CallbackQuery) -> None:
    """Every button press is answered, or the user's client keeps spinning."""
    await callback.answer("Эта кнопка устарела.", show_alert=False)


def build_router() -> Router:
    router = Router(name="fallback")
    router.message.register(unknown_command, F.text.startswith("/"))
    router.message.register(unusable, F.chat.type == "private")
    router.callback_query.register(stale_button)
    return router

"""What nothing else matched: unknown commands and messages the bot cannot use."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.types import Message

from bot import texts


async def unknown_command(message: Message, bot: Bot) -> None:
    command = message.text.split()[0]
    if message.chat.type != "private":  # in groups, answer only commands addressed to us
        me = await bot.me()
        if not command.lower().endswith(f"@{(me.username or '').lower()}"):
            return
    await message.answer(texts.UNKNOWN_COMMAND)


async def unusable(message: Message) -> None:
    await message.answer("Я понимаю команды (/help) и текст для поиска по новостям.")


def build_router() -> Router:
    router = Router(name="fallback")
    router.message.register(unknown_command, F.text.startswith("/"))
    router.message.register(unusable, F.chat.type == "private")
    return router

"""Channels the digest is published to: /channel for the bot's admins, and the bot's own membership changes."""

from __future__ import annotations

import re

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import ChatMemberUpdated, Message, MessageOriginChannel

from bot import digest_settings
from bot.channels import lose_channel
from bot.digest_settings import defaults, describe_rhythm
from bot.handlers.admin import refuse
from bot.handlers.common import admin_only, answer_parts
from bot.services import Services
from bot.timezones import describe_timezone
from digest.markup import escape, pack
from storage.channels import Channel

USAGE = ("<b>Дайджест в канале</b>\n"
         "<code>/channel @имя</code> (или ссылка t.me/имя, или ответ этой командой на пересланный пост канала) — "
         "публиковать дайджест в канале. Бот должен быть администратором канала с правом публикации.\n"
         "<code>/channel @имя time 08:00</code>, <code>tz Europe/Moscow</code>, <code>rhythm дважды 09:00 21:00"
         "</code>, <code>size 10</code> — настройки дайджеста канала.\n"
         "<code>/channel off @имя</code> — перестать публиковать.\n<code>/channel</code> — список каналов.")
_NAME_RE = re.compile(r"^(?:@|(?:https?://)?(?:www\.)?(?:t|telegram)\.me/)([A-Za-z][A-Za-z0-9_]{3,31})/?$")
_ID_RE = re.compile(r"^-100\d{5,15}$")
SETTINGS = {"time": digest_settings.set_time, "tz": digest_settings.set_timezone,
            "rhythm": digest_settings.set_rhythm, "size": digest_settings.set_size}


def channel_ref(text: str) -> str | int | None:
    """`@name`, `t.me/name`, `https://t.me/name` → "@name"; `-100…` → the id; None for anything else."""
    text = text.strip()
    if _ID_RE.match(text):
        return int(text)
    match = _NAME_RE.match(text)
    return f"@{match.group(1)}" if match else None


async def _find(services: Services, ref: str | int) -> Channel | None:
    if isinstance(ref, int):
        return await services.channels.get(ref)
    return await services.channels.by_username(ref[1:])


def _command(channel: Channel) -> str:
    return f"/channel {channel.ref} "


async def connect(bot: Bot, services: Services, ref: str | int, admin_id: int) -> str:
    """Check that `ref` is a channel where the bot may post, and publish the digest there."""
    shown = escape(str(ref))
    try:
        chat = await bot.get_chat(ref)
    except TelegramAPIError:
        return (f"Не нашёл канал {shown}. Проверьте имя; бот должен быть добавлен в канал администратором "
                "с правом публикации.")
    if chat.type != "channel":
        return f"{shown} — не канал. Дайджест в группу: отправьте /subscribe в самой группе."
    try:
        member = await bot.get_chat_member(chat.id, bot.id)
    except TelegramAPIError:
        member = None
    if member is None or member.status != "administrator" or not getattr(member, "can_post_messages", False):
        return (f"Бот не может публиковать в «{escape(chat.title or shown)}»: сделайте его администратором канала "
                "с правом «Публикация сообщений» и отправьте команду снова.")
    channel, new = await services.channels.add(chat.id, chat.username, chat.title or str(chat.id), admin_id)
    sub, _ = await services.subscribers.subscribe(chat.id, *defaults(services))
    lead = "подключён" if new else "снова подключён"
    return (f"Канал «{escape(channel.title)}» ({escape(channel.name)}) {lead}: дайджест {describe_rhythm(sub)} "
            f"({escape(describe_timezone(sub.timezone))}). Настройки: <code>{escape(_command(channel))}time 08:00"
            f"</code>, <code>tz</code>, <code>rhythm</code>, <code>size</code>. Отключить: "
            f"<code>/channel off {escape(channel.ref)}</code>.")


async def listing(services: Services) -> list[str]:
    """Every channel on a line of its own, in as many messages as they take."""
    channels = await services.channels.all()
    if not channels:
        return [USAGE]
    lines = []
    for channel in channels:
        sub = await services.subscribers.get(channel.chat_id)
        if sub is None:
            continue
        last = sub.last_digest_at.astimezone(services.settings.zone).strftime("%d.%m %H:%M") \
            if sub.last_digest_at else "ещё не было"
        zone = escape(describe_timezone(sub.timezone))
        state = (f"⚠ {escape(channel.problem)}" if channel.problem else
                 "выключен" if not sub.active else f"{describe_rhythm(sub)} ({zone})")
        lines.append(f"{escape(channel.name)} «{escape(channel.title)}» — {state}; последний выпуск: {last}")
    return pack("<b>Каналы с дайджестом</b>", [*lines, "\nСправка: /channel help"])


async def channel_command(message: Message, command: CommandObject, services: Services, bot: Bot) -> None:
    user = message.from_user
    if user is None:  # never: only a bot admin's message gets here
        return
    words = (command.args or "").split(maxsplit=2)
    forwarded = message.reply_to_message.forward_origin if message.reply_to_message else None
    if not words and isinstance(forwarded, MessageOriginChannel):  # a reply to a post forwarded from it
        await message.answer(await connect(bot, services, forwarded.chat.id, user.id))
        return
    if not words:
        await answer_parts(message, await listing(services))
        return
    if words[0].lower() == "help":
        await message.answer(USAGE)
        return
    if words[0].lower() == "off":
        ref = channel_ref(words[1]) if len(words) > 1 else None
        channel = await _find(services, ref) if ref else None
        if channel is None:
            await message.answer("Какой канал отключить? Например: <code>/channel off @имя</code>. Список: /channel")
            return
        await services.subscribers.set_active(channel.chat_id, False)
        await message.answer(f"Дайджест в {escape(channel.name)} больше не публикуется. Снова включить: "
                             f"<code>/channel {escape(channel.ref)}</code>")
        return
    ref = channel_ref(words[0])
    if ref is None:
        await message.answer(f"Не понимаю «{escape(words[0][:40])}». " + USAGE)
        return
    if len(words) == 1:
        await message.answer(await connect(bot, services, ref, user.id))
        return
    channel = await _find(services, ref)
    if channel is None:
        await message.answer(f"Канал {escape(str(ref))} не подключён. Подключить: <code>/channel {escape(str(ref))}"
                             "</code>")
        return
    setting = SETTINGS.get(words[1].lower())
    if setting is None:
        await message.answer(f"Не знаю настройки «{escape(words[1][:20])}»: есть time, tz, rhythm и size.")
        return
    reply = await setting(services, channel.chat_id, words[2] if len(words) > 2 else None, _command(channel))
    await message.answer(f"{escape(channel.name)}: {reply}")


async def bot_membership(event: ChatMemberUpdated, services: Services, bot: Bot) -> None:
    """The bot removed from a channel, or its right to post taken: that channel's digest stops, its admin told."""
    new = event.new_chat_member
    if new.status == "administrator" and getattr(new, "can_post_messages", False):
        return
    why = "бота удалили из канала" if new.status in ("left", "kicked") else "у бота нет права публиковать"
    await lose_channel(bot, services, event.chat.id, why)


def build_router() -> Router:
    router = Router(name="channels")
    router.message.register(channel_command, Command("channel"), admin_only)
    router.message.register(refuse, Command("channel"))  # anyone else: a polite no, nothing changes
    router.my_chat_member.register(bot_membership, F.chat.type == "channel")
    return router

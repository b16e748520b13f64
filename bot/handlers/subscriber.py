"""Subscribers: /start, /help, /subscribe, /unsubscribe, /time, /tz, /settings, /digest (and its "more"
button), /item."""

from __future__ import annotations

import contextlib
import re

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, Message

from bot import texts
from bot.config import parse_hhmm
from bot.handlers.common import answer_digest, answer_parts, item_number
from bot.keyboards import DigestMoreCb, digest_more
from bot.render import item_messages
from bot.services import Services
from bot.timezones import describe_timezone, parse_timezone
from summarizer.digest import continuation
from summarizer.markup import escape


def _defaults(services: Services) -> tuple[str, str]:
    return services.settings.digest_time.strftime("%H:%M"), services.settings.timezone


async def _settings_text(services: Services, chat_id: int) -> str:
    sub = await services.subscribers.get(chat_id)
    if sub is None:
        return "Вы не подписаны. Подписаться — /subscribe."
    state = "подписка включена" if sub.active else "подписка выключена (/subscribe)"
    return (f"<b>Ваши настройки</b>\n{state}\nВремя дайджеста: {sub.digest_time}\n"
            f"Часовой пояс: {escape(describe_timezone(sub.timezone))}")


async def start(message: Message, services: Services, is_admin: bool) -> None:
    sub, _ = await services.subscribers.subscribe(message.chat.id, *_defaults(services))
    greeting = (f"Здравствуйте! Вы подписаны на ежедневный дайджест: он придёт в {sub.digest_time} "
                f"({escape(describe_timezone(sub.timezone))}). Изменить — /time и /tz.\n\n")
    await message.answer(greeting + texts.HELP + (texts.ADMIN_HELP if is_admin else ""))


async def help_(message: Message, is_admin: bool) -> None:
    await message.answer(texts.HELP + (texts.ADMIN_HELP if is_admin else ""))


async def subscribe(message: Message, services: Services) -> None:
    sub, new = await services.subscribers.subscribe(message.chat.id, *_defaults(services))
    lead = "Готово, вы подписаны." if new else "Вы уже подписаны."
    await message.answer(f"{lead} Дайджест приходит каждый день в {sub.digest_time} "
                         f"({escape(describe_timezone(sub.timezone))}).")


async def unsubscribe(message: Message, services: Services) -> None:
    changed = await services.subscribers.set_active(message.chat.id, False)
    await message.answer("Вы отписались от дайджеста. Вернуться — /subscribe." if changed
                         else "Вы и так не подписаны. Подписаться — /subscribe.")


async def set_time(message: Message, command: CommandObject, services: Services) -> None:
    if not command.args:
        await message.answer("Укажите время в формате ЧЧ:ММ, например: /time 08:30")
        return
    try:
        value = parse_hhmm(command.args).strftime("%H:%M")
    except ValueError:
        await message.answer(f"Не понимаю время «{escape(command.args[:20])}». "
                             "Нужно ЧЧ:ММ от 00:00 до 23:59, например: /time 08:30")
        return
    if await services.subscribers.get(message.chat.id) is None:
        await services.subscribers.subscribe(message.chat.id, value, services.settings.timezone)
    await services.subscribers.update(message.chat.id, digest_time=value)
    await message.answer(f"Дайджест будет приходить в {value}.")


async def set_timezone(message: Message, command: CommandObject, services: Services) -> None:
    zone = parse_timezone(command.args or "")
    if zone is None:
        shown = f"«{escape(command.args[:40])}» — не" if command.args else "Не"
        await message.answer(f"{shown} знаю такого часового пояса. Примеры: /tz Europe/Moscow, "
                             "/tz Новосибирск, /tz UTC+3")
        return
    if await services.subscribers.get(message.chat.id) is None:
        await services.subscribers.subscribe(message.chat.id, _defaults(services)[0], zone)
    await services.subscribers.update(message.chat.id, timezone=zone)
    await message.answer(f"Часовой пояс: {escape(describe_timezone(zone))}.")


async def show_settings(message: Message, services: Services) -> None:
    await message.answer(await _settings_text(services, message.chat.id))


async def latest_digest(message: Message, services: Services) -> None:
    day = await services.items.latest_statement_date()
    if day is None:
        await message.answer("Новостей пока нет.")
        return
    await answer_digest(message, await services.digest_maker.for_dates(
        day, day, await services.preferences.get(message.chat.id)))


async def more_stories(callback: CallbackQuery, callback_data: DigestMoreCb, services: Services) -> None:
    """The next stories of a digest, as new messages; the pressed button goes away."""
    digests = services.digest_maker.digests
    digest = await digests.get(callback_data.digest_id)
    page = await digests.entries(digest.id, callback_data.offset, services.digest_maker.max_stories) \
        if digest else []
    if digest is None or not page or callback.message is None:
        await callback.answer("Этот дайджест устарел — свежий: /digest.", show_alert=True)
        return
    await callback.answer()
    if isinstance(callback.message, Message):  # not one too old for the bot to see any more
        with contextlib.suppress(TelegramBadRequest):  # already removed by a double tap
            await callback.message.edit_reply_markup(reply_markup=None)
    await answer_parts(callback.message, continuation(digest.title, page, callback_data.offset, digest.story_count),
                       digest_more(digest.id, callback_data.offset + len(page), digest.story_count))


async def item_inline(message: Message, command: CommandObject, services: Services) -> None:
    await _show_item(message, command.regexp_match.group(1), services)


async def item(message: Message, command: CommandObject, services: Services) -> None:
    await _show_item(message, (command.args or "").strip(), services)


async def _show_item(message: Message, arg: str, services: Services) -> None:
    number = item_number(arg)
    if number is None:
        await message.answer("Укажите номер сообщения: /item 12")
        return
    found = await services.items.get(number)
    if found is None:
        await message.answer(f"Сообщения #{number} нет — возможно, оно удалено.")
        return
    story = await services.digest_maker.digests.story_of(found.id)
    related = await services.items.get_many(story) if story else {}
    await answer_parts(message, item_messages(found, await services.summaries.get(found.id),
                                              [related[i] for i in story if i in related]))


def build_router() -> Router:
    router = Router(name="subscriber")
    router.message.register(start, CommandStart())
    router.message.register(help_, Command("help"))
    router.message.register(subscribe, Command("subscribe"))
    router.message.register(unsubscribe, Command("unsubscribe"))
    router.message.register(set_time, Command("time"))
    router.message.register(set_timezone, Command("tz"))
    router.message.register(show_settings, Command("settings"))
    router.message.register(latest_digest, Command("digest"))
    router.message.register(item_inline, Command(re.compile(r"item(\d+)")))
    router.message.register(item, Command("item"))
    router.callback_query.register(more_stories, DigestMoreCb.filter())
    return router

"""Subscribers: /start, /help, /subscribe, /unsubscribe, /time, /tz, /settings, /digest (and its "more"
button), /item."""

from __future__ import annotations

import contextlib
import hmac
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, Message

from bot import digest_settings, texts
from bot.authority import CHANGES_CHAT
from bot.config import parse_hhmm
from bot.digest_settings import defaults, describe_rhythm
from bot.handlers.common import (
    DIGEST_GONE,
    answer_continuation,
    answer_digest,
    answer_parts,
    button_chat,
    item_number,
)
from bot.handlers.personal import describe
from bot.keyboards import (
    MAX_ID,
    SETTINGS_SIZES,
    SETTINGS_ZONES,
    DigestMoreCb,
    SettingsCb,
    button_tag,
    filters_keyboard,
    settings_keyboard,
)
from bot.render import item_messages
from bot.services import Services
from bot.slots import RHYTHMS
from bot.timezones import describe_timezone
from digest.markup import escape
from digest.render import stories_word


async def _settings_text(services: Services, chat_id: int) -> str:
    sub = await services.subscribers.get(chat_id)
    if sub is None:
        return "Вы не подписаны. Подписаться — /subscribe."
    state = "подписка включена" if sub.active else "подписка выключена (/subscribe)"
    return (f"<b>Ваши настройки</b>\n{state}\nДайджест: {describe_rhythm(sub)} (/rhythm)\n"
            f"Время дайджеста: {sub.digest_time}\nЧасовой пояс: {escape(describe_timezone(sub.timezone))}\n"
            "Фильтры и размер: /filters")


async def start(message: Message, services: Services, is_admin: bool) -> None:
    sub, _ = await services.subscribers.subscribe(message.chat.id, *defaults(services))
    greeting = (f"Здравствуйте! Вы подписаны на ежедневный дайджест: он придёт в {sub.digest_time} "
                f"({escape(describe_timezone(sub.timezone))}). Изменить — /time и /tz.\n\n")
    await message.answer(greeting + texts.HELP + (texts.ADMIN_HELP if is_admin else ""))


async def help_(message: Message, is_admin: bool) -> None:
    await message.answer(texts.HELP + (texts.ADMIN_HELP if is_admin else ""))


async def subscribe(message: Message, services: Services) -> None:
    sub, new = await services.subscribers.subscribe(message.chat.id, *defaults(services))
    lead = "Готово, вы подписаны." if new else "Вы уже подписаны."
    await message.answer(f"{lead} Дайджест приходит каждый день в {sub.digest_time} "
                         f"({escape(describe_timezone(sub.timezone))}).")


async def unsubscribe(message: Message, services: Services) -> None:
    changed = await services.subscribers.set_active(message.chat.id, False)
    await message.answer("Вы отписались от дайджеста. Вернуться — /subscribe." if changed
                         else "Вы и так не подписаны. Подписаться — /subscribe.")


async def set_time(message: Message, command: CommandObject, services: Services) -> None:
    await message.answer(await digest_settings.set_time(services, message.chat.id, command.args))


async def set_timezone(message: Message, command: CommandObject, services: Services) -> None:
    await message.answer(await digest_settings.set_timezone(services, message.chat.id, command.args))


async def set_rhythm(message: Message, command: CommandObject, services: Services) -> None:
    await message.answer(await digest_settings.set_rhythm(services, message.chat.id, command.args))


async def show_settings(message: Message, services: Services) -> None:
    text = await _settings_text(services, message.chat.id)
    subscribed = await services.subscribers.get(message.chat.id) is not None
    await message.answer(text, reply_markup=settings_keyboard() if subscribed else None)


def _shifted(hhmm: str, minutes: int) -> str:
    at = parse_hhmm(hhmm)
    total = (at.hour * 60 + at.minute + minutes) % (24 * 60)
    return f"{total // 60:02d}:{total % 60:02d}"


async def settings_pressed(callback: CallbackQuery, callback_data: SettingsCb, services: Services) -> None:
    """One /settings message, edited in place; each change confirmed in words."""
    chat = button_chat(callback)
    sub = await services.subscribers.get(chat)
    if sub is None:
        await callback.answer("Сначала подпишитесь: /subscribe", show_alert=True)
        return
    action, value = callback_data.action, callback_data.value
    zones = dict((zone, name) for name, zone in SETTINGS_ZONES)
    if action == "rhythm" and value in RHYTHMS:
        local = datetime.now(ZoneInfo(sub.timezone))
        await services.subscribers.set_rhythm(chat, value, second_time=_shifted(sub.digest_time, 12 * 60)
                                              if value == "twice" else None,
                                              weekday=local.weekday() if value == "weekly" else None)
        done = f"Дайджест {describe_rhythm(await services.subscribers.get(chat))}."
    elif action == "shift" and value in ("-60", "-15", "15", "60"):
        await services.subscribers.update(chat, digest_time=_shifted(sub.digest_time, int(value)))
        if sub.rhythm == "twice" and sub.second_time:
            await services.subscribers.set_rhythm(chat, "twice", second_time=_shifted(sub.second_time, int(value)))
        done = f"Время дайджеста: {_shifted(sub.digest_time, int(value))}."
    elif action == "size" and value.isdigit() and int(value) in SETTINGS_SIZES:
        default = services.settings.digest_max_stories
        await services.preferences.set_size(chat, None if int(value) == default else int(value))
        done = f"На первой странице: {stories_word(int(value))}."
    elif action == "tz" and value in zones:
        await services.subscribers.update(chat, timezone=value)
        done = f"Часовой пояс: {escape(describe_timezone(value))}."
    elif action == "filters":
        await callback.answer()
        prefs = await services.preferences.get(chat)
        if isinstance(callback.message, Message):
            with contextlib.suppress(TelegramBadRequest):
                await callback.message.edit_text(describe(prefs, services.settings.digest_max_stories),
                                                 reply_markup=filters_keyboard(list(prefs.filters),
                                                                               prefs.only_followed))
        return
    else:  # forged data that parsed: nothing changes
        await callback.answer("Эта кнопка устарела — откройте /settings снова.", show_alert=True)
        return
    await callback.answer("Сохранено.")
    if isinstance(callback.message, Message):
        with contextlib.suppress(TelegramBadRequest):  # "message is not modified" after a double tap
            await callback.message.edit_text(f"{await _settings_text(services, chat)}\n\n✔ {done}",
                                             reply_markup=settings_keyboard())


async def latest_digest(message: Message, services: Services) -> None:
    day = await services.items.latest_statement_date()
    if day is None:
        await message.answer("Новостей пока нет.")
        return
    await answer_digest(message, await services.digest_maker.for_dates(
        day, day, await services.preferences.get(message.chat.id)), services.settings.button_key)


async def more_stories(callback: CallbackQuery, callback_data: DigestMoreCb, services: Services) -> None:
    """The next stories of a digest, as new messages; the pressed button goes away. Only in the chat the
    digest was sent to (a forged button for another chat's digest is answered like an expired one)."""
    key = services.settings.button_key
    chat_id = callback.message.chat.id if callback.message else None
    own = chat_id is not None and hmac.compare_digest(callback_data.tag,
                                                      button_tag(key, chat_id, callback_data.digest_id))
    digest = await services.digest_maker.digests.get(callback_data.digest_id) if own else None
    page = await services.digest_maker.entries(digest.id, callback_data.offset, services.digest_maker.max_stories) \
        if digest else []
    if digest is None or not page or callback.message is None:
        await callback.answer(DIGEST_GONE, show_alert=True)
        return
    await callback.answer()
    if isinstance(callback.message, Message):  # not one too old for the bot to see any more
        with contextlib.suppress(TelegramBadRequest):  # already removed by a double tap
            await callback.message.edit_reply_markup(reply_markup=None)
    await answer_continuation(callback.message, digest, callback_data.offset, page, key)


async def more_from_a_channel(message: Message, command: CommandObject, services: Services) -> None:
    """`/start more<id>`: the link under a channel's digest, opened by a reader: the stories after its first
    page, here in the private chat (with the usual button for the next ones)."""
    digest_id = int((command.args or "").removeprefix("more"))
    digest = await services.digest_maker.digests.get(digest_id) if digest_id <= MAX_ID else None
    if digest is None or not await services.deliveries.published_in_a_channel(digest.id):
        await message.answer(DIGEST_GONE)
        return
    page = await services.digest_maker.entries(digest.id, digest.shown, services.digest_maker.max_stories)
    await answer_continuation(message, digest, digest.shown, page, services.settings.button_key)


async def item_inline(message: Message, command: CommandObject, services: Services) -> None:
    if command.regexp_match:  # always: the handler's filter matched it
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
                                              [related[i] for i in story if i in related],
                                              await services.sources.sources.also_carrying(found.id)))


def build_router() -> Router:
    router = Router(name="subscriber")
    # Before /start itself: a channel reader's link reads, it subscribes no one.
    router.message.register(more_from_a_channel, CommandStart(deep_link=True, magic=F.args.regexp(r"^more\d{1,19}$")))
    router.message.register(start, CommandStart(), flags=CHANGES_CHAT)
    router.message.register(help_, Command("help"))
    router.message.register(subscribe, Command("subscribe"), flags=CHANGES_CHAT)
    router.message.register(unsubscribe, Command("unsubscribe"), flags=CHANGES_CHAT)
    router.message.register(set_time, Command("time"), flags=CHANGES_CHAT)
    router.message.register(set_timezone, Command("tz"), flags=CHANGES_CHAT)
    router.message.register(show_settings, Command("settings"))
    router.message.register(set_rhythm, Command("rhythm"), flags=CHANGES_CHAT)
    router.callback_query.register(settings_pressed, SettingsCb.filter(), flags=CHANGES_CHAT)
    router.message.register(latest_digest, Command("digest"))
    router.message.register(item_inline, Command(re.compile(r"item(\d+)")))
    router.message.register(item, Command("item"))
    router.callback_query.register(more_stories, DigestMoreCb.filter())
    return router

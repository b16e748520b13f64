"""A digest of one's own: /follow, /mute, /filters (remove buttons, only followed stories), /size."""

from __future__ import annotations

import contextlib

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message

from bot import digest_settings
from bot.authority import CHANGES_CHAT
from bot.handlers.common import button_chat
from bot.keyboards import FilterRemoveCb, OnlyFollowedCb, filters_keyboard
from bot.services import Services
from digest.markup import MAX_MESSAGE_CHARS, escape, longest_fitting
from digest.render import stories_word
from digest.subscriber_terms import usable
from storage.preferences import MAX_TERM_CHARS, MAX_TERMS, Preferences

USAGE = {
    "follow": "Напишите слово или фразу: <code>/follow санкции</code>, <code>/follow \"центральный банк\"</code>. "
              "Сюжеты с ними будут в начале дайджеста, со звёздочкой ⭐.",
    "mute": "Напишите слово или фразу: <code>/mute футбол</code>. Сюжеты с ними я не буду присылать.",
}
DONE = {"follow": "⭐ Слежу за «{term}»: такие сюжеты будут в начале дайджеста.",
        "mute": "🚫 Скрываю сюжеты с «{term}»."}


def describe(prefs: Preferences, default_size: int) -> str:
    """The chat's filters as one message: with many long terms each is cut to fit Telegram's limit (else the
    list, the one place to remove a term, could never be shown)."""
    cut = longest_fitting(MAX_TERM_CHARS, lambda chars: _describe(prefs, default_size, chars), MAX_MESSAGE_CHARS)
    return _describe(prefs, default_size, max(cut, 1))


def _describe(prefs: Preferences, default_size: int, term_chars: int) -> str:
    def shown(term: str) -> str:
        return escape(term if len(term) <= term_chars else term[:term_chars - 1].rstrip() + "…")

    lines = ["<b>Ваши фильтры</b>"]
    lines += [f"{'⭐' if f.kind == 'follow' else '🚫'} {shown(f.term)}" for f in prefs.filters] or [
        "пока нет: /follow слово — следить, /mute слово — скрывать"]
    size = prefs.size or default_size
    lines.append(f"\nВ дайджесте: {stories_word(size)} на первой странице (/size N).")
    if prefs.follow:
        lines.append("Показываю только отслеживаемые сюжеты." if prefs.only_followed else
                     "Показываю все сюжеты, отслеживаемые — первыми.")
    return "\n".join(lines)


async def _add(message: Message, command: CommandObject, services: Services, kind: str) -> None:
    term = " ".join((command.args or "").split())
    if not term:
        await message.answer(USAGE[kind])
        return
    if len(term) > MAX_TERM_CHARS:
        await message.answer(f"Слишком длинно: фильтр — до {MAX_TERM_CHARS} символов. Ничего не изменил.")
        return
    if not usable(term):
        await message.answer("Здесь нет слов, по которым можно отбирать сюжеты. Напишите слово или фразу. "
                             "Ничего не изменил.")
        return
    added = await services.preferences.add_filter(message.chat.id, kind, term)
    if added is None:
        await message.answer(f"У вас уже {MAX_TERMS} фильтров — удалите лишние в /filters. Ничего не изменил.")
        return
    note = "" if await services.subscribers.get(message.chat.id) else "\nВы пока не подписаны на дайджест: /subscribe"
    await message.answer(DONE[kind].format(term=escape(term)) + " Все фильтры: /filters" + note)


async def follow(message: Message, command: CommandObject, services: Services) -> None:
    await _add(message, command, services, "follow")


async def mute(message: Message, command: CommandObject, services: Services) -> None:
    await _add(message, command, services, "mute")


async def show_filters(message: Message, services: Services) -> None:
    prefs = await services.preferences.get(message.chat.id)
    await message.answer(describe(prefs, services.settings.digest_max_stories),
                         reply_markup=filters_keyboard(list(prefs.filters), prefs.only_followed))


async def _refresh(callback: CallbackQuery, services: Services) -> None:
    """The /filters message updated in place (one message, not a stream of new ones)."""
    if not isinstance(callback.message, Message):
        return
    prefs = await services.preferences.get(callback.message.chat.id)
    with contextlib.suppress(TelegramBadRequest):  # "message is not modified" after a double tap
        await callback.message.edit_text(describe(prefs, services.settings.digest_max_stories),
                                         reply_markup=filters_keyboard(list(prefs.filters), prefs.only_followed))


async def remove_filter(callback: CallbackQuery, callback_data: FilterRemoveCb, services: Services) -> None:
    chat = button_chat(callback)
    removed = await services.preferences.remove_filter(chat, callback_data.filter_id)
    if removed is None:  # already removed, or a button of another chat's list
        await callback.answer("Этого фильтра уже нет.", show_alert=True)
        return
    await callback.answer(f"Удалил «{removed.term}».")
    await _refresh(callback, services)


async def only_followed(callback: CallbackQuery, callback_data: OnlyFollowedCb, services: Services) -> None:
    chat = button_chat(callback)
    if await services.subscribers.get(chat) is None:
        await callback.answer("Сначала подпишитесь: /subscribe", show_alert=True)
        return
    await services.preferences.set_only_followed(chat, callback_data.on)
    await callback.answer("Теперь только отслеживаемые сюжеты." if callback_data.on else "Теперь все сюжеты.")
    await _refresh(callback, services)


async def set_size(message: Message, command: CommandObject, services: Services) -> None:
    await message.answer(await digest_settings.set_size(services, message.chat.id, command.args))


def build_router() -> Router:
    router = Router(name="filters")
    router.message.register(follow, Command("follow"), flags=CHANGES_CHAT)
    router.message.register(mute, Command("mute"), flags=CHANGES_CHAT)
    router.message.register(show_filters, Command("filters"))
    router.message.register(set_size, Command("size"), flags=CHANGES_CHAT)
    router.callback_query.register(remove_filter, FilterRemoveCb.filter(), flags=CHANGES_CHAT)
    router.callback_query.register(only_followed, OnlyFollowedCb.filter(), flags=CHANGES_CHAT)
    return router

"""Search: /search, plain text in a private chat, and paging buttons."""

from __future__ import annotations

import contextlib

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.keyboards import SearchPageCb, search_pager
from bot.render import PAGE_SIZE, nothing_found, search_results
from bot.services import Services
from digest.markup import escape
from search.query import MAX_QUERY_CHARS, split_date_filters

USAGE = ("Что искать? Например: /search визит президента\n"
         "Фильтр по датам: /search газ с:2025-08-01 по:2025-08-31")


async def _page(services: Services, chat_id: int, raw: str, offset: int,
                search_id: int | None = None) -> tuple[str, InlineKeyboardMarkup | None]:
    """The text and buttons of one page of results for what the user typed."""
    raw = raw[:MAX_QUERY_CHARS]  # search reads no more; the same text is saved for the paging buttons
    query, date_from, date_to, problems = split_date_filters(raw)
    if problems:
        return (f"Не понимаю дату «{escape(problems[0][:20])}». Формат: с:2025-08-01 по:2025-08-31", None)
    if not query:
        return USAGE, None
    page = await services.search.find(query, limit=PAGE_SIZE, offset=offset, date_from=date_from, date_to=date_to)
    if not page.hits:
        return (nothing_found(query) if offset == 0 else "Больше результатов нет."), None
    if search_id is None:
        search_id = await services.searches.save(chat_id, raw)
    return search_results(query, page), search_pager(search_id, offset, PAGE_SIZE, page.has_more)


async def search_command(message: Message, command: CommandObject, services: Services) -> None:
    text, markup = await _page(services, message.chat.id, command.args or "", 0)
    await message.answer(text, reply_markup=markup)


async def plain_text_search(message: Message, services: Services) -> None:
    text, markup = await _page(services, message.chat.id, message.text or "", 0)
    await message.answer(text, reply_markup=markup)


async def turn_page(callback: CallbackQuery, callback_data: SearchPageCb, services: Services) -> None:
    message = callback.message if isinstance(callback.message, Message) else None  # None: too old to edit
    raw = await services.searches.get(callback_data.search_id, message.chat.id) if message else None
    if message is None or raw is None:  # expired, or another chat's search (callback data can be forged)
        await callback.answer("Этот поиск устарел — повторите запрос.", show_alert=True)
        return
    text, markup = await _page(services, message.chat.id, raw, callback_data.offset, callback_data.search_id)
    with contextlib.suppress(TelegramBadRequest):  # "message is not modified" after a double tap
        await message.edit_text(text, reply_markup=markup)
    await callback.answer()


def build_router() -> Router:
    router = Router(name="search")
    router.message.register(search_command, Command("search"))
    router.message.register(plain_text_search, F.chat.type == "private", F.text, ~F.text.startswith("/"))
    router.callback_query.register(turn_page, SearchPageCb.filter())
    return router

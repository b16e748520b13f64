"""Inline buttons and their typed callback data."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder


class SearchPageCb(CallbackData, prefix="sp"):
    search_id: int  # a saved query (see storage.searches.SearchesRepo)
    offset: int


def search_pager(search_id: int, offset: int, page_size: int, has_more: bool) -> InlineKeyboardMarkup | None:
    builder = InlineKeyboardBuilder()
    if offset > 0:
        builder.button(text="◀ Назад", callback_data=SearchPageCb(search_id=search_id,
                                                                  offset=max(0, offset - page_size)))
    if has_more:
        builder.button(text="Ещё ▶", callback_data=SearchPageCb(search_id=search_id, offset=offset + page_size))
    return builder.as_markup() if builder.buttons else None

"""Inline buttons and their typed callback data.

Callback data comes from the client and can be forged: every field is bounded, so data that
does not parse, or is out of range, matches no button and is answered by the fallback router."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Literal

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder
from pydantic import Field

from digest.render import stories_word

MAX_ID = 2**62  # SQLite integers are 64-bit
MAX_OFFSET = 100_000


class SearchPageCb(CallbackData, prefix="sp"):
    search_id: int = Field(ge=1, le=MAX_ID)  # a saved query of this chat (see storage.searches.SearchesRepo)
    offset: int = Field(ge=0, le=MAX_OFFSET)


class DigestMoreCb(CallbackData, prefix="dm"):
    digest_id: int = Field(ge=1, le=MAX_ID)  # a stored digest (see storage.digests.DigestsRepo)
    offset: int = Field(ge=0, le=MAX_OFFSET)  # the first story to show
    tag: str = Field(pattern=r"^[A-Za-z0-9_-]{11}$")  # binds the button to its chat: see button_tag


def button_tag(key: bytes, chat_id: int, digest_id: int) -> str:
    """A digest's button works only in the chat it was sent to: a subscriber's own digest shows their followed
    stories, and ids are easy to guess. 64 bits of HMAC fit Telegram's 64 bytes of callback data."""
    mac = hmac.new(key, f"{chat_id}:{digest_id}".encode(), hashlib.sha256).digest()[:8]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def search_pager(search_id: int, offset: int, page_size: int, has_more: bool) -> InlineKeyboardMarkup | None:
    builder = InlineKeyboardBuilder()
    if offset > 0:
        builder.button(text="◀ Назад", callback_data=SearchPageCb(search_id=search_id,
                                                                  offset=max(0, offset - page_size)))
    if has_more:
        builder.button(text="Ещё ▶", callback_data=SearchPageCb(search_id=search_id, offset=offset + page_size))
    return builder.as_markup() if builder.buttons else None


def digest_more(digest_id: int | None, offset: int, story_count: int, *, chat_id: int,
                key: bytes) -> InlineKeyboardMarkup | None:
    """"Показать ещё N сюжетов" under a digest page sent to `chat_id`, when stories are left after `offset`."""
    if digest_id is None or offset >= story_count:
        return None
    builder = InlineKeyboardBuilder()
    builder.button(text=f"Показать ещё {stories_word(story_count - offset)}",
                   callback_data=DigestMoreCb(digest_id=digest_id, offset=offset,
                                              tag=button_tag(key, chat_id, digest_id)))
    return builder.as_markup()


def channel_more(bot_username: str, digest_id: int | None, shown: int, story_count: int
                 ) -> InlineKeyboardMarkup | None:
    """Under a channel's digest: a link that opens the bot in a private chat with the stories not shown (a
    callback button there would post them to the whole channel)."""
    if digest_id is None or shown >= story_count:
        return None
    builder = InlineKeyboardBuilder()
    builder.button(text=f"Ещё {stories_word(story_count - shown)} — в боте",
                   url=f"https://t.me/{bot_username}?start=more{digest_id}")
    return builder.as_markup()


class FilterRemoveCb(CallbackData, prefix="fr"):
    filter_id: int = Field(ge=1, le=MAX_ID)  # one of the pressing chat's terms (storage.preferences)


class OnlyFollowedCb(CallbackData, prefix="fo"):
    on: bool


def filters_keyboard(filters: list, only_followed: bool) -> InlineKeyboardMarkup | None:
    """A remove button per term, and the "only followed stories" switch when something is followed."""
    builder = InlineKeyboardBuilder()
    for f in filters:
        mark = "⭐" if f.kind == "follow" else "🚫"
        builder.button(text=f"✖ {mark} {f.term[:40]}", callback_data=FilterRemoveCb(filter_id=f.id))
    if any(f.kind == "follow" for f in filters):
        builder.button(text="Показывать все сюжеты" if only_followed else "Только отслеживаемые сюжеты",
                       callback_data=OnlyFollowedCb(on=not only_followed))
    builder.adjust(1)
    return builder.as_markup() if builder.buttons else None


class SettingsCb(CallbackData, prefix="st"):
    action: Literal["rhythm", "shift", "size", "tz", "filters"]
    value: str = Field(max_length=32)


SETTINGS_ZONES = (("Калининград", "Europe/Kaliningrad"), ("Москва", "Europe/Moscow"),
                  ("Екатеринбург", "Asia/Yekaterinburg"), ("Новосибирск", "Asia/Novosibirsk"),
                  ("Владивосток", "Asia/Vladivostok"))
SETTINGS_SIZES = (5, 10, 20, 30)


def settings_keyboard() -> InlineKeyboardMarkup:
    """/settings: rhythm, the hour, the size, the time zone and the filters, each a press away."""
    builder = InlineKeyboardBuilder()
    for text, value in (("Каждый день", "daily"), ("Дважды", "twice"), ("Раз в неделю", "weekly"),
                        ("Пауза", "paused")):
        builder.button(text=text, callback_data=SettingsCb(action="rhythm", value=value))
    for text, value in (("−1 час", "-60"), ("−15 мин", "-15"), ("+15 мин", "15"), ("+1 час", "60")):
        builder.button(text=text, callback_data=SettingsCb(action="shift", value=value))
    for size in SETTINGS_SIZES:
        builder.button(text=f"{size} сюжетов", callback_data=SettingsCb(action="size", value=str(size)))
    for text, zone in SETTINGS_ZONES:
        builder.button(text=text, callback_data=SettingsCb(action="tz", value=zone))
    builder.button(text="Фильтры…", callback_data=SettingsCb(action="filters", value="show"))
    builder.adjust(4, 4, 4, 3, 2, 1)
    return builder.as_markup()

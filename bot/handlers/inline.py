"""Inline search: `@bot запрос` in any chat finds statements as /search does and drops one into the
conversation; an empty query offers the latest digest's top stories. Telegram pages by `next_offset`."""

from __future__ import annotations

import contextlib
import logging
import re

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import (
    InlineQuery,
    InlineQueryResultArticle,
    InlineQueryResultUnion,
    InputTextMessageContent,
    LinkPreviewOptions,
)

from bot.keyboards import MAX_OFFSET
from bot.render import inline_article
from bot.services import Services
from digest.subscriber_terms import usable
from search.query import MAX_QUERY_CHARS

log = logging.getLogger(__name__)

PAGE = 10
CACHE_SECONDS = 60  # Telegram keeps an answer this long; the same for everyone (nothing here is personal)
_ITEM_RE = re.compile(r"/item(\d+)")


async def _articles(services: Services, ids: list[int]) -> list[InlineQueryResultUnion]:
    items = await services.items.get_many(ids)
    summaries = await services.summaries.get_many([i for i in ids if i in items])
    results: list[InlineQueryResultUnion] = []
    for item_id in ids:
        if item_id not in items:
            continue
        title, description, message = inline_article(items[item_id], summaries.get(item_id))
        results.append(InlineQueryResultArticle(
            id=f"item{item_id}", title=title, description=description,
            input_message_content=InputTextMessageContent(
                message_text=message, parse_mode="HTML",
                link_preview_options=LinkPreviewOptions(is_disabled=True))))
    return results


async def _found(services: Services, text: str, offset: int) -> tuple[list[int], bool]:
    page = await services.search.find(text, limit=PAGE, offset=offset)
    return [hit.item_id for hit in page.hits], page.has_more


async def _top_stories(services: Services, offset: int) -> tuple[list[int], bool]:
    """The lead statement of each story of the latest day's digest, most important first."""
    day = await services.items.latest_statement_date()
    if day is None:
        return [], False
    digest = await services.digest_maker.for_dates(day, day)
    lines = await services.digest_maker.entries(digest.id, offset, PAGE)
    ids = [int(match.group(1)) for line in lines if (match := _ITEM_RE.search(line))]
    return ids, offset + len(lines) < digest.story_count


async def inline_search(query: InlineQuery, services: Services) -> None:
    text = " ".join(query.query.split())
    offset = int(query.offset) if query.offset.isascii() and query.offset.isdigit() else 0
    ids: list[int] = []
    more = False
    if offset <= MAX_OFFSET and len(text) <= MAX_QUERY_CHARS:  # else: an empty answer, never an error
        try:
            if not text:
                ids, more = await _top_stories(services, offset)
            elif usable(text):  # operators or emoji alone: nothing to look for
                ids, more = await _found(services, text, offset)
        except Exception:  # a failed search costs this answer, not the bot
            log.exception("inline query %r failed", text[:100])
    results = await _articles(services, ids) if ids else []
    with contextlib.suppress(TelegramBadRequest):  # answered too late: "query is too old"
        await query.answer(results, cache_time=CACHE_SECONDS, is_personal=False,
                           next_offset=str(offset + PAGE) if more and results else "")


def build_router() -> Router:
    router = Router(name="inline")
    router.inline_query.register(inline_search)
    return router

"""Search results and statements as Telegram HTML, each message within Telegram's limit whatever the text."""

from __future__ import annotations

from storage.items import Item
from storage.search import Hit, SearchPage
from storage.statements import shorten
from storage.summaries import Summary
from summarizer.digest import russian_date
from summarizer.markup import MAX_MESSAGE_CHARS, escape, fits, message_length, split_escaped

PAGE_SIZE = 5
SHOWN_QUERY_CHARS = 100
SHOWN_TITLE_CHARS = 200
SHOWN_SOURCE_CHARS = 100
SHOWN_SUMMARY_CHARS = 500  # summaries are made at most 400 long; this guards the message limit
_MIN_BODY_CHARS = 1000  # below this, a statement's header and footer go in messages of their own


def _hit_html(hit: Hit, budget: int) -> str:
    """One result within `budget`: the snippet is shortened until it fits (`&` escapes to five characters)."""
    title = f" <b>{escape(shorten(hit.title, SHOWN_TITLE_CHARS))}</b>" if hit.title else ""
    head, foot = f"\n<i>{russian_date(hit.statement_date)}</i>{title}\n", f"\n/item{hit.item_id}"

    def html(chars: int) -> str:
        return head + hit.cut(chars).render(lambda w: f"<b>{escape(w)}</b>", escape) + foot

    lo, hi = 0, len(hit.snippet)
    if fits(html(hi), budget):
        return html(hi)
    while lo < hi:  # the longest snippet prefix that fits
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(html(mid), budget) else (lo, mid - 1)
    return html(lo)


def search_results(query: str, page: SearchPage) -> str:
    first = page.offset + 1
    header = (f"🔎 <b>{escape(shorten(query, SHOWN_QUERY_CHARS))}</b> — "
              f"результаты {first}–{page.offset + len(page.hits)}")
    budget = (MAX_MESSAGE_CHARS - message_length(header)) // max(1, len(page.hits)) - 1
    return "\n".join([header, *(_hit_html(hit, budget) for hit in page.hits)])


def nothing_found(query: str) -> str:
    return (f"По запросу «{escape(shorten(query, SHOWN_QUERY_CHARS))}» ничего не нашлось.\n"
            "Попробуйте другие слова, меньше слов или уберите фильтр по датам.")


def item_messages(item: Item, summary: Summary | None) -> list[str]:
    """The full statement with its date and summary, split to fit Telegram's limit."""
    header = f"<b>#{item.id}</b> · {russian_date(item.statement_date)}"
    if item.source:
        header += f" · {escape(shorten(item.source, SHOWN_SOURCE_CHARS))}"
    if item.title:
        header += f"\n<b>{escape(shorten(item.title, SHOWN_TITLE_CHARS))}</b>"
    footer = (f"<i>Кратко:</i> {escape(shorten(summary.summary, SHOWN_SUMMARY_CHARS))}" if summary
              else "<i>Краткое содержание готовится.</i>")
    room = MAX_MESSAGE_CHARS - message_length(header) - message_length(footer) - 4
    if room < _MIN_BODY_CHARS:  # a long title and summary of "&": no room left beside them
        return [header, *split_escaped(item.text, MAX_MESSAGE_CHARS), footer]
    parts = split_escaped(item.text, room)
    parts[0] = f"{header}\n\n{parts[0]}"
    parts[-1] += f"\n\n{footer}"
    return parts

"""Search results and statements as Telegram HTML, each message within Telegram's limit whatever the text."""

from __future__ import annotations

from digest.markup import MAX_MESSAGE_CHARS, escape, fits, link, longest_fitting, message_length, split_escaped
from digest.render import plural, russian_date, source_name
from search.results import Hit, SearchPage
from storage.items import Item
from storage.statements import shorten
from storage.summaries import Summary
from summarizer.cleaning import clean
from summarizer.headline import headline

PAGE_SIZE = 5
SHOWN_QUERY_CHARS = 100
SHOWN_TITLE_CHARS = 200
SHOWN_SOURCE_CHARS = 100
SHOWN_SUMMARY_CHARS = 500  # summaries are made at most 400 long; this guards the message limit
_MIN_BODY_CHARS = 1000  # below this, a statement's header and footer go in messages of their own
SHOWN_STORY_ITEMS = 10    # /item lists this many of the other statements of its story
SHOWN_STORY_CHARS = 60    # each by its title or the start of its text: ten always fit one message
SHOWN_ALSO = 5            # sources named as having carried the same text


def _hit_html(hit: Hit, budget: int) -> str:
    """One result within `budget`: title and snippet are shortened until they fit (`&` escapes to five
    characters, so a short text can be long HTML)."""
    title = shorten(hit.title, SHOWN_TITLE_CHARS) if hit.title else ""

    def html(title_chars: int, snippet_chars: int) -> str:
        head = f" <b>{escape(shorten(title, max(title_chars, 1)))}</b>" if title and title_chars else ""
        snippet = hit.cut(snippet_chars).render(lambda w: f"<b>{escape(w)}</b>", escape)
        meaning = " · <i>по смыслу</i>" if hit.by_meaning else ""
        return f"\n<i>{russian_date(hit.statement_date)}</i>{meaning}{head}\n{snippet}\n/item{hit.item_id}"

    if fits(html(len(title), len(hit.snippet)), budget):
        return html(len(title), len(hit.snippet))
    title_chars = longest_fitting(len(title), lambda n: html(n, 0), budget // 2)
    snippet_chars = longest_fitting(len(hit.snippet), lambda n: html(title_chars, n), budget)
    return html(title_chars, snippet_chars)


def search_results(query: str, page: SearchPage) -> str:
    first = page.offset + 1
    header = (f"🔎 <b>{escape(shorten(query, SHOWN_QUERY_CHARS))}</b> — "
              f"результаты {first}–{page.offset + len(page.hits)}")
    budget = (MAX_MESSAGE_CHARS - message_length(header)) // max(1, len(page.hits)) - 1
    return "\n".join([header, *(_hit_html(hit, budget) for hit in page.hits)])


def nothing_found(query: str) -> str:
    return (f"По запросу «{escape(shorten(query, SHOWN_QUERY_CHARS))}» ничего не нашлось.\n"
            "Попробуйте другие слова, меньше слов или уберите фильтр по датам.")


def _source_note(item: Item) -> str:
    """` · <i>@mash</i>`: who told it, where the source is known."""
    name = source_name(item.source)
    return f" · <i>{escape(shorten(name, SHOWN_STORY_CHARS))}</i>" if name else ""


def _story_lines(related: list[Item]) -> str:
    if not related:
        return ""
    lines = [f"/item{r.id}{_source_note(r)} {escape(shorten(r.title or r.text, SHOWN_STORY_CHARS))}"
             for r in related[:SHOWN_STORY_ITEMS]]
    if len(related) > SHOWN_STORY_ITEMS:
        lines.append(f"…и ещё {len(related) - SHOWN_STORY_ITEMS}")
    count = plural(len(related), "сообщение", "сообщения", "сообщений")
    return f"<i>Тот же сюжет или событие — ещё {count}:</i>\n" + "\n".join(lines)


def item_messages(item: Item, summary: Summary | None, related: list[Item] | None = None,
                  also: list[str] | None = None) -> list[str]:
    """The full statement with its date and summary (and the other statements of its story, when a
    digest grouped it with some; and the sources that carried the same text too), split to fit
    Telegram's limit."""
    header = f"<b>#{item.id}</b> · {russian_date(item.statement_date)}"
    if item.source:
        header += f" · {escape(shorten(item.source, SHOWN_SOURCE_CHARS))}"
    if also:
        shown = ", ".join(escape(shorten(name, SHOWN_STORY_CHARS)) for name in also[:SHOWN_ALSO])
        more = f" и ещё {len(also) - SHOWN_ALSO}" if len(also) > SHOWN_ALSO else ""
        header += f"\n<i>То же сообщали:</i> {shown}{more}"
    if item.title:
        header += f"\n<b>{escape(shorten(item.title, SHOWN_TITLE_CHARS))}</b>"
    if item.link:
        header += f"\n{link(item.link, 'Оригинал')}"
    footer = (f"<i>Кратко:</i> {escape(shorten(summary.summary, SHOWN_SUMMARY_CHARS))}" if summary
              else "<i>Краткое содержание готовится.</i>")
    room = MAX_MESSAGE_CHARS - message_length(header) - message_length(footer) - 4
    if room < _MIN_BODY_CHARS:  # a long title and summary of "&": no room left beside them
        parts = [header, *split_escaped(item.text, MAX_MESSAGE_CHARS), footer]
    else:
        parts = split_escaped(item.text, room)
        parts[0] = f"{header}\n\n{parts[0]}"
        parts[-1] += f"\n\n{footer}"
    story = _story_lines(related or [])
    if story:
        if fits(f"{parts[-1]}\n\n{story}"):
            parts[-1] += f"\n\n{story}"
        else:
            parts.append(story)
    return parts


INLINE_TITLE_CHARS = 120
INLINE_DESCRIPTION_CHARS = 200


def inline_article(item: Item, summary: Summary | None) -> tuple[str, str, str]:
    """A statement as an inline result: its title (the headline), the description under it, and the message
    it drops into a chat (headline, summary, date and source, a link to the original), within the limit."""
    line = (summary.headline if summary and summary.headline else None) or \
        headline(clean(item.text, chars=600), item.title) or shorten(item.text, INLINE_TITLE_CHARS)
    told = summary.summary if summary and summary.summary != line else ""
    name = source_name(item.source)
    footer = f"<i>{russian_date(item.statement_date)}</i>" + (f" · {escape(shorten(name, SHOWN_SOURCE_CHARS))}"
                                                               if name else "")
    if item.link:
        footer += f"\n{link(item.link, 'Источник')}"

    def html(chars: int) -> str:
        body = f"\n{escape(shorten(told, chars))}" if told and chars else ""
        return f"<b>{escape(shorten(line, SHOWN_TITLE_CHARS))}</b>{body}\n{footer}"

    message = html(longest_fitting(min(len(told), SHOWN_SUMMARY_CHARS), html, MAX_MESSAGE_CHARS))
    return shorten(line, INLINE_TITLE_CHARS), shorten(told or item.text, INLINE_DESCRIPTION_CHARS), message

"""Search results and statements as Telegram HTML."""

from __future__ import annotations

from storage.items import Item
from storage.search import SearchPage
from storage.summaries import Summary
from summarizer.digest import MAX_MESSAGE_CHARS, escape, russian_date, split_escaped

PAGE_SIZE = 5


def search_results(query: str, page: SearchPage) -> str:
    first = page.offset + 1
    lines = [f"🔎 <b>{escape(query[:100])}</b> — результаты {first}–{page.offset + len(page.hits)}"]
    for hit in page.hits:
        title = f" <b>{escape(hit.title)}</b>" if hit.title else ""
        snippet = hit.render(lambda w: f"<b>{escape(w)}</b>", escape)
        lines.append(f"\n<i>{russian_date(hit.statement_date)}</i>{title}\n{snippet}\n/item{hit.item_id}")
    return "\n".join(lines)


def nothing_found(query: str) -> str:
    return (f"По запросу «{escape(query[:100])}» ничего не нашлось.\n"
            "Попробуйте другие слова, меньше слов или уберите фильтр по датам.")


def item_messages(item: Item, summary: Summary | None) -> list[str]:
    """The full statement with its date and summary, split to fit Telegram's limit."""
    header = f"<b>#{item.id}</b> · {russian_date(item.statement_date)}"
    if item.source:
        header += f" · {escape(item.source[:100])}"
    if item.title:
        header += f"\n<b>{escape(item.title)}</b>"
    footer = f"\n\n<i>Кратко:</i> {escape(summary.summary)}" if summary else "\n\n<i>Краткое содержание готовится.</i>"
    parts = split_escaped(item.text, MAX_MESSAGE_CHARS - len(header) - len(footer) - 4)
    parts[0] = f"{header}\n\n{parts[0]}"
    parts[-1] += footer
    return parts

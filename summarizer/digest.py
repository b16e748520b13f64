"""Items of a period → digest messages: stories merged, Russian dates, HTML-safe, ≤ 4096 chars each."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import date, datetime

from storage.db import Database
from storage.items import Item, ItemsRepo
from storage.morphology import index_stems
from storage.summaries import SummariesRepo, Summary
from summarizer.text import clean_summary

MAX_MESSAGE_CHARS = 4096
SAME_STORY_JACCARD = 0.3  # stem-set Jaccard of two leads; calibrated by bench/stories.py
_LEAD_CHARS = 600

MONTHS_GENITIVE = ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября",
                   "октября", "ноября", "декабря")


def russian_date(d: date, *, year: bool = True) -> str:
    """9 августа 2025"""
    text = f"{d.day} {MONTHS_GENITIVE[d.month - 1]}"
    return f"{text} {d.year}" if year else text


def russian_period(first: date, last: date) -> str:
    """9 августа 2025 · 8–9 августа 2025 · 30 июля – 2 августа 2025 · 31 декабря 2024 – 1 января 2025"""
    if first == last:
        return russian_date(first)
    if first.year != last.year:
        return f"{russian_date(first)} – {russian_date(last)}"
    if first.month != last.month:
        return f"{russian_date(first, year=False)} – {russian_date(last)}"
    return f"{first.day}–{russian_date(last)}"


def plural(n: int, one: str, few: str, many: str) -> str:
    """Russian plural: 1 источник, 2 источника, 5 источников."""
    if n % 10 == 1 and n % 100 != 11:
        return f"{n} {one}"
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return f"{n} {few}"
    return f"{n} {many}"


def escape(text: str) -> str:
    """The one escape for Telegram HTML: & < > (quotes are safe outside attributes)."""
    return html.escape(text, quote=False)


def fingerprint(title: str | None, text: str) -> frozenset[str]:
    """The stems of a statement's title and lead: what two rewrites of one story share."""
    return frozenset(index_stems(f"{title or ''} {text[:_LEAD_CHARS]}"))


def same_story(a: frozenset[str], b: frozenset[str]) -> bool:
    return bool(a and b) and len(a & b) / len(a | b) >= SAME_STORY_JACCARD


@dataclass
class Story:
    items: list[Item] = field(default_factory=list)

    @property
    def lead(self) -> Item:
        return self.items[0]


def group_stories(items: list[Item]) -> list[Story]:
    """Near-duplicate statements (reposts, rewrites of the same news) become one story."""
    stories: list[Story] = []
    stems: list[frozenset[str]] = []
    for item in sorted(items, key=lambda i: i.id):
        own = fingerprint(item.title, item.text)
        for story, story_stems in zip(stories, stems, strict=True):
            if same_story(own, story_stems):
                story.items.append(item)
                break
        else:
            stories.append(Story([item]))
            stems.append(own)
    return stories


def _entry(story: Story, summaries: dict[int, Summary], show_dates: bool) -> str:
    lead = story.lead
    summary = summaries.get(lead.id)
    text = summary.summary if summary else clean_summary(lead.title or lead.text, 300)
    notes = [russian_date(lead.statement_date, year=False)] if show_dates else []
    if len(story.items) > 1:
        notes.append(plural(len(story.items), "источник", "источника", "источников"))
    note = f" <i>({escape(', '.join(notes))})</i>" if notes else ""
    return f"• {escape(text)}{note} /item{lead.id}"


def build_digest(items: list[Item], summaries: dict[int, Summary], first: date, last: date) -> list[str]:
    """Telegram-HTML messages of at most 4096 characters; no entry is cut between messages."""
    title = f"<b>Дайджест за {russian_period(first, last)}</b>"
    if not items:
        return [f"{title}\n\nНовостей за этот период нет."]
    stories = group_stories(items)
    # Bigger stories first, then the newest.
    stories.sort(key=lambda s: (-len(s.items), -s.lead.statement_date.toordinal(), -s.lead.id))
    show_dates = first != last or any(i.statement_date != first for i in items)
    counts = (f"{plural(len(items), 'сообщение', 'сообщения', 'сообщений')}, "
              f"{plural(len(stories), 'сюжет', 'сюжета', 'сюжетов')}")
    header = f"{title}\n{counts}\n"
    messages, current = [], header
    for story in stories:
        entry = _entry(story, summaries, show_dates)
        if len(current) + 1 + len(entry) > MAX_MESSAGE_CHARS:
            messages.append(current.rstrip())
            current = ""
        current += "\n" + entry
    messages.append(current.rstrip())
    return messages


async def _stored_digest(db: Database, items: list[Item], first: date, last: date) -> list[str]:
    return build_digest(items, await SummariesRepo(db).get_many([i.id for i in items]), first, last)


async def digest_for_dates(db: Database, first: date, last: date) -> list[str]:
    """The digest of statements dated first..last, as the CLI and /digest show it."""
    return await _stored_digest(db, await ItemsRepo(db).by_statement_dates(first, last), first, last)


async def digest_for_arrivals(db: Database, start: datetime, end: datetime, day: date) -> tuple[list[str], int]:
    """The digest of statements that arrived in [start, end), titled with `day`; and how many there were."""
    items = await ItemsRepo(db).created_between(start, end)
    return await _stored_digest(db, items, day, day), len(items)


def split_escaped(text: str, limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Escaped chunks of a long plain text, each ≤ limit, cut at paragraph, sentence or word ends."""
    chunks, rest = [], text.strip()
    while rest:
        if len(escape(rest)) <= limit:
            chunks.append(escape(rest))
            break
        window = rest[:limit]
        while len(escape(window)) > limit:
            window = window[: len(window) * 9 // 10]
        cut = max(window.rfind("\n\n"), window.rfind(". ") + 1, len(window) // 2)
        if cut <= len(window) // 2:
            cut = window.rfind(" ") if window.rfind(" ") > len(window) // 2 else len(window)
        chunks.append(escape(rest[:cut].strip()))
        rest = rest[cut:].strip()
    return chunks

"""A digest's pages: each story's line, the first `max_stories` shown, Russian dates, Telegram HTML.

Pure rendering: no database, no event loop (a big day costs seconds of CPU, so callers run it in a
thread: see digest.maker).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from digest.markup import escape, link, pack
from digest.ranking import Reading, choose, stories_of
from digest.stories import Story, known_source
from digest.subscriber_terms import StatementStems
from storage.items import Item
from storage.preferences import Preferences
from storage.summaries import Summary
from summarizer.headline import headline

DEFAULT_MAX_STORIES = 30
BULLET, FOLLOWED = "•", "⭐"  # a story's line starts with one: ⭐ for a story the subscriber follows
SHOWN_SOURCES = 3  # a line names its first sources, each linked to its original where it has one
EXTRACTIVE = "extractive"  # the summary method whose line is the post's own first sentence, not the summary

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


def stories_word(n: int) -> str:
    return plural(n, "сюжет", "сюжета", "сюжетов")


@dataclass(frozen=True, slots=True)
class RenderedDigest:
    title: str            # HTML
    messages: list[str]   # the first page: header and the top stories, each message ≤ 4096
    entries: list[str]    # every story's line, in digest order (the first `shown` are on the first page)
    shown: int
    stories: list[list[int]]  # the item ids behind each line, its lead first
    followed: list[bool] = field(default_factory=list)  # each line: a story the subscriber follows

    @property
    def more(self) -> int:
        return len(self.entries) - self.shown


def source_name(source: str) -> str:
    """How a line names a source: `channel:@mash` → `@mash`, `rss:Лента` → `Лента`; an unknown one: ''."""
    return (known_source(source) or "").partition(":")[2]


def _entry(story: Story, summaries: dict[int, Summary], show_dates: bool, reading: Reading,
           followed: bool = False) -> str:
    item = reading.line_item(story)
    summary = summaries.get(item.id)
    model_line = (summary.headline or (summary.summary if summary.method != EXTRACTIVE else None)) if summary \
        else None  # a headline model's line, else a summary a model wrote
    text = headline(reading.cleaned.get(item.id, item.text), item.title, model_line) or "…"
    notes = [escape(russian_date(item.statement_date, year=False))] if show_dates else []
    if story.angles:  # the event's other stories: /item lists them
        notes.append(f"+{story.angles} о том же")
    if story.outlets > 1:
        named = [(source_name(i.source), i.link) for i in story.sources]
        shown = [link(url, name) if url else escape(name) for name, url in named if name][:SHOWN_SOURCES]
        count = plural(story.outlets, "источник", "источника", "источников")
        notes.append(f"{count}: {', '.join(shown)}" if shown else count)
    note = f" <i>({', '.join(notes)})</i>" if notes else ""
    original = f" · {link(item.link, 'оригинал')}" if item.link and story.outlets <= 1 else ""
    return f"{FOLLOWED if followed else BULLET} {escape(text)}{note} /item{item.id}{original}"


def followed_line(html: str) -> str:
    """A story's line marked as followed (a subscriber's own digest keeps the shared, unmarked line)."""
    return FOLLOWED + html[len(BULLET):] if html.startswith(BULLET) else html


def build_digest(items: list[Item], summaries: dict[int, Summary], first: date, last: date,
                 max_stories: int = DEFAULT_MAX_STORIES, vectors: Mapping[int, np.ndarray] | None = None,
                 same_story: float | None = None, cleaned: Mapping[int, str] | None = None,
                 same_event: float | None = None) -> RenderedDigest:
    """Every story's line, and the first page: the `max_stories` most important, then "и ещё N сюжетов".
    Stories are grouped by meaning where `vectors` has an item's vector and `same_story` is known, and the
    stories of one event merged where `same_event` is."""
    reading = Reading.of(items, cleaned)
    stories = stories_of(items, reading, vectors, same_story, same_event)
    return render_digest(stories, len(items), summaries, first, last, max_stories, reading=reading)


def render_digest(stories: list[Story], statements: int, summaries: dict[int, Summary], first: date, last: date,
                  max_stories: int = DEFAULT_MAX_STORIES, prefs: Preferences | None = None,
                  stems: StatementStems | None = None, lines: dict | None = None,
                  reading: Reading | None = None) -> RenderedDigest:
    """The digest of ranked stories (of `statements` statements), as a subscriber with `prefs` gets it:
    followed stories first and marked, muted ones left out, `prefs.size` stories on the first page; stories
    that are not news (`reading`) only behind the "more" button, counted on the first page.
    `lines` keeps each story's rendered line for the next subscriber's digest of the same stories (a line
    costs a sentence split)."""
    title = f"<b>Дайджест за {russian_period(first, last)}</b>"
    reading = reading or Reading.of([i for s in stories for i in s.items])
    chosen, hidden = choose(stories, prefs, stems)
    news: list[tuple[Story, bool]] = []
    other: list[tuple[Story, bool]] = []
    for pair in chosen:
        (news if reading.is_news(pair[0]) else other).append(pair)
    not_news = len(other)
    chosen = news + other
    if not chosen:
        why = f"Скрыто вашими фильтрами (/filters): {stories_word(hidden)}." if hidden else \
            "Новостей за этот период нет."
        return RenderedDigest(title, [f"{title}\n\n{why}"], [], 0, [])
    items = [i for story, _ in chosen for i in story.items]
    show_dates = first != last or any(i.statement_date != first for i in items)
    lines = {} if lines is None else lines
    entries = []
    for story, followed in chosen:
        key = (story.lead.id, followed, show_dates)
        if key not in lines:
            lines[key] = _entry(story, summaries, show_dates, reading, followed)
        entries.append(lines[key])
    counts = f"{plural(statements, 'сообщение', 'сообщения', 'сообщений')}, {stories_word(len(stories))}"
    if hidden:
        counts += f"; скрыто вашими фильтрами: {hidden}"
    if not_news:
        counts += f"; не новости (реклама, мемы, обрывки) — в конце: {not_news}"
    shown = min(len(news), (prefs.size if prefs and prefs.size else None) or max_stories)
    page = entries[:shown]
    if len(entries) > shown:
        page.append(f"\n<i>…и ещё {stories_word(len(entries) - shown)}</i>")
    members = [[s.lead.id] + [i.id for i in s.items if i is not s.lead] for s, _ in chosen]
    return RenderedDigest(title, pack(f"{title}\n{counts}\n", page), entries, shown, members,
                          [followed for _, followed in chosen])


def continuation(title: str, entries: list[str], offset: int, total: int) -> list[str]:
    """Messages of the stories offset+1 … offset+len(entries) of a digest's `total`."""
    header = f"{title}\nСюжеты {offset + 1}–{offset + len(entries)} из {total}\n"
    return pack(header, entries)

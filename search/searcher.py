"""Search over the store: statements with every word, then some of them, fused with the nearest by meaning."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable
from datetime import date

import numpy as np

from search.fusion import fuse
from search.query import ParsedQuery, Term, parse_query
from search.results import Hit, SearchPage, make_snippet
from search.vectors import VectorIndex
from storage.base import Database, julian_day, placeholders
from storage.items import ItemsRepo
from storage.words import word_index

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


class Searcher:
    def __init__(self, db: Database, index: VectorIndex | None = None) -> None:
        self.db = db
        self.index = index  # statement vectors; with a query vector, search fuses words and meaning
        self.words = word_index(db)

    async def _ranked(self, match: str, terms: list[Term], days: tuple[int | None, int | None],
                      limit: int, every_term: bool = False, some_of: list[Term] | None = None) -> dict[int, float]:
        """The best `limit` documents matching `match` with their word scores (higher is better), best first
        (`every_term`: `match` holds each statement to every term; `some_of`: to one of these at least)."""
        return await self.words.ranked(match, terms, days, RANK_WINDOW, limit, every_term, some_of or ())

    async def _finding_terms(self, query: ParsedQuery) -> list[Term]:
        """The optional terms that find partial matches: all but the words common in the statements (a
        prefix or a phrase always finds), and at least the MIN_FINDING_TERMS rarest."""
        words = [t for t in query.optional if t.forms and not t.prefix]
        if len(words) <= MIN_FINDING_TERMS:
            return query.optional
        statements = await ItemsRepo(self.db).newest_id()
        counts = await self.words.doc_counts(sorted({s for t in words for s in t.forms}), statements)
        frequency = {t: t.statements_in(counts) for t in words}
        rarest = sorted(words, key=lambda t: frequency[t])
        common = max(COMMON_WORD_SHARE * statements, COMMON_WORD_MIN)
        rare = {t for n, t in enumerate(rarest) if n < MIN_FINDING_TERMS or frequency[t] <= common}
        return [t for t in query.optional if t in rare or t not in frequency]

    async def _allowed(self, query: ParsedQuery, days: tuple[int | None, int | None], ids: list[int]) -> list[int]:
        """Those of `ids` (in their order) within the dates, with every quoted phrase and no excluded word."""
        syntax = self.words.syntax
        required, excluded = query.required_match(syntax), query.excluded_match(syntax)
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
            complete = list(await self._ranked(query.match(syntax), list(query.include), days, depth,
                                               every_term=True))
            seen = set(complete)
            # This page and the sign of a next one within the statements with every word: the rest (partial
            # matches, meaning) would rank after them, and is not needed now.
            enough = len(complete) > offset + limit
            by_words: dict[int, float] = {}
            if not enough:
                finding = await self._finding_terms(query)
                if partial := query.partial_match(finding, syntax):
                    # Fewer than a page: `complete` holds every statement with all the words, and they are not
                    # partial. (With a quoted phrase, the partial tier is the statements with the phrases: not
                    # some of `finding`.)
                    some_of = finding if query.required_match(syntax) is None else []
                    partial_matches = await self._ranked(partial, list(query.include), days,
                                                         depth + len(complete), some_of=some_of)
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

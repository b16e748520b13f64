"""A subscriber's terms applied to a digest's stories: followed stories first, muted ones out.

A term means what it means in search (search.query's language): `санкции` matches any form of
the word, `"центральный банк"` the phrase, `нефть газ` both words, `газ*` any word it starts."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache

from search.query import ParsedQuery, Term, parse_query
from storage.morphology import index_stems


@lru_cache(maxsize=4096)
def compiled(term: str) -> ParsedQuery:
    return parse_query(term)


def usable(term: str) -> bool:
    """Whether a term has a word to match (not only punctuation, emoji, stop words or operators)."""
    return not compiled(term).empty


def _has(term: Term, stems: Sequence[str], present: frozenset[str]) -> bool:
    if len(term.stems) == 1 and not term.prefix:
        return bool(present.intersection(term.forms or term.stems))
    if len(term.stems) == 1:
        return any(s.startswith(term.stems[0]) for s in present)
    n = len(term.stems)
    for i in range(len(stems) - n + 1):
        if tuple(stems[i:i + n - 1]) == term.stems[:-1] and (
                stems[i + n - 1].startswith(term.stems[-1]) if term.prefix else stems[i + n - 1] == term.stems[-1]):
            return True
    return False


def matches(term: str, stems: Sequence[str], present: frozenset[str] | None = None) -> bool:
    """Whether a statement with these stems (in order) matches a term."""
    query = compiled(term)
    present = present if present is not None else frozenset(stems)
    return (not query.empty and all(_has(t, stems, present) for t in query.include)
            and not any(_has(t, stems, present) for t in query.exclude))


class StatementStems:
    """Each statement's stems, made once however many subscribers' terms are matched against them."""

    def __init__(self, text_of: Callable[[int], str]) -> None:
        self._text_of = text_of
        self._cache: dict[int, tuple[list[str], frozenset[str]]] = {}
        self._stories: dict[tuple[int, ...], frozenset[str]] = {}

    def of(self, item_id: int) -> tuple[list[str], frozenset[str]]:
        if item_id not in self._cache:
            stems = index_stems(self._text_of(item_id))
            self._cache[item_id] = (stems, frozenset(stems))
        return self._cache[item_id]

    def any_matches(self, terms: Iterable[str], item_ids: Iterable[int]) -> bool:
        """Whether any of the statements matches any of the terms. A single word (most terms) is looked up
        in the union of the statements' stems at once."""
        ids = tuple(item_ids)
        for term in terms:
            query = compiled(term)
            if len(query.include) == 1 and not query.exclude and len(query.include[0].stems) == 1 \
                    and not query.include[0].prefix:
                if ids not in self._stories:
                    self._stories[ids] = frozenset().union(*(self.of(i)[1] for i in ids))
                if self._stories[ids].intersection(query.include[0].forms or query.include[0].stems):
                    return True
            elif any(matches(term, *self.of(i)) for i in ids):
                return True
        return False

"""The query language: whatever a user typed → terms over stems, safe in FTS5 or tsquery; date filters."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date

from storage.fts5 import Fts5Syntax
from storage.morphology import STOPWORDS, WORD_RE, normalize_word, query_stems, stem_words

MAX_QUERY_CHARS = 1000  # a query is read no further (nor embedded further: an encoder's time grows with the text)
MAX_TERMS = 16

# A chunk is a "quoted phrase" or a run of non-space characters, maybe with a leading minus.
_CHUNK_RE = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_OPERATORS = {"AND", "OR", "NOT", "NEAR"}


@dataclass(frozen=True, slots=True)
class Term:
    stems: tuple[str, ...]  # more than one: a phrase
    prefix: bool = False    # user typed `word*`
    forms: tuple[str, ...] = ()  # one word: the stems of all its forms, any of which matches
    quoted: bool = False    # user typed `"a phrase"`: required in every tier

    def match(self, syntax=Fts5Syntax) -> str:
        """This term in the index's query language (FTS5's unless another `syntax` is given)."""
        if len(self.forms) > 1:
            return "(" + syntax.any([syntax.phrase([s]) for s in self.forms]) + ")"
        return syntax.phrase(self.stems, self.prefix)

    def statements_in(self, counts: Mapping[str, int]) -> int:
        """How many statements hold this term, from each stem's count: a word at most the sum over its forms
        (they are ORed), a phrase no more than its rarest stem; a `word*` prefix is not counted (0)."""
        if self.prefix:
            return 0
        if self.forms:
            return sum(counts.get(s, 0) for s in self.forms)
        return min(counts.get(s, 0) for s in self.stems)


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    include: tuple[Term, ...] = ()
    exclude: tuple[Term, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.include

    def match(self, syntax=Fts5Syntax) -> str:
        """Documents with every word, in the index's query language (FTS5's, or tsquery's with its `syntax`)."""
        return self._without_excluded(syntax.all([t.match(syntax) for t in self.include]), syntax)

    @property
    def optional(self) -> list[Term]:
        """The terms a partial match may lack: all but the quoted phrases."""
        return [t for t in self.include if not t.quoted]

    def partial_match(self, finding: list[Term] | None = None, syntax=Fts5Syntax) -> str | None:
        """Documents with some of the words: the second tier of results (those with every word among them are
        the first tier's, and the caller drops them: `NOT (every word)` here made the index evaluate every word,
        the common ones too, and cost a teaser at 1M statements ~15 ms). Quoted phrases stay required (a user
        who quotes means it; a run like `из-за` is a phrase too, but optional); otherwise a document needs one
        of the `finding` terms (default: any optional one). None when there is no second tier (a single term)."""
        if not self.optional or len(self.include) < 2:
            return None
        some = self.required_match(syntax) or syntax.any([t.match(syntax) for t in (finding or self.optional)])
        return self._without_excluded(some, syntax)

    def required_match(self, syntax=Fts5Syntax) -> str | None:
        """The quoted phrases, which every result must hold."""
        return syntax.all([t.match(syntax) for t in self.include if t.quoted]) or None

    def excluded_match(self, syntax=Fts5Syntax) -> str | None:
        """The `-word` terms, any of which rules a result out."""
        return syntax.any([t.match(syntax) for t in self.exclude]) or None

    def _without_excluded(self, expr: str, syntax) -> str:
        excluded = self.excluded_match(syntax)
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

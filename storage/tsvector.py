"""PostgreSQL's word index: the same stems as SQLite's FTS5 table, as a tsvector with a GIN index.

No parser touches the stems: the vector and the query are written as tsvector and tsquery literals, so
a stem is matched exactly as on SQLite. Ranking is bm25's, as FTS5's, with a word counted once:
ts_rank knows no document frequencies (a rare word weighs what a common one does, which ruins partial
matches) and divides by the number of a word's forms. Here each query term found in a statement adds
its IDF (from `stem_docs`, kept at ingest), twice if in the title, scaled by the statement's length. Beside
the vector, each statement's title stems and its count of distinct stems: a statement found with every query
word is scored from these alone (its whole vector, read and decompressed, was most of a broad word's cost)."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from datetime import date

from storage.base import chunks, day_range, julian_day, placeholders

MAX_LEXEME_CHARS = 256  # PostgreSQL takes lexemes under 2 KB; a longer "word" is cut, in the index and queries
MAX_POSITION = 16383  # a tsvector's last position: later words are all placed there
_PLACES = [str(n) for n in range(MAX_POSITION + 1)]  # each position as the literal writes it, made once
_TITLE_PLACES = [f"{n}A" for n in range(MAX_POSITION + 1)]  # the title's: weight A
RECENCY_DAYS = 30.0
K1, B = 1.2, 0.75  # bm25's, as FTS5's
AVERAGE_LENGTH_TTL = 600.0  # seconds the average statement length (distinct stems) is reused
PREFIX_IDF = 1.0  # a `word*` term: its statements are not counted (a prefix is many stems)
WINDOW_WORK_MEM = "64MB"  # the window's vectors are sorted in memory, not in a file
SPAN_MARGIN = 2.0  # the newest ids searched first: twice those where a window of matches is expected
SPAN_ATTEMPTS = 2  # shares of the newest ids searched before all of them


def lexeme(stem: str, label: str = "") -> str:
    """A stem in a tsquery; `label` "A": only in the title."""
    return "'" + stem[:MAX_LEXEME_CHARS] + "'" + (":" + label if label else "")  # stems are \w+: nothing to escape


def tsvector_literal(title: Sequence[str], body: Sequence[str]) -> str:
    """Title stems at positions 1… with weight A, body stems after a gap (a phrase never spans the two)."""
    positions: dict[str, list[str]] = {}
    for places, words, first in ((_TITLE_PLACES, title, 1), (_PLACES, body, len(title) + 2)):
        # Every stem of every statement passes here at ingest: no slice, min() or formatting per word, only
        # where a limit is reached (on the corpus, 46-58 µs a statement before, 23-35 µs after).
        for n, stem in enumerate(words, first):
            key = stem if len(stem) <= MAX_LEXEME_CHARS else stem[:MAX_LEXEME_CHARS]
            place = places[n] if n <= MAX_POSITION else places[MAX_POSITION]
            held = positions.get(key)
            if held is None:
                positions[key] = [place]
            else:
                held.append(place)
    return " ".join([f"'{stem}':{','.join(places[:256])}" for stem, places in positions.items()])


class TsquerySyntax:
    @staticmethod
    def phrase(stems: Sequence[str], prefix: bool = False, label: str = "") -> str:
        words = [lexeme(s, label) for s in stems]
        if prefix:
            words[-1] = lexeme(stems[-1], "*" + label)
        return "(" + " <-> ".join(words) + ")"

    @staticmethod
    def any(parts: Sequence[str]) -> str:
        return " | ".join(parts)

    @staticmethod
    def all(parts: Sequence[str]) -> str:
        return " & ".join(parts)

    @staticmethod
    def but_not(wanted: str, unwanted: str) -> str:
        return f"({wanted}) & !({unwanted})"


class TsvectorIndex:
    syntax = TsquerySyntax

    def __init__(self, db) -> None:
        self.db = db
        self._average_length: tuple[float, float] | None = None  # (value, when)

    @staticmethod
    async def add(conn, rows: list[tuple[int, list[str], list[str], int]]) -> None:
        """(item id, title stems, body stems, Julian day) rows, inside the caller's transaction (which holds
        the items lock: the stem counts are written by one process at a time)."""
        lexemes = [{s[:MAX_LEXEME_CHARS] for s in (*title, *body)} for _, title, body, _ in rows]  # as in the vector
        await conn.executemany(
            "INSERT INTO items_words(item_id, day, tsv, title, stems)"
            " VALUES (?, ?, CAST(? AS tsvector), CAST(? AS tsvector), ?)",
            [(i, day, tsvector_literal(title, body), tsvector_literal(title, ()), len(distinct))
             for (i, title, body, day), distinct in zip(rows, lexemes, strict=True)])
        await _add_counts(conn, Counter(s for distinct in lexemes for s in distinct))

    @staticmethod
    async def delete(conn, item_id: int) -> None:
        rows = await conn.execute_fetchall("SELECT tsvector_to_array(tsv) FROM items_words WHERE item_id = ?",
                                           (item_id,))
        if rows:
            await _add_counts(conn, Counter({stem: -1 for stem in rows[0][0]}))
        await conn.execute("DELETE FROM items_words WHERE item_id = ?", (item_id,))

    async def ranked(self, match: str, terms: Sequence, days: tuple[int | None, int | None], window: int,
                     limit: int, every_term: bool = False, some_of: Sequence = ()) -> dict[int, float]:
        """The best `limit` documents matching `match` with their scores (higher is better), best first, among
        the newest `window` matches. The score: bm25 with each term counted once (its IDF, twice in the title),
        times recency. `every_term`: each match holds every term (the first tier), so only the title is read;
        `some_of`: a match holds one of these terms at least (the second tier)."""
        newest, held = await self._statements_holding(terms)
        idf = {t: PREFIX_IDF if t.prefix else math.log(1 + (newest - n + 0.5) / (n + 0.5)) for t, n in held.items()}
        # The newest matches of a broad query are found among the newest statements, not all of them: a share
        # of the ids where `window` matches are expected is searched first (from the count of its rarest word
        # when it needs every word; of the words it needs one of, together, when it needs one). A query whose
        # words are seldom together may find fewer there: the rest of the window is looked for in the older ids
        # next to them (a share widened by what the first found), then in all the older ids. A statement's
        # score is its own, so the best of the parts together are the window's best.
        counted = [n for t, n in held.items() if not t.prefix]
        expected = (min(counted, default=0) if every_term
                    else sum(held[t] for t in some_of if t in held and not t.prefix))
        span = int(SPAN_MARGIN * window * newest / expected) if expected else newest
        found: dict[int, float] = {}
        have, upto = 0, None  # matches found so far; the ids above `upto` are searched already (None: none are)
        for _attempt in range(SPAN_ATTEMPTS):
            if span >= newest:
                break
            part, total = await self._ranked_between(match, terms, days, window - have, limit, idf,
                                                     (newest - span, upto), every_term)
            found.update(part)
            have, upto = have + total, newest - span
            if have >= window:
                return _best(found, limit)
            span = int(SPAN_MARGIN * span * window / max(have, 1))
        part, _total = await self._ranked_between(match, terms, days, window - have, limit, idf, (0, upto),
                                                  every_term)
        found.update(part)
        return _best(found, limit)

    async def _ranked_between(self, match: str, terms: Sequence, days: tuple[int | None, int | None], window: int,
                              limit: int, idf: dict, ids: tuple[int, int | None], every_term: bool
                              ) -> tuple[dict[int, float], int]:
        """ranked() among the statements with ids above ids[0] and up to ids[1] (None: the newest); and how many
        of the window it found there."""
        where, params = day_range(days)
        where, params = ["tsv @@ CAST(? AS tsquery)", "item_id > ?", *where], [match, ids[0], *params]
        if ids[1] is not None:
            where.append("item_id <= ?")
            params.append(ids[1])
        # Each term: its IDF if in the statement, twice that if in the title (FTS5: title weight 2, body 1).
        parts, term_params = [], []
        for term in terms:
            forms = [[s] for s in term.forms] if term.forms else [list(term.stems)]
            anywhere = " | ".join(TsquerySyntax.phrase(f, term.prefix) for f in forms)
            found = "1" if every_term else "(v @@ CAST(? AS tsquery))::int"
            parts.append(f"{idf[term]!r}::float8 * ({found} + (title @@ CAST(? AS tsquery))::int)")
            term_params += [anywhere, anywhere] if not every_term else [anywhere]
        length = f"(1 - {B} + {B} * stems / {await self._average_length_now():.3f}::float8)"
        score = (f"({' + '.join(parts) or '1.0'}) * {K1 + 1} / (1 + {K1} * {length})"
                 f" * (1.0 + 1.0 / (1.0 + greatest(? - day, 0) / {RECENCY_DAYS}::float8))")
        # The window: the newest matches, from the word index's bitmap of them (and of the ids in range,
        # intersected), sorted with what their scores read (not read again by id). A statement's whole vector
        # is read only when the terms it holds are not known (decompressed once, `v`, not once per term).
        read, decompressed = ("", "") if every_term else (", tsv", ", tsv || ''::tsvector AS v")
        sql = (f"WITH w AS MATERIALIZED (SELECT item_id, day, stems, title{read} FROM items_words"
               f" WHERE {' AND '.join(where)} ORDER BY item_id + 0 DESC LIMIT {int(window)}),"
               f" m AS MATERIALIZED (SELECT item_id, day, stems, title{decompressed} FROM w)"
               f" SELECT item_id, CAST({score} AS float8) AS s, (SELECT count(*) FROM w) AS n FROM m"
               " ORDER BY s DESC, item_id DESC LIMIT ?")
        async with self.db.transaction() as conn:
            # The planner's own choice for a broad word was a scan of every statement (or of the id key,
            # testing each vector): the index's bitmaps cost a fraction of either (bench/scale).
            await conn.execute("SELECT set_config('enable_seqscan', 'off', true),"
                               " set_config('enable_indexscan', 'off', true),"
                               f" set_config('work_mem', '{WINDOW_WORK_MEM}', true)")  # SET LOCAL, in one call
            rows = await conn.execute_fetchall(sql, (*params, *term_params, julian_day(date.today()), limit))
        return {r[0]: r[1] for r in rows}, (rows[0][2] if rows else 0)

    async def _average_length_now(self) -> float:
        """Distinct stems in a statement, on average (every statement counts each of its stems once)."""
        now = time.monotonic()
        if self._average_length is None or now - self._average_length[1] > AVERAGE_LENGTH_TTL:
            stems = await self.db.value("SELECT coalesce(sum(docs), 0) FROM stem_docs")
            statements = await self.db.value("SELECT count(*) FROM items_words")
            self._average_length = (max(float(stems) / max(statements, 1), 1.0), now)
        return self._average_length[0]

    async def _statements_holding(self, terms: Sequence) -> tuple[int, dict]:
        """The newest statement's id (ids are never reused: the store's size, near enough), and how many
        statements hold each term (search.query's Term.statements_in: a `word*` prefix 0)."""
        stems = sorted({s for t in terms if not t.prefix for s in (t.forms or t.stems)})
        newest = await self.db.value("SELECT coalesce(max(id), 0) FROM items")
        counts = await self.doc_counts(stems, newest) if stems else {}
        return newest, {t: t.statements_in(counts) for t in terms}

    async def doc_counts(self, stems: list[str], newest: int) -> dict[str, int]:
        """How many statements hold each stem (exact: kept in a table as statements come and go, so `newest`,
        the newest statement's id, is not needed here)."""
        cut = sorted({s[:MAX_LEXEME_CHARS] for s in stems})
        counts: dict[str, int] = {}
        for part in chunks(cut):
            counts.update(await self.db.fetchall(
                f"SELECT stem, docs FROM stem_docs WHERE stem IN ({placeholders(part)})", part))
        return counts

    async def allowed(self, ids: list[int], days: tuple[int | None, int | None], required: str | None,
                      excluded: str | None) -> set[int]:
        """Those of `ids` within the days, matching `required` (if any) and not `excluded` (if any)."""
        where, params = day_range(days)
        where, params = [f"item_id IN ({placeholders(ids)})", *where], [*ids, *params]
        if required:
            where.append("tsv @@ CAST(? AS tsquery)")
            params.append(required)
        if excluded:
            where.append("NOT tsv @@ CAST(? AS tsquery)")
            params.append(excluded)
        rows = await self.db.fetchall(f"SELECT item_id FROM items_words WHERE {' AND '.join(where)}", params)
        return {r[0] for r in rows}


def _best(scores: dict[int, float], limit: int) -> dict[int, float]:
    """The `limit` best, best first (ties: the newest first, as in the ranking's SQL)."""
    return dict(sorted(scores.items(), key=lambda kv: (-kv[1], -kv[0]))[:limit])


async def _add_counts(conn, counts: Counter) -> None:
    stems = sorted(counts)  # one order for every writer
    await conn.execute(
        "INSERT INTO stem_docs(stem, docs) SELECT * FROM unnest(CAST(? AS text[]), CAST(? AS bigint[]))"
        " ON CONFLICT (stem) DO UPDATE SET docs = stem_docs.docs + excluded.docs",
        (stems, [counts[s] for s in stems]))

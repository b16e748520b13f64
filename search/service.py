"""Search as the bot asks for it: by words, and by meaning when an encoder is available (the query embedded in
a thread, recent queries' vectors kept for the next page). Knows nothing of Telegram."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import date
from typing import Any

from meaning.encoder import LazyEncoder
from search.query import MAX_QUERY_CHARS
from search.results import SearchPage
from search.searcher import Searcher

log = logging.getLogger(__name__)

QUERY_VECTORS_KEPT = 256  # recent queries' vectors: the next page of results does not embed the query again


class SearchService:
    def __init__(self, searcher: Searcher, encoder: LazyEncoder,
                 timed: Callable[[float], None] = lambda _seconds: None) -> None:
        self.searcher = searcher
        self.encoder = encoder  # its own instance: a query never waits behind the worker's batch
        self.timed = timed  # told each search's seconds, query embedding included
        self.query_vectors: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self.encoder_failed = False

    async def find(self, text: str, *, limit: int, offset: int = 0, date_from: date | None = None,
                   date_to: date | None = None) -> SearchPage:
        """Search by words and, when an encoder is available, by meaning."""
        started = time.perf_counter()
        try:
            return await self._find(text, limit=limit, offset=offset, date_from=date_from, date_to=date_to)
        finally:
            self.timed(time.perf_counter() - started)

    async def _find(self, text: str, *, limit: int, offset: int, date_from: date | None,
                    date_to: date | None) -> SearchPage:
        encoder = await asyncio.to_thread(self.encoder.get)
        if encoder is None or self.searcher.index is None:
            return await self.searcher.search(text, limit=limit, offset=offset, date_from=date_from, date_to=date_to)
        # The query is embedded while the database ranks its words: the two waits overlap.
        meaning = asyncio.ensure_future(self._meaning_of(encoder, text))
        return await self.searcher.search(text, limit=limit, offset=offset, date_from=date_from, date_to=date_to,
                                          query_vector=meaning, min_similarity=encoder.min_similarity)

    async def prepare(self) -> None:
        """Bring the search graph up to date before searching, however long it takes (the command line's
        one search: there is no later search for a background build to serve)."""
        encoder = await asyncio.to_thread(self.encoder.get)
        if encoder is not None and self.searcher.index is not None:
            await self.searcher.index.sync(encoder.name, wait=True)

    async def keep_current(self) -> None:
        """Between searches: the search graph takes in new vectors, or starts its build (or, beside replicas,
        loads the graph the builder saved), so that the first search after a start need not wait for it."""
        encoder = await asyncio.to_thread(self.encoder.calibration)  # its name: the built-in one is not loaded
        if encoder is not None and self.searcher.index is not None:
            await self.searcher.index.sync(encoder.name)

    async def close(self) -> None:
        """Save what is worth keeping for the next start: the search graph."""
        if self.searcher.index is not None:
            await self.searcher.index.close()

    async def _meaning_of(self, encoder: Any, text: str) -> Any:
        """The query's vector with the index up to date, or None when the encoder fails."""
        try:
            vector = await self._query_vector(encoder, text)
        except Exception:  # a broken encoder costs the meaning, never the search
            if not self.encoder_failed:  # said once, not at every query
                log.exception("embedding a query failed; searching by words")
            self.encoder_failed = True
            return None
        # Shielded: a search that needs no meaning (its page is all all-words matches) cancels this, not the sync.
        if self.searcher.index is not None:
            await asyncio.shield(self.searcher.index.sync(encoder.name))
        return vector

    async def _query_vector(self, encoder: Any, text: str) -> Any:
        key = (encoder.name, text)
        vector = self.query_vectors.get(key)
        if vector is None:
            # The words are read from the first MAX_QUERY_CHARS characters; so is the meaning (an encoder's
            # time grows with the text: a whole message would cost it seconds).
            vector = (await asyncio.to_thread(encoder.queries, [text[:MAX_QUERY_CHARS]]))[0]
            self.query_vectors[key] = vector
            while len(self.query_vectors) > QUERY_VECTORS_KEPT:
                self.query_vectors.popitem(last=False)
        self.query_vectors.move_to_end(key)
        return vector

"""The search graph saved in the database, so that every process on the store can load it instead of building
it (PostgreSQL's webhook replicas: a graph of a million statements takes a build of twenty minutes and a load
of seconds). Saved whole, in parts, in one transaction: a reader finds the old save or the new one."""

from __future__ import annotations

from storage.base import Database

PART_BYTES = 16 * 1024 * 1024  # a row's share of the saved bytes


class GraphsRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def newest(self, model: str) -> int | None:
        """The newest item id of this encoder's saved graph (None: there is none)."""
        return await self.db.value("SELECT max(newest) FROM search_graphs WHERE model = ?", (model,))

    async def save(self, model: str, newest: int, saved: dict[str, bytes | bytearray]) -> None:
        """This encoder's graph in place of the one saved before; `saved`: each kind's bytes (graph, hubness).
        One process saves at a time, and not an older graph over a newer one."""
        async with self.db.transaction(lock="search-graph") as conn:
            rows = await conn.execute_fetchall("SELECT max(newest) FROM search_graphs WHERE model = ?", (model,))
            if rows and rows[0][0] is not None and rows[0][0] > newest:
                return
            await conn.execute("DELETE FROM search_graphs WHERE model = ?", (model,))
            # Views of the bytes, not copies: a graph of a million statements is over a gigabyte.
            await conn.executemany(
                "INSERT INTO search_graphs(model, kind, part, data, newest) VALUES (?, ?, ?, ?, ?)",
                [(model, kind, n, memoryview(data)[start:start + PART_BYTES], newest)
                 for kind, data in saved.items() for n, start in enumerate(range(0, max(len(data), 1), PART_BYTES))])

    async def load(self, model: str) -> dict[str, list[bytes]]:
        """Each kind's saved parts, in order (empty: nothing saved for this encoder). Joined by the caller, in a
        thread: a gigabyte copied holds whatever runs it."""
        parts: dict[str, list[bytes]] = {}
        for kind, data in await self.db.fetchall(
                "SELECT kind, data FROM search_graphs WHERE model = ? ORDER BY kind, part", (model,)):
            parts.setdefault(kind, []).append(bytes(data))
        return parts

    async def drop_others(self, model: str) -> None:
        """Another encoder's graph is of no more use once this one is saved."""
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM search_graphs WHERE model != ?", (model,))

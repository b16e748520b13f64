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

    async def load(self, model: str) -> dict[str, bytearray]:
        """Each kind's saved bytes (empty: nothing saved for this encoder), read a part at a time into one buffer
        under the saves' lock (no save lands between two parts). All the parts at once, then joined, held a
        graph twice over: at a million statements (850 MB saved) a replica's start peaked at 3.0 GB and kept
        2.0 GB; read this way, 2.1 and 1.15 GB, in the same 12-17 s."""
        async with self.db.transaction(lock="search-graph") as conn:
            sizes = await conn.execute_fetchall(
                "SELECT kind, part, length(data) FROM search_graphs WHERE model = ? ORDER BY kind, part", (model,))
            totals: dict[str, int] = {}
            for kind, _part, size in sizes:
                totals[kind] = totals.get(kind, 0) + size
            saved = {kind: bytearray(total) for kind, total in totals.items()}
            at = dict.fromkeys(saved, 0)
            for kind, part, size in sizes:
                rows = await conn.execute_fetchall(
                    "SELECT data FROM search_graphs WHERE model = ? AND kind = ? AND part = ?", (model, kind, part))
                saved[kind][at[kind]:at[kind] + size] = rows[0][0]
                at[kind] += size
        return saved

    async def drop_others(self, model: str) -> None:
        """Another encoder's graph is of no more use once this one is saved."""
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM search_graphs WHERE model != ?", (model,))

"""What every store offers its repositories, whichever the backend: the `Database` and `Connection` they are
typed against, the errors they raise, and the small SQL helpers both backends read the same."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import date
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Connection(Protocol):
    """A write transaction's connection (aiosqlite's, or storage.postgres.Connection)."""

    async def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Any: ...

    async def execute_fetchall(self, sql: str, parameters: Sequence[Any] = ..., /) -> Any: ...

    async def executemany(self, sql: str, parameters: Any, /) -> Any: ...


class Database(Protocol):
    """A store: SQLite (storage.sqlite) or PostgreSQL (storage.postgres). Reads run whole in one call; writes
    go through `transaction()`. SQL is written with `?` placeholders; PostgreSQL's backend numbers them."""

    dialect: str
    path: str

    async def fetchall(self, sql: str, params: Sequence[object] = ()) -> list[Any]: ...

    async def fetchone(self, sql: str, params: Sequence[object] = ()) -> Any:
        """The first row, or None (a row of an aggregate's query is always there)."""

    async def value(self, sql: str, params: Sequence[object] = ()) -> Any: ...

    def transaction(self, lock: str | None = None) -> AbstractAsyncContextManager[Any]: ...

    async def migrate(self) -> None: ...

    async def close(self) -> None: ...


class RowReads:
    """fetchone and value, for a backend that has fetchall."""

    async def fetchall(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        raise NotImplementedError

    async def fetchone(self, sql: str, params: Sequence[object] = ()) -> Any:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def value(self, sql: str, params: Sequence[object] = ()) -> Any:
        """The first column of the first row (None when there is none): a count, a largest id."""
        row = await self.fetchone(sql, params)
        return row[0] if row else None


class DatabaseUnavailable(RuntimeError):
    """The store cannot be reached at start-up: one clear line for the operator."""


class DatabaseBusy(RuntimeError):
    """A write waited its whole time for another process's write lock: try again a little later."""


IN_CHUNK = 500  # values per `IN (...)`: stays under SQLite's bound-parameter limit


def chunks(values: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    for i in range(0, len(values), size):
        yield values[i:i + size]


def julian_day(d: date) -> int:
    return d.toordinal() + 1721425  # 0001-01-01 is JD 1721425.5; whole days are enough


def day_range(days: tuple[int | None, int | None], column: str = "day") -> tuple[list[str], list[object]]:
    """SQL conditions and parameters for a (first, last) range of Julian days in `column` (None: open)."""
    where: list[str] = []
    params: list[object] = []
    for clause, value in zip((f"{column} >= ?", f"{column} <= ?"), days, strict=True):
        if value is not None:
            where.append(clause)
            params.append(value)
    return where, params


def placeholders(values: Sequence[object]) -> str:
    """`?,?,?` for an `IN (...)` over these values."""
    return ",".join("?" * len(values))

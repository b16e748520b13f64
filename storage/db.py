"""The store at a location: a PostgreSQL URL, or a SQLite file (URL or path)."""

from __future__ import annotations

from pathlib import Path

from storage.base import Database
from storage.sqlite import SqliteDatabase


def sqlite_path(location: str | Path) -> str:
    """`sqlite:///data/x.sqlite3` (relative), `sqlite:////srv/x.sqlite3` (absolute) or a plain path → the path."""
    location = str(location)
    return location[len("sqlite:///"):] if location.startswith("sqlite:///") else location


def is_postgres(location: str | Path) -> bool:
    return str(location).startswith(("postgresql://", "postgres://", "postgresql+asyncpg://"))


async def open_database(location: str | Path) -> Database:
    """The store at `location`: a PostgreSQL URL, or a SQLite file (URL or path)."""
    if is_postgres(location):
        from storage.postgres import PostgresDatabase  # the driver loads only for a server
        return await PostgresDatabase.open(str(location))
    return await SqliteDatabase.open(sqlite_path(location))

"""The word index of a database: FTS5 on SQLite, a tsvector on PostgreSQL, one interface."""

from __future__ import annotations

from storage.fts5 import Fts5Index
from storage.tsvector import TsvectorIndex


def word_index(db) -> Fts5Index | TsvectorIndex:
    return TsvectorIndex(db) if getattr(db, "dialect", "sqlite") == "postgres" else Fts5Index(db)

"""Telegram channels the digest is published to. A channel's schedule and filters are its subscriber row (the
same chat id), so the fan-out sends to it like to anyone; this table keeps what only a channel has."""

from __future__ import annotations

from dataclasses import dataclass

from storage.base import Database
from storage.items import iso_utc, utc_now


@dataclass(frozen=True, slots=True)
class Channel:
    chat_id: int
    username: str | None
    title: str
    added_by: int
    problem: str | None  # why the bot cannot post there now

    @property
    def name(self) -> str:
        return f"@{self.username}" if self.username else f"«{self.title}»"

    @property
    def ref(self) -> str:
        """How an admin names it in /channel: @username, or the id of a channel without one."""
        return f"@{self.username}" if self.username else str(self.chat_id)


def _row(row) -> Channel:
    return Channel(row["chat_id"], row["username"], row["title"], row["added_by"], row["problem"])


class ChannelsRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, chat_id: int, username: str | None, title: str, added_by: int) -> tuple[Channel, bool]:
        """Register a channel (again: its name and title refreshed, its problem cleared); True if it is new."""
        username = username.lower() if username else None  # Telegram's names ignore case
        async with self.db.transaction() as conn:
            known = await conn.execute_fetchall("SELECT 1 FROM channels WHERE chat_id = ?", (chat_id,))
            if username:  # a name another channel had before (renamed since) goes to this one
                await conn.execute("UPDATE channels SET username = NULL WHERE username = ? AND chat_id != ?",
                                   (username, chat_id))
            (row,) = await conn.execute_fetchall(
                "INSERT INTO channels(chat_id, username, title, added_by, created_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(chat_id) DO UPDATE SET username = excluded.username, title = excluded.title,"
                " added_by = excluded.added_by, problem = NULL RETURNING *",
                (chat_id, username, title, added_by, iso_utc(utc_now())))
        return _row(row), not known

    async def get(self, chat_id: int) -> Channel | None:
        row = await self.db.fetchone("SELECT * FROM channels WHERE chat_id = ?", (chat_id,))
        return _row(row) if row else None

    async def by_username(self, username: str) -> Channel | None:
        row = await self.db.fetchone("SELECT * FROM channels WHERE username = ?", (username.lower(),))
        return _row(row) if row else None

    async def all(self) -> list[Channel]:
        return [_row(r) for r in await self.db.fetchall("SELECT * FROM channels ORDER BY created_at, chat_id")]

    async def lost(self, chat_id: int, problem: str) -> Channel | None:
        """The bot can no longer post there: recorded once. The channel, when this is news (its admin is to be
        told); None when it was known already or it is no channel."""
        async with self.db.transaction() as conn:
            rows = await conn.execute_fetchall(
                "UPDATE channels SET problem = ? WHERE chat_id = ? AND problem IS NULL RETURNING *",
                (problem[:300], chat_id))
            if rows:
                await conn.execute("UPDATE subscribers SET active = 0 WHERE chat_id = ?", (chat_id,))
        return _row(rows[0]) if rows else None

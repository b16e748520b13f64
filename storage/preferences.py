"""A subscriber's own digest: terms followed and muted, only followed stories, how many stories a page."""

from __future__ import annotations

from dataclasses import dataclass, field

from storage.base import Database, chunks, placeholders
from storage.items import iso_utc, utc_now

MAX_TERMS = 50
MAX_TERM_CHARS = 100
KINDS = ("follow", "mute")


@dataclass(frozen=True, slots=True)
class Filter:
    id: int
    kind: str  # follow | mute
    term: str


@dataclass(frozen=True, slots=True)
class Preferences:
    follow: tuple[str, ...] = ()
    mute: tuple[str, ...] = ()
    only_followed: bool = False
    size: int | None = None  # stories on the first page; None: the operator's DIGEST_MAX_STORIES
    filters: tuple[Filter, ...] = field(default=(), compare=False)

    @property
    def signature(self) -> str:
        """What makes two subscribers' digests differ (the same signature: the same digest)."""
        if not (self.follow or self.mute or self.only_followed or self.size):
            return ""
        return repr((sorted(self.follow), sorted(self.mute), self.only_followed, self.size))


class PreferencesRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add_filter(self, chat_id: int, kind: str, term: str) -> Filter | None:
        """Store a term (kind: follow or mute); None when the subscriber has MAX_TERMS already. A term stored
        before is returned as it was."""
        async with self.db.transaction() as conn:
            rows = await conn.execute_fetchall(
                "SELECT id, kind, term FROM digest_filters WHERE chat_id = ? AND kind = ? AND term = ?",
                (chat_id, kind, term))
            if rows:
                return Filter(*rows[0])
            ((count,),) = await conn.execute_fetchall("SELECT count(*) FROM digest_filters WHERE chat_id = ?",
                                                       (chat_id,))
            if count >= MAX_TERMS:
                return None
            ((new_id,),) = await conn.execute_fetchall(
                "INSERT INTO digest_filters(chat_id, kind, term, created_at) VALUES (?, ?, ?, ?) RETURNING id",
                (chat_id, kind, term, iso_utc(utc_now())))
        return Filter(new_id, kind, term)

    async def remove_filter(self, chat_id: int, filter_id: int) -> Filter | None:
        """Remove one of this chat's terms (another chat's id removes nothing); what was removed."""
        async with self.db.transaction() as conn:
            rows = await conn.execute_fetchall(
                "DELETE FROM digest_filters WHERE id = ? AND chat_id = ? RETURNING id, kind, term",
                (filter_id, chat_id))
        return Filter(*rows[0]) if rows else None

    async def set_only_followed(self, chat_id: int, value: bool) -> None:
        async with self.db.transaction() as conn:
            await conn.execute("UPDATE subscribers SET only_followed = ? WHERE chat_id = ?", (int(value), chat_id))

    async def set_size(self, chat_id: int, size: int | None) -> None:
        async with self.db.transaction() as conn:
            await conn.execute("UPDATE subscribers SET digest_size = ? WHERE chat_id = ?", (size, chat_id))

    async def get(self, chat_id: int) -> Preferences:
        return (await self.for_chats([chat_id]))[chat_id]

    async def for_chats(self, chat_ids: list[int]) -> dict[int, Preferences]:
        """Every chat's preferences (the defaults for a chat with none)."""
        filters: dict[int, list[Filter]] = {c: [] for c in chat_ids}
        settings: dict[int, tuple[bool, int | None]] = {}
        for chunk in chunks(chat_ids):
            for chat, filter_id, kind, term in await self.db.fetchall(
                    f"SELECT chat_id, id, kind, term FROM digest_filters WHERE chat_id IN ({placeholders(chunk)})"
                    " ORDER BY id", chunk):
                filters[chat].append(Filter(filter_id, kind, term))
            for chat, only, size in await self.db.fetchall(
                    f"SELECT chat_id, only_followed, digest_size FROM subscribers"
                    f" WHERE chat_id IN ({placeholders(chunk)})", chunk):
                settings[chat] = (bool(only), size)
        out = {}
        for chat in chat_ids:
            only, size = settings.get(chat, (False, None))
            found = filters[chat]
            out[chat] = Preferences(tuple(f.term for f in found if f.kind == "follow"),
                                    tuple(f.term for f in found if f.kind == "mute"), only, size, tuple(found))
        return out

"""What many test modules share: a session that records what the bot would send and a harness that feeds
the real dispatcher, a fake bot for the fan-out, a fixed clock and subscribers made at a chosen time."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.base import BaseSession
from aiogram.enums import ParseMode
from aiogram.methods import EditMessageText, GetChatMember, GetFile, GetMe, SendMessage
from aiogram.types import CallbackQuery, Chat, ChatMemberMember, ChatMemberOwner, File, Message, Update, User

from bot.app import build_dispatcher
from bot.delivery import Fanout
from bot.services import Services
from storage.items import iso_utc

ADMIN, USER = 1, 2
NOW = datetime(2025, 8, 9, 6, 30, tzinfo=UTC)  # 09:30 in Moscow
_ids = itertools.count(1)


class RecordingSession(BaseSession):
    def __init__(self) -> None:
        super().__init__()
        self.requests: list = []
        self.files: dict[str, bytes] = {}
        self.failures: list[Exception] = []  # raised by the next requests, in order
        self.group_admins: set[int] = set()  # users getChatMember calls a group's administrators

    async def make_request(self, bot, method, timeout=None):
        if self.failures:
            raise self.failures.pop(0)
        self.requests.append(method)
        if isinstance(method, SendMessage | EditMessageText):
            return Message(message_id=next(_ids), date=datetime.now(), text=method.text,
                           chat=Chat(id=method.chat_id, type="private"))
        if isinstance(method, GetFile):
            return File(file_id=method.file_id, file_unique_id=method.file_id, file_path=method.file_id)
        if isinstance(method, GetChatMember):
            user = User(id=method.user_id, is_bot=False, first_name="Тест")
            if method.user_id in self.group_admins:
                return ChatMemberOwner(user=user, is_anonymous=False)
            return ChatMemberMember(user=user)
        if isinstance(method, GetMe):
            return User(id=4242, is_bot=True, first_name="Бот", username="digest_test_bot")
        return True

    async def stream_content(self, url, headers=None, timeout=30, chunk_size=65536, raise_for_status=True):
        yield self.files[url.rsplit("/", 1)[-1]]

    async def close(self) -> None:
        pass


class Harness:
    def __init__(self, services: Services) -> None:
        self.session = RecordingSession()
        self.bot = Bot("42:TEST", session=self.session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
        self.services = services
        self.dp = build_dispatcher(services, fanout=Fanout(self.bot, services))

    async def send(self, user_id: int, text: str | None = None, chat_type: str = "private", **fields) -> list[str]:
        """Feed one message; the texts the bot answered with."""
        start = len(self.session.requests)
        chat_id = user_id if chat_type == "private" else -1000
        message = Message(message_id=next(_ids), date=datetime.now(), text=text,
                          chat=Chat(id=chat_id, type=chat_type),
                          from_user=User(id=user_id, is_bot=False, first_name="Тест"), **fields)
        await self.dp.feed_update(self.bot, Update(update_id=next(_ids), message=message))
        return [r.text for r in self.session.requests[start:] if isinstance(r, SendMessage)]

    async def press(self, user_id: int, data: str, chat_id: int | None = None) -> list:
        """Press a button with this callback data (forged or not) under a bot message; the requests made."""
        start = len(self.session.requests)
        chat = Chat(id=chat_id or user_id, type="private" if (chat_id or user_id) > 0 else "group")
        shown = Message(message_id=next(_ids), date=datetime.now(), text="…", chat=chat,
                        from_user=User(id=4242, is_bot=True, first_name="Бот"))
        callback = CallbackQuery(id=str(next(_ids)), from_user=User(id=user_id, is_bot=False, first_name="Тест"),
                                 chat_instance="ci", data=data, message=shown)
        await self.dp.feed_update(self.bot, Update(update_id=next(_ids), callback_query=callback))
        return self.session.requests[start:]


class FakeBot:
    """send_message that records, or raises what the test scripted for a chat."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []
        self.markups: list = []
        self.script: dict[int, list[Exception]] = {}
        self.latency = 0.0

    async def me(self):
        return User(id=4242, is_bot=True, first_name="Бот", username="digest_test_bot")

    async def send_message(self, chat_id: int, text: str, reply_markup=None, **_):
        await asyncio.sleep(self.latency)  # a real send lets other tasks run
        errors = self.script.get(chat_id)
        if errors:
            raise errors.pop(0)
        self.sent.append((chat_id, text))
        self.markups.append(reply_markup)


async def instant(_seconds: float) -> None:
    """Backoff and pacing without waiting: the order of events is what these tests check."""


async def subscribe(services: Services, chat_id: int, at: str = "09:00", tz: str = "Europe/Moscow",
                    joined: datetime = NOW - timedelta(days=3)) -> None:
    await services.subscribers.subscribe(chat_id, at, tz)
    async with services.db.transaction() as conn:
        await conn.execute("UPDATE subscribers SET created_at = ? WHERE chat_id = ?", (iso_utc(joined), chat_id))

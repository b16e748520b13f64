"""A Bot API server for tests and benchmarks: `python -m tests.fake_bot_api --port N`.

It speaks the Bot API methods the bot uses (long-polling getUpdates, or setWebhook and then each
update POSTed to the webhook with its secret header, one at a time, again until answered 200),
records every message the bot sends with its arrival time, and has a /test/* control API to play
users: post updates, upload files, block the bot (403) or flood it (429).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import time

from aiohttp import ClientSession, ClientTimeout, web

BOT_USER = {"id": 4242, "is_bot": True, "first_name": "Дайджест", "username": "digest_test_bot"}


class FakeBotApi:
    def __init__(self) -> None:
        self.updates: list[dict] = []
        self.next_update_id = 1
        self.new_update = asyncio.Event()
        self.sent: list[dict] = []      # sendMessage / editMessageText the bot made
        self.calls: dict[str, int] = {}
        self.commands: list = []
        self.files: dict[str, bytes] = {}
        self.blocked: set[int] = set()
        self.flood_left = 0
        self.flood_retry_after = 1
        self.fail_left = 0        # the next sendMessage calls answer with fail_status
        self.fail_status = 500
        self.send_delay = 0.0     # seconds each sendMessage takes
        self.message_ids: dict[int, int] = {}
        self.webhook: dict | None = None  # {"url", "secret"} once the bot set one
        self.webhook_answers: list[int] = []  # HTTP status of every POST of an update to the webhook
        self._pusher: asyncio.Task | None = None
        self.balanced: list[str] = []  # a load balancer's backends: each update goes to the next one
        self.channels: dict[str, dict] = {}  # "@name" → {"id", "title", "bot_can_post"}
        self._turn = 0

    # --- Bot API -------------------------------------------------------------
    async def bot_method(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self.calls[method] = self.calls.get(method, 0) + 1
        params = dict(await request.post()) if request.body_exists else {}
        params.update(request.query)
        handler = getattr(self, f"m_{method}", None)
        if handler is None:
            return web.json_response({"ok": True, "result": True})
        return await handler(params)

    @staticmethod
    def ok(result) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def error(code: int, description: str, **parameters) -> web.Response:
        body = {"ok": False, "error_code": code, "description": description}
        if parameters:
            body["parameters"] = parameters
        return web.json_response(body, status=code)

    async def m_getMe(self, params):
        return self.ok(BOT_USER)

    async def m_setWebhook(self, params):
        self.webhook = {"url": params["url"], "secret": params.get("secret_token", "")}
        if self._pusher is None:
            self._pusher = asyncio.create_task(self._push_updates())
        return self.ok(True)

    async def m_deleteWebhook(self, params):
        self.webhook = None
        return self.ok(True)

    async def _push_updates(self) -> None:
        """As Telegram does: the oldest update is POSTed until the webhook answers 200, then the next."""
        async with ClientSession(timeout=ClientTimeout(total=60)) as http:
            while True:
                if not (self.webhook and self.updates):
                    self.new_update.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.new_update.wait(), 0.2)
                    continue
                hook, update = self.webhook, self.updates[0]
                url = hook["url"]
                if self.balanced:
                    url, self._turn = self.balanced[self._turn % len(self.balanced)], self._turn + 1
                try:
                    async with http.post(url, json=update,
                                         headers={"X-Telegram-Bot-Api-Secret-Token": hook["secret"]}) as resp:
                        self.webhook_answers.append(resp.status)
                        if resp.status == 200:
                            self.updates.remove(update)
                            continue
                except Exception:
                    self.webhook_answers.append(0)
                await asyncio.sleep(0.2)

    async def m_getUpdates(self, params):
        if self.webhook:
            return self.error(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = int(params.get("offset", 0) or 0)
        timeout = min(float(params.get("timeout", 0) or 0), 10.0)
        self.updates = [u for u in self.updates if u["update_id"] >= offset]
        deadline = time.monotonic() + timeout
        while not self.updates and time.monotonic() < deadline:  # a real long poll
            self.new_update.clear()
            try:
                await asyncio.wait_for(self.new_update.wait(), deadline - time.monotonic())
            except TimeoutError:
                break
        return self.ok(self.updates[:100])

    async def m_setMyCommands(self, params):
        self.commands = json.loads(params.get("commands", "[]"))
        return self.ok(True)

    def _message(self, chat_id: int, text: str, params) -> dict:
        self.message_ids[chat_id] = self.message_ids.get(chat_id, 0) + 1
        message = {"message_id": self.message_ids[chat_id], "date": int(time.time()), "from": BOT_USER,
                   "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"}, "text": text}
        record = {"method": "sendMessage", "chat_id": chat_id, "text": text, "message_id": message["message_id"],
                  "reply_markup": json.loads(params["reply_markup"]) if params.get("reply_markup") else None,
                  "t": time.time()}
        self.sent.append(record)
        return message

    async def m_sendMessage(self, params):
        chat_id = int(params["chat_id"])
        if self.send_delay:
            await asyncio.sleep(self.send_delay)
        if self.fail_left > 0:
            self.fail_left -= 1
            return self.error(self.fail_status, "Internal Server Error")
        if chat_id in self.blocked:
            return self.error(403, "Forbidden: bot was blocked by the user")
        channel = self._channel(str(chat_id))
        if channel and not channel["bot_can_post"]:
            return self.error(400, "Bad Request: not enough rights to send text messages to the chat")
        if self.flood_left > 0:
            self.flood_left -= 1
            return self.error(429, f"Too Many Requests: retry after {self.flood_retry_after}",
                              retry_after=self.flood_retry_after)
        return self.ok(self._message(chat_id, params.get("text", ""), params))

    def _channel(self, ref) -> dict | None:
        return next((c for name, c in self.channels.items() if ref in (name, str(c["id"]))), None)

    async def m_getChat(self, params):
        channel = self._channel(params["chat_id"])
        if channel is None:
            return self.error(400, "Bad Request: chat not found")
        return self.ok({"id": channel["id"], "type": "channel", "title": channel["title"],
                        "username": channel["username"], "accent_color_id": 0, "max_reaction_count": 11,
                        "accepted_gift_types": {"unlimited_gifts": False, "limited_gifts": False,
                                                "unique_gifts": False, "premium_subscription": False,
                                                "gifts_from_channels": False}})

    async def m_getChatMember(self, params):
        channel = self._channel(params["chat_id"])
        user = {"id": int(params["user_id"]), "is_bot": True, "first_name": "Дайджест"}
        if channel is None or not channel["bot_can_post"]:
            return self.ok({"status": "member", "user": user})
        rights = dict.fromkeys(("can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages",
                                "can_manage_video_chats", "can_restrict_members", "can_promote_members",
                                "can_change_info", "can_invite_users", "can_post_stories", "can_edit_stories",
                                "can_delete_stories", "can_send_welcome_messages"), False)
        return self.ok({"status": "administrator", "user": user, **rights, "can_post_messages": True})

    async def m_answerInlineQuery(self, params):
        self.sent.append({"method": "answerInlineQuery", "chat_id": None, "text": "",
                          "inline_query_id": params["inline_query_id"],
                          "results": json.loads(params.get("results", "[]")),
                          "next_offset": params.get("next_offset", ""), "t": time.time()})
        return self.ok(True)

    async def m_editMessageText(self, params):
        chat_id = int(params["chat_id"])
        record = {"method": "editMessageText", "chat_id": chat_id, "text": params.get("text", ""),
                  "message_id": int(params["message_id"]),
                  "reply_markup": json.loads(params["reply_markup"]) if params.get("reply_markup") else None,
                  "t": time.time()}
        self.sent.append(record)
        return self.ok({"message_id": record["message_id"], "date": int(time.time()), "from": BOT_USER,
                        "chat": {"id": chat_id, "type": "private"}, "text": record["text"]})

    async def m_getFile(self, params):
        file_id = params["file_id"]
        if file_id not in self.files:
            return self.error(400, "Bad Request: invalid file_id")
        return self.ok({"file_id": file_id, "file_unique_id": file_id, "file_size": len(self.files[file_id]),
                        "file_path": f"documents/{file_id}.txt"})

    async def download(self, request: web.Request) -> web.Response:
        file_id = request.match_info["path"].removeprefix("documents/").removesuffix(".txt")
        if file_id not in self.files:
            raise web.HTTPNotFound()
        return web.Response(body=self.files[file_id])

    # --- control API for tests -----------------------------------------------------
    async def c_update(self, request: web.Request) -> web.Response:
        update = await request.json()
        update["update_id"] = self.next_update_id
        self.next_update_id += 1
        self.updates.append(update)
        self.new_update.set()
        return web.json_response({"update_id": update["update_id"]})

    async def c_sent(self, request: web.Request) -> web.Response:
        # ?since=N: the records from the N-th on (a benchmark that polls thousands of them must not stall
        # this server, which would bunch the messages it receives meanwhile)
        since = int(request.query.get("since", 0))
        return web.json_response({"sent": self.sent[since:], "calls": self.calls, "commands": self.commands,
                                  "pending_updates": len(self.updates), "webhook": self.webhook,
                                  "webhook_answers": self.webhook_answers})

    async def c_file(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.files[body["file_id"]] = base64.b64decode(body["content"])
        return web.json_response({"ok": True})

    async def c_block(self, request: web.Request) -> web.Response:
        self.blocked.update(int(c) for c in (await request.json())["chat_ids"])
        return web.json_response({"ok": True})

    async def c_flood(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.flood_left, self.flood_retry_after = int(body["count"]), int(body.get("retry_after", 1))
        return web.json_response({"ok": True})

    async def c_fault(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.fail_left, self.fail_status = int(body.get("count", 0)), int(body.get("status", 500))
        self.send_delay = float(body.get("delay", 0))
        return web.json_response({"ok": True})

    async def c_channel(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.channels["@" + body["username"]] = {**body, "bot_can_post": body.get("bot_can_post", True)}
        return web.json_response({"ok": True})

    async def c_balance(self, request: web.Request) -> web.Response:
        self.balanced = list((await request.json())["urls"])
        return web.json_response({"ok": True})

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_route("*", "/bot{token}/{method}", self.bot_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self.download)
        app.router.add_post("/test/update", self.c_update)
        app.router.add_get("/test/sent", self.c_sent)
        app.router.add_post("/test/file", self.c_file)
        app.router.add_post("/test/block", self.c_block)
        app.router.add_post("/test/flood", self.c_flood)
        app.router.add_post("/test/fault", self.c_fault)
        app.router.add_post("/test/balance", self.c_balance)
        app.router.add_post("/test/channel", self.c_channel)
        return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(FakeBotApi().app(), host="127.0.0.1", port=args.port, print=lambda *_: print("ready", flush=True))


if __name__ == "__main__":
    main()

"""A local web server of fixture feeds and misbehaving sites, on loopback: no test touches the internet."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiohttp import web

FEEDS = Path(__file__).parent / "feeds"
TYPES = {".xml": "application/rss+xml", ".json": "application/feed+json", ".html": "text/html; charset=utf-8"}


class FeedServer:
    """Serves tests/feeds/* with ETag and Last-Modified (304 on a match), `bodies` set by a test under
    /live/NAME, and routes that fail: /status/N, /slow, /loop, /redirect/PATH, /huge, /huge-declared."""

    def __init__(self) -> None:
        self.bodies: dict[str, tuple[bytes, str]] = {}  # /live/NAME → (body, content type)
        self.channels: dict[str, list[str]] = {}  # /s/NAME: the texts of posts 1, 2, … (else channel.html)
        self.hits: Counter[str] = Counter()
        self.conditional = True  # False: a server that ignores If-None-Match
        self.slow_seconds = 5.0
        self._runner: web.AppRunner | None = None
        self.base = ""

    async def start(self) -> FeedServer:
        app = web.Application()
        app.router.add_get("/status/{code}", self._status)
        app.router.add_get("/slow", self._slow)
        app.router.add_get("/loop", self._redirect)
        app.router.add_get("/redirect/{path:.*}", self._redirect)
        app.router.add_get("/to", self._redirect)
        app.router.add_get("/huge", self._huge)
        app.router.add_get("/huge-declared", self._huge_declared)
        app.router.add_get("/live/{name}", self._live)
        app.router.add_get("/s/{name}", self._channel)
        app.router.add_get("/{name}", self._file)
        app.middlewares.append(self._count)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    def url(self, path: str) -> str:
        return self.base + path

    @web.middleware
    async def _count(self, request: web.Request, handler):
        self.hits[request.path] += 1
        return await handler(request)

    def _respond(self, request: web.Request, body: bytes, content_type: str) -> web.Response:
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if self.conditional and request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        headers = {"ETag": etag, "Last-Modified": "Sat, 09 Aug 2025 10:00:00 GMT"} if self.conditional else {}
        return web.Response(body=body, headers={"Content-Type": content_type, **headers})

    async def _file(self, request: web.Request) -> web.Response:
        path = FEEDS / request.match_info["name"]
        if not path.is_file():
            raise web.HTTPNotFound()
        return self._respond(request, path.read_bytes(), TYPES.get(path.suffix, "application/octet-stream"))

    async def _channel(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name in self.channels:  # as t.me/s/ does: the last 20 posts before ?before=N
            posts = self.channels[name]
            before = int(request.query.get("before", len(posts) + 1))
            shown = range(max(1, before - 20), min(before, len(posts) + 1))
            body = (f'<html><head><meta property="og:title" content="{name}"></head><body>' + "".join(
                f'<div class="tgme_widget_message js-widget_message" data-post="{name}/{n}">'
                f'<div class="tgme_widget_message_text js-message_text">{posts[n - 1]}</div>'
                f'<time datetime="2025-08-09T10:00:00+00:00"></time></div>' for n in shown) + "</body></html>").encode()
            return self._respond(request, body, TYPES[".html"])
        body = (FEEDS / "channel.html").read_bytes().replace(b"testchannel", name.encode())
        return self._respond(request, body, TYPES[".html"])

    async def _live(self, request: web.Request) -> web.Response:
        if request.match_info["name"] not in self.bodies:
            raise web.HTTPNotFound()
        body, content_type = self.bodies[request.match_info["name"]]
        return self._respond(request, body, content_type)

    async def _status(self, request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="no")

    async def _slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(self.slow_seconds)
        return web.Response(text="late")

    async def _redirect(self, request: web.Request) -> web.Response:
        """/loop → /loop for ever; /redirect/PATH → /PATH; /to?url=U → U."""
        if request.path == "/loop":
            raise web.HTTPFound("/loop")
        raise web.HTTPFound(request.query["url"] if request.path == "/to" else "/" + request.match_info["path"])

    async def _huge(self, request: web.Request) -> web.StreamResponse:
        """An endless body without a declared length: the reader must stop by itself."""
        resp = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await resp.prepare(request)
        chunk = b"<rss>" + b" " * (1024 * 1024)
        try:
            for _ in range(1024):  # up to 1 GB
                await resp.write(chunk)
        except (ConnectionResetError, ConnectionError):
            pass
        return resp

    async def _huge_declared(self, request: web.Request) -> web.Response:
        """A body whose declared length is over the cap: refused before it is read."""
        return web.Response(body=b"<rss>" + b" " * (6 * 1024 * 1024), headers={"Content-Type": "application/rss+xml"})


@contextmanager
def feed_server_thread() -> Iterator[FeedServer]:
    """A FeedServer on its own thread and event loop, for tests that drive a bot process synchronously."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(FeedServer().start(), loop).result(10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()

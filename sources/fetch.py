"""HTTP for sources, as a good and careful citizen: conditional GET, a size cap, timeouts, few redirects, and no
requests into loopback, private or link-local networks (a feed URL must not reach the operator's own services)."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urljoin

import aiohttp
from aiohappyeyeballs import AddrInfoType
from yarl import URL

USER_AGENT = "newsdigest/0.1 (Telegram news digest bot; feed reader)"
MAX_BYTES = 5 * 1024 * 1024
MAX_REDIRECTS = 5
TIMEOUT_S = 20.0
ACCEPT = ("application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
          "application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.8, */*;q=0.5")


class FetchError(Exception):
    """Why a source could not be read; the message is shown to admins (in Russian)."""


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str                  # after redirects
    status: int               # 200, or 304 Not Modified (then body is empty)
    body: bytes
    content_type: str
    etag: str | None
    last_modified: str | None


def _forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def check_url(url: str, allow_private: bool = False) -> str:
    """`url` if it may be fetched: http or https, a host, and no private address written in it. The host is
    read the way the HTTP client will read it (yarl: IDNA and NFKC, so `①②⑦.0.0.1` and `127。0。0。1` are
    127.0.0.1): an early, clear refusal. The guard that counts is `public_socket`, at connect time."""
    try:
        parsed = URL(url)
    except ValueError:
        raise FetchError("неверный адрес") from None
    if parsed.scheme not in ("http", "https"):
        raise FetchError("нужен адрес http:// или https://")
    host = parsed.raw_host
    if not host:
        raise FetchError("в адресе нет имени сайта")
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None and not allow_private and _forbidden(str(literal)):
        raise FetchError("адреса локальной и частных сетей не разрешены")
    return url


class PrivateAddress(OSError):
    """A connection to a loopback, private or link-local address, refused."""


def public_socket(addr_info: AddrInfoType) -> socket.socket:
    """The socket for one address the client is about to connect to, refused if the address is not public.
    Every connection passes here with the address it will really use, whatever form the URL wrote it in (a
    name, a literal, a redirect, a name that changed its address since the last lookup)."""
    family, type_, proto, _, address = addr_info
    if _forbidden(address[0]):
        raise PrivateAddress(f"{address[0]} is not a public address")
    return socket.socket(family=family, type=type_, proto=proto)


class Fetcher:
    """One HTTP client for all polls of a process (connections are reused); close it when done."""

    def __init__(self, *, allow_private: bool = False, max_bytes: int = MAX_BYTES, timeout_s: float = TIMEOUT_S,
                 user_agent: str = USER_AGENT) -> None:
        self.allow_private = allow_private
        self.max_bytes = max_bytes
        self.timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(10.0, timeout_s))
        self.user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=32, ttl_dns_cache=300,
                                             socket_factory=None if self.allow_private else public_socket)
            # trust_env=False: no proxy from the environment; our own redirects, each one checked
            self._session = aiohttp.ClientSession(connector=connector, timeout=self.timeout, trust_env=False,
                                                  headers={"User-Agent": self.user_agent, "Accept": ACCEPT})
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def get(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> Fetched:
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            for _ in range(MAX_REDIRECTS + 1):
                check_url(url, self.allow_private)
                async with self._client().get(url, headers=headers, allow_redirects=False) as resp:
                    if resp.status in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                        url = urljoin(url, resp.headers["Location"])
                        continue
                    if resp.status == 304:
                        return Fetched(url, 304, b"", "", etag, last_modified)
                    if resp.status >= 400:
                        raise FetchError(f"сайт ответил {resp.status} {resp.reason or ''}".strip())
                    body = await self._read(resp)
                    return Fetched(url, resp.status, body, resp.headers.get("Content-Type", ""),
                                   resp.headers.get("ETag"), resp.headers.get("Last-Modified"))
            raise FetchError(f"больше {MAX_REDIRECTS} перенаправлений")
        except TimeoutError:
            raise FetchError(f"сайт не ответил за {self.timeout.total:.0f} с") from None
        except aiohttp.ClientError as exc:
            raise FetchError(f"не удалось соединиться: {_reason(exc)}") from None
        except ValueError as exc:  # a URL aiohttp cannot even parse
            raise FetchError(f"неверный адрес: {exc}") from None

    async def _read(self, resp: aiohttp.ClientResponse) -> bytes:
        declared = resp.content_length
        if declared is not None and declared > self.max_bytes:
            raise FetchError(f"ответ больше {self.max_bytes // (1024 * 1024)} МБ")
        body = bytearray()
        async for chunk in resp.content.iter_chunked(64 * 1024):  # decompressed: a gzip bomb stops here too
            body += chunk
            if len(body) > self.max_bytes:
                raise FetchError(f"ответ больше {self.max_bytes // (1024 * 1024)} МБ")
        return bytes(body)


def _reason(exc: aiohttp.ClientError) -> str:
    # Several addresses refused come back as one OSError that names each ("Multiple exceptions: …").
    if isinstance(exc, aiohttp.ClientConnectorError) and (
            isinstance(exc.os_error, PrivateAddress) or "is not a public address" in str(exc.os_error)):
        return "адрес в локальной или частной сети не разрешён"
    return type(exc).__name__ if not str(exc) else str(exc)[:200]

"""Processes for end-to-end tests: the Bot API server and the real `newsbot run`, and a user's hands."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "123456:TEST-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BotApiServer:
    """`python -m tests.fake_bot_api` in its own process, driven over its /test API."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.fake_bot_api", "--port", str(self.port)],
                                     cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        if "ready" not in line:
            self.stop()
            raise RuntimeError(f"Bot API server did not start: {line}")
        self._message_id = 1000

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def _call(self, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def sent(self, since: int = 0) -> list[dict]:
        return self._call(f"/test/sent?since={since}")["sent"]

    def state(self) -> dict:
        return self._call("/test/sent")

    def block(self, *chat_ids: int) -> None:
        self._call("/test/block", {"chat_ids": list(chat_ids)})

    def flood(self, count: int, retry_after: int = 1) -> None:
        self._call("/test/flood", {"count": count, "retry_after": retry_after})

    def balance(self, *urls: str) -> None:
        """Post the webhook's updates to these URLs in turn, as a load balancer in front of replicas would."""
        self._call("/test/balance", {"urls": list(urls)})

    def fault(self, count: int = 0, status: int = 500, delay: float = 0.0) -> None:
        """The next `count` sendMessage calls fail with `status`; each takes `delay` seconds."""
        self._call("/test/fault", {"count": count, "status": status, "delay": delay})

    def channel(self, username: str, chat_id: int, title: str, bot_can_post: bool = True) -> None:
        """A public channel @username where the bot is an administrator allowed to post (or not)."""
        self._call("/test/channel", {"username": username, "id": chat_id, "title": title,
                                     "bot_can_post": bot_can_post})

    def inline(self, user_id: int, query: str, offset: str = "") -> str:
        """`@bot query` typed in some chat; the inline query's id (its answer is in sent())."""
        query_id = f"iq{time.time_ns()}"
        self._call("/test/update", {"inline_query": {"id": query_id, "from": self.user(user_id), "query": query,
                                                     "offset": offset}})
        return query_id

    @staticmethod
    def user(user_id: int) -> dict:
        return {"id": user_id, "is_bot": False, "first_name": f"User{user_id}", "language_code": "ru"}

    def _message(self, user_id: int, **fields) -> dict:
        self._message_id += 1
        return {"message_id": self._message_id, "date": int(time.time()), "from": self.user(user_id),
                "chat": {"id": user_id, "type": "private", "first_name": f"User{user_id}"}, **fields}

    def send_text(self, user_id: int, text: str, **extra) -> int:
        message = self._message(user_id, text=text, **extra)
        self._call("/test/update", {"message": message})
        return message["message_id"]

    def send_document(self, user_id: int, name: str, content: bytes, mime: str = "text/plain") -> None:
        file_id = f"file{self._message_id + 1}"
        self._call("/test/file", {"file_id": file_id, "content": base64.b64encode(content).decode()})
        document = {"file_id": file_id, "file_unique_id": file_id, "file_name": name, "mime_type": mime,
                    "file_size": len(content)}
        self._call("/test/update", {"message": self._message(user_id, document=document)})

    def press(self, user_id: int, bot_message: dict, data: str) -> None:
        message = {"message_id": bot_message["message_id"], "date": int(time.time()),
                   "chat": {"id": bot_message["chat_id"], "type": "private"}, "text": bot_message["text"],
                   "from": {"id": 4242, "is_bot": True, "first_name": "Дайджест"}}
        self._call("/test/update", {"callback_query": {"id": f"cb{time.time_ns()}", "from": self.user(user_id),
                                                       "chat_instance": "ci1", "message": message, "data": data}})

    def wait_for(self, predicate, timeout: float = 20.0, after: int = 0) -> dict:
        """The first message (from index `after`) that satisfies predicate."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for record in self.sent()[after:]:
                if predicate(record):
                    return record
            time.sleep(0.05)
        raise AssertionError(f"no such message within {timeout} s; sent: {self.sent()[after:][-5:]}")


def job_runs(metrics_port: int, job: str) -> int:
    """How many runs of a scheduled job the process serving /metrics on this port has finished."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    found = re.search(rf'^newsdigest_job_runs_total{{job="{job}"}} (\S+)$', text, re.M)
    return int(float(found.group(1))) if found else 0


def wait_for_job_runs(metrics_ports: list[int], job: str, runs: int, timeout: float = 30.0) -> None:
    """Until each process has finished `runs` more runs of `job` than now: the last of them began after this
    call (a run in progress now is at most the first), so whatever it would do again, it has done."""
    targets = {port: job_runs(port, job) + runs for port in metrics_ports}
    deadline = time.monotonic() + timeout
    while any(job_runs(port, job) < target for port, target in targets.items()):
        assert time.monotonic() < deadline, f"{job} did not run {runs} more times within {timeout} s"
        time.sleep(0.1)


class BotProcess:
    """The real bot, `python -m bot run` (or another command: `args`), pointed at the test server."""

    def __init__(self, api: BotApiServer, workdir: Path, *args: str, name: str = "bot", **env: str) -> None:
        self.log = workdir / f"{name}.log"
        environ = {**os.environ, "BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE": api.url,
                   "DATABASE_PATH": str(workdir / "bot.sqlite3"), "SUMMARIZER_BACKEND": "extractive",
                   "LOG_LEVEL": "INFO", "PYTHONPATH": str(ROOT), **env}
        self.proc = subprocess.Popen([sys.executable, "-m", "bot", *(args or ("run",))], cwd=workdir, env=environ,
                                     stdout=self.log.open("w"), stderr=subprocess.STDOUT)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace")

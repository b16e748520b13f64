from __future__ import annotations

import pytest

from storage.db import Database


@pytest.fixture
async def db(tmp_path):
    database = await Database.open(tmp_path / "test.sqlite3")
    yield database
    await database.close()


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

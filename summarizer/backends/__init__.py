"""Summarization backends; each has `name` and `summarize(texts) -> list[str]`."""

from __future__ import annotations

from typing import Protocol


class Backend(Protocol):
    name: str  # recorded with every summary it makes

    def summarize(self, texts: list[str]) -> list[str]: ...

"""One router per feature area; the order of `routers()` is the order of matching."""

from aiogram import Router

from bot.handlers import admin, fallback, search, subscriber


def routers() -> list[Router]:
    # admin first: an admin's plain text is a statement, not a search; fallback last.
    return [admin.router, subscriber.router, search.router, fallback.router]

"""One router per feature area; the order of `routers()` is the order of matching."""

from aiogram import Router

from bot.handlers import admin, channels, fallback, inline, personal, search, sources, subscriber


def routers() -> list[Router]:
    """Fresh routers (a router can belong to one dispatcher only).

    admin first: an admin's plain text is a statement, not a search; fallback last."""
    return [admin.build_router(), sources.build_router(), channels.build_router(), subscriber.build_router(),
            personal.build_router(), search.build_router(), inline.build_router(), fallback.build_router()]

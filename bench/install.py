"""What a new operator meets: the install's size and time, how fast commands answer, the README's main job,
the running bot's memory. This tree beside an earlier one (default: the release before torch left the
default install), each installed the README's way into a fresh virtual environment, in the same run.

    python -m bench.install [--before REF] [--runs 3]

Per install: the venv's size on disk and `pip install`'s time; `newsbot --help` and `newsbot stats` (median
wall time of 5, peak memory); the README's main job (`ingest examples/`, `process`, `digest`, `search "что
с рублём"`, each in a fresh folder: total wall time, median of --runs, and the largest peak memory of its
four processes); `newsbot run` against the test Bot API server (tests/fake_bot_api.py) with the main
job's store: resident memory after it has been idle for 20 s. Targets: venv ≤ 400 MB, main job ≤ 25 s and
≤ 300 MB, `run` idle ≤ 300 MB, `--help` ≤ 1 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.e2e import TOKEN, BotApiServer

ROOT = Path(__file__).resolve().parents[1]
BEFORE = "745383b"  # main before torch left the default install (torch ran the sentence encoder)
MAIN_JOB = (("ingest", str(ROOT / "examples")), ("process",), ("digest",), ("search", "что с рублём"))


def timed(command: list[str], cwd: Path, env: dict) -> tuple[float, float]:
    """Wall seconds and peak resident MB of one process."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError(f"{' '.join(command)} failed: {proc.stderr.read().decode()[-2000:]}")
    proc.stderr.close()
    return elapsed, usage.ru_maxrss / 1024


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 2**20


def install(tree: Path, venv: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(tree)], check=True, cwd=tree)
    return time.perf_counter() - started


def environment(workdir: Path) -> dict:
    return {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "DATABASE_PATH": str(workdir / "newsbot.sqlite3"),
            "LOG_LEVEL": "WARNING"}


def measure(venv: Path, work: Path, runs: int) -> dict:
    newsbot = str(venv / "bin" / "newsbot")
    found: dict = {"venv MB": folder_mb(venv)}
    scratch = work / "scratch"
    scratch.mkdir()
    for name, args in (("--help", ["--help"]), ("stats", ["stats"])):
        times, peaks = zip(*(timed([newsbot, *args], scratch, environment(scratch)) for _ in range(5)), strict=True)
        found[f"{name} s"], found[f"{name} MB"] = statistics.median(times), max(peaks)
    totals, peaks = [], []
    for run in range(runs):
        folder = work / f"main-job-{run}"
        folder.mkdir()
        steps = [timed([newsbot, *step], folder, environment(folder)) for step in MAIN_JOB]
        totals.append(sum(t for t, _ in steps))
        peaks.append(max(p for _, p in steps))
    found["main job s"], found["main job MB"] = statistics.median(totals), max(peaks)
    found["run idle MB"] = idle_memory(newsbot, work / "main-job-0")
    return found


def idle_memory(newsbot: str, folder: Path) -> float:
    """`newsbot run` on the main job's store, against the test Bot API server, 20 s after it started."""
    api = BotApiServer()
    env = {**environment(folder), "BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE": api.url, "ADMIN_IDS": "1"}
    proc = subprocess.Popen([newsbot, "run"], cwd=folder, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        time.sleep(20)
        if proc.poll() is not None:
            raise RuntimeError("newsbot run stopped")
        status = Path(f"/proc/{proc.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))) / 1024
    finally:
        proc.terminate()
        proc.wait(30)
        api.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", default=BEFORE, help="the git revision to compare with")
    parser.add_argument("--runs", type=int, default=3, help="runs of the main job per install (median)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-install-"))
    try:
        before_tree = work / "before-tree"
        before_tree.mkdir()
        archive = subprocess.run(["git", "archive", args.before], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(before_tree)], input=archive, check=True)
        now_tree = work / "now-tree"
        shutil.copytree(ROOT, now_tree, ignore=shutil.ignore_patterns(".git", ".venv", ".cache", "data", "build",
                                                                      "*.egg-info", "__pycache__"))
        results = {}
        for label, tree in ((f"before ({args.before})", before_tree), ("now", now_tree)):
            venv = work / f"venv-{label.split()[0]}"
            seconds = install(tree, venv)
            (work / label.split()[0]).mkdir()
            results[label] = {"pip install s": seconds, **measure(venv, work / label.split()[0], args.runs)}
            print(f"{label}: measured", file=sys.stderr)
        before, now = results.values()
        targets = {"venv MB": 400, "main job s": 25, "main job MB": 300, "run idle MB": 300, "--help s": 1}
        print(f"{'':<16}{list(results)[0]:>20}{'now':>12}{'now/before':>12}{'target':>10}")
        for key in now:
            target = f"≤ {targets[key]}" if key in targets else ""
            print(f"{key:<16}{before[key]:>20.2f}{now[key]:>12.2f}{now[key] / before[key]:>12.2f}{target:>10}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

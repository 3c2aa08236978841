"""A worker starts whatever sys.stderr is: under Textual, stderr is a print capture whose fileno() is -1,
and the first spawn (which starts multiprocessing's resource tracker) used to fail with
"bad value(s) in fds_to_keep" (CPython Lib/multiprocessing/resource_tracker.py, ensure_running).

Each case runs in a fresh interpreter, because the tracker starts once per process: in this test process
another test may have started it already, and the failure would never show.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

FAKE_STDERR = """
import sys

class Capture:
    # What textual/app.py's _PrintCapture answers: a stream without a real descriptor.
    def write(self, text): return len(text)
    def flush(self): pass
    def fileno(self): return -1

fake = Capture()
sys.stderr = fake
"""

START_WORKER = """
from tuilab.engines.client import EngineWorker

worker = EngineWorker("llama.cpp")
alive = worker.alive
worker.close()
assert sys.stderr is fake, "the guard must put the replaced stderr back"
print("started" if alive else "dead")
"""

# The premise: without the guard, a plain spawn under the same stderr fails.
BARE_SPAWN = """
import multiprocessing, os

if __name__ == "__main__":
    try:
        multiprocessing.get_context("spawn").Process(target=os.getpid).start()
    except ValueError as exc:
        print(f"refused: {exc}")
"""


def run_script(body: str) -> str:
    script = textwrap.dedent(FAKE_STDERR) + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


class TestSpawnWithACapturedStderr:
    def test_a_bare_spawn_is_refused(self) -> None:
        assert "fds_to_keep" in run_script(BARE_SPAWN)

    def test_an_engine_worker_starts_and_stderr_is_restored(self) -> None:
        assert run_script(START_WORKER) == "started"

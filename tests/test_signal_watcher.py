"""vidrestore.signals in real processes: the grace runs out, a second signal does not
wait, a main thread stuck in one long call still stops, temporaries are removed."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # real processes and real signals, with grace periods to wait out

SCRIPT = """
import sys, time
from pathlib import Path
from vidrestore import signals

signals.install()
tmp = Path(sys.argv[1])
tmp.write_bytes(b"half")
signals.track(tmp)
with signals.graceful(lambda signum: print("asked", signum, flush=True), grace={grace},
                      outcome=lambda: "the test's outcome"):
    print("ready", flush=True)
    {body}
print("ended by itself", flush=True)
"""


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    """Starts the child script; a child still alive when the test ends (a failure) is killed."""
    started: list[subprocess.Popen] = []

    def run(*, grace: float, body: str) -> subprocess.Popen:
        script = tmp_path / "child.py"
        script.write_text(textwrap.dedent(SCRIPT.format(grace=grace, body=body)))
        process = subprocess.Popen([sys.executable, str(script), str(tmp_path / ".out.partial-1-ab.mp4")],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started.append(process)
        assert process.stdout.readline() == "ready\n"
        return process

    yield run
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


LONG_CALL = "import torch; a = torch.rand(6000, 6000); print('in', flush=True); torch.mm(a, a); print('returned', flush=True)"


@pytest.mark.parametrize("body", ["time.sleep(600)", LONG_CALL], ids=["sleeping", "one-long-call"])
def test_the_process_ends_when_the_grace_runs_out(tmp_path, start, body):
    """One matrix product of seconds is one call into torch: Python's own handlers would run
    only once it returned, the watcher thread ends the process while it runs."""
    process = start(grace=0.5, body=body)
    if body == LONG_CALL:
        assert process.stdout.readline() == "in\n"
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 143
    assert out == "asked 15\n"  # the command was asked first, then the grace ran out (the call never returned)
    assert err == "vidrestore: error: interrupted by SIGTERM; the test's outcome\n"
    assert list(tmp_path.glob(".out.partial-*")) == []


def test_a_second_signal_does_not_wait_for_the_grace(tmp_path, start):
    process = start(grace=600, body="time.sleep(600)")
    process.send_signal(signal.SIGINT)
    time.sleep(0.5)
    assert process.poll() is None  # still within its grace
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert err == "vidrestore: error: interrupted by SIGINT; the test's outcome\n"
    assert list(tmp_path.glob(".out.partial-*")) == []


def test_a_command_that_stops_in_time_reports_it_itself(tmp_path, start):
    process = start(grace=30, body="time.sleep(1.0)")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0 and err == ""
    assert out == "asked 2\nended by itself\n"

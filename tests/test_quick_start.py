"""The README's first Quick start command, run as written (on a copy of the sample):
the README cannot promise a job the code no longer does."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.media import decoded_frames, stream_summary

ROOT = Path(__file__).resolve().parent.parent


def quick_start_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_the_quick_start_has_two_commands_that_set_up_first() -> None:
    commands = quick_start_commands()
    assert len(commands) == 2
    for command in commands:
        assert command.startswith("python3 -m venv .venv && .venv/bin/pip install -q torch==2.13.0 -e ")
    assert commands[1].endswith("&& .venv/bin/python -m pytest -q")


@pytest.mark.slow
def test_the_first_quick_start_job_runs_as_written(tmp_path: Path) -> None:
    job = quick_start_commands()[0].split(" && ")[-1]
    argv = shlex.split(job)
    assert argv[0] == ".venv/bin/vidrestore"
    (tmp_path / "samples").mkdir()
    shutil.copy(ROOT / "samples" / "sample.mp4", tmp_path / "samples" / "sample.mp4")
    # The installed console script, run from a folder laid out like the checkout.
    result = subprocess.run([sys.executable, "-m", "vidrestore", *argv[1:]], cwd=tmp_path, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "samples" / "sample.x3.mp4"  # the file the README's comment names
    assert out.is_file()
    frames = decoded_frames(out)
    source = decoded_frames(tmp_path / "samples" / "sample.mp4")
    assert len(frames) == len(source)
    assert (frames[0].width, frames[0].height) == (3 * source[0].width, 3 * source[0].height)
    kinds = [s["type"] for s in stream_summary(out)]
    assert kinds == [s["type"] for s in stream_summary(tmp_path / "samples" / "sample.mp4")]

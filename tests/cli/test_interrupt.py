"""SIGINT and SIGTERM stop a running upscale cleanly: exit 130/143, nothing left behind."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.media import Audio, make_video
from tests.runs import lines, partial_files


@pytest.fixture(scope="module")
def long_video(tmp_path_factory) -> Path:
    # About ten seconds of work at x4 with a slow preset on a small CPU: a run
    # that is surely still going when the signal arrives.
    folder = tmp_path_factory.mktemp("long")
    return make_video(folder / "long.mp4", size=(320, 180), frames=150, audio=[Audio("aac")])


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_the_run_and_leaves_nothing(tmp_path, long_video, signum, code):
    src = tmp_path / "in.mp4"
    src.write_bytes(long_video.read_bytes())
    dst = tmp_path / "out.mp4"
    process = subprocess.Popen(
        [sys.executable, "-m", "vidrestore", "upscale", src, "-o", dst, "--x4", "--model", "bicubic", "--preset", "slow"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        # Progress lines come only once frames are being encoded: then the run is well under way.
        first = process.stderr.readline()
        assert first.startswith("bicubic: ") and "backend" in first, first  # which backend `auto` chose
        first = process.stderr.readline()
        assert "frames" in first, first
        process.send_signal(signum)
        _, rest = process.communicate(timeout=15)  # a guard against a hang, not a speed target
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == code, rest
    assert "Traceback" not in rest
    errors = lines(rest, "error")
    assert errors == [f"vidrestore: error: interrupted by {signal.Signals(signum).name}; nothing was written"]
    assert not dst.exists()
    assert partial_files(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]

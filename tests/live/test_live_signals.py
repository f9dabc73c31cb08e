"""SIGINT and SIGTERM end a live session like any other command: the recording closed and
playable, the stats written, one line saying so, exit 128 + the signal's number."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from tests.live.live_server import QUICK, Server, Viewer, read_json
from tests.runs import lines, partial_files

pytestmark = pytest.mark.slow  # real live sessions in real processes, ended by real signals


def test_ctrl_c_closes_the_recording_and_exits_130(tmp_path: Path):
    signum = signal.SIGINT
    rec, stats = tmp_path / "rec.mkv", tmp_path / "stats.json"
    process = subprocess.Popen([sys.executable, "-m", "vidrestore", "live", *QUICK, "--sink", f"file:{rec}",
                                "--stats-json", stats, "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not partial_files(tmp_path):  # the recording has started once its temporary exists
            assert time.monotonic() < deadline and process.poll() is None, "the recording never started"
            time.sleep(0.05)
        time.sleep(1.0)  # a second of frames
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=30)  # a hang guard
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr
    data = read_json(stats)
    with av.open(str(rec)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == data["frames_out"] > 0
    name = signal.Signals(signum).name
    assert lines(stderr, "error") == [f"vidrestore: error: interrupted by {name}; recorded {frames} frames to {rec}; stats in {stats}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.mkv", "stats.json"]


def test_sigterm_ends_the_webrtc_server_with_its_stats_and_exits_143(tmp_path: Path):
    stats = tmp_path / "stats.json"
    server = Server("--stats-json", stats)
    viewer = Viewer(server)
    try:
        status, text = viewer.connect()
        assert status == 200, text
        viewer.wait_for_frames(5)
        code, stderr = server.stop(signal.SIGTERM)
    finally:
        viewer.close()
        server.kill()
    assert code == 143, stderr
    assert "Traceback" not in stderr
    data = read_json(stats)
    assert data["sessions"] == 1 and data["frames_out"] >= 5
    assert lines(stderr, "error") == [f"vidrestore: error: interrupted by SIGTERM; stats in {stats}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stats.json"]

"""`vidrestore live --sink webrtc` end to end in a real headless Chromium.

Chromium's fake camera plays a y4m file this test writes; the page sends it,
the command (a real process) enhances it with ESPCN x2, and the page reports
what it receives. Needs Debian's chromium (`.ci/run` installs it) and the
live extra; skips cleanly without them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.live.live_server import Server
from tests.media import pattern

pytestmark = pytest.mark.slow  # a real Chromium against a real server: about 20 s each

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CAMERA = (320, 240)


def _y4m(path: Path, size: tuple[int, int], frames: int = 45) -> Path:
    w, h = size
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F30:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(frames):
            f.write(b"FRAME\n")
            for plane in pattern(i, w, h, "yuv420p"):
                f.write(plane.tobytes())
    return path


def _wait_for_frames(server: Server, frames: int, seconds: float = 30) -> None:
    """Until the live session has sent `frames` frames (the browser connected and video flows)."""
    server.wait_until(lambda stats: stats.get("frames_out", 0) >= frames, seconds)


needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium; .ci/run does)")


def _session(tmp_path: Path, *live_args: str, toggle: bool = False) -> tuple[dict, str]:
    """`vidrestore live --sink webrtc --x2 LIVE_ARGS` as a real process, the page opened in
    headless Chromium (its fake camera playing a 320x240 y4m) until the command's
    --duration ends; the stats file and the command's stderr."""
    pytest.importorskip("aiortc")
    camera = _y4m(tmp_path / "camera.y4m", CAMERA)
    stats_path = tmp_path / "stats.json"
    server = Server("--x2", "--duration", "16", "--budget-ms", "250", "--stats-json", stats_path, *live_args, quick=False)
    browser = None
    try:
        assert server.token, server.url  # the page opens only with the run's token
        browser = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--use-fake-ui-for-media-stream",
             "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={camera}",
             "--autoplay-policy=no-user-gesture-required", f"{server.url}&autostart=1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "HOME": str(tmp_path)})
        if toggle:  # the page's before/after toggle, as its button posts it: a few seconds of plain bicubic mid-call
            _wait_for_frames(server, 40)
            assert server.request("POST", "/mode", {"mode": "before"})[0] == 200
            time.sleep(2.0)
            assert server.request("POST", "/mode", {"mode": "after"})[0] == 200
        server.process.wait(timeout=90)
    finally:
        if browser is not None and browser.poll() is None:
            browser.kill()
            browser.wait()
        server.kill()
    assert server.process.returncode == 0, server.stderr
    return json.loads(stats_path.read_text()), server.stderr


def _assert_video_flowed(stats: dict) -> tuple[list[dict], int]:
    """The page got frames at twice the camera's size, for seconds; its reports and the frames gained."""
    reports = stats["browser_reports"]
    flowing = [r for r in reports if r["framesDecoded"] > 0]
    assert len(flowing) >= 5, reports
    assert {(r["frameWidth"], r["frameHeight"]) for r in flowing} == {(2 * CAMERA[0], 2 * CAMERA[1])}
    assert flowing[-1]["videoWidth"] == 2 * CAMERA[0] and flowing[-1]["videoHeight"] == 2 * CAMERA[1]
    span_s = (flowing[-1]["t"] - flowing[0]["t"]) / 1000
    gained = flowing[-1]["framesDecoded"] - flowing[0]["framesDecoded"]
    assert span_s >= 4 and gained >= 5 * span_s, (span_s, gained)
    assert stats["sink"] == "webrtc" and stats["sessions"] == 1
    assert stats["input_size"] == "320x240" and stats["output_size"] == "640x480"
    assert stats["frames_out"] >= gained
    lat = stats["latency_ms"]
    assert 0 < lat["p50"] <= lat["p95"] <= lat["max"]
    assert stats["fps"] > 5 and "drops_per_minute" in stats and stats["steps"]
    return reports, gained


@needs_chromium
def test_the_page_receives_the_enhanced_camera_and_reports_it(tmp_path: Path) -> None:
    stats, stderr = _session(tmp_path, toggle=True)
    reports, _ = _assert_video_flowed(stats)
    assert stats["source"] == "browser"  # the browser's own camera went in
    # The toggle: frames went out as plain bicubic while "before" was on, and the page knew.
    assert stats["rung_frames"].get("before: bicubic", 0) >= 10
    assert {"before", "after"} <= {r["mode"] for r in reports}
    assert "live: " in stderr


@needs_chromium
def test_a_server_side_source_plays_on_the_page(tmp_path: Path) -> None:
    stats, _ = _session(tmp_path, "--source", "testsrc", "--size", f"{CAMERA[0]}x{CAMERA[1]}")
    _assert_video_flowed(stats)
    assert stats["source"] == "testsrc"  # the page only received

"""`vidrestore live` outputs follow every command's rules: never the input, never a file
that appeared meanwhile, nothing left behind."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.live.live_server import QUICK
from tests.media import make_video
from tests.runs import assert_one_error, partial_files


def _run(*args: object):
    from vidrestore.cli import cli

    return CliRunner().invoke(cli, [*map(str, args)])


def test_a_recording_can_never_replace_its_source(tmp_path: Path):
    src = make_video(tmp_path / "cam.mp4", size=(96, 64), frames=10, rate=10)
    original = src.read_bytes()
    (tmp_path / "link.mp4").symlink_to(src)
    for sink in (src, tmp_path / "link.mp4", tmp_path / "." / "cam.mp4"):  # any spelling of the same file
        result = _run("live", "--source", src, "--sink", f"file:{sink}", "--overwrite", "--duration", "1", "-q",
                      "--model", "bicubic", "--x2")
        assert_one_error(result.exit_code, result.stderr, contains=f"--sink file:{sink} is the --source")
    assert src.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cam.mp4", "link.mp4"]


def test_the_stats_file_can_be_neither_the_source_nor_the_recording(tmp_path: Path):
    src = make_video(tmp_path / "cam.mp4", size=(96, 64), frames=10, rate=10)
    original = src.read_bytes()
    quick = ("--duration", "1", "-q", "--model", "bicubic", "--x2", "--overwrite")
    for sink in ("null", "webrtc"):
        result = _run("live", "--source", src, "--sink", sink, "--port", "0", "--stats-json", src, *quick)
        assert_one_error(result.exit_code, result.stderr, contains=f"--stats-json {src} is the --source")
    rec = tmp_path / "rec.mp4"
    result = _run("live", "--source", "testsrc", "--sink", f"file:{rec}", "--stats-json", rec, *quick)
    assert_one_error(result.exit_code, result.stderr, contains="--stats-json is the recording")
    assert src.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cam.mp4"]


@pytest.mark.slow
def test_a_recording_never_replaces_a_file_that_appeared_during_the_session(tmp_path: Path):
    rec = tmp_path / "rec.mkv"
    box: dict = {}
    # In a thread of this process (no start-up to wait for); the file appears while it records.
    thread = threading.Thread(target=lambda: box.update(r=_run("live", *QUICK, "--sink", f"file:{rec}", "--duration", "3", "-q")))
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not partial_files(tmp_path):  # the recording has started
            assert time.monotonic() < deadline and thread.is_alive(), "the recording never started"
            time.sleep(0.05)
        rec.write_bytes(b"another program's file")
    finally:
        thread.join(timeout=60)  # a hang guard
    result = box["r"]
    assert_one_error(result.exit_code, result.stderr, contains=f"{rec} already exists (it appeared while this run worked)")
    assert rec.read_bytes() == b"another program's file"
    assert partial_files(tmp_path) == []

"""Outputs never lose data: a file that appears during a run is not replaced, folder
names never collide, a failed commit leaves nothing, killed runs' leftovers are
reported, never taken as inputs, and cleared by the run that completes the name."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from tests.media import decoded_frames, make_image, make_video
from tests.runs import FAST, assert_one_error, lines, partial_files
from vidrestore.cli import cli


@pytest.fixture(scope="module")
def slow_clip(tmp_path_factory) -> Path:
    # Several seconds of x4 work with a slow preset: a run still going when the test acts.
    return make_video(tmp_path_factory.mktemp("clip") / "clip.mp4", size=(320, 180), frames=120)


def _start(*args: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vidrestore", *map(str, args)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _wait_for_partial(folder: Path, process: subprocess.Popen, timeout: float = 60) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = partial_files(folder)
        if found:
            return found[0]
        assert process.poll() is None, process.communicate()[1]
        time.sleep(0.02)
    raise AssertionError("no temporary output appeared")


@pytest.mark.slow
@pytest.mark.parametrize("overwrite", [False, True], ids=["refused", "overwrite"])
def test_an_output_that_appears_during_the_run_is_not_clobbered(tmp_path, slow_clip, overwrite):
    dst = tmp_path / "out.mp4"
    process = _start("upscale", slow_clip, "-o", dst, "--x4", "--model", "bicubic", "--preset", "slow", "-q",
                     *(["--overwrite"] if overwrite else []))
    try:
        _wait_for_partial(tmp_path, process)
        dst.write_bytes(b"another run's finished result")  # the other run wins the race
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert partial_files(tmp_path) == []
    if overwrite:
        assert process.returncode == 0, stderr
        assert len(decoded_frames(dst)) == 120
    else:
        assert_one_error(process.returncode, stderr, contains=f"{dst} already exists")
        assert dst.read_bytes() == b"another run's finished result"


def test_an_image_output_that_appears_is_not_clobbered(tmp_path, monkeypatch):
    """The image path commits the same way (the race staged in-process: the file appears
    between planning and writing)."""
    from vidrestore.io import images

    src = make_image(tmp_path / "in.png", (40, 30))
    dst = tmp_path / "out.png"
    real_write = images.write_image

    def write_and_lose_the_race(path, *args, **kwargs):
        dst.write_bytes(b"theirs")
        return real_write(path, *args, **kwargs)

    monkeypatch.setattr(images, "write_image", write_and_lose_the_race)
    result = CliRunner().invoke(cli, ["upscale", str(src), "-o", str(dst), "--x2", *FAST])
    assert_one_error(result.exit_code, result.stderr, contains="already exists")
    assert dst.read_bytes() == b"theirs"
    assert partial_files(tmp_path) == []


def test_folder_names_that_collide_are_refused_before_any_work(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    make_video(src / "clip.flv", size=(64, 48), frames=4, codec="flv", pix_fmt="yuv420p")
    make_video(src / "clip.mkv", size=(64, 48), frames=6)
    make_image(src / "photo.png")
    result = CliRunner().invoke(cli, ["upscale", str(src), "-o", str(tmp_path / "out"), "--x2", *FAST])
    line = assert_one_error(result.exit_code, result.stderr, contains="clip.flv and ")
    assert "clip.mkv" in line and str(tmp_path / "out" / "clip.mkv") in line
    assert not (tmp_path / "out").exists()


def test_a_folder_in_the_way_fails_that_file_only_and_leaves_no_temporary(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        make_image(src / name, (24, 16))
    out = tmp_path / "out"
    (out / "b.png").mkdir(parents=True)  # a folder where an output file should go
    result = CliRunner().invoke(cli, ["upscale", str(src), "-o", str(out), "--x2", "--overwrite", *FAST])
    assert result.exit_code == 1
    errors = lines(result.stderr, "error")
    assert errors[0] == f"vidrestore: error: {out / 'b.png'} is a folder; give a file name"
    assert errors[-1] == "vidrestore: error: 1 of 3 files failed (see above)"
    assert "internal error" not in result.stderr
    with Image.open(out / "a.png") as a, Image.open(out / "c.png") as c:
        assert a.size == c.size == (48, 32)
    assert partial_files(tmp_path) == []


def test_export_to_a_folder_with_overwrite_is_one_line_and_leaves_nothing(tmp_path):
    target = tmp_path / "model.onnx"
    target.mkdir()
    result = CliRunner().invoke(cli, ["export", "espcn", "--x2", "-o", str(target), "--overwrite"])
    assert_one_error(result.exit_code, result.stderr, contains=f"{target} is a folder")
    assert partial_files(tmp_path) == []
    assert list(target.iterdir()) == []


def test_hidden_partials_are_never_taken_as_inputs(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    make_image(src / "a.png", (24, 16))
    (src / ".b.partial-4242-0badc0de.png").write_bytes(b"half a png")  # a killed run's leftover
    (src / ".c.partial-0badc0de.mp4").write_bytes(b"\x00" * 100)
    result = CliRunner().invoke(cli, ["upscale", str(src), "-o", str(tmp_path / "out"), "--x2", *FAST])
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png"]


@pytest.mark.slow
def test_a_killed_runs_leftover_is_reported_and_cleared_by_the_next_run(tmp_path, slow_clip):
    dst = tmp_path / "out.mp4"
    process = _start("upscale", slow_clip, "-o", dst, "--x4", "--model", "bicubic", "--preset", "slow", "-q")
    try:
        leftover = _wait_for_partial(tmp_path, process)
        process.send_signal(signal.SIGKILL)  # a power cut, as far as the files can tell
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert leftover.exists() and not dst.exists()
    # A partial whose writer still runs (this test's own process) is someone's work in progress.
    live = tmp_path / f".out.partial-{os.getpid()}-0123abcd.mp4"
    live.write_bytes(b"in progress elsewhere")
    result = CliRunner().invoke(cli, ["upscale", str(slow_clip), "-o", str(dst), "--x2", *FAST])
    assert result.exit_code == 0, result.stderr
    warnings = lines(result.stderr, "warning")
    assert len(warnings) == 1 and f"1 unfinished file of {dst} left by an interrupted run" in warnings[0], warnings
    assert leftover.name in warnings[0]
    assert len(decoded_frames(dst)) == 120
    assert not leftover.exists()
    assert live.read_bytes() == b"in progress elsewhere"


def test_stale_partials_in_a_folder_run_are_one_warning(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    for name in ("a", "b", "c"):
        make_image(src / f"{name}.png", (24, 16))
        (out / f".{name}.partial-0badc0de.png").write_bytes(b"old")
    result = CliRunner().invoke(cli, ["upscale", str(src), "-o", str(out), "--x2", *FAST])
    assert result.exit_code == 0, result.stderr
    warnings = lines(result.stderr, "warning")
    assert len(warnings) == 1 and "3 unfinished files" in warnings[0], warnings
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.png"]

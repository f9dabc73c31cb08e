"""Bad input: one line on stderr, a non-zero exit, no traceback, nothing written."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest

from tests.media import make_audio_only, make_video
from tests.runs import FAST, assert_one_error, partial_files

USAGE, INPUT = 2, 1  # exit codes of UsageError and InputError/OutputError; None: any non-zero


def truncated(path: Path, fraction: float) -> Path:
    """The first `fraction` of a valid 30-frame video, under `path`'s name."""
    whole = make_video(path.with_name("whole" + path.suffix), frames=30)
    data = whole.read_bytes()
    whole.unlink()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def header_only(path: Path) -> Path:
    """A Matroska file cut just after the start of its first video frame: it opens, yet yields nothing."""
    whole = make_video(path.with_name("whole.mkv"), frames=12)
    with av.open(str(whole)) as container:
        first = next(p for p in container.demux(container.streams.video[0]) if p.size)
    data = whole.read_bytes()
    whole.unlink()
    path.write_bytes(data[: first.pos + 8])
    return path


def video(folder: Path) -> Path:
    return make_video(folder / "in.mp4", frames=6)


def empty_folder(folder: Path) -> Path:
    (folder / "empty").mkdir()
    return folder / "empty"


def named_mp4(content: bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        (folder / "in.mp4").write_bytes(content)
        return folder / "in.mp4"

    return make


# (name, make the input in tmp_path -> path, extra arguments, exit code, text in the error line)
CASES: list[tuple[str, Callable[[Path], Path], tuple[str, ...], int | None, str]] = [
    ("missing", lambda d: d / "nope.mp4", ("--x2",), INPUT, "nope.mp4: no such file or folder"),
    ("empty-folder", empty_folder, ("--x2",), INPUT, "folder holds no images or videos"),
    ("empty-file", named_mp4(b""), ("--x2",), INPUT, "in.mp4: file is empty"),
    ("text-as-mp4", named_mp4(b"hello, this is not a video\n"), ("--x2",), INPUT, "not a video file FFmpeg can read"),
    ("garbage-as-mp4", named_mp4(bytes(np.random.default_rng(7).integers(0, 256, 20000, dtype=np.uint8))), ("--x2",), INPUT, "in.mp4: not a video file"),
    ("audio-only-mp4", lambda d: make_audio_only(d / "in.mp4"), ("--x2",), INPUT, "in.mp4: no video stream (found audio streams)"),
    ("audio-only-m4a", lambda d: make_audio_only(d / "in.m4a"), ("--x2", "-o", "out.mp4"), INPUT, "in.m4a: no video stream"),
    # No -o: the default name in.x2.m4a is refused first (no video extension).
    ("audio-only-m4a-default-name", lambda d: make_audio_only(d / "in.m4a"), ("--x2",), None, ".m4a"),
    ("truncated-mp4", lambda d: truncated(d / "in.mp4", 0.3), ("--x2",), INPUT, "in.mp4: not a video file"),
    ("mkv-without-frames", lambda d: header_only(d / "in.mkv"), ("--x2",), INPUT, "no video frames could be decoded"),
    ("unknown-model", video, ("--x2", "--model", "waifu"), USAGE, "unknown model 'waifu'; available: bicubic, edsr, edsr-large, espcn, espcn-lite, lanczos, srgan, srresnet"),
    ("missing-weights", video, ("--x2", "--model", "espcn", "--weights", "nope.safetensors"), INPUT, "weights file not found: nope.safetensors"),
    ("unsupported-scale", video, ("--scale", "5"), USAGE, "does not support x5; it supports x2, x3, x4"),
    ("two-scales", video, ("--x2", "--x3"), USAGE, "give one scale, not x2 and x3"),
    ("no-scale", video, (), USAGE, "give a scale: --x2, --x3, --x4 or --scale N"),
    ("unknown-codec", video, ("--x2", "--codec", "divx"), USAGE, "unknown codec 'divx'"),
    ("codec-the-container-cannot-hold", video, ("--x2", "-o", "out.webm"), USAGE, "webm files cannot hold h264"),
    ("crf-out-of-range", video, ("--x2", "--crf", "70"), USAGE, "--crf 70 is out of range"),
    ("no-such-output-folder", video, ("--x2", "-o", "missing/out.mp4"), INPUT, "/missing does not exist"),
    ("image-as-video-output", video, ("--x2", "-o", "out.png"), USAGE, "a video cannot be written as an image"),
]


def run_in(tmp_path: Path, make: Callable[[Path], Path], args: tuple[str, ...]):
    """Build the input, then turn relative -o paths into tmp_path ones."""
    src = make(tmp_path)
    args = tuple(str(tmp_path / a) if a.startswith(("out.", "missing/")) else a for a in args)
    return src, args


@pytest.mark.parametrize("name, make, args, code, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, upscale, name, make, args, code, message):
    src, args = run_in(tmp_path, make, args)
    before = sorted(tmp_path.rglob("*"))
    extra = FAST if "--model" not in args else FAST[2:]
    result = upscale(src, *args, *extra)
    line = assert_one_error(result.exit_code, result.stderr, contains=message)
    assert code is None or result.exit_code == code, line
    assert result.stdout == ""
    assert sorted(tmp_path.rglob("*")) == before  # no output, no temporary file, no folder
    assert partial_files(tmp_path) == []


@pytest.mark.slow
@pytest.mark.parametrize("name", ["text-as-mp4", "mkv-without-frames", "unknown-model"])
def test_bad_input_as_a_program_prints_no_traceback_and_debug_does(tmp_path, upscale_process, name):
    _, make, args, code, message = next(c for c in CASES if c[0] == name)
    src, args = run_in(tmp_path, make, args)
    extra = FAST if "--model" not in args else FAST[2:]
    before = sorted(tmp_path.rglob("*"))
    done = upscale_process(src, *args, *extra)
    assert_one_error(done.returncode, done.stderr, contains=message)
    assert done.returncode == code
    debug = upscale_process(src, *args, *extra, "--debug")
    assert debug.returncode != 0
    assert "Traceback (most recent call last)" in debug.stderr
    assert message in debug.stderr
    assert sorted(tmp_path.rglob("*")) == before


def test_unwritable_output_folder_is_refused(tmp_path, upscale):
    src = make_video(tmp_path / "in.mp4", frames=6)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running with privileges that ignore folder permissions (root)")
        result = upscale(src, "-o", locked / "out.mp4", "--x2", *FAST)
        assert_one_error(result.exit_code, result.stderr, contains="is not writable")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def test_a_failed_run_leaves_no_temporary_file(tmp_path, upscale):
    # The input opens and probes fine but yields no frame: the run starts and fails.
    src = header_only(tmp_path / "in.mkv")
    result = upscale(src, "--x2", "-o", tmp_path / "out.mkv", *FAST)
    assert_one_error(result.exit_code, result.stderr, contains="no video frames could be decoded")
    assert not (tmp_path / "out.mkv").exists()
    assert partial_files(tmp_path) == []

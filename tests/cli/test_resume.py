"""`--resume`: long jobs survive Ctrl-C and kill -9, and finish only what is missing.

Real processes, real signals, real files: the interrupted run is `python -m vidrestore`,
the job folder and its manifest are what it left on the disk.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from tests.media import Audio, make_video
from tests.runs import assert_one_error, partial_files
from vidrestore.cli import cli
from vidrestore.pipeline.resume import job_folder

# A model slow enough on a CPU (SRResNet x4, about 25 frames a second at 32x24 here) that a
# signal lands mid-job, FFV1 so that every decoded frame can be compared exactly.
SLOW = ("--x4", "--model", "srresnet", "--backend", "torch", "--codec", "ffv1", "--segment-seconds", "1", "-q")
QUICK = ("--x2", "--model", "bicubic", "--codec", "ffv1", "--segment-seconds", "1", "-q")


def decoded(path: Path) -> list[tuple[int, np.ndarray]]:
    with av.open(str(path)) as container:
        return [(frame.pts, frame.to_ndarray()) for frame in container.decode(video=0)]


def audio(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]


def same_video(a: Path, b: Path) -> bool:
    x, y = decoded(a), decoded(b)
    return len(x) == len(y) and all(p == q and np.array_equal(f, g) for (p, f), (q, g) in zip(x, y))


def manifest(dst: Path) -> dict | None:
    try:
        return json.loads((job_folder(dst) / "manifest.json").read_text())
    except (OSError, ValueError):
        return None


def run(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 4 s at 25 fps, a keyframe every second: 4 segments of 25 frames.
    return make_video(tmp_path_factory.mktemp("clip") / "in.mp4", size=(32, 24), frames=100, options={"g": "25", "keyint_min": "25"},
                      audio=[Audio()])


@pytest.fixture(scope="module")
def reference(clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted, unsegmented run."""
    out = tmp_path_factory.mktemp("reference") / "out.mkv"
    result = run("upscale", clip, *SLOW[:-3], "-q", "-o", out)
    assert result.exit_code == 0, result.output
    return out


def start(clip: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vidrestore", "upscale", str(clip), *SLOW, "--resume", "-o", str(out), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_segments(process: subprocess.Popen, dst: Path, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = manifest(dst)
        if found is not None and len(found["done"]) >= count:
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"no {count} finished segments in {timeout} s")


def finish(process: subprocess.Popen) -> tuple[int, str]:
    try:
        _, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return process.returncode, stderr


def test_a_resumable_run_writes_what_a_plain_run_writes_and_cleans_up(clip, tmp_path) -> None:
    plain, segmented = tmp_path / "plain.mkv", tmp_path / "segmented.mkv"
    assert run("upscale", clip, *QUICK[:-3], "-q", "-o", plain).exit_code == 0
    result = run("upscale", clip, *QUICK, "--resume", "-o", segmented)
    assert result.exit_code == 0, result.output
    assert same_video(segmented, plain)
    assert audio(segmented) == audio(plain)
    assert not job_folder(segmented).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.mkv", "segmented.mkv"]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL])
def test_an_interrupted_job_resumes_with_the_missing_segments_only(clip, reference, tmp_path, signum) -> None:
    out = tmp_path / "out.mkv"
    process = start(clip, out)
    try:
        wait_for_segments(process, out, 2)
        process.send_signal(signum)
        code, stderr = finish(process)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == (130 if signum == signal.SIGINT else -signal.SIGKILL), stderr
    if signum == signal.SIGINT:
        assert stderr.strip().splitlines()[-1] == "vidrestore: error: interrupted by SIGINT; nothing was written"
        assert partial_files(tmp_path) == []  # the output's temporary; the job folder is not one
    assert not out.exists()
    left = manifest(out)
    done_before = len(left["done"])
    assert 2 <= done_before < len(left["segments"]) == 4

    resumed = subprocess.run([sys.executable, "-m", "vidrestore", "upscale", str(clip), *SLOW[:-1], "--resume", "-o", str(out)],
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"4 segments, {done_before} from the interrupted run" in resumed.stderr.splitlines()[-1]
    assert same_video(out, reference)
    assert audio(out) == audio(reference)
    assert not job_folder(out).exists()


def _left_job(clip: Path, out: Path) -> dict:
    """A job folder as an interrupted run leaves it: two segments done, then SIGINT."""
    process = start(clip, out)
    try:
        wait_for_segments(process, out, 2)
        process.send_signal(signal.SIGINT)
        code, stderr = finish(process)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 130, stderr
    return manifest(out)


@pytest.mark.slow
def test_a_leftover_job_is_reported_and_a_changed_one_refused(clip, tmp_path) -> None:
    out = tmp_path / "out.mkv"
    left = _left_job(clip, out)
    before = sorted((p.name, p.stat().st_mtime_ns) for p in job_folder(out).iterdir())

    plain = run("upscale", clip, *SLOW[:-3], "-o", out)
    assert_one_error(plain.exit_code, plain.stderr,
                     contains=f"{out}: an interrupted run left {job_folder(out)} ({len(left['done'])} of 4 segments done); "
                              "pass --resume to finish it, or delete that folder to start over")
    changed = run("upscale", clip, *SLOW[:-1], "--tile", "64", "--resume", "-o", out)
    line = assert_one_error(changed.exit_code, changed.stderr, contains=f"cannot resume {out}: tile was null, now 64")
    assert line.endswith(f"run with the earlier settings, or delete {job_folder(out)} to start over")
    other_model = run("upscale", clip, "--x4", "--model", "bicubic", *SLOW[3:-1], "--resume", "-o", out)
    assert_one_error(other_model.exit_code, other_model.stderr, contains="models was")
    os.utime(clip, ns=(clip.stat().st_atime_ns, clip.stat().st_mtime_ns + 10**9))  # touched
    try:
        touched = run("upscale", clip, *SLOW[:-1], "--resume", "-o", out)
        assert_one_error(touched.exit_code, touched.stderr, contains="the input's modification time changed")
    finally:
        os.utime(clip, ns=(clip.stat().st_atime_ns, clip.stat().st_mtime_ns - 10**9))
    assert sorted((p.name, p.stat().st_mtime_ns) for p in job_folder(out).iterdir()) == before  # never touched
    assert not out.exists()


@pytest.mark.slow
def test_a_damaged_segment_is_redone(clip, reference, tmp_path) -> None:
    out = tmp_path / "out.mkv"
    left = _left_job(clip, out)
    first = job_folder(out) / left["done"]["0"]["file"]
    first.write_bytes(first.read_bytes()[: first.stat().st_size // 2])  # a disk that lost half of it
    result = run("upscale", clip, *SLOW[:-1], "--resume", "-o", out)
    assert result.exit_code == 0, result.stderr
    assert "segment 1 of 4 is missing or damaged; it is processed again" in result.stderr
    assert same_video(out, reference)

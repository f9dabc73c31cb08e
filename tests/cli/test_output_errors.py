"""A full disk, a read-only output folder, a non-video to bench, missing training
data: one line naming the problem, non-zero exit, nothing half-written left.

The disk-full and read-only cases use real file systems (a small tmpfs, a read-only
tmpfs), which needs root and mount(2); elsewhere they skip and the RLIMIT_FSIZE case
still runs a real write failure."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.media import make_image, make_video
from tests.runs import FAST, assert_one_error, lines, partial_files
from vidrestore.cli import cli


@contextmanager
def _tmpfs(where: Path, options: str) -> Iterator[Path]:
    """A tmpfs mounted at `where` for the test (skips without root or mount(2))."""
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                                           capture_output=True).returncode != 0:
        pytest.skip(f"needs root and mount(2) for a tmpfs ({options})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    with _tmpfs(tmp_path / "disk", "size=96k") as where:
        yield where


@pytest.fixture
def read_only_disk(tmp_path) -> Iterator[Path]:
    with _tmpfs(tmp_path / "ro", "ro,size=1m") as where:
        yield where


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_video(tmp_path_factory.mktemp("clip") / "clip.mp4", size=(160, 96), frames=30)


def test_a_full_disk_is_one_line_and_leaves_nothing(small_disk, clip):
    dst = small_disk / "out.mp4"
    result = CliRunner().invoke(cli, ["upscale", str(clip), "-o", str(dst), "--x4", *FAST])
    assert_one_error(result.exit_code, result.stderr, contains=f"cannot write {dst}: No space left on device")
    assert list(small_disk.iterdir()) == []


def test_a_full_disk_ends_a_folder_run_at_the_first_file(small_disk, tmp_path, clip):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a", "b", "c"):
        (src / f"{name}.mp4").write_bytes(clip.read_bytes())
    out = small_disk / "out"
    result = CliRunner().invoke(cli, ["upscale", str(src), "-o", str(out), "--x4", *FAST])
    assert_one_error(result.exit_code, result.stderr, contains=f"cannot write {out / 'a.mp4'}: No space left on device")
    assert partial_files(small_disk) == []


def test_an_image_on_a_full_disk_is_one_line(small_disk, tmp_path):
    src = make_image(tmp_path / "in.png", (200, 150))
    dst = small_disk / "out.png"
    result = CliRunner().invoke(cli, ["upscale", str(src), "-o", str(dst), "--x4", *FAST])
    assert_one_error(result.exit_code, result.stderr, contains=f"cannot write {dst}: No space left on device")
    assert list(small_disk.iterdir()) == []


@pytest.mark.slow
def test_a_file_size_limit_is_one_line_and_leaves_nothing(tmp_path, clip):
    """A real write failure without mount(2): RLIMIT_FSIZE (Python ignores SIGXFSZ, so writes fail with EFBIG)."""
    dst = tmp_path / "out.mp4"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    done = subprocess.run([sys.executable, "-m", "vidrestore", "upscale", clip, "-o", dst, "--x4", *FAST],
                          capture_output=True, text=True, timeout=120, preexec_fn=limit)
    assert_one_error(done.returncode, done.stderr, contains=f"cannot write {dst}: File too large")
    assert not dst.exists() and partial_files(tmp_path) == []


def test_a_read_only_output_folder_is_refused_before_any_work(read_only_disk, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    make_image(src / "a.png")
    make_image(src / "b.png")
    result = CliRunner().invoke(cli, ["upscale", str(src), "-o", str(read_only_disk), "--x2", *FAST])
    assert_one_error(result.exit_code, result.stderr, contains=f"output folder {read_only_disk} is not writable")


def test_a_new_output_folder_on_a_read_only_disk_is_refused(read_only_disk, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    make_image(src / "a.png")
    result = CliRunner().invoke(cli, ["upscale", str(src), "-o", str(read_only_disk / "out"), "--x2", *FAST])
    assert_one_error(result.exit_code, result.stderr, contains=f"output folder {read_only_disk} is not writable")


def test_bench_on_a_non_video_is_one_line(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a video\n")
    result = CliRunner().invoke(cli, ["bench", str(notes), "--x2"])
    assert_one_error(result.exit_code, result.stderr, contains=f"{notes}: not a video file FFmpeg can read")


def test_train_with_missing_data_creates_no_run_folder(tmp_path):
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", "espcn_x2", "--data", str(tmp_path / "nowhere"), "--run-dir", str(run_dir), "-q"])
    assert_one_error(result.exit_code, result.stderr, contains="data folder not found")
    assert not run_dir.exists()
    assert lines(result.stderr, "warning") == []

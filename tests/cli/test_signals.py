"""Ctrl-C and SIGTERM at any point of any command: exit 130/143 with one line, no
traceback, no "Aborted!", nothing half-written left; a folder run says what it wrote.
Each test runs the real program and signals it; the timeouts only guard against hangs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.media import make_video, textured_photo
from tests.runs import partial_files

SAMPLE = Path(__file__).parents[2] / "samples" / "sample.mp4"


def _start(*args: object, cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vidrestore", *map(str, args)], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _signal_and_wait(process: subprocess.Popen, signum: int) -> str:
    try:
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return stderr


def _assert_interrupted(process: subprocess.Popen, stderr: str, signum: int, outcome: str = "nothing was written") -> None:
    assert process.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr and "Aborted!" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("vidrestore: error:")]
    assert errors == [f"vidrestore: error: interrupted by {signal.Signals(signum).name}; {outcome}"], stderr


@pytest.fixture(scope="module")
def big_image(tmp_path_factory) -> Path:
    # Deblurring this takes SRN many seconds on a small CPU: one call into the model,
    # during which Python's own signal handlers would never run.
    path = tmp_path_factory.mktemp("big") / "big.png"
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((768, 1024, 3)) * 255).astype(np.uint8)).save(path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_single_image_stops_while_the_model_runs(tmp_path, big_image, signum):
    dst = tmp_path / "out.png"
    process = _start("deblur", big_image, "-o", dst, "--model", "srn")
    first = process.stderr.readline()  # printed once the model is loaded, just before the image goes in
    assert first.startswith("srn: "), first
    time.sleep(1.0)
    stderr = _signal_and_wait(process, signum)
    _assert_interrupted(process, stderr, signum)
    assert not dst.exists() and partial_files(tmp_path) == []


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.3, 0.8, 1.5])
def test_ctrl_c_during_start_up_is_one_line_and_130(tmp_path, big_image, delay):
    """Imports (torch takes a second or two) and model loading: no "Aborted!", no traceback."""
    dst = tmp_path / "out.png"
    process = _start("deblur", big_image, "-o", dst, "--model", "srn", "--backend", "torch")
    time.sleep(delay)
    stderr = _signal_and_wait(process, signal.SIGINT)
    _assert_interrupted(process, stderr, signal.SIGINT)
    assert not dst.exists() and partial_files(tmp_path) == []


@pytest.mark.slow
def test_a_folder_interrupt_says_which_files_were_written(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a", "b", "c"):
        make_video(src / f"{name}.mp4", size=(320, 180), frames=40)
    out = tmp_path / "out"
    process = _start("upscale", src, "-o", out, "--x4", "--model", "bicubic", "--preset", "slow")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        assert line, "the run ended before writing a.mp4"
        if line.startswith("wrote "):
            assert line.startswith(f"wrote {out / 'a.mp4'}:"), line
            break
    stderr = _signal_and_wait(process, signal.SIGINT)
    _assert_interrupted(process, stderr, signal.SIGINT, f"1 of 3 files were written ({out / 'a.mp4'}); the rest were not")
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for i in range(4):
        Image.fromarray(textured_photo(i, (640, 480))).save(folder / f"p{i}.png")
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("command", ["export", "eval", "bench"])
def test_other_commands_stop_at_once(tmp_path, photos, command):
    args = {
        # EDSR-large (no weights: exported as initialised): the baseline EDSR's export can end
        # in about 4 s on an idle machine, and a signal after the end tests nothing.
        "export": ["export", "edsr-large", "--x4", "-o", tmp_path / "edsr.onnx"],
        "eval": ["eval", "--model", "edsr", "--x2", photos, "--json", tmp_path / "scores.json"],
        "bench": ["bench", SAMPLE, "--x3", "--frames", "100", "--backend", "torch", "--backend", "onnxruntime"],
    }[command]
    process = _start(*args, cwd=tmp_path)
    time.sleep(4.0)  # well into the work: each of these takes far longer
    assert process.poll() is None, process.communicate()[1]
    stderr = _signal_and_wait(process, signal.SIGINT)
    _assert_interrupted(process, stderr, signal.SIGINT)
    assert partial_files(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_help_and_version_do_not_import_torch():
    """`vidrestore --help` answers at once: nothing heavy is imported to print help."""
    from vidrestore.cli import cli

    commands = sorted(cli.commands)
    probe = (
        "import sys\n"
        "from vidrestore.__main__ import main\n"
        "heavy = ('torch', 'numpy', 'av', 'PIL', 'onnxruntime')\n"
        f"for argv in [['--help'], ['--version']] + [[c, '--help'] for c in {commands!r}]:\n"
        "    sys.argv = ['vidrestore', *argv]\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code in (0, None), (argv, exc.code)\n"
        "    loaded = [m for m in heavy if m in sys.modules]\n"
        "    assert not loaded, (argv, loaded)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Usage: vidrestore upscale" in done.stdout and "vidrestore, version" in done.stdout

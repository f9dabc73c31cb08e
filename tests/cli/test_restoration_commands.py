"""`vidrestore deblur`, `enhance` and `restore` end to end on small generated media:
what they write, what they keep, and bad input as one line."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image

from tests.media import Audio, audio_seconds, decoded_frames, make_image, make_video, stream_summary
from tests.runs import assert_one_error, lines, partial_files
from vidrestore.cli import cli
from vidrestore.filters import parse_filter
from vidrestore.filters.deconv import convolve
from vidrestore.filters.psf import motion_psf
from vidrestore.models.registry import DEFAULT_DEBLUR_MODEL

QUICK = ("--preset", "ultrafast", "-q")
USAGE = 2


def run(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.stderr + repr(result.exception)
    return result.stderr


def rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=int)


def photo(path: Path, size: tuple[int, int] = (96, 64), blur: bool = False) -> Path:
    """A picture with edges and texture, optionally motion-blurred."""
    import torch

    w, h = size
    yy, xx = np.mgrid[:h, :w]
    img = np.stack([(xx * 4) % 256, (yy * 7) % 256, ((xx // 8 + yy // 8) % 2) * 200 + 30], axis=-1).astype(np.float32) / 255
    if blur:
        t = torch.from_numpy(img).permute(2, 0, 1)[None].double()
        img = convolve(t, motion_psf(9, 20))[0].permute(1, 2, 0).clamp(0, 1).numpy()
    Image.fromarray((img * 255).round().astype(np.uint8)).save(path)
    return path


# -- deblur --------------------------------------------------------------------------------------
def test_deblur_video_keeps_size_timing_and_sound(tmp_path: Path) -> None:
    src = make_video(tmp_path / "clip.mp4", size=(64, 48), frames=8, audio=[Audio("aac")])
    ok(run("deblur", src, *QUICK))
    dst = tmp_path / "clip.deblur.mp4"
    before, after = decoded_frames(src), decoded_frames(dst)
    assert len(after) == len(before) == 8
    assert [f.seconds for f in after] == [f.seconds for f in before]
    assert {(f.width, f.height) for f in after} == {(64, 48)}
    assert [s["type"] for s in stream_summary(dst)] == ["video", "audio"]
    assert audio_seconds(dst) == pytest.approx(audio_seconds(src), abs=0.03)
    assert partial_files(tmp_path) == []


def test_deblur_sharpens_a_blurred_picture(tmp_path: Path) -> None:
    """The shipped network is not the identity: on a motion-blurred picture its
    output has more edge energy than its input, and the same size."""
    from vidrestore import metrics as M

    src = photo(tmp_path / "blurry.png", (128, 96), blur=True)
    for model in ("srn", "deepdeblur"):
        dst = tmp_path / f"{model}.png"
        ok(run("deblur", src, "-o", dst, "--model", model, "-q"))
        before, after = rgb(src), rgb(dst)
        assert after.shape == before.shape
        energy = lambda a: M.gradient_energy(__import__("torch").from_numpy(a.mean(axis=2)).double())  # noqa: E731
        assert energy(after) > 1.1 * energy(before), model


def test_deblur_image_keeps_alpha_and_folder_goes_to_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    make_image(folder / "a.png", (40, 30), alpha=True)
    make_image(folder / "b.jpg", (33, 21))
    ok(run("deblur", folder, "-q"))
    out = tmp_path / "in.deblur"
    with Image.open(out / "a.png") as a, Image.open(out / "b.jpg") as b:
        assert a.mode == "RGBA" and a.size == (40, 30) and b.size == (33, 21)


# -- enhance -------------------------------------------------------------------------------------
def test_enhance_image_applies_the_filters_in_order(tmp_path: Path) -> None:
    import torch

    g = np.random.default_rng(0)
    texture = 0.35 + 0.3 * g.random((64, 96, 3))  # mid-tones, where order matters most
    Image.fromarray((texture * 255).round().astype(np.uint8)).save(tmp_path / "p.png")
    ok(run("enhance", tmp_path / "p.png", "--filter", "gamma=2", "--filter", "sharpen", "-q"))
    got = rgb(tmp_path / "p.enhanced.png")
    x = torch.from_numpy(rgb(tmp_path / "p.png")).permute(2, 0, 1)[None].float() / 255

    def codes(t: torch.Tensor) -> np.ndarray:
        return (t[0].permute(1, 2, 0) * 255).round().numpy()

    # Images travel as 10-bit full-range Y'CbCr 4:4:4: 0.1 code of rounding on average,
    # which the sharpening kernel (noise gain sqrt(5^2 + 4) = 5.4) magnifies.
    diff = np.abs(got - codes(parse_filter("sharpen")(parse_filter("gamma=2")(x))))
    assert diff.max() <= 4 and diff.mean() < 0.6
    swapped = np.abs(got - codes(parse_filter("gamma=2")(parse_filter("sharpen")(x))))
    assert swapped.mean() > 5 * diff.mean()


def test_enhance_video_keeps_frames_and_size(tmp_path: Path) -> None:
    src = make_video(tmp_path / "in.mkv", size=(48, 32), frames=6)
    dst = tmp_path / "out.mkv"
    ok(run("enhance", src, "-o", dst, "--filter", "clahe", "--filter", "richardson-lucy=motion:5:0,iterations=3", *QUICK))
    after = decoded_frames(dst)
    assert len(after) == 6 and {(f.width, f.height) for f in after} == {(48, 32)}


# -- restore -------------------------------------------------------------------------------------
def test_restore_equals_the_steps_run_one_after_another(tmp_path: Path) -> None:
    src = photo(tmp_path / "p.png", blur=True)
    ok(run("restore", src, "-o", tmp_path / "chain.png", "--deblur", DEFAULT_DEBLUR_MODEL, "--sr", "espcn", "--x2",
           "--filter", "unsharp=0.5", "--filter", "gamma=0.9", "-q"))
    ok(run("deblur", src, "-o", tmp_path / "1.png", "-q"))  # the default model
    ok(run("upscale", tmp_path / "1.png", "-o", tmp_path / "2.png", "--x2", "-q"))
    ok(run("enhance", tmp_path / "2.png", "-o", tmp_path / "3.png", "--filter", "unsharp=0.5", "--filter", "gamma=0.9", "-q"))
    chained, stepwise = rgb(tmp_path / "chain.png"), rgb(tmp_path / "3.png")
    assert chained.shape == stepwise.shape == (128, 192, 3)
    diff = np.abs(chained - stepwise)
    # The steps round to 8 bits twice on the way; the chain does not.
    assert diff.mean() < 1.0 and diff.max() <= 8


def test_restore_video_in_one_pass(tmp_path: Path) -> None:
    src = make_video(tmp_path / "in.mp4", size=(48, 32), frames=6, audio=[Audio("aac")])
    ok(run("restore", src, "--deblur", "deepdeblur", "--sr", "bicubic", "--x3", "--filter", "clahe", *QUICK))
    dst = tmp_path / "in.restored.mp4"
    after = decoded_frames(dst)
    assert len(after) == 6 and {(f.width, f.height) for f in after} == {(144, 96)}
    assert [s["type"] for s in stream_summary(dst)] == ["video", "audio"]


# -- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (("enhance", "{img}"), "give at least one --filter"),
    (("enhance", "{img}", "--filter", "sharpness"), "unknown filter 'sharpness'"),
    (("enhance", "{img}", "--filter", "gamma=-1"), "gamma must be positive"),
    (("deblur", "{img}", "--model", "espcn"), "espcn is a super-resolution model, not a deblurring one; deblurring models: deepdeblur, srn"),
    (("upscale", "{img}", "--x2", "--model", "srn"), "srn is a deblurring model, not a super-resolution one"),
    (("restore", "{img}"), "nothing to do"),
    (("restore", "{img}", "--x2"), "a scale needs --sr MODEL"),
    (("restore", "{img}", "--sr", "espcn"), "--sr needs a scale"),
    (("restore", "{img}", "--sr", "edsr", "--x2", "--deblur", "espcn"), "espcn is a super-resolution model"),
    (("restore", "{img}", "--deblur-weights", "w.safetensors"), "--deblur-weights needs --deblur MODEL"),
    (("restore", "{img}", "--sr", "srresnet", "--x2"), "does not support x2"),
    (("eval", "{dir}", "--task", "deblur", "--x2"), "deblurring keeps the size"),
    (("eval", "{dir}", "--task", "deblur", "--model", "edsr"), "edsr is a super-resolution model"),
])
def test_bad_options_are_one_line_and_write_nothing(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    img = make_image(tmp_path / "in.png")
    result = run(*(a.format(img=img, dir=tmp_path) for a in args))
    assert result.exit_code == USAGE
    assert_one_error(result.exit_code, result.stderr, contains=message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]


def test_deblur_refuses_an_existing_output_and_a_missing_input(tmp_path: Path) -> None:
    img = make_image(tmp_path / "in.png")
    (tmp_path / "in.deblur.png").write_bytes(b"keep me")
    result = run("deblur", img)
    assert_one_error(result.exit_code, result.stderr, contains="already exists; pass --overwrite")
    assert (tmp_path / "in.deblur.png").read_bytes() == b"keep me"
    result = run("enhance", tmp_path / "nope.mp4", "--filter", "histeq")
    assert_one_error(result.exit_code, result.stderr, contains="no such file or folder")


@pytest.mark.slow
def test_sigterm_stops_a_deblur_run_and_leaves_nothing(tmp_path: Path) -> None:
    src = make_video(tmp_path / "in.mp4", size=(320, 180), frames=60)
    dst = tmp_path / "out.mp4"
    process = subprocess.Popen([sys.executable, "-m", "vidrestore", "deblur", src, "-o", dst, "--batch", "1"],
                               stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        first = process.stderr.readline()
        assert first.startswith(f"{DEFAULT_DEBLUR_MODEL}: ") and "backend" in first, first  # which backend `auto` chose
        first = process.stderr.readline()  # the first progress line: frames are being written
        assert "frames" in first, first
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 143, rest
    assert lines(rest, "error") == ["vidrestore: error: interrupted by SIGTERM; nothing was written"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]

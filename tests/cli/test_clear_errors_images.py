"""Hostile images and parameters: tiny frames work, everything else is one clear line."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner, Result
from PIL import Image
from torch import nn

from tests.media import make_image
from tests.runs import FAST, assert_one_error, lines
from vidrestore.cli import cli
from vidrestore.ops.resize import imresize

FLAT = (90, 150, 210)
TINY = ((1, 1), (3, 1), (1, 3), (2, 2), (5, 3))


def run(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def png_header(path: Path, width: int, height: int) -> Path:
    """A 100-byte PNG whose header claims width x height RGB pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    return path


# -- tiny frames -------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
@pytest.mark.parametrize("command, model, scale", [
    ("upscale", "espcn", 2), ("upscale", "edsr", 3), ("upscale", "srresnet", 4), ("upscale", "bicubic", 2),
    ("upscale", "lanczos", 4), ("deblur", "srn", 1), ("deblur", "deepdeblur", 1),
])
def test_tiny_images_go_through_every_model(tmp_path, backend, command, model, scale):
    src = tmp_path / "tiny"
    src.mkdir()
    for w, h in TINY:
        Image.new("RGB", (w, h), FLAT).save(src / f"{w}x{h}.png")
    args = ["--scale", str(scale)] if command == "upscale" else []
    result = run(command, src, "-o", tmp_path / "out", "--model", model, "--backend", backend, *args, "-q")
    assert result.exit_code == 0, result.stderr
    for w, h in TINY:
        with Image.open(tmp_path / "out" / f"{w}x{h}.png") as im:
            assert im.size == (w * scale, h * scale)
            out = np.asarray(im.convert("RGB"), dtype=float)
        # A flat colour stays that colour: the models see it mirrored out, not as all border.
        assert np.abs(out - FLAT).max() <= 4, (model, w, h, out.reshape(-1, 3)[:4])


# -- decompression bombs ---------------------------------------------------------------------------------
def test_a_decompression_bomb_is_one_line_before_any_pixel_is_allocated(tmp_path, upscale):
    src = png_header(tmp_path / "bomb.png", 100_000, 100_000)
    result = upscale(src, "--x2", *FAST)
    limit = 2 * Image.MAX_IMAGE_PIXELS
    assert_one_error(result.exit_code, result.stderr,
                     contains=f"{src}: 10,000,000,000 pixels, more than the {limit:,} vidrestore reads "
                              "(Pillow's decompression-bomb error limit)")
    assert not (tmp_path / "bomb.x2.png").exists()


def test_an_image_a_little_over_the_limit_is_refused_too(tmp_path, upscale):
    src = png_header(tmp_path / "wide.png", 200_000, 1_000)  # just over the limit (2 x Pillow's warning level)
    result = upscale(src, "--x2", *FAST)
    assert_one_error(result.exit_code, result.stderr, contains=f"{src}: 200,000,000 pixels, more than the {2 * Image.MAX_IMAGE_PIXELS:,}")


def test_a_100_megapixel_image_is_not_taken_for_a_bomb(tmp_path, upscale):
    """Pillow only warns between its two levels: a real 100-megapixel photo must be read (this
    header has no pixels, so it fails later, as a truncated file rather than as a bomb)."""
    src = png_header(tmp_path / "big.png", 100_000, 1_000)
    result = upscale(src, "--x2", *FAST)
    line = assert_one_error(result.exit_code, result.stderr)
    assert "more than the" not in line and "pixels" not in line, line


# -- filter parameters ------------------------------------------------------------------------------------
ABSURD = [
    ("richardson-lucy=motion:100000:0", "motion length must be from 0 to 253 pixels, got 100000"),
    ("wiener=motion:15:1e309", "motion angle must be a finite number of degrees, got inf"),
    ("wiener=defocus:500", "defocus radius must be from 0 to 127 pixels, got 500"),
    ("richardson-lucy=gaussian:nan", "gaussian sigma must be from 0 to 42 pixels, got nan"),
    ("unsharp=1e309", "the unsharp amount must be from 0 to 10, got inf"),
    ("unsharp=1,radius=1e6", "the unsharp radius must be above 0 and at most 50 pixels, got 1e+06"),
    ("sharpen=inf", "the sharpening amount must be from 0 to 10, got inf"),
    ("gamma=nan", "gamma must be positive and at most 10, got nan"),
    ("log=1e309", "log gain must be positive and at most 10, got inf"),
    ("clahe=2,tiles=100000", "tiles must be from 1 to 64, got 100000"),
    ("clahe=inf", "the clip limit must be positive and at most 100, got inf"),
    ("wiener=defocus:3,nsr=inf", "the noise-to-signal ratio must be positive and at most 10, got inf"),
    ("richardson-lucy=defocus:3,iterations=1000000000", "iterations must be from 1 to 1000, got 1000000000"),
]


@pytest.mark.parametrize("text, message", ABSURD, ids=[text for text, _ in ABSURD])
def test_absurd_filter_parameters_are_one_line_naming_the_range(tmp_path, text, message):
    src = make_image(tmp_path / "in.png", (24, 16))
    result = run("enhance", src, "--filter", text, "-q")
    assert result.exit_code == 2
    assert_one_error(result.exit_code, result.stderr, contains=f"--filter {text!r}: {message}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]


def test_the_largest_allowed_blur_still_works_on_a_tiny_image(tmp_path):
    src = make_image(tmp_path / "in.png", (5, 3))
    result = run("enhance", src, "--filter", "wiener=motion:253:30", "--filter", "richardson-lucy=defocus:127,iterations=2", "-q")
    assert result.exit_code == 0, result.stderr
    with Image.open(tmp_path / "in.enhanced.png") as im:
        assert im.size == (5, 3)


# -- out of memory with --backend torch ------------------------------------------------------------------------
class _Greedy(nn.Module):
    """Bicubic x2 whose memory, like a real network's, outgrows the machine: above
    `limit` pixels it asks the CPU allocator for 1 PiB, which any machine refuses."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.sizes: list[tuple[int, int]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append(tuple(x.shape[-2:]))
        if x.shape[-1] * x.shape[-2] > self.limit:
            torch.empty(1 << 50, dtype=torch.uint8)  # the real allocator's real error
        return imresize(x, scale=2, kernel="bicubic")


def test_torch_on_a_cpu_out_of_memory_retries_with_tiles(tmp_path, monkeypatch):
    import vidrestore.models.weights as weights

    src = make_image(tmp_path / "in.png", (128, 112))
    whole = run("upscale", src, "-o", tmp_path / "whole.png", "--x2", "--model", "bicubic", "--backend", "torch", "-q")
    assert whole.exit_code == 0, whole.stderr
    greedy = _Greedy(limit=100 * 100)
    monkeypatch.setattr(weights, "build_model", lambda spec, scale, path=None: greedy)
    result = run("upscale", src, "-o", tmp_path / "tiled.png", "--x2", "--model", "bicubic", "--backend", "torch", "-q")
    assert result.exit_code == 0, result.stderr
    assert lines(result.stderr, "warning") == ["vidrestore: warning: out of memory on whole 128x112 frames; retrying with 64-pixel tiles"]
    assert greedy.sizes[0] == (112, 128) and all(h * w <= 100 * 100 for h, w in greedy.sizes[1:])
    with Image.open(tmp_path / "whole.png") as a, Image.open(tmp_path / "tiled.png") as b:
        # Tiles with 16 pixels of context blend into the whole-frame answer.
        assert np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)).max() <= 1


# -- what an image loses ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["anim.webp", "anim.png"])
def test_animated_images_warn_that_only_the_first_frame_is_kept(tmp_path, upscale, name):
    frames = [Image.new("RGB", (16, 12), colour) for colour in ((200, 0, 0), (0, 200, 0), (0, 0, 200))]
    src = tmp_path / name
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=100, lossless=True)
    result = upscale(src, "--x2", *FAST)
    assert result.exit_code == 0, result.stderr
    assert lines(result.stderr, "warning") == [f"vidrestore: warning: {src}: 3 frames (animated); only the first is processed"]
    with Image.open(tmp_path / name.replace("anim", "anim.x2")) as out:
        assert getattr(out, "n_frames", 1) == 1
        assert np.abs(np.asarray(out.convert("RGB"), dtype=float) - (200, 0, 0)).max() <= 3


@pytest.mark.parametrize("suffix", [".jpg", ".bmp"])
def test_alpha_written_to_a_format_without_it_warns(tmp_path, upscale, suffix):
    src = make_image(tmp_path / "logo.png", (24, 16), alpha=True)
    dst = tmp_path / f"logo{suffix}"
    result = upscale(src, "-o", dst, "--x2", *FAST)
    assert result.exit_code == 0, result.stderr
    kind = Image.registered_extensions()[suffix]
    assert lines(result.stderr, "warning") == [f"vidrestore: warning: {dst}: {kind} has no alpha channel; the transparency is dropped"]


def test_an_opaque_alpha_channel_is_dropped_silently(tmp_path, upscale):
    src = tmp_path / "opaque.png"
    Image.new("RGBA", (16, 12), (10, 20, 30, 255)).save(src)
    result = upscale(src, "-o", tmp_path / "opaque.jpg", "--x2", *FAST)
    assert result.exit_code == 0, result.stderr
    assert lines(result.stderr, "warning") == []

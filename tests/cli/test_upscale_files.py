"""`vidrestore upscale` on images and folders; output naming and overwriting."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.media import decoded_frames, make_image, make_video
from tests.runs import FAST, assert_one_error, lines, partial_files


def test_png_with_alpha_keeps_alpha_and_becomes_three_times_larger(tmp_path, upscale):
    src = make_image(tmp_path / "logo.png", (40, 30), alpha=True)
    result = upscale(src, "--x3", *FAST)
    assert result.exit_code == 0, result.stderr
    with Image.open(tmp_path / "logo.x3.png") as out, Image.open(src) as before:
        assert out.mode == "RGBA" and out.size == (120, 90)
        alpha = np.asarray(out.getchannel("A"), dtype=float)
        # The alpha ramp (0 at the left edge, 255 at the right) is upscaled, not dropped or flattened.
        assert alpha[:, :3].mean() < 20 and alpha[:, -3:].mean() > 235
        ramp = np.asarray(before.getchannel("A"), dtype=float).mean(axis=0)
        assert np.abs(alpha.mean(axis=0)[1::3] - ramp).max() < 12


def test_jpeg_becomes_larger_and_keeps_its_colours(tmp_path, upscale):
    src = make_image(tmp_path / "photo.jpg", (40, 30))
    result = upscale(src, "--x2", *FAST)
    assert result.exit_code == 0, result.stderr
    with Image.open(tmp_path / "photo.x2.jpg") as out, Image.open(src) as before:
        assert out.format == "JPEG" and out.mode == "RGB" and out.size == (80, 60)
        small = np.asarray(out.resize(before.size, Image.BICUBIC), dtype=float)
        assert np.abs(small - np.asarray(before, dtype=float)).mean() < 6


def test_folder_goes_to_a_new_folder_under_the_same_names(tmp_path, upscale):
    src = tmp_path / "in"
    src.mkdir()
    make_image(src / "a.png", (32, 24), alpha=True)
    make_image(src / "b.jpg", (20, 16))
    make_video(src / "c.mp4", size=(64, 48), frames=6)
    (src / "notes.txt").write_text("not media\n")
    dst = tmp_path / "out"
    result = upscale(src, "-o", dst, "--x2", *FAST)
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in dst.iterdir()) == ["a.png", "b.jpg", "c.mp4"]
    with Image.open(dst / "a.png") as a, Image.open(dst / "b.jpg") as b:
        assert (a.size, a.mode, b.size) == ((64, 48), "RGBA", (40, 32))
    assert {(f.width, f.height) for f in decoded_frames(dst / "c.mp4")} == {(128, 96)}
    assert len(decoded_frames(dst / "c.mp4")) == 6


def test_folder_without_o_goes_beside_it(tmp_path, upscale):
    src = tmp_path / "shots"
    src.mkdir()
    make_image(src / "a.png")
    result = upscale(src, "--x4", *FAST)
    assert result.exit_code == 0, result.stderr
    with Image.open(tmp_path / "shots.x4" / "a.png") as out:
        assert out.size == (160, 120)


@pytest.mark.slow
def test_default_name_sits_beside_the_input_when_run_as_a_program(tmp_path, upscale_process):
    src = make_video(tmp_path / "in.mp4", frames=6)
    done = upscale_process("in.mp4", "--x3", "--model", "bicubic", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "wrote in.x3.mp4: 6 frames 192x144" in done.stderr
    assert done.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "in.x3.mp4"]
    assert [f.seconds for f in decoded_frames(tmp_path / "in.x3.mp4")] == [f.seconds for f in decoded_frames(src)]


def test_existing_output_is_refused_without_overwrite_and_replaced_with_it(tmp_path, upscale):
    src = make_video(tmp_path / "in.mp4", frames=6)
    dst = tmp_path / "in.x2.mp4"
    dst.write_bytes(b"precious")
    result = upscale(src, "--x2", *FAST)
    assert_one_error(result.exit_code, result.stderr, contains="already exists; pass --overwrite")
    assert dst.read_bytes() == b"precious"
    result = upscale(src, "--x2", "--overwrite", *FAST)
    assert result.exit_code == 0, result.stderr
    assert len(decoded_frames(dst)) == 6
    assert partial_files(tmp_path) == []


def test_folder_with_an_existing_output_file_is_refused_before_any_work(tmp_path, upscale):
    src = tmp_path / "in"
    src.mkdir()
    make_image(src / "a.png")
    make_image(src / "b.png")
    dst = tmp_path / "out"
    dst.mkdir()
    (dst / "b.png").write_bytes(b"precious")
    result = upscale(src, "-o", dst, "--x2", *FAST)
    assert_one_error(result.exit_code, result.stderr, contains="already exists")
    assert sorted(p.name for p in dst.iterdir()) == ["b.png"]
    assert (dst / "b.png").read_bytes() == b"precious"


@pytest.mark.parametrize("overwrite", [(), ("--overwrite",)], ids=["plain", "overwrite"])
def test_output_that_is_the_input_is_refused(tmp_path, upscale, overwrite):
    src = make_video(tmp_path / "in.mp4", frames=6)
    before = src.read_bytes()
    result = upscale(src, "-o", tmp_path / "." / "in.mp4", "--x2", *overwrite, *FAST)
    assert_one_error(result.exit_code, result.stderr, contains="is the input")
    assert src.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_folder_output_that_is_the_input_folder_is_refused(tmp_path, upscale):
    src = tmp_path / "in"
    src.mkdir()
    make_image(src / "a.png")
    result = upscale(src, "-o", src, "--x2", "--overwrite", *FAST)
    assert_one_error(result.exit_code, result.stderr, contains="is the input folder")
    assert sorted(p.name for p in src.iterdir()) == ["a.png"]


@pytest.mark.parametrize("suffix, mode", [(".png", "RGB"), (".webp", "RGB"), (".bmp", "RGB"), (".tiff", "RGB"), (".tif", "RGBA")])
def test_every_image_format_is_read_and_written_as_itself(tmp_path, upscale, suffix, mode):
    src = make_image(tmp_path / f"in{suffix}", (24, 18), alpha=mode == "RGBA")
    result = upscale(src, "--x2", *FAST)
    assert result.exit_code == 0, result.stderr
    with Image.open(tmp_path / f"in.x2{suffix}") as out, Image.open(src) as before:
        assert out.format == before.format and out.mode == mode and out.size == (48, 36)


def test_exif_orientation_is_applied(tmp_path, upscale):
    src = tmp_path / "phone.jpg"
    img = Image.fromarray(np.zeros((30, 40, 3), np.uint8))  # stored landscape, 40x30
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": shown portrait, 30x40
    img.save(src, exif=exif)
    result = upscale(src, "--x2", *FAST)
    assert result.exit_code == 0, result.stderr
    with Image.open(tmp_path / "phone.x2.jpg") as out:
        assert out.size == (60, 80)


def test_folder_with_one_bad_file_does_the_others_and_fails(tmp_path, upscale):
    src = tmp_path / "in"
    src.mkdir()
    make_image(src / "a.png")
    (src / "b.mp4").write_bytes(b"not a video at all")
    make_video(src / "c.mkv", frames=6)
    dst = tmp_path / "out"
    result = upscale(src, "-o", dst, "--x2", *FAST)
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    errors = lines(result.stderr, "error")
    assert len(errors) == 2
    assert "b.mp4: not a video file FFmpeg can read" in errors[0]
    assert errors[1] == "vidrestore: error: 1 of 3 files failed (see above)"
    assert sorted(p.name for p in dst.iterdir()) == ["a.png", "c.mkv"]
    assert len(decoded_frames(dst / "c.mkv")) == 6

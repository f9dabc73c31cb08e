"""`vidrestore upscale` on videos: what the output keeps of the input.

Timing, sound, subtitles, tags, rotation, colour description, bit depth and
sizes, checked by reading both files back with PyAV.
"""

from __future__ import annotations

from fractions import Fraction

import av
import pytest

from tests.media import (
    Audio,
    Color,
    Subtitles,
    audio_seconds,
    container_tags,
    decoded_frames,
    make_video,
    packet_bytes,
    remux_timestamps,
    stream_packets,
    stream_summary,
    video_seconds,
)
from tests.runs import FAST, lines, partial_files

MS = Fraction(1, 1000)
VFR_PTS = [0, 40, 80, 100, 180, 200, 260, 300, 301, 340, 400, 440]  # ms: gaps, a 1 ms step, bursts


def ok(result) -> str:
    """The run's stderr, after checking it succeeded."""
    assert result.exit_code == 0, result.stderr + repr(result.exception)
    return result.stderr


def video_codec_context(path):
    with av.open(str(path)) as container:
        ctx = container.streams.video[0].codec_context
        return ctx.pix_fmt, (ctx.color_primaries, ctx.color_trc, ctx.colorspace, ctx.color_range)


# --- timing and size ---------------------------------------------------------


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_constant_rate_keeps_every_timestamp_and_scales_the_size(tmp_path, upscale, scale):
    src = make_video(tmp_path / "in.mp4", size=(64, 48), frames=12, rate=25)
    dst = tmp_path / "out.mp4"
    ok(upscale(src, "-o", dst, f"--x{scale}", *FAST))
    before, after = decoded_frames(src), decoded_frames(dst)
    assert len(after) == len(before) == 12
    assert [f.seconds for f in after] == [f.seconds for f in before]
    assert {(f.width, f.height) for f in after} == {(64 * scale, 48 * scale)}
    assert partial_files(tmp_path) == []


@pytest.mark.parametrize("src_suffix, dst_suffix", [(".mkv", ".mkv"), (".mkv", ".mp4"), (".mp4", ".mov")])
def test_variable_rate_keeps_every_timestamp(tmp_path, upscale, src_suffix, dst_suffix):
    # 20 frames into mp4 also checks that the muxer's own time base (1/16000
    # for 1/1000 input) does not skew the frames encoded after the header.
    pts = VFR_PTS + [480 + 40 * i for i in range(8)]
    src = make_video(tmp_path / f"in{src_suffix}", frames=len(pts), time_base=MS, pts=pts)
    dst = tmp_path / f"out{dst_suffix}"
    ok(upscale(src, "-o", dst, "--x2", *FAST))
    before, after = decoded_frames(src), decoded_frames(dst)
    assert [f.seconds for f in before] == [p / 1000 for p in pts]
    assert [f.seconds for f in after] == [f.seconds for f in before]
    assert {(f.width, f.height) for f in after} == {(128, 96)}


@pytest.mark.parametrize("src_suffix, dst_suffix", [(".mp4", ".mp4"), (".mp4", ".mkv"), (".mkv", ".mp4")])
def test_input_with_b_frames_keeps_every_timestamp(tmp_path, upscale, src_suffix, dst_suffix):
    # B-frames: packets in decode order, frames come out reordered (mp4 adds an edit list).
    src = make_video(tmp_path / f"in{src_suffix}", frames=20, options={"preset": "medium", "bf": "3"})
    with av.open(str(src)) as container:
        packets = [p for p in container.demux(video=0) if p.size]
    assert any(p.pts != p.dts for p in packets) or src_suffix == ".mkv"  # reordered indeed
    dst = tmp_path / f"out{dst_suffix}"
    ok(upscale(src, "-o", dst, "--x2", *FAST))
    assert [f.seconds for f in decoded_frames(dst)] == [f.seconds for f in decoded_frames(src)] == [i / 25 for i in range(20)]


def test_default_codec_settings_apply_without_options(tmp_path, upscale):
    src = make_video(tmp_path / "in.mp4", frames=5)
    stderr = ok(upscale(src, "--x2", "--model", "bicubic"))
    out = tmp_path / "in.x2.mp4"
    assert lines(stderr, "warning") == []
    assert f"wrote {out}: 5 frames 128x96" in stderr
    assert stream_summary(out)[0]["codec"] == "h264"


def test_odd_size_at_x3_is_cropped_by_one_pixel_with_a_warning(tmp_path, upscale):
    src = make_video(tmp_path / "in.mkv", size=(63, 47), codec="ffv1", frames=6)
    dst = tmp_path / "out.mkv"
    stderr = ok(upscale(src, "-o", dst, "--x3", *FAST))
    assert {(f.width, f.height) for f in decoded_frames(dst)} == {(188, 140)}
    warnings = lines(stderr, "warning")
    assert len(warnings) == 1 and "189x141" in warnings[0] and "cropped to 188x140" in warnings[0]


def test_odd_size_at_x2_is_exactly_twice_as_large(tmp_path, upscale):
    src = make_video(tmp_path / "in.mkv", size=(63, 47), codec="ffv1", frames=6)
    dst = tmp_path / "out.mkv"
    stderr = ok(upscale(src, "-o", dst, "--x2", *FAST))
    assert {(f.width, f.height) for f in decoded_frames(dst)} == {(126, 94)}
    assert lines(stderr, "warning") == []


@pytest.mark.parametrize("codec", ["libx264", "libx265", "ffv1"])
def test_ten_bit_input_stays_ten_bit(tmp_path, upscale, codec):
    src = make_video(tmp_path / "in.mkv", pix_fmt="yuv420p10le", frames=4)
    dst = tmp_path / "out.mkv"
    stderr = ok(upscale(src, "-o", dst, "--x2", "--codec", codec, "--model", "bicubic", "-q"))
    assert video_codec_context(dst)[0] == "yuv420p10le"
    assert {f.format for f in decoded_frames(dst)} == {"yuv420p10le"}
    assert lines(stderr, "warning") == []


# --- audio ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "codec, src_suffix, dst_suffix",
    [
        ("aac", ".mp4", ".mp4"),
        ("aac", ".mp4", ".mkv"),
        ("pcm_s16le", ".mkv", ".mkv"),
        ("pcm_s16le", ".mkv", ".mp4"),
        ("ac3", ".mkv", ".mkv"),
        ("ac3", ".mkv", ".mp4"),
    ],
)
def test_audio_the_output_can_hold_is_copied_byte_for_byte(tmp_path, upscale, codec, src_suffix, dst_suffix):
    src = make_video(tmp_path / f"in{src_suffix}", frames=12, audio=[Audio(codec)])
    dst = tmp_path / f"out{dst_suffix}"
    stderr = ok(upscale(src, "-o", dst, "--x2", *FAST))
    assert lines(stderr, "warning") == []
    copied = packet_bytes(dst, "audio")
    assert copied and copied == packet_bytes(src, "audio")
    assert stream_summary(dst)[1]["codec"] == codec
    # Matroska cannot carry MP4's "skip the AAC priming samples" note, so from
    # mp4 to mkv the 1024 priming samples (21 ms) become audible: hence 0.05 s.
    assert audio_seconds(dst) == pytest.approx(video_seconds(dst), abs=0.05)


@pytest.mark.parametrize(
    "codec, dst_suffix, video_codec, expected",
    [
        ("pcm_s16le", ".webm", "libsvtav1", "opus"),
        ("ac3", ".webm", "libsvtav1", "opus"),
        ("pcm_u8", ".mp4", "libx264", "aac"),  # mp4 has no 8-bit PCM
    ],
)
def test_audio_the_output_cannot_hold_is_transcoded_with_one_warning(tmp_path, upscale, codec, dst_suffix, video_codec, expected):
    src = make_video(tmp_path / "in.mkv", frames=15, audio=[Audio(codec, tags={"language": "ger"})])
    dst = tmp_path / f"out{dst_suffix}"
    stderr = ok(upscale(src, "-o", dst, "--x2", "--codec", video_codec, "--model", "bicubic", "-q"))
    warnings = lines(stderr, "warning")
    assert len(warnings) == 1, warnings
    assert f"audio ({codec})" in warnings[0] and "transcoding" in warnings[0]
    streams = stream_summary(dst)
    assert [s["codec"] for s in streams[1:]] == [expected]
    assert streams[1]["tags"]["language"] == "ger"
    assert audio_seconds(dst) == pytest.approx(video_seconds(dst), abs=0.08)


def test_every_audio_stream_is_kept_in_order(tmp_path, upscale):
    src = make_video(tmp_path / "in.mkv", frames=12, audio=[Audio("aac"), Audio("pcm_s16le"), Audio("ac3")])
    dst = tmp_path / "out.mkv"
    ok(upscale(src, "-o", dst, "--x2", *FAST))
    assert [s["codec"] for s in stream_summary(dst)] == ["h264", "aac", "pcm_s16le", "ac3"]
    for i in range(3):
        assert packet_bytes(dst, "audio", i) == packet_bytes(src, "audio", i)
        assert audio_seconds(dst, i) == pytest.approx(video_seconds(dst), abs=0.05)


# --- subtitles and tags -------------------------------------------------------------


def test_subtitles_are_copied_into_matroska(tmp_path, upscale):
    cues = [(0.0, 0.2, "Hello"), (0.24, 0.12, "World"), (0.4, 0.06, "Bye")]
    src = make_video(tmp_path / "in.mkv", frames=12, subtitles=[Subtitles(cues)])
    dst = tmp_path / "out.mkv"
    stderr = ok(upscale(src, "-o", dst, "--x2", *FAST))
    assert lines(stderr, "warning") == []
    packets = stream_packets(dst, "subtitle")
    assert [bytes(p) for p in packets] == [b"Hello", b"World", b"Bye"]
    assert [(float(p.pts * p.time_base), float(p.duration * p.time_base)) for p in packets] == [(s, d) for s, d, _ in cues]


def test_subtitles_are_dropped_from_mp4_with_one_warning(tmp_path, upscale):
    src = make_video(tmp_path / "in.mkv", frames=12, audio=[Audio("aac")], subtitles=[Subtitles()])
    dst = tmp_path / "out.mp4"
    stderr = ok(upscale(src, "-o", dst, "--x2", *FAST))
    warnings = lines(stderr, "warning")
    assert len(warnings) == 1 and "subtitle" in warnings[0] and "dropping it" in warnings[0]
    assert [s["type"] for s in stream_summary(dst)] == ["video", "audio"]
    assert packet_bytes(dst, "audio") == packet_bytes(src, "audio")


@pytest.mark.parametrize("src_suffix, dst_suffix", [(".mkv", ".mkv"), (".mp4", ".mp4"), (".mp4", ".mkv")])
def test_language_and_title_tags_carry_over(tmp_path, upscale, src_suffix, dst_suffix):
    video_tags = {"language": "jpn", "title": "Main picture"}
    audio = [Audio("aac", tags={"language": "eng", "title": "Stereo mix"}), Audio("aac", tags={"language": "fra", "title": "Commentary"})]
    subtitles = [Subtitles(tags={"language": "spa", "title": "Spanish"})] if src_suffix == dst_suffix == ".mkv" else []
    src = make_video(tmp_path / f"in{src_suffix}", frames=12, tags=video_tags, audio=audio, subtitles=subtitles, container_tags={"title": "The film"})
    dst = tmp_path / f"out{dst_suffix}"
    ok(upscale(src, "-o", dst, "--x2", *FAST))
    assert container_tags(dst)["title"] == container_tags(src)["title"] == "The film"

    def language_and_title(path):
        # mp4 stores a track title in a "name" box and reads it back under that key.
        return [(s["type"], s["tags"].get("language"), s["tags"].get("title", s["tags"].get("name"))) for s in stream_summary(path)]

    expected = [("video", "jpn", "Main picture"), ("audio", "eng", "Stereo mix"), ("audio", "fra", "Commentary")]
    if subtitles:
        expected.append(("subtitle", "spa", "Spanish"))
    assert language_and_title(src) == expected  # the input really carries them
    assert language_and_title(dst) == expected


# --- rotation and colour ------------------------------------------------------------


@pytest.mark.parametrize("rotation", [90, 180, -90])
@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_rotation_is_kept(tmp_path, upscale, rotation, suffix):
    src = make_video(tmp_path / f"in{suffix}", frames=4, rotation=rotation)
    dst = tmp_path / f"out{suffix}"
    ok(upscale(src, "-o", dst, "--x2", *FAST))
    turned = {f.rotation for f in decoded_frames(src)}
    assert len(turned) == 1 and turned != {0}  # set_display_rotation really tagged the input
    assert {f.rotation for f in decoded_frames(dst)} == turned
    # The pixels are not turned: the display matrix does that, as in the input.
    assert {(f.width, f.height) for f in decoded_frames(dst)} == {(128, 96)}


def test_bt709_limited_range_description_is_kept(tmp_path, upscale):
    src = make_video(tmp_path / "in.mp4", frames=4, color=Color(primaries=1, trc=1, space=1, range=1))
    dst = tmp_path / "out.mp4"
    ok(upscale(src, "-o", dst, "--x2", *FAST))
    assert video_codec_context(src)[1] == (1, 1, 1, 1)
    assert video_codec_context(dst) == ("yuv420p", (1, 1, 1, 1))


def test_other_colour_descriptions_are_kept(tmp_path, upscale):
    # BT.2020 primaries, PQ transfer, BT.2020 non-constant matrix, 10-bit: an HDR10 tag set.
    src = make_video(tmp_path / "in.mkv", frames=4, pix_fmt="yuv420p10le", color=Color(primaries=9, trc=16, space=9, range=1))
    dst = tmp_path / "out.mkv"
    ok(upscale(src, "-o", dst, "--x2", *FAST))
    assert video_codec_context(dst) == ("yuv420p10le", (9, 16, 9, 1))


@pytest.mark.parametrize("kind", ["mjpeg-yuvj420p", "h264-color_range-2"])
def test_full_range_input_stays_full_range(tmp_path, upscale, kind):
    if kind == "mjpeg-yuvj420p":
        src = make_video(tmp_path / "in.mkv", frames=4, codec="mjpeg", pix_fmt="yuvj420p")
    else:
        src = make_video(tmp_path / "in.mkv", frames=4, color=Color(primaries=1, trc=1, space=1, range=2))
    dst = tmp_path / "out.mkv"
    ok(upscale(src, "-o", dst, "--x2", *FAST))
    assert video_codec_context(src)[1][3] == 2
    pix_fmt, color = video_codec_context(dst)
    assert color[3] == 2
    assert color[:3] == video_codec_context(src)[1][:3]
    # Full-range code values survive: black stays at 0 rather than being squeezed to 16.
    with av.open(str(dst)) as container:
        frame = next(container.decode(video=0))
        assert frame.color_range == 2


# --- broken input timing --------------------------------------------------------------


def broken_timestamps(tmp_path, pts, dts):
    src = make_video(tmp_path / "mpeg4.mkv", codec="mpeg4", options={"bf": "0"}, frames=len(pts), time_base=MS, pts=[40 * i for i in range(len(pts))])
    return remux_timestamps(src, tmp_path / "broken.mkv", pts=pts, dts=dts)


@pytest.mark.parametrize(
    "pts, dts, repaired",
    [
        ([0, 80, 40] + [40 * i for i in range(3, 20)], [40 * i - 80 for i in range(20)], 1),  # out of order
        ([0, 40, 40, 40] + [40 * i for i in range(4, 20)], [0, 40, 40, 40] + [40 * i for i in range(4, 20)], 2),  # repeated
    ],
    ids=["out-of-order", "repeated"],
)
@pytest.mark.parametrize("dst_suffix", [".mkv", ".mp4"])
def test_broken_timestamps_become_strictly_increasing(tmp_path, upscale, pts, dts, repaired, dst_suffix):
    src = broken_timestamps(tmp_path, pts, dts)
    assert [f.pts for f in decoded_frames(src)] == pts  # the input really is broken
    dst = tmp_path / f"out{dst_suffix}"
    stderr = ok(upscale(src, "-o", dst, "--x2", *FAST))
    times = [f.seconds for f in decoded_frames(dst)]
    assert len(times) == len(pts)
    assert all(a < b for a, b in zip(times, times[1:])), times
    assert times[0] == 0.0 and times[-1] == pytest.approx(max(pts) / 1000)
    assert video_seconds(dst) == pytest.approx((max(pts) + 40) / 1000, abs=0.041)
    warnings = lines(stderr, "warning")
    assert warnings == [f"vidrestore: warning: {src}: {repaired} missing or out-of-order timestamps were repaired"]


# --- damaged input -----------------------------------------------------------------------


def test_truncated_matroska_that_still_has_frames_succeeds_with_a_warning(tmp_path, upscale):
    whole = make_video(tmp_path / "whole.mkv", frames=60, audio=[Audio("aac")])
    src = tmp_path / "cut.mkv"
    data = whole.read_bytes()
    src.write_bytes(data[: int(len(data) * 0.3)])
    decodable = len(decoded_frames(src))
    assert 0 < decodable < 60
    dst = tmp_path / "out.mkv"
    stderr = ok(upscale(src, "-o", dst, "--x2", *FAST))
    warnings = lines(stderr, "warning")
    assert len(warnings) == 1
    assert "decode errors (corrupt input)" in warnings[0] and f"{decodable} frames were decoded and written" in warnings[0]
    assert len(decoded_frames(dst)) == decodable
    assert partial_files(tmp_path) == []

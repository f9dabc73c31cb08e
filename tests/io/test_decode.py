"""Decoding: the timestamp fixer, and what the Decoder reads from awkward files."""

from __future__ import annotations

from fractions import Fraction

import pytest

from tests.media import Color, make_video, remux_timestamps
from vidrestore.frames import ColorTags
from vidrestore.io.decode import Decoder, TimestampFixer
from vidrestore.io.probe import probe


def fixed(step: int, pts: list[int | None], **kwargs: int) -> list[tuple[object, int]]:
    """Push frames 0..n-1 with the given pts, then flush; (frame, pts) in output order."""
    fixer = TimestampFixer(step, **kwargs)
    out = []
    for i, t in enumerate(pts):
        out += fixer.push(i, t)
    return out + fixer.flush()


def test_fixer_keeps_good_timestamps_as_they_are():
    pts = [0, 40, 80, 100, 180, 181, 300]  # variable rate, all increasing
    assert fixed(40, pts) == list(enumerate(pts))


def test_fixer_spreads_missing_timestamps_evenly_between_good_neighbours():
    assert fixed(40, [0, None, None, 120]) == [(0, 0), (1, 40), (2, 80), (3, 120)]
    # The gap decides the spacing, not the nominal step: no drift.
    assert fixed(40, [0, None, 300]) == [(0, 0), (1, 150), (2, 300)]


def test_fixer_treats_repeated_and_backward_timestamps_like_missing_ones():
    assert fixed(40, [0, 40, 40, 40, 160]) == [(0, 0), (1, 40), (2, 80), (3, 120), (4, 160)]
    assert fixed(40, [0, 80, 40, 120]) == [(0, 0), (1, 80), (2, 100), (3, 120)]


def test_fixer_continues_at_the_frame_step_at_the_end_of_the_stream():
    assert fixed(40, [0, 40, None, None]) == [(0, 0), (1, 40), (2, 80), (3, 120)]
    assert fixed(40, [0, 40, 40, 10]) == [(0, 0), (1, 40), (2, 80), (3, 120)]


def test_fixer_counts_backwards_from_the_first_good_timestamp_for_leading_gaps():
    assert fixed(40, [None, None, 200, 240]) == [(0, 120), (1, 160), (2, 200), (3, 240)]
    assert fixed(40, [None, None]) == [(0, 0), (1, 40)]


def test_fixer_counts_what_it_fixed():
    fixer = TimestampFixer(40)
    for i, t in enumerate([0, None, 40, 40, 200, None]):
        fixer.push(i, t)
    fixer.flush()
    assert fixer.fixed == 3


def test_fixer_stays_strictly_increasing_when_a_gap_is_too_narrow_for_its_frames():
    # Three frames wait behind pts 40; the next pts (41) leaves no room for them.
    out = fixed(40, [0, 40, 10, 20, 30, 41, 80])
    assert [i for i, _ in out] == list(range(7))
    times = [t for _, t in out]
    assert all(a < b for a, b in zip(times, times[1:])), times
    assert times[0] == 0 and times[-1] == 80  # good neighbours kept, no drift
    out = fixed(1, [0, 0, 0, 0, 2, 3])
    times = [t for _, t in out]
    assert all(a < b for a, b in zip(times, times[1:])), times


def test_fixer_releases_frames_when_too_many_wait():
    fixer = TimestampFixer(10, max_pending=3)
    assert fixer.push("a", 0) == [("a", 0)]
    assert fixer.push("b", None) == []
    assert fixer.push("c", None) == []
    assert fixer.push("d", None) == [("b", 10), ("c", 20), ("d", 30)]
    assert fixer.push("e", 35) == [("e", 35)]


def decode_all(path, **kwargs) -> tuple[Decoder, list[int]]:
    decoder = Decoder(probe(path), **kwargs)
    pts = [t for _, _, t in decoder.frames()]
    return decoder, pts


def test_decoder_repairs_out_of_order_timestamps(tmp_path):
    ms = Fraction(1, 1000)
    src = make_video(tmp_path / "mpeg4.mkv", codec="mpeg4", options={"bf": "0"}, frames=12, time_base=ms, pts=[40 * i for i in range(12)])
    pts = [0, 80, 40] + [40 * i for i in range(3, 12)]
    broken = remux_timestamps(src, tmp_path / "broken.mkv", pts=pts, dts=[40 * i - 80 for i in range(12)])
    decoder, out = decode_all(broken)
    assert len(out) == 12
    assert all(a < b for a, b in zip(out, out[1:])), out
    assert out[0] == 0 and out[-1] == 440
    assert decoder.stats.fixed_timestamps == 1
    assert decoder.stats.decode_errors == 0


def test_decoder_reads_ten_bit_and_full_range(tmp_path):
    deep = make_video(tmp_path / "deep.mkv", pix_fmt="yuv420p10le", frames=3)
    decoder, _ = decode_all(deep)
    assert decoder.format.plane.pix_fmt == "yuv420p10le" and decoder.format.plane.bit_depth == 10
    jpeg = make_video(tmp_path / "jpeg.mkv", codec="mjpeg", pix_fmt="yuvj420p", frames=3)
    decoder, _ = decode_all(jpeg)
    assert decoder.format.plane.pix_fmt == "yuv420p" and decoder.format.plane.full_range
    assert decoder.format.color.range == 2
    tagged = make_video(tmp_path / "tagged.mp4", frames=3, color=Color(primaries=1, trc=1, space=1, range=2))
    decoder, _ = decode_all(tagged)
    assert decoder.format.plane.full_range
    assert decoder.format.color == ColorTags(1, 1, 1, 2)


def test_decoder_reports_rotation(tmp_path):
    src = make_video(tmp_path / "turned.mp4", frames=3, rotation=90)
    decoder, _ = decode_all(src)
    assert decoder.format.rotation == 90


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_decoder_counts_a_truncated_tail_as_a_decode_error(tmp_path, suffix):
    options = {"movflags": "faststart"} if suffix == ".mp4" else None
    whole = make_video(tmp_path / f"whole{suffix}", frames=30, container_options=options)
    cut = tmp_path / f"cut{suffix}"
    data = whole.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.3)])
    decoder, pts = decode_all(cut)
    assert 0 < len(pts) < 30
    assert decoder.stats.decode_errors >= 1
    complete, pts = decode_all(whole)
    assert len(pts) == 30 and complete.stats.decode_errors == 0


def test_decoder_range_yields_only_frames_inside_it(tmp_path):
    src = make_video(tmp_path / "in.mkv", frames=20, rate=25, options={"g": "5"})
    tb = probe(src).time_base
    decoder, pts = decode_all(src, start=0.2, end=0.4)
    assert [float(t * tb) for t in pts] == pytest.approx([0.2, 0.24, 0.28, 0.32, 0.36])
    assert decoder.stats.decode_errors == 0

"""probe: what a file holds, and the errors for files that hold no video."""

from __future__ import annotations

import re
from fractions import Fraction

import pytest

from tests.media import Audio, Subtitles, make_audio_only, make_video
from vidrestore.errors import InputError
from vidrestore.io.probe import probe


def test_probe_describes_the_video_and_the_other_streams(tmp_path):
    src = make_video(tmp_path / "in.mkv", size=(80, 48), frames=10, rate=25, audio=[Audio("aac")], subtitles=[Subtitles()])
    info = probe(src)
    assert (info.width, info.height) == (80, 48)
    assert info.pix_fmt == "yuv420p" and info.codec == "h264"
    assert info.rate == 25
    assert info.frame_step * info.time_base == Fraction(1, 25)
    assert info.duration == pytest.approx(0.4, abs=0.05)
    # FFmpeg names its SubRip decoder "srt" or "subrip" depending on the version.
    assert info.other_streams in (("audio:aac", "subtitle:srt"), ("audio:aac", "subtitle:subrip"))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p, "no such file or folder"),
        (lambda p: p.write_bytes(b""), "file is empty"),
        (lambda p: p.write_text("not a video\n"), "not a video file FFmpeg can read"),
        (lambda p: make_audio_only(p), "no video stream (found audio streams)"),
    ],
    ids=["missing", "empty", "text", "audio-only"],
)
def test_probe_refuses_files_without_video(tmp_path, make, message):
    path = tmp_path / "in.mp4"
    make(path)
    with pytest.raises(InputError, match=re.escape(message)):
        probe(path)

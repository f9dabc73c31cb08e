"""Keyframe-aligned segments, run one by one and joined by packet copy, give what one run gives:
the groundwork of sharded and resumable jobs."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tests.media import Audio, make_video, remux_timestamps
from vidrestore.io.encode import EncodeOptions
from vidrestore.io.probe import probe
from vidrestore.pipeline.build import ModelStep, ProcessingSpec, Runtime, build_processor
from vidrestore.pipeline.progress import Progress
from vidrestore.pipeline.runner import RunOptions, run_video
from vidrestore.pipeline.segments import keyframe_times, plan_segments, run_segmented
from vidrestore.signals import Stop

# Open GOPs and three B-frames: the leading B-frames after each keyframe belong to the segment before it.
OPEN_GOP = {"bf": "3", "g": "12", "keyint_min": "12", "x264-params": "open-gop=1"}


@pytest.fixture(scope="module")
def processor():
    return build_processor(ProcessingSpec(models=(ModelStep("bicubic", "sr", 2),), runtime=Runtime("cpu", "torch")))


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    ms = Fraction(1, 1000)
    mpeg4 = make_video(folder / "mpeg4.mkv", codec="mpeg4", options={"bf": "0", "g": "6"}, frames=24, time_base=ms,
                       pts=[40 * i for i in range(24)])
    return {
        "open-gop": make_video(folder / "open-gop.mp4", frames=60, options=OPEN_GOP, audio=[Audio()]),
        "variable-rate": make_video(folder / "vfr.mkv", frames=40, time_base=ms, options={"g": "8"},
                                    pts=[40 * i + (i % 3) * 7 for i in range(40)]),
        # Out-of-order timestamps the decoder repairs (as in tests/io/test_decode.py).
        "repaired": remux_timestamps(mpeg4, folder / "broken.mkv", pts=[0, 80, 40] + [40 * i for i in range(3, 24)],
                                     dts=[40 * i - 80 for i in range(24)]),
    }


def decoded(path: Path) -> list[tuple[int, np.ndarray]]:
    with av.open(str(path)) as container:
        return [(frame.pts, frame.to_ndarray()) for frame in container.decode(video=0)]


def audio_packets(path: Path) -> list[tuple[int, bytes]]:
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return []
        return [(p.pts, bytes(p)) for p in container.demux(container.streams.audio[0]) if p.size]


def both_ways(processor, src: Path, out: Path, encode: EncodeOptions, seconds: float = 0.4) -> tuple[Path, Path, int]:
    info = probe(src)
    single, joined = out / f"single{out.suffix}", out / f"joined{out.suffix}"
    out.mkdir()
    run_video(info, single, processor, encode, RunOptions(), stop=Stop(), progress=Progress(0, enabled=False))
    segments = plan_segments(info, seconds)
    parts = out / "parts"
    parts.mkdir()
    run_segmented(info, joined, processor, encode, RunOptions(), segments, parts, stop=Stop(), progress=Progress(0, enabled=False))
    return single, joined, len(segments)


def test_the_plan_reads_packets_and_cuts_at_keyframes(clips) -> None:
    info = probe(clips["open-gop"])
    keys = keyframe_times(info)
    assert keys == [Fraction(12 * i, 25) for i in range(5)]  # every 12th frame at 25 fps
    segments = plan_segments(info, 0.4)
    assert [(s.start, s.end) for s in segments] == [(None, keys[1]), (keys[1], keys[2]), (keys[2], keys[3]),
                                                    (keys[3], keys[4]), (keys[4], None)]
    assert [(s.start, s.end) for s in plan_segments(info, 1.0)] == [(None, keys[3]), (keys[3], None)]
    assert [(s.start, s.end) for s in plan_segments(info, 60)] == [(None, None)]


@pytest.mark.parametrize("clip", ["open-gop", "variable-rate", "repaired"])
@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_lossless_joins_equal_one_run_frame_for_frame(processor, clips, tmp_path, clip, suffix) -> None:
    single, joined, count = both_ways(processor, clips[clip], tmp_path / f"out{suffix}", EncodeOptions(codec="ffv1"))
    assert count > 1
    ours, theirs = decoded(joined), decoded(single)
    assert len(ours) == len(theirs) == len(decoded(clips[clip]))
    assert [t for t, _ in ours] == [t for t, _ in theirs]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(ours, theirs))
    assert audio_packets(joined) == audio_packets(single)


@pytest.mark.parametrize("preset", ["ultrafast", "medium"])  # medium: B-frames in the output too
@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_x264_joins_keep_every_frame_and_time(processor, clips, tmp_path, preset, suffix) -> None:
    single, joined, count = both_ways(processor, clips["open-gop"], tmp_path / f"out{suffix}", EncodeOptions(preset=preset))
    assert count == 5
    source = [t for t, _ in decoded(clips["open-gop"])]
    assert [t for t, _ in decoded(joined)] == [t for t, _ in decoded(single)]
    assert len(decoded(joined)) == len(source) == 60
    assert audio_packets(joined) == audio_packets(single)


def test_joins_keep_rotation_colour_and_tags(processor, tmp_path) -> None:
    from tests.media import Color, container_tags, decoded_frames, stream_summary

    src = make_video(tmp_path / "tagged.mp4", frames=30, options={"g": "10"}, rotation=90, tags={"title": "the take"},
                     container_tags={"comment": "kept"}, color=Color(primaries=1, trc=1, space=1, range=1), audio=[Audio()])
    single, joined, count = both_ways(processor, src, tmp_path / "out.mp4", EncodeOptions(codec="libx264", preset="ultrafast"))
    assert count == 3
    assert stream_summary(joined) == stream_summary(single)
    assert container_tags(joined) == container_tags(single)
    assert [f.rotation for f in decoded_frames(joined)] == [f.rotation for f in decoded_frames(single)]
    with av.open(str(joined)) as a, av.open(str(single)) as b:
        ours, theirs = a.streams.video[0].codec_context, b.streams.video[0].codec_context
        assert (ours.color_primaries, ours.color_trc, ours.colorspace, ours.color_range) == \
               (theirs.color_primaries, theirs.color_trc, theirs.colorspace, theirs.color_range)

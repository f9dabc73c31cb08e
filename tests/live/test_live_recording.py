"""`--sink file:PATH`: encoded as --codec/--crf/--preset say, written like every output
(a tracked temporary, committed at the end), no file without frames, and what was
recorded kept when the session ends on an error."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from tests.live.live_server import QUICK
from tests.media import pattern
from tests.runs import partial_files
from vidrestore import signals
from vidrestore.errors import UsageError
from vidrestore.io.encode import EncodeOptions
from vidrestore.live.frames import Frame
from vidrestore.live.sinks import FileSink


def _run(*args: object):
    from vidrestore.cli import cli

    return CliRunner().invoke(cli, [*map(str, args)])


def _send(sink: FileSink, count: int, size: tuple[int, int] = (64, 48)) -> None:
    for i in range(count):
        y, u, v = pattern(i, *size, "yuv420p")
        sink.send(y, np.stack([u, v]), Frame(y, np.stack([u, v]), t=i / 15, index=i))


@pytest.mark.slow
def test_the_recording_is_encoded_as_codec_crf_and_preset_say(tmp_path: Path):
    rec, stats = tmp_path / "x.mkv", tmp_path / "s.json"
    result = _run("live", *QUICK, "--sink", f"file:{rec}", "--codec", "libx265", "--crf", "30", "--duration", "2", "-q",
                  "--stats-json", stats)
    assert result.exit_code == 0, result.stderr
    with av.open(str(rec)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "hevc"
        frames = list(container.decode(stream))
    assert (frames[0].width, frames[0].height) == (128, 96)
    assert len(frames) == json.loads(stats.read_text())["frames_out"] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json", "x.mkv"]


def test_a_codec_the_container_cannot_hold_is_refused_before_anything_runs(tmp_path: Path):
    with pytest.raises(UsageError, match="cannot hold"):
        FileSink(tmp_path / "x.mov", encode=EncodeOptions("ffv1"))
    assert list(tmp_path.iterdir()) == []


def test_a_recording_is_a_tracked_temporary_until_it_is_committed(tmp_path: Path):
    sink = FileSink(tmp_path / "rec.mp4", encode=EncodeOptions(preset="veryfast"))
    sink.open((64, 48), 15)
    _send(sink, 10)
    assert [p for p in signals._tracked if p.parent == tmp_path]  # a signal's forced exit removes it
    sink.close(complete=True)
    assert sink.committed and not [p for p in signals._tracked if p.parent == tmp_path]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.mp4"]
    with av.open(str(tmp_path / "rec.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 10


def test_no_frame_no_file(tmp_path: Path):
    sink = FileSink(tmp_path / "rec.mp4")
    sink.open((64, 48), 15)
    sink.close(complete=True)
    assert not sink.committed and list(tmp_path.iterdir()) == []
    assert not [p for p in signals._tracked if p.parent == tmp_path]


def test_a_session_that_ends_on_an_error_keeps_its_frames(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    sink = FileSink(tmp_path / "rec.mkv")
    sink.open((64, 48), 15)
    _send(sink, 6)
    with caplog.at_level(logging.WARNING):
        sink.close(complete=False)
    assert "keeps the 6 frames recorded" in caplog.text
    assert partial_files(tmp_path) == [] and sink.committed
    with av.open(str(tmp_path / "rec.mkv")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 6


def test_a_lossless_recording_gets_no_warning_about_a_preset_nobody_gave(tmp_path: Path):
    """live's default preset (veryfast) is for encoders that have presets; FFV1 has none."""
    rec = tmp_path / "x.mkv"
    result = _run("live", *QUICK, "--sink", f"file:{rec}", "--codec", "ffv1", "--duration", "1", "-q")
    assert result.exit_code == 0, result.stderr
    assert "ignored" not in result.stderr
    with av.open(str(rec)) as container:
        assert container.streams.video[0].codec_context.name == "ffv1"
    given = _run("live", *QUICK, "--sink", f"file:{tmp_path / 'y.mkv'}", "--codec", "ffv1", "--preset", "slow",
                 "--duration", "1", "-q")
    assert given.exit_code == 0, given.stderr
    assert "vidrestore: warning: ffv1 is lossless: --crf and --preset are ignored" in given.stderr

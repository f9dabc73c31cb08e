"""The benchmarks run end to end on a small generated clip and report positive rates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.media import make_video
from vidrestore.bench import restore, upscale


def _rates(out: str) -> list[float]:
    rows = [line for line in out.splitlines() if line.startswith("| ") and not line.startswith(("| model |", "| run |"))]
    return [float(v) for row in rows for v in re.findall(r"\| ([0-9.]+) ", row + " ")]


@pytest.mark.parametrize("bench, argv", [
    (upscale, ["--x2", "--models", "bicubic,espcn"]),
    (restore, ["--size", "64x48", "--frames", "6", "--run", "filter:gamma=0.8+sharpen", "--run", "deblur:deepdeblur"]),
])
def test_bench_prints_a_row_per_configuration(tmp_path: Path, capsys: pytest.CaptureFixture[str], bench, argv) -> None:
    src = make_video(tmp_path / "in.mp4", size=(48, 32), frames=8)
    bench.main([str(src), *argv, "--no-record"])
    out = capsys.readouterr().out
    rates = _rates(out)
    assert len(rates) == 2 * 3 and all(r > 0 for r in rates), out
    assert "machine:" in out.splitlines()[0]

"""bench.memory end to end on one short row: the child processes run and every term is reported."""

from __future__ import annotations

import re

import pytest

from vidrestore.bench import memory


@pytest.mark.slow
def test_the_memory_bench_prints_a_row_with_its_terms(capsys: pytest.CaptureFixture[str]) -> None:
    memory.main(["--only", "bicubic ffv1", "--frames", "8", "--encoder-frames", "8", "--no-4k", "--no-record"])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| bicubic ffv1 |")]
    assert len(rows) == 1, out
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert cells[1] == "640x360 -> 1920x1080" and cells[2] == "ffv1"
    assert all(float(v) > 0 for v in cells[4:9]), cells  # peak RSS, peak anon, fps, fixed, encoder
    assert re.fullmatch(r"\d+\.\.\d+", cells[9]) and re.fullmatch(r"\d+\.\.\d+", cells[11]), cells  # frames, predicted
    assert re.fullmatch(r"\d+ \(\d+\.\d\)", cells[10]), cells  # model (K)
    assert "machine:" in out

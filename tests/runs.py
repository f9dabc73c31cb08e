"""CLI runs in tests: quick arguments, and reading what a run left behind."""

from __future__ import annotations

from pathlib import Path

# The quick way through the pipeline: a resampler instead of a network, the
# fastest x264 preset, no progress lines. Tests add their own scale and paths.
FAST = ("--model", "bicubic", "--preset", "ultrafast", "-q")


def lines(stderr: str, kind: str) -> list[str]:
    """The stderr lines of one kind: "error", "warning"."""
    return [line for line in stderr.splitlines() if line.startswith(f"vidrestore: {kind}:")]


def partial_files(folder: Path) -> list[Path]:
    """Temporary outputs (`.NAME.partial-XXXX.ext`) anywhere under `folder`."""
    return sorted(p for p in folder.rglob(".*.partial-*"))


def assert_one_error(exit_code: int, stderr: str, *, contains: str = "") -> str:
    """A user error: non-zero exit and exactly one stderr line, the error, without a traceback."""
    assert exit_code != 0, stderr
    assert "Traceback" not in stderr, stderr
    text = [line for line in stderr.splitlines() if line.strip()]
    assert len(text) == 1, text
    assert text[0].startswith("vidrestore: error:"), text
    assert contains in text[0], text
    return text[0]

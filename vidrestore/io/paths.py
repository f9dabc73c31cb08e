"""Where outputs go, and writing them atomically."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vidrestore.errors import OutputError

# The containers we write (suffix -> PyAV format name), and every suffix read as video.
CONTAINERS: dict[str, str] = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".webm": "webm",
    ".avi": "avi",
    ".ts": "mpegts",
}
VIDEO_SUFFIXES = frozenset(CONTAINERS) | {".flv", ".wmv", ".mpg", ".mpeg", ".m2ts", ".3gp", ".ogv", ".y4m"}


def cache_dir(kind: str) -> Path:
    """Where vidrestore keeps `kind` ("onnx", "tensorrt") between runs: $VIDRESTORE_CACHE,
    else $XDG_CACHE_HOME/vidrestore, else ~/.cache/vidrestore (an empty variable counts as unset)."""
    if root := os.environ.get("VIDRESTORE_CACHE"):
        return Path(root) / kind
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vidrestore" / kind


def default_output(src: Path, tag: str, *, video: bool = True) -> Path:
    """in.mp4 -> in.x3.mp4 beside it; a folder -> folder.x3.

    A video in a container we cannot write (flv, wmv, m4a, ...) gets .mkv,
    which holds nearly any codec, so its streams can still be copied.
    """
    if src.is_dir():
        return src.with_name(f"{src.name}.{tag}")
    return src.with_name(f"{src.stem}.{tag}{writable_suffix(src) if video else src.suffix}")


def writable_suffix(path: Path) -> str:

    return path.suffix if path.suffix.lower() in CONTAINERS else ".mkv"


def check_output(dst: Path, src: Path | None = None, *, overwrite: bool) -> None:
    """Refuse outputs that would lose data (`src` itself, an existing file) or cannot be written."""
    if src is not None and dst.exists() and src.exists() and dst.resolve() == src.resolve():
        raise OutputError(f"the output {dst} is the input; choose another -o")
    parent = dst.parent
    if not parent.is_dir():
        raise OutputError(f"output folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"output folder {parent} is not writable")
    if dst.exists() and not overwrite:
        raise OutputError(f"{dst} already exists; pass --overwrite to replace it")
    if dst.is_dir():
        raise OutputError(f"{dst} is a folder; give a file name")


def temp_path(dst: Path) -> Path:
    # Same folder (so the final rename is atomic), hidden, same suffix (so tools recognise it).
    return dst.with_name(f".{dst.stem}.partial-{secrets.token_hex(4)}{dst.suffix}")


@contextmanager
def atomic_output(dst: Path) -> Iterator[Path]:
    """Yield a temporary path; rename it to `dst` only if the block succeeds."""
    tmp = temp_path(dst)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, dst)

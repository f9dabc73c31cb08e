"""Where outputs go, and writing them atomically.

Every output is written to a hidden temporary beside it and committed at the
end with a rename that never replaces a file that appeared meanwhile (unless
the user said --overwrite). Temporaries carry the writer's process id, so a
later run can tell the leftovers of a killed run from another run's work in
progress.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vidrestore import signals
from vidrestore.errors import InputError, OutputError

log = logging.getLogger(__name__)

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
# The one list of image types: what every command, eval and the training data read as images.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def check_readable_file(path: Path) -> None:
    """A file that exists, is a regular file and is not empty, or one `InputError`."""
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty")


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


def same_file(a: Path, b: Path) -> bool:
    """Whether `a` and `b` name one existing file (another spelling, a link)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_output(dst: Path, src: Path | None = None, *, overwrite: bool, is_input: str | None = None) -> None:
    """Refuse outputs that would lose data (`src` itself, an existing file) or cannot be written.
    `is_input`: the message when `dst` is `src`, for commands whose output is not named by -o."""
    if src is not None and same_file(dst, src):
        raise OutputError(is_input or f"the output {dst} is the input; choose another -o")
    parent = dst.parent
    if not parent.is_dir():
        raise OutputError(f"output folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"output folder {parent} is not writable")
    if dst.is_dir():
        raise OutputError(f"{dst} is a folder; give a file name")
    if dst.exists() and not overwrite:
        raise OutputError(f"{dst} already exists; pass --overwrite to replace it")


# --- temporaries -----------------------------------------------------------------

_PARTIAL = re.compile(r"\.(?P<stem>.*)\.partial-(?:(?P<pid>\d+)-)?[0-9a-f]+(?P<suffix>\.[^.]*)?")


def temp_path(dst: Path) -> Path:
    # Same folder (so the final rename is atomic), hidden, same suffix (so tools recognise it),
    # and the writer's pid (so a later run can tell a dead run's leftovers from live work).
    return dst.with_name(f".{dst.stem}.partial-{os.getpid()}-{secrets.token_hex(4)}{dst.suffix}")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def stale_partials(dst: Path) -> list[Path]:
    """Temporaries of `dst` left by runs that are no longer alive (killed, power cut).
    A temporary whose writer still runs on this machine is not stale."""
    found = []
    try:
        entries = list(dst.parent.iterdir())
    except OSError:
        return []
    for path in entries:
        m = _PARTIAL.fullmatch(path.name)
        if m is None or m["stem"] != dst.stem or (m["suffix"] or "") != dst.suffix:
            continue
        if m["pid"] is not None and _pid_alive(int(m["pid"])):
            continue
        found.append(path)
    return sorted(found)


def warn_stale_partials(outputs: list[Path]) -> None:
    """One warning line when interrupted runs left temporaries of `outputs` behind."""
    stale = [p for dst in outputs for p in stale_partials(dst)]
    if not stale:
        return
    size = sum(p.stat().st_size for p in stale if p.is_file()) / 1e6
    if len(outputs) == 1:
        log.warning("%d unfinished file%s of %s left by an interrupted run (%s, %.1f MB); removed when this run completes",
                    len(stale), "s" if len(stale) > 1 else "", outputs[0], stale[0].name, size)
    else:
        log.warning("%d unfinished file%s in %s left by interrupted runs (%.1f MB); each goes when its output is written",
                    len(stale), "s" if len(stale) > 1 else "", stale[0].parent, size)


def remove_stale_partials(dst: Path) -> None:
    for path in stale_partials(dst):
        try:
            path.unlink()
        except OSError as exc:
            log.debug("could not remove %s: %s", path, exc)


# --- committing -----------------------------------------------------------------

_RENAME_NOREPLACE = 1
_AT_FDCWD = -100


def _renameat2_noreplace(src: Path, dst: Path) -> bool:
    """rename(2) that fails if `dst` exists (Linux 3.15+, glibc 2.28+). False: not available here."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):  # this file system cannot; try a hard link
        return False
    raise OSError(err, os.strerror(err), str(dst))


def _link_noreplace(src: Path, dst: Path) -> bool:
    try:
        os.link(src, dst)
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK, errno.ENOSYS):
            return False  # no hard links here (FAT, some network file systems)
        raise
    os.unlink(src)
    return True


def commit(tmp: Path, dst: Path, *, overwrite: bool) -> None:
    """Move the finished `tmp` to `dst`. Without `overwrite`, a `dst` that exists now (another run
    finished first) is never replaced: OutputError, and `tmp` stays for the caller to remove."""
    try:
        if overwrite:
            os.replace(tmp, dst)
        elif not _renameat2_noreplace(tmp, dst) and not _link_noreplace(tmp, dst):
            # Neither atomic way exists on this file system: check, then rename (a small window).
            if os.path.lexists(dst):
                raise FileExistsError(errno.EEXIST, "exists", str(dst))
            os.rename(tmp, dst)
    except FileExistsError:
        raise OutputError(f"{dst} already exists (it appeared while this run worked); pass --overwrite to replace it") from None
    except IsADirectoryError:
        raise OutputError(f"{dst} is a folder; give a file name") from None
    except OSError as exc:
        raise OutputError(f"cannot write {dst}: {exc.strerror or exc}") from None


@contextmanager
def atomic_output(dst: Path, *, overwrite: bool) -> Iterator[Path]:
    """Yield a temporary path beside `dst`; when the block succeeds, commit it to `dst`
    (see `commit`). On any failure, the signal watchdog's forced exit included, the temporary
    is removed. Stale temporaries of `dst` from killed runs go once `dst` is complete."""
    tmp = temp_path(dst)
    signals.track(tmp)
    try:
        try:
            yield tmp
            commit(tmp, dst, overwrite=overwrite)
        except BaseException:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
            raise
    finally:
        signals.untrack(tmp)
    remove_stale_partials(dst)

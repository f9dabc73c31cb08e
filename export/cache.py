"""The on-disk cache of exported ONNX graphs and built TensorRT engines, trusted only as far as checked.

Whatever a cache file holds is run as the model, and a damaged one would fail
every later run, so an entry is used only when

- its folder belongs to this user and no one else may write to it (folders are
  created 0700; an unsafe folder gets one warning and the run goes on without
  the cache);
- the entry is a regular file (not a link) of this user's that no one else may write;
- its bytes hash to the sha256 recorded beside it when it was written
  (``NAME.sha256``, in ``sha256sum`` format, naming the entry: a hash copied
  from another entry does not fit).

Anything else gets one warning, is removed and is rebuilt. Entries and their
hashes are written atomically (`vidrestore.io.paths.atomic_output`), entry
first: an entry left without its hash, or with a stale one, by a crash or a
concurrent run reads as bad and is rebuilt, never trusted.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from pathlib import Path

from vidrestore.errors import OutputError

log = logging.getLogger(__name__)

HASH_SUFFIX = ".sha256"
_FIX = "make it yours and private (chmod 700) or set VIDRESTORE_CACHE to a folder of your own"


class _Doubt(Exception):
    """Why an entry cannot be trusted."""


class CacheFolder:
    """One folder of entries, such as `cache_dir("onnx")`. Whether the folder is safe
    is decided at its first use, with at most one warning."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._safe: bool | None = None

    def usable(self, *, create: bool = True) -> bool:
        """Whether entries may be read from and written to the folder (created 0700 if missing)."""
        if self._safe is not None:
            return self._safe
        try:
            if create:
                _make_private(self.folder)
            info = os.stat(self.folder)
        except FileNotFoundError:
            return False  # nothing cached yet: decided when something is written
        except OSError as exc:
            log.warning("cannot use the cache folder %s (%s); running without the cache", self.folder, exc.strerror or exc)
            self._safe = False
            return False
        problem = _problem(info, "folder")
        if problem:
            log.warning("not using the cache folder %s: it %s; %s", self.folder, problem, _FIX)
        self._safe = problem is None
        return self._safe

    def read(self, name: str) -> bytes | None:
        """The entry's bytes when it passes every check; None when it is absent (quietly)
        or doubtful (one warning, and it is removed so that it is rebuilt)."""
        path = self.folder / name
        if not os.path.lexists(path) or not self.usable(create=False):
            return None
        try:
            data = _read_own(path)
            try:
                recorded = _read_own(self._hash_path(name))
            except FileNotFoundError:
                raise _Doubt("has no recorded hash") from None
            if recorded != _hash_line(data, name):
                raise _Doubt("does not match the hash recorded when it was written")
        except _Doubt as doubt:
            return self._reject(path, str(doubt))
        except OSError as exc:
            return self._reject(path, f"cannot be read ({exc.strerror or exc})")
        return data

    def write(self, name: str, data: bytes) -> Path | None:
        """Store `data` as entry `name` with its hash; the entry's path, or None where the
        folder is unsafe or cannot be written (the caller goes on without the cache)."""
        if not self.usable(create=True):
            return None
        path = self.folder / name
        try:
            _write_private(path, data)
            _write_private(self._hash_path(name), _hash_line(data, name))
        except (OSError, OutputError) as exc:
            log.warning("cannot write the cache entry %s (%s); it is rebuilt next time", path, exc)
            return None
        return path

    def _hash_path(self, name: str) -> Path:
        return self.folder / f"{name}{HASH_SUFFIX}"

    def _reject(self, path: Path, reason: str) -> None:
        """One warning; the entry and its hash go, so the rebuilt one takes their place."""
        log.warning("ignoring the cache entry %s: it %s; rebuilding it", path, reason)
        for doubtful in (path, self._hash_path(path.name)):
            try:
                doubtful.unlink(missing_ok=True)
            except OSError:
                pass  # the rebuilt entry's rename replaces it all the same


def _hash_line(data: bytes, name: str) -> bytes:
    return f"{hashlib.sha256(data).hexdigest()}  {name}\n".encode()


def _problem(info: os.stat_result, kind: str) -> str | None:
    """Why a file or folder with this stat cannot be trusted, or None."""
    is_kind = stat.S_ISDIR if kind == "folder" else stat.S_ISREG
    if not is_kind(info.st_mode):
        return f"is not a {'folder' if kind == 'folder' else 'regular file'}"
    if info.st_uid != os.geteuid():
        return f"is owned by uid {info.st_uid}, not by you (uid {os.geteuid()})"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"is writable by other users (mode {stat.S_IMODE(info.st_mode):o})"
    return None


def _read_own(path: Path) -> bytes:
    """The file's bytes, checked on the very file read: no link followed, no FIFO waited on."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        if os.path.islink(path):
            raise _Doubt("is a symbolic link") from None
        raise
    with open(fd, "rb") as f:
        problem = _problem(os.fstat(fd), "file")
        if problem:
            raise _Doubt(problem)
        return f.read()


def _write_private(path: Path, data: bytes) -> None:
    from vidrestore.io.paths import atomic_output

    with atomic_output(path, overwrite=True) as tmp:
        # Created 0600 whatever the umask: a group-writable entry would be refused on the next read.
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), "wb") as f:
            f.write(data)


def _make_private(folder: Path) -> None:
    """Create `folder` and any missing parents 0700 (existing ones are left as they are)."""
    missing = []
    while not os.path.lexists(folder) and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir(mode=0o700, exist_ok=True)

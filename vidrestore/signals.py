"""Ctrl-C and SIGTERM: every command stops within about a second, leaves no
temporary behind and exits 128 + the signal's number (130, 143).

Python runs signal handlers in the main thread between bytecodes, so a main
thread inside one long torch call (a large image through a deblurring model)
would not notice a signal until the call returns. Instead, `install` blocks
SIGINT and SIGTERM in every thread (threads inherit the mask) and one watcher
thread takes them with `sigwait`, whatever the others are doing:

- while a command has registered a graceful stop (`graceful`), the first
  signal asks it to stop (the video runner finishes its batch, a recording is
  closed, training saves a checkpoint) and gives it `grace` seconds;
- otherwise (start-up, imports, model loading, a single image, eval, export,
  bench), or when the grace runs out, or on a second signal, the watcher
  removes every temporary output still open (`track`) and ends the process at
  once with one line on stderr.

The watcher needs the GIL for a moment; torch, ONNX Runtime, FFmpeg and Pillow
release it while they compute, so a long model call does not hold it back.
This module imports nothing heavy: it is set up before torch is imported.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

SIGNALS = (signal.SIGINT, signal.SIGTERM)

_lock = threading.RLock()
_tracked: set[Path] = set()
_graceful: list[Graceful] = []
_installed = False


def track(path: Path) -> None:
    """A temporary output to remove if the process is ended by a signal."""
    with _lock:
        _tracked.add(path)


def untrack(path: Path) -> None:
    with _lock:
        _tracked.discard(path)


@dataclass
class Graceful:
    """A command's way to stop by itself: `request(signum)` asks it to; `grace` is how long it
    may take before the watcher ends the process (a command may raise it as it learns how long
    its steps take: training's step in hand plus a checkpoint); `outcome()` says what has been
    written, for the line printed when the watcher ends the process."""

    request: Callable[[int], None]
    grace: float = 1.0
    outcome: Callable[[], str] = field(default=lambda: "nothing was written")


class Stop(threading.Event):
    """Set when a run must end early; remembers the signal that asked for it."""

    signum: int | None = None

    def request(self, signum: int) -> None:
        self.signum = signum
        self.set()


def install() -> None:
    """Take SIGINT and SIGTERM away from Python's handlers (call first, from the main thread,
    before any other thread starts). Where `sigwait` is missing, Python's handlers do the same
    work between bytecodes instead."""
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    if hasattr(signal, "pthread_sigmask") and hasattr(signal, "sigwait"):
        signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        threading.Thread(target=_watch, name="vidrestore-signals", daemon=True).start()
    else:  # pragma: no cover - Windows
        for sig in SIGNALS:
            signal.signal(sig, lambda signum, frame: _dispatch(signum))
    _installed = True


def _watch() -> None:
    while True:
        _dispatch(signal.sigwait(SIGNALS))


_pending: threading.Timer | None = None


def _dispatch(signum: int) -> None:
    global _pending
    with _lock:
        current = _graceful[-1] if _graceful else None
        if current is None or _pending is not None:  # nothing can stop by itself, or a second signal
            _exit(signum, current.outcome() if current else "nothing was written")
            return
        _pending = threading.Timer(current.grace, _exit_late, args=(signum, current))
        _pending.daemon = True
        _pending.start()
    current.request(signum)


def _exit_late(signum: int, current: Graceful) -> None:
    with _lock:
        _exit(signum, current.outcome())


def _exit(signum: int, outcome: str) -> None:
    """Remove the temporaries, say so in one line, end the process now (no interpreter
    shutdown: threads inside torch or FFmpeg are not unwound, which is what we want)."""
    with _lock:
        for path in list(_tracked):
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass
        name = signal.Signals(signum).name
        line = f"vidrestore: error: interrupted by {name}; {outcome}\n"
        try:
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - a broken stderr must not keep the process alive
            pass
        try:
            # On a fresh line: on a terminal a progress line may be half drawn.
            os.write(2, (("\n" if os.isatty(2) else "") + line).encode())
        except OSError:
            pass
        os._exit(128 + signum)


@contextmanager
def graceful(request: Callable[[int], None], *, grace: float = 1.0,
             outcome: Callable[[], str] | None = None) -> Iterator[Graceful]:
    """Within the block, the first SIGINT/SIGTERM calls `request(signum)` (from another thread)
    and the process ends anyway `grace` seconds later. Without `install` (the CLI run in-process,
    e.g. by tests), Python's handlers call `request` in the main thread, as before."""
    global _pending
    entry = Graceful(request, grace, outcome or (lambda: "nothing was written"))
    previous: dict[int, object] = {}
    if not _installed:
        for sig in SIGNALS:
            try:
                previous[sig] = signal.signal(sig, lambda signum, frame: entry.request(signum))
            except ValueError:  # not the main thread
                pass
    with _lock:
        _graceful.append(entry)
    try:
        yield entry
    finally:
        with _lock:
            _graceful.remove(entry)
            if _pending is not None and not _graceful:
                # The command stopped by itself in time: it reports the interruption.
                _pending.cancel()
                _pending = None
        for sig, old in previous.items():
            signal.signal(sig, old)  # type: ignore[arg-type]

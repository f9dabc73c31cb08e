"""A small progress line on stderr: frames, fps, ETA."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int, *, label: str = "", enabled: bool = True, stream: TextIO | None = None) -> None:
        self.total = max(0, total)
        self.label = label
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.done = 0
        self.started = time.monotonic()
        self._last_draw = 0.0
        self._last_pct = -1
        self.stages = None  # the runner's StageTimes: per-stage fps on the line
        self.note = ""  # e.g. a cluster's workers alive

    def update(self, frames: int) -> None:
        self.done += frames
        self._draw()

    def set(self, done: int, *, note: str = "") -> None:
        """The count as a whole (a cluster's frames, finished and in hand, can go down when a
        worker dies mid-segment), and a note at the end of the line."""
        self.done, self.note = done, note
        self._draw()

    def _draw(self) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty and now - self._last_draw >= 0.25:
            self._last_draw = now
            self.stream.write("\r" + self.line() + "\x1b[K")
            self.stream.flush()
        elif not self.tty and self.total:
            pct = 100 * self.done // self.total // 10 * 10
            if pct > self._last_pct:
                self._last_pct = pct
                self.stream.write(self.line() + "\n")

    @property
    def fps(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        fps = self.fps
        parts = [self.label] if self.label else []
        if self.total:
            frac = min(1.0, self.done / self.total)
            bar = "#" * int(frac * 24)
            parts.append(f"[{bar:<24}] {self.done}/{self.total} frames")
            eta = (self.total - self.done) / fps if fps > 0 and self.done < self.total else 0.0
            parts.append(f"{fps:.1f} fps ETA {_clock(eta)}")
        else:
            parts.append(f"{self.done} frames {fps:.1f} fps")
        if self.stages is not None and self.done:
            parts.append(f"({self.stages.line()})")
        if self.note:
            parts.append(self.note)
        return "  ".join(parts)

    def clear(self) -> None:
        """Wipe the drawn line, so another line can be printed (the next update draws it again)."""
        if self.enabled and self.tty:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._last_draw = 0.0

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\r" + self.line() + "\x1b[K\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    s = int(seconds + 0.5)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"

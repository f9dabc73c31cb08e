"""The live engine: newest frame in, enhanced frame out, within a latency budget.

The budget is for capture-to-output latency: from the moment a frame left
the camera (or arrived from the browser) to the moment the sink has it. Each
frame's latency is the time it waited to be picked (under one frame interval,
as only the newest is kept), plus processing, plus the sink's hand-over.
Processing runs on the ladder of `live.governor`, which steps down to cheaper
settings when the budget is blown and back up when there is headroom.

Frames always go through one at a time (batch 1): batching trades latency for
throughput, the wrong trade here.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

from vidrestore.errors import VidrestoreError
from vidrestore.live.frames import Frame
from vidrestore.live.governor import Governor, Rung
from vidrestore.live.sinks import Sink
from vidrestore.live.sources import Source
from vidrestore.live.stats import LiveStats


class Engine:
    """Runs `source` through the ladder into `sink` until `stop`, the duration or the source ends."""

    def __init__(self, source: Source, sink: Sink, rungs: list[Rung], *, scale: int, budget_ms: float,
                 duration: float | None = None, status: Callable[[str], None] | None = None,
                 in_size: tuple[int, int] | None = None) -> None:
        self.source, self.sink, self.rungs, self.scale = source, sink, rungs, scale
        self.stats = LiveStats(budget_ms)
        self.governor = Governor(rungs, budget_ms, self.stats)
        self.duration = duration
        self.status = status
        self.in_size = in_size
        self.stop = threading.Event()
        self.bypass = False  # "before": plain bicubic, for the page's before/after toggle
        self._baseline = (0, 0)

    def run(self) -> LiveStats:
        self.source.start()
        opened = False
        complete = False
        try:
            deadline = None if self.duration is None else time.monotonic() + self.duration
            last_status = time.monotonic()
            while not self.stop.is_set() and (deadline is None or time.monotonic() < deadline):
                frame = self.source.mailbox.take(timeout=0.25)
                if frame is None:
                    if self.source.ended:
                        break
                    continue
                if not opened:
                    self._open(frame)
                    opened = True
                    frame = self.source.mailbox.take(timeout=0) or frame  # calibration took time: take the newest
                    # Counts start here, the frame in hand included: what arrived while calibrating is not the filter's doing.
                    self._baseline = (self.source.mailbox.put_count - 1, self.source.mailbox.dropped)
                bypass = self.bypass  # read once: the page's toggle sets it from another thread
                rung = self.rungs[-1] if bypass else self.governor.rung
                t = time.monotonic()
                luma, chroma = rung.run(frame, self.in_size, self.out_size)
                done = time.monotonic()
                self.sink.send(luma, chroma, frame)
                sent = time.monotonic()
                if self.sink.closed:
                    self.stop.set()
                process_ms, latency_ms = 1000 * (done - t), 1000 * (sent - frame.t)
                self.stats.record(latency_ms, process_ms, f"before: {rung.label}" if bypass else rung.label, sent)
                if not bypass:
                    self.governor.observe(process_ms, latency_ms, sent)
                if self.status is not None and sent - last_status >= 1.0:
                    self.status(self.status_line())
                    last_status = sent
            complete = True
        finally:
            self.source.stop()
            self._counts()
            self.stats.ended = time.monotonic()
            if opened:
                self.sink.close(complete=complete)
        if self.source.error is not None:
            error = self.source.error
            raise error if isinstance(error, VidrestoreError) else VidrestoreError(f"the source failed: {error}")
        return self.stats

    def status_line(self) -> str:
        self._counts()
        return self.stats.line(self.governor.rung.label)

    def _counts(self) -> None:
        box = self.source.mailbox
        self.stats.captured = box.put_count - self._baseline[0]
        self.stats.dropped = box.dropped - self._baseline[1]

    def _open(self, frame: Frame) -> None:
        self.in_size = self.in_size or frame.size
        w, h = self.in_size
        self.out_size = (w * self.scale, h * self.scale)
        self.stats.info.update(input_size=f"{w}x{h}", output_size=f"{w * self.scale}x{h * self.scale}")
        self.governor.calibrate(frame, self.in_size, self.out_size, self.source.fps)
        self.sink.open(self.out_size, self.source.fps)
        self.stats.started = time.monotonic()  # rates count from here
        for step in self.stats.steps:
            step.t = 0.0


def stderr_status() -> Callable[[str], None]:
    """A status line on stderr: rewritten in place on a terminal, one line at a time otherwise."""
    tty = sys.stderr.isatty()

    def show(line: str) -> None:
        if tty:
            sys.stderr.write("\r" + line[:160].ljust(100))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    return show

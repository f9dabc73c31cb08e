"""The live engine: newest frame in, enhanced frame out, within a latency budget.

The budget is for capture-to-output latency: from the moment a frame left
the camera (or arrived from the browser) to the moment the sink has it. Each
frame's latency is the time it waited to be picked (under one frame interval,
as only the newest is kept), plus processing, plus the sink's hand-over.

Processing runs on a ladder of settings, dearest first: the asked-for model
on the whole frame, then on a 3/4 and a 1/2 size input (its output resized to
the same final size), then each lighter model in turn down to bicubic. At
start the engine measures every rung on the first frame and starts on the
dearest that fits (predicted latency under 85% of the budget), so the first
frames already keep the budget. While running it:

- steps down at once when a frame blows the budget or the latency's moving
  average passes 90% of it, to the first rung whose measured cost fits;
- steps back up after a quiet spell (3 s under 60% of the budget) if the rung
  above is predicted to fit; if that rung then blows the budget, the engine
  steps down again and waits twice as long before the next try (up to a minute).

Predictions use the cost ratios between rungs measured at calibration: when
another program loads the machine, every rung slows alike, so the current
rung's cost times the ratio tracks the load both ways. Where no ratio is
known, a rung's own measurement counts if it is under 30 s old, and an
unknown rung is tried.

Frames always go through one at a time (batch 1): batching trades latency for
throughput, the wrong trade here.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from vidrestore.errors import VidrestoreError
from vidrestore.live.frames import Frame
from vidrestore.live.sources import Source
from vidrestore.pipeline.frames import FrameBatch
from vidrestore.pipeline.staging import pack

log = logging.getLogger(__name__)

# Lighter models to step down to, per model; every ladder ends on bicubic.
LIGHTER = {"edsr-large": "edsr", "edsr": "espcn", "srresnet": "espcn", "espcn": "bicubic", "lanczos": "bicubic"}
INPUT_FACTORS = (1.0, 0.75, 0.5)
FIT, BLOWN_AVERAGE, QUIET = 0.85, 0.9, 0.6  # fractions of the budget
QUIET_SECONDS, MAX_HOLD, STALE_SECONDS = 3.0, 60.0, 30.0


class Sink(Protocol):
    name: str
    closed: bool  # set by a sink the user closed (the preview window): the session ends

    def open(self, size: tuple[int, int], fps: float) -> None: ...

    def send(self, luma: np.ndarray, chroma: np.ndarray, frame: Frame) -> None: ...

    def close(self, *, complete: bool) -> None: ...


def resize_planes(batch: FrameBatch, size: tuple[int, int]) -> FrameBatch:
    """`batch` at `size` (width, height; even), bicubic, antialiased when shrinking.

    PyTorch's own resampler, not the MATLAB-exact `ops.resize.imresize` the
    models are measured with: 3 to 4x faster at these sizes (a 960x720 ->
    1280x960 frame: 9.5 against 34 ms), and a live picture needs no bit-exact
    reference."""
    w, h = size

    def resize(planes: np.ndarray, out: tuple[int, int]) -> np.ndarray:
        x = torch.from_numpy(planes).float()
        x = x[:, None] if x.dim() == 3 else x  # (N, H, W) luma -> (N, 1, H, W)
        shrink = out[0] < x.shape[-2] or out[1] < x.shape[-1]
        y = torch.nn.functional.interpolate(x, out, mode="bicubic", align_corners=False, antialias=shrink)
        return pack(y.reshape(*planes.shape[:-2], *out), batch.fmt).numpy()

    return FrameBatch(resize(batch.luma, (h, w)), resize(batch.chroma, (h // 2, w // 2)), batch.pts, batch.fmt)


@dataclass
class Rung:
    """One setting on the ladder: `model` on the input scaled by `factor`."""

    model: str
    factor: float
    processor: Any  # a pipeline Processor
    cost_ms: float | None = None  # moving average of processing time
    observed_at: float = 0.0  # time.monotonic() of the last measurement

    @property
    def label(self) -> str:
        return self.model if self.factor == 1.0 else f"{self.model} on {self.factor:g}x input"

    def run(self, frame: Frame, in_size: tuple[int, int], out_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        batch = frame.batch()
        if frame.size != in_size:  # a browser may change its camera's size mid-call
            batch = resize_planes(batch, in_size)
        if self.factor != 1.0:
            w, h = in_size
            batch = resize_planes(batch, (max(16, round(w * self.factor / 2) * 2), max(16, round(h * self.factor / 2) * 2)))
        out = self.processor.process(batch)
        if out.size != out_size:
            out = resize_planes(out, out_size)
        return out.luma[0], out.chroma[0]

    def observe(self, ms: float, now: float) -> None:
        self.cost_ms = ms if self.cost_ms is None else 0.7 * self.cost_ms + 0.3 * ms
        self.observed_at = now

    def estimate(self, now: float) -> float | None:
        """The cost to expect, or None when unknown or too old to trust (the machine's load changes)."""
        return None if self.cost_ms is None or now - self.observed_at > STALE_SECONDS else self.cost_ms


def ladder_models(model: str, scale: int) -> list[str]:
    from vidrestore.models import get_spec

    chain = [model]
    while chain[-1] in LIGHTER:
        lighter = LIGHTER[chain[-1]]
        if scale in get_spec(lighter, "sr").scales:
            chain.append(lighter)
        else:
            break
    if chain[-1] != "bicubic":
        chain.append("bicubic")
    return chain


def build_ladder(model: str, scale: int, make: Callable[[str], Any]) -> list[Rung]:
    """The rungs for `model` at `scale`, dearest first; `make(name)` builds a processor."""
    rungs = []
    for name in ladder_models(model, scale):
        processor = make(name)
        factors = (1.0,) if name == "bicubic" else INPUT_FACTORS
        rungs.extend(Rung(name, f, processor) for f in factors)
    return rungs


@dataclass
class Step:
    t: float
    frm: str
    to: str
    reason: str


@dataclass
class LiveStats:
    budget_ms: float
    started: float = field(default_factory=time.monotonic)
    latencies_ms: list[float] = field(default_factory=list)
    process_ms: list[float] = field(default_factory=list)
    sent: list[float] = field(default_factory=list)  # when each frame reached the sink
    rung_frames: dict[str, int] = field(default_factory=dict)
    rung_over_budget: dict[str, int] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    calibration_ms: dict[str, float] = field(default_factory=dict)  # each rung measured at start, dearest first
    captured: int = 0
    dropped: int = 0
    ended: float | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def record(self, latency_ms: float, process_ms: float, rung: str, sent: float) -> None:
        self.sent.append(sent)
        self.latencies_ms.append(latency_ms)
        self.process_ms.append(process_ms)
        self.rung_frames[rung] = self.rung_frames.get(rung, 0) + 1
        if latency_ms > self.budget_ms:
            self.rung_over_budget[rung] = self.rung_over_budget.get(rung, 0) + 1

    @property
    def frames_out(self) -> int:
        return len(self.sent)

    @property
    def seconds(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    @property
    def active_seconds(self) -> float:
        """From the start to the last frame out: a source that stalls (a browser that
        left) does not dilute the rates."""
        return (self.sent[-1] if self.sent else self.started) - self.started

    def percentiles(self, values: list[float], window: int | None = None) -> dict[str, float]:
        data = np.asarray(values[-window:] if window else values, dtype=np.float64)
        if data.size == 0:
            return {"p50": 0.0, "p95": 0.0, "max": 0.0}
        return {"p50": float(np.percentile(data, 50)), "p95": float(np.percentile(data, 95)), "max": float(data.max())}

    def line(self, rung: str, window: int = 60) -> str:
        lat = self.percentiles(self.latencies_ms, window)
        minutes = max(self.seconds, 1e-6) / 60
        recent = self.sent[-window:]
        fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 and recent[-1] > recent[0] else 0.0
        return (f"live {fps:.1f} fps | latency p50 {lat['p50']:.0f} ms, p95 {lat['p95']:.0f}, max {lat['max']:.0f} "
                f"(budget {self.budget_ms:.0f}) | drops {self.dropped / minutes:.0f}/min | {rung}")

    def summary(self) -> dict[str, Any]:
        seconds = self.active_seconds
        return {
            **self.info,
            "seconds": self.seconds,
            "active_seconds": seconds,
            "budget_ms": self.budget_ms,
            "frames_captured": self.captured,
            "frames_out": self.frames_out,
            "frames_dropped": self.dropped,
            "drops_per_minute": self.dropped / (seconds / 60) if seconds > 0 else 0.0,
            "fps": self.frames_out / seconds if seconds > 0 else 0.0,
            "latency_ms": self.percentiles(self.latencies_ms),
            "process_ms": self.percentiles(self.process_ms),
            "frames_over_budget": sum(self.rung_over_budget.values()),
            "rung_frames": self.rung_frames,
            "rung_over_budget": self.rung_over_budget,
            "calibration_ms": self.calibration_ms,
            "steps": [{"t": round(s.t, 3), "from": s.frm, "to": s.to, "reason": s.reason} for s in self.steps],
        }


class Governor:
    """Which rung runs next, from the latencies seen so far (see the module's docstring)."""

    def __init__(self, rungs: list[Rung], budget_ms: float, stats: LiveStats) -> None:
        self.rungs = rungs
        self.budget = budget_ms
        self.stats = stats
        self.index = 0
        self.overhead_ms = 0.0  # latency beyond processing: waiting to be picked, the sink
        self.latency_avg: float | None = None
        self.quiet_since: float | None = None
        self.hold = QUIET_SECONDS
        self.probing: int | None = None  # the rung stepped up to, until it proves itself
        # ratio[i]: cost of rung i over rung i + 1, from measurements close in time. Load
        # (other programs, thermal limits) scales every rung alike, so the ratio outlives it.
        self.ratio: dict[int, float] = {}

    @property
    def rung(self) -> Rung:
        return self.rungs[self.index]

    def fits(self, cost: float | None) -> bool:
        """Whether a rung costing `cost` ms (None: unknown) is expected to keep the budget."""
        return cost is not None and cost + self.overhead_ms <= FIT * self.budget

    def predict(self, index: int, now: float) -> float | None:
        """Rung `index`'s cost now: the current rung's cost scaled by the measured ratios
        between them, else that rung's own recent measurement, else None (unknown)."""
        cost = self.rung.cost_ms
        lo, hi = sorted((index, self.index))
        if cost is not None and all(k in self.ratio for k in range(lo, hi)):
            for k in range(lo, hi):
                cost = cost * self.ratio[k] if index < self.index else cost / self.ratio[k]
            return cost
        return self.rungs[index].estimate(now)

    def calibrate(self, frame: Frame, in_size: tuple[int, int], out_size: tuple[int, int], fps: float = 30.0) -> None:
        """Measure every rung on `frame` (a warm-up run, then two timed ones) and start on the
        dearest that fits. The neighbours' cost ratios come from these same runs."""
        # Until measured, latency beyond processing is the newest frame's age when picked: up to a
        # frame interval (half on average); the whole interval keeps the first frames inside the budget.
        self.overhead_ms = 1000.0 / fps
        for index, rung in enumerate(self.rungs):
            rung.run(frame, in_size, out_size)  # warm-up: sessions, allocators, caches
            runs = []
            for _ in range(2):  # the faster of two: a hiccup elsewhere should not rule a rung out
                t = time.perf_counter()
                rung.run(frame, in_size, out_size)
                runs.append(1000 * (time.perf_counter() - t))
            rung.observe(min(runs), time.monotonic())
            self.stats.calibration_ms[rung.label] = rung.cost_ms
            if index > 0:
                self.ratio[index - 1] = self.rungs[index - 1].cost_ms / rung.cost_ms
        start = next((i for i, rung in enumerate(self.rungs) if self.fits(rung.cost_ms)), len(self.rungs) - 1)
        self._move(start, f"calibrated: {self.rungs[start].cost_ms:.0f} ms a frame")

    def observe(self, process_ms: float, latency_ms: float, now: float) -> None:
        rung = self.rung
        rung.observe(process_ms, now)
        self.overhead_ms = 0.8 * self.overhead_ms + 0.2 * max(0.0, latency_ms - process_ms)
        self.latency_avg = latency_ms if self.latency_avg is None else 0.8 * self.latency_avg + 0.2 * latency_ms
        blown = latency_ms > self.budget
        if blown or self.latency_avg > BLOWN_AVERAGE * self.budget:
            if self.probing == self.index:
                self.hold = min(MAX_HOLD, self.hold * 2)  # the step up did not hold: wait longer next time
            self.probing = None
            self._step_down(f"latency {latency_ms:.0f} ms" if blown else f"average latency {self.latency_avg:.0f} ms", now)
            return
        if self.probing == self.index and self.latency_avg < QUIET * self.budget:
            self.probing = None
            self.hold = QUIET_SECONDS
        if self.latency_avg < QUIET * self.budget:
            if self.quiet_since is None:
                self.quiet_since = now
            if now - self.quiet_since >= self.hold and self.index > 0:
                cost = self.predict(self.index - 1, now)
                if cost is None or self.fits(cost):  # unknown: try it
                    self.probing = self.index - 1
                    self._move(self.index - 1, f"headroom: average latency {self.latency_avg:.0f} ms")
        else:
            self.quiet_since = None

    def _step_down(self, reason: str, now: float) -> None:
        if self.index == len(self.rungs) - 1:
            return
        target = self.index + 1
        for i in range(self.index + 1, len(self.rungs)):  # skip rungs predicted not to fit
            target = i
            cost = self.predict(i, now)
            if cost is None or self.fits(cost):
                break
        self._move(target, reason)

    def _move(self, index: int, reason: str) -> None:
        if index != self.index or not self.stats.steps:
            self.stats.steps.append(Step(self.stats.seconds, self.rung.label, self.rungs[index].label, reason))
            if index != self.index:
                log.info("%s -> %s (%s)", self.rung.label, self.rungs[index].label, reason)
        self.index = index
        self.quiet_since = None
        self.latency_avg = None


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

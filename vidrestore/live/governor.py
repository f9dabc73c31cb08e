"""The ladder of settings a live session runs on, and the governor that picks the rung.

Processing runs on a ladder of models, dearest first: the asked-for model,
then each lighter model in turn (`ModelSpec.lighter`) down to bicubic, every
one on the whole frame. The ladder is quality-true: a rung is on it only when
its weights' held-out gain over bicubic is at least `MARGIN_DB` above every
cheaper rung's measured on the same photos (a rung that would not be clearly
better is left off with a warning), so every step up the ladder buys a better
picture.
Running a model on a reduced input and resizing its output up is no rung: it
loses more detail than the model restores (issue 16 measured 1.3 to 3.6 dB
below bicubic).

At start the engine measures every rung on the first frame and starts on the
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
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vidrestore.frames.color import resize_planes
from vidrestore.live.frames import Frame
from vidrestore.live.stats import LiveStats, Step

if TYPE_CHECKING:
    from vidrestore.pipeline.build import Announce, Runtime

log = logging.getLogger(__name__)

FIT, BLOWN_AVERAGE, QUIET = 0.85, 0.9, 0.6  # fractions of the budget
QUIET_SECONDS, MAX_HOLD, STALE_SECONDS = 3.0, 60.0, 30.0
# How much more a rung must gain than every cheaper one to earn its place. Gains move by
# about this much from one set of photos to another: EDSR x2 gains 0.18 dB more than ESPCN
# on the held-out photos and 0.01 dB more on the four photos of tests/live/test_ladder_quality.py.
MARGIN_DB = 0.2


@dataclass
class Rung:
    """One setting on the ladder: `model` on the whole frame. `gain_db` is its weights'
    measured PSNR-Y gain over bicubic on held-out photos (0 for bicubic itself; None:
    the weights file does not say); `held_out` names those photos (the file's
    `val_files`): gains measured on different photos do not compare."""

    model: str
    processor: Any  # a pipeline Processor
    cost_ms: float | None = None  # moving average of processing time
    observed_at: float = 0.0  # time.monotonic() of the last measurement
    gain_db: float | None = None
    held_out: str | None = None

    @property
    def label(self) -> str:
        return self.model

    def run(self, frame: Frame, in_size: tuple[int, int], out_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        batch = frame.batch()
        if frame.size != in_size:  # a browser may change its camera's size mid-call
            batch = resize_planes(batch, in_size)
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
    """`model`, then each lighter model in turn while it runs at `scale`, then bicubic."""
    from vidrestore.models import get_spec

    chain = [model]
    lighter = get_spec(model, "sr").lighter
    while lighter is not None and lighter not in chain and scale in get_spec(lighter, "sr").scales:
        chain.append(lighter)
        lighter = get_spec(lighter, "sr").lighter
    if chain[-1] != "bicubic":
        chain.append("bicubic")
    return chain


def quality_true(rungs: list[Rung]) -> list[Rung]:
    """`rungs` (dearest first) without those whose gain is not at least `MARGIN_DB` above
    every cheaper rung's measured on the same held-out photos: a dearer rung must give a
    better picture, and none may be worse than bicubic (0 dB on any photos). A rung of
    unknown gain stays (it cannot be judged) and does not raise the bar; nor does a gain
    measured on other photos than the rung's own."""
    kept: list[Rung] = []
    best: dict[str | None, float] = {}  # held-out photos -> the highest gain kept so far on them
    for rung in reversed(rungs):
        bar = best.get(rung.held_out, 0.0)
        if rung is rungs[-1] or rung.gain_db is None or rung.gain_db >= bar + MARGIN_DB:
            kept.append(rung)
            if rung is not rungs[-1] and rung.gain_db is not None:
                best[rung.held_out] = max(bar, rung.gain_db)
        else:
            log.warning("%s is left off the live ladder: its held-out gain (%+.2f dB over bicubic) is not %.1f dB "
                        "above a cheaper rung's on the same photos (%+.2f dB)", rung.label, rung.gain_db, MARGIN_DB, bar)
    return kept[::-1]


def build_ladder(model: str, scale: int, make: Callable[[str], tuple[Any, float | None, str | None]]) -> list[Rung]:
    """The rungs for `model` at `scale`, dearest first, kept quality-true (`quality_true`);
    `make(name)` builds a processor and says the model's gain over bicubic and the
    held-out photos it was measured on."""
    rungs = []
    for name in ladder_models(model, scale):
        processor, gain, held_out = make(name)
        rungs.append(Rung(name, processor, gain_db=0.0 if name == "bicubic" else gain, held_out=held_out))
    return quality_true(rungs)


def open_ladder(model: str, scale: int, runtime: Runtime, announce: Announce | None = None,
                weights: Path | None = None) -> list[Rung]:
    """The ladder for `model` at `scale`, each model loaded and opened as `runtime` says,
    the way every command opens one (tiled on demand when memory runs out); `weights`
    is a file for `model` itself (the lighter rungs use their shipped weights);
    `announce` hears which backend `auto` took."""
    from vidrestore.models import load
    from vidrestore.models.weights import read_metadata, recorded_number, recorded_photos
    from vidrestore.pipeline.build import open_model, stage_for

    def make(name: str) -> tuple[Any, float | None, str | None]:
        loaded = load(name, scale=scale, task="sr", weights=weights if name == model else None)
        # `vidrestore train` (and `eval --record`) record the held-out gain over bicubic in the file.
        metadata = {} if loaded.weights is None else read_metadata(loaded.weights)
        processor = stage_for(loaded, open_model(loaded, runtime, announce))
        return processor, recorded_number(metadata, "val_gain_db"), recorded_photos(metadata)

    return build_ladder(model, scale, make)


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
        stats.gains_db = {rung.label: rung.gain_db for rung in rungs}

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

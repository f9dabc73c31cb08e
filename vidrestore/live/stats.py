"""What a live session measured: each frame's latency and processing time, the frames
captured, sent and dropped, and every step on the ladder, as a status line and a summary."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np


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
    gains_db: dict[str, float | None] = field(default_factory=dict)  # each rung's held-out gain over bicubic, dearest first
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

    @property
    def rung_held(self) -> str | None:
        """The rung that processed the most frames (the page's "before" frames aside)."""
        counts = {k: v for k, v in self.rung_frames.items() if not k.startswith("before: ")}
        return max(counts, key=counts.__getitem__) if counts else None

    def summary(self) -> dict[str, Any]:
        seconds = self.active_seconds
        held = self.rung_held
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
            "ladder": [{"rung": name, "gain_db": gain, "calibrated_ms": self.calibration_ms.get(name)}
                       for name, gain in self.gains_db.items()],
            "rung_held": held,
            "rung_held_gain_db": self.gains_db.get(held) if held else None,
            "steps": [{"t": round(s.t, 3), "from": s.frm, "to": s.to, "reason": s.reason} for s in self.steps],
        }

"""What an evaluation found: per-photo scores of every answer, their means, and
what was scored how, printed as aligned table rows and saved as JSON.

Each protocol (`sr`, `deblur`) describes its answers and columns in a
`Layout`; one `Report` serves both. Undefined scores (MS-SSIM of a small
photo, Richardson-Lucy without a known kernel) show as "-" in the table and
null in the JSON, which has no NaN; so does a perfect, infinite PSNR.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vidrestore.eval.scores import METRIC_TEXT, EvalResult, ImageScores

# An answer's scores ({"psnr": 31.2, ...}) by answer name ("bicubic", "model", ...).
Cells = dict[str, dict[str, float | None]]


@dataclass(frozen=True)
class Column:
    label: str  # "{model}" stands for the model's name
    value: Callable[[Cells], float | None]
    spec: str  # format spec of the value


def score(answer: str, metric: str) -> Callable[[Cells], float | None]:
    return lambda cells: cells[answer][metric]


def gain(baseline: str) -> Callable[[Cells], float | None]:
    """Model minus `baseline` PSNR-Y, dB."""
    def value(cells: Cells) -> float | None:
        base, ours = cells[baseline]["psnr"], cells["model"]["psnr"]
        return None if base is None or ours is None else ours - base

    return value


def ratio(baseline: str, metric: str) -> Callable[[Cells], float | None]:
    """The model's score over `baseline`'s (None where the baseline's is 0 or undefined)."""
    def value(cells: Cells) -> float | None:
        base, ours = cells[baseline][metric], cells["model"][metric]
        return None if not base or ours is None else ours / base

    return value


@dataclass(frozen=True)
class Layout:
    """What one protocol scores and how its report looks."""

    task: str
    answers: tuple[str, ...]  # the baseline first (the gain is over it), "model" last
    metrics: tuple[str, ...]  # the scores each answer gets
    columns: tuple[Column, ...]
    title: str  # formatted with model, scale, source, count, device
    protocol: str  # the protocol in words, for the JSON
    # The JSON's fields before "images": each protocol's reports keep the fields they
    # have always had, which scripts read (super-resolution's have no "task").
    json_fields: tuple[str, ...]


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass
class Report:
    """An evaluation's figures, filled photo by photo (`add`)."""

    layout: Layout
    model: str
    scale: int
    weights: Path | None  # the weights file or graph scored; None for the interpolators
    device: str
    names: list[str]  # the photos' names, in order
    per_image: dict[str, dict[str, ImageScores]] = field(default_factory=dict)  # name -> answer -> scores

    def add(self, name: str, scores: dict[str, ImageScores]) -> None:
        if set(scores) != set(self.layout.answers):
            raise ValueError(f"{name}: scores for {sorted(scores)}, expected {list(self.layout.answers)}")
        self.per_image[name] = scores

    def result(self, answer: str) -> EvalResult:
        """One answer's scores over the photos done so far."""
        return EvalResult({n: s[answer] for n, s in self.per_image.items()})

    def cells(self, name: str | None = None) -> Cells:
        """One photo's scores, or with no name the means, of every answer."""
        metrics = self.layout.metrics
        if name is not None:
            scores = self.per_image[name]
            return {a: {m: _finite(v) for m, v in asdict(scores[a]).items() if m in metrics} for a in self.layout.answers}
        return {a: {m: _finite(self.result(a).mean(m)) for m in metrics} for a in self.layout.answers}

    # -- the table -----------------------------------------------------------------------------------
    @property
    def mean_label(self) -> str:
        return f"mean ({len(self.names)} photos)"

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(c.label.format(model=self.model) for c in self.layout.columns)

    @property
    def title(self) -> str:
        source = self.weights.name if self.weights is not None else "no weights"
        return self.layout.title.format(model=self.model, scale=self.scale, source=source, count=len(self.names),
                                        device=self.device)

    @property
    def header(self) -> str:
        return self._line("image", self.labels)

    def row(self, name: str | None = None) -> str:
        """One photo's row, or with no name the row of means."""
        cells = self.cells(name)
        values = tuple("-" if (v := c.value(cells)) is None else format(v, c.spec) for c in self.layout.columns)
        return self._line(self.mean_label if name is None else name, values)

    def _line(self, first: str, cells: tuple[str, ...]) -> str:
        width = max(len("image"), len(self.mean_label), *map(len, self.names))
        return f"{first:<{width}}  " + "  ".join(f"{c:>{len(label)}}" for c, label in zip(cells, self.labels, strict=True))

    def lines(self) -> list[str]:
        """The whole table: title, header, a row per photo done, the means."""
        return [self.title, self.header, *(self.row(n) for n in self.names if n in self.per_image), self.row()]

    # -- JSON ----------------------------------------------------------------------------------------
    def to_json(self) -> dict:
        head = {
            "task": self.layout.task,
            "model": self.model,
            "scale": self.scale,
            "weights": str(self.weights) if self.weights is not None else None,
            "device": self.device,
            "protocol": self.layout.protocol,
            "metrics": {m: METRIC_TEXT[m] for m in self.layout.metrics},
        }
        gain_db = gain(self.layout.answers[0])
        images = []
        for name in (n for n in self.names if n in self.per_image):
            cells = self.cells(name)
            images.append({"name": name, **cells, "gain_db": gain_db(cells)})
        means = self.cells()
        return {**{k: head[k] for k in self.layout.json_fields}, "images": images, "mean": {**means, "gain_db": gain_db(means)}}

    def write_json(self, path: Path) -> None:
        from vidrestore.io.paths import atomic_output

        with atomic_output(path, overwrite=True) as tmp:  # a report, replaced like a log
            tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")

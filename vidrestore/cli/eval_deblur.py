"""`vidrestore eval --task deblur`: the blurry input, Richardson-Lucy and the model, per photo."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from vidrestore.models import ModelSpec
    from vidrestore.training.evaluate import EvalResult

ANSWERS = ("blurry", "richardson_lucy", "model")


def _cells(result: EvalResult | None, name: str | None) -> dict[str, float | None]:
    if result is None:
        return {"psnr": None, "ssim": None}
    values = asdict(result.per_image[name]) if name is not None else {m: result.mean(m) for m in ("psnr", "ssim")}
    return {k: (v if math.isfinite(v) else None) for k, v in values.items() if k in ("psnr", "ssim")}


class DeblurTable:
    labels = ("blurry PSNR-Y", "SSIM-Y", "R-L PSNR-Y", "SSIM-Y", "model PSNR-Y", "SSIM-Y", "gain dB")

    def __init__(self, names: list[str], mean_label: str) -> None:
        self.first = max(len("image"), len(mean_label), *map(len, names))

    def line(self, first: str, cells: tuple[str, ...]) -> str:
        return f"{first:<{self.first}}  " + "  ".join(f"{c:>{len(label)}}" for c, label in zip(cells, self.labels, strict=True))

    def row(self, label: str, scores: dict[str, dict[str, float | None]]) -> str:
        def num(value: float | None, spec: str) -> str:
            return "-" if value is None else format(value, spec)

        blurry, rl, ours = (scores[a] for a in ANSWERS)
        gain = None if blurry["psnr"] is None or ours["psnr"] is None else ours["psnr"] - blurry["psnr"]
        cells = (num(blurry["psnr"], ".3f"), num(blurry["ssim"], ".4f"), num(rl["psnr"], ".3f"), num(rl["ssim"], ".4f"),
                 num(ours["psnr"], ".3f"), num(ours["ssim"], ".4f"), num(gain, "+.3f"))
        return self.line(label, cells)


def eval_deblur(spec: ModelSpec, paths: list[Path], weights: Path | None, json_path: Path | None, device: str) -> None:
    import torch
    from PIL import Image, UnidentifiedImageError

    from vidrestore.backends import resolve_device
    from vidrestore.cli.eval import check_json_output, load_model
    from vidrestore.errors import InputError
    from vidrestore.training.blur import PROTOCOL
    from vidrestore.training.evaluate import EvalResult, display_names
    from vidrestore.training.evaluate_deblur import (
        check_deblur_size,
        evaluate_blurry,
        evaluate_deblur,
        evaluate_richardson_lucy,
        load_deblur_image,
    )

    if json_path is not None:
        check_json_output(json_path)
    for path in paths:  # headers only: every photo opens and is large enough before any model runs
        try:
            with Image.open(path) as im:
                width, height = im.size
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise InputError(f"{path}: not an image Pillow can read ({exc})") from None
        check_deblur_size(path, width, height)
    net, weights_file = load_model(spec, 1, weights)
    dev = resolve_device(device)  # type: ignore[arg-type]
    net.to(dev)

    names = display_names(paths)
    mean_label = f"mean ({len(paths)} photos)"
    table = DeblurTable(names, mean_label)
    click.echo(f"{spec.name} ({weights_file.name if weights_file else 'no weights'}) on {len(paths)} blurred photos, device {dev}")
    click.echo(table.line("image", table.labels))
    results = {a: EvalResult({}) for a in ANSWERS}
    metrics = ("psnr", "ssim")
    for path, name in zip(paths, names, strict=True):
        image = load_deblur_image(path, name=name)
        results["blurry"].per_image.update(evaluate_blurry([image], metrics=metrics).per_image)
        results["richardson_lucy"].per_image.update(evaluate_richardson_lucy([image], metrics=metrics).per_image)
        results["model"].per_image.update(evaluate_deblur(net, [image], device=dev, metrics=metrics).per_image)
        click.echo(table.row(name, {a: _cells(results[a], name) for a in ANSWERS}))
        if dev == "cuda":
            torch.cuda.empty_cache()
    click.echo(table.row(mean_label, {a: _cells(results[a], None) for a in ANSWERS}))

    if json_path is not None:
        from vidrestore.io.paths import atomic_output

        def gain(scores: dict[str, dict[str, float | None]]) -> float | None:
            b, m = scores["blurry"]["psnr"], scores["model"]["psnr"]
            return None if b is None or m is None else m - b

        images = []
        for name in names:
            scores = {a: _cells(results[a], name) for a in ANSWERS}
            images.append({"name": name, **scores, "gain_db": gain(scores)})
        means = {a: _cells(results[a], None) for a in ANSWERS}
        report = {
            "task": "deblur",
            "model": spec.name,
            "weights": str(weights_file) if weights_file is not None else None,
            "device": dev,
            "protocol": PROTOCOL,
            "images": images,
            "mean": {**means, "gain_db": gain(means)},
        }
        with atomic_output(json_path, overwrite=True) as tmp:  # a report, replaced like a log
            tmp.write_text(json.dumps(report, indent=2) + "\n")
        click.echo(f"wrote {json_path}", err=True)

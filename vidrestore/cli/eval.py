"""`vidrestore eval`: score a model against bicubic on a folder of photos, as SR papers do."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import click

from vidrestore.cli import user_errors
from vidrestore.cli.options import scale_options
from vidrestore.errors import InputError, OutputError, UsageError, WeightsError

if TYPE_CHECKING:
    from torch import nn

    from vidrestore.models import ModelSpec


def find_photos(paths: tuple[Path, ...]) -> list[Path]:
    """The jpg/png files in the given folders (sorted by name) and the image files given directly."""
    from vidrestore.training.photos import IMAGE_SUFFIXES

    found: list[Path] = []
    for path in paths:
        if not path.exists():
            raise InputError(f"{path}: no such file or folder")
        if path.is_dir():
            photos = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not photos:
                raise InputError(f"{path}: folder holds no jpg or png images")
            found += photos
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            found.append(path)
        else:
            raise InputError(f"{path}: not a jpg or png image")
    return found


def check_photos(paths: list[Path], scale: int) -> None:
    """Every photo opens and is large enough, before any model runs (reads headers only)."""
    from PIL import Image, UnidentifiedImageError

    from vidrestore.training.evaluate import check_size

    for path in paths:
        try:
            with Image.open(path) as im:
                width, height = im.size
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise InputError(f"{path}: not an image Pillow can read ({exc})") from None
        check_size(path, width, height, scale)


def check_json_output(path: Path) -> None:
    if path.is_dir():
        raise OutputError(f"{path} is a folder; give a file name for --json")
    if not path.parent.is_dir():
        raise OutputError(f"output folder {path.parent} does not exist")


def load_model(spec: ModelSpec, scale: int, weights: Path | None) -> tuple[nn.Module, Path | None]:
    """The model and the weights file it came from (None for the interpolators)."""
    from vidrestore.models import build_model

    path = weights if weights is not None else spec.weights_path(scale)
    if path is None:
        model = build_model(spec, scale)
        if any(True for _ in model.parameters()):
            raise WeightsError(f"model {spec.name!r} ships no weights; give a weights file with --weights")
        return model, None
    if weights is None and not path.is_file():
        raise WeightsError(f"the shipped {spec.name} x{scale} weights are not installed ({path}); give a weights file with --weights")
    return build_model(spec, scale, path), path


def _finite(value: float) -> float | None:
    """JSON has no NaN or infinity: null stands for an undefined (or perfect, infinite) score."""
    return value if math.isfinite(value) else None


def _scores(result, name: str | None = None) -> dict[str, float | None]:
    from vidrestore.training.evaluate import METRICS

    if name is not None:
        return {k: _finite(v) for k, v in asdict(result.per_image[name]).items()}
    return {metric: _finite(result.mean(metric)) for metric in METRICS}


class Table:
    """The figures as aligned text rows, printed as each photo is done."""

    def __init__(self, model: str, names: list[str], mean_label: str) -> None:
        self.labels = ("bicubic PSNR-Y", "SSIM-Y", f"{model} PSNR-Y", "SSIM-Y", "gain dB", "MS-SSIM-Y", "grad x bic")
        self.first = max(len("image"), len(mean_label), *map(len, names))

    @property
    def header(self) -> str:
        return self._line("image", self.labels)

    def _line(self, first: str, cells: tuple[str, ...]) -> str:
        return f"{first:<{self.first}}  " + "  ".join(f"{c:>{len(label)}}" for c, label in zip(cells, self.labels, strict=True))

    def row(self, label: str, base: dict, ours: dict) -> str:
        def num(value: float | None, spec: str) -> str:
            return "-" if value is None else format(value, spec)

        gain = None if base["psnr"] is None or ours["psnr"] is None else ours["psnr"] - base["psnr"]
        sharp = None if not base["grad_energy"] or ours["grad_energy"] is None else ours["grad_energy"] / base["grad_energy"]
        cells = (num(base["psnr"], ".3f"), num(base["ssim"], ".4f"), num(ours["psnr"], ".3f"), num(ours["ssim"], ".4f"),
                 num(gain, "+.3f"), num(ours["ms_ssim"], ".4f"), num(sharp, ".3f"))
        return self._line(label, cells)


def _weights_arch(path: Path) -> str | None:
    """The architecture a weights file says it holds, if it is one we know."""
    from vidrestore.models import MODELS
    from vidrestore.models.weights import read_metadata

    arch = read_metadata(path).get("arch")
    return arch if arch in MODELS else None


@click.command("eval", short_help="Score a model on photos the way the papers do (PSNR-Y, SSIM-Y, MS-SSIM).")
@click.argument("folders", metavar="FOLDER...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--task", type=click.Choice(["sr", "deblur"]), default=None,
              help="What to score: super-resolution against bicubic, or deblurring against the blurry input "
                   "and Richardson-Lucy. Default: the model's task.")
@click.option("--model", default=None, help="Model name (see `vidrestore models`); default: the architecture named in --weights, else espcn, or srn for --task deblur.")
@click.option("--weights", type=click.Path(path_type=Path), help="A safetensors weights file for the model instead of the shipped one.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Also write the figures (per photo and means) to this JSON file.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--tile", type=click.IntRange(16, None), help="Run the model on N x N low-resolution tiles (less memory for large photos).")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@user_errors
@scale_options("Score {n}x super-resolution.", required=False)
def eval_command(
    folders: tuple[Path, ...],
    task: str | None,
    model: str | None,
    scale: int | None,
    weights: Path | None,
    json_path: Path | None,
    device: str,
    tile: int | None,
    debug: bool,
) -> None:
    """Score a model on the photos in FOLDER... (jpg, png) the way the papers do.

    Super-resolution (--x2/--x3/--x4): each photo is shrunk N times (MATLAB
    bicubic, antialiased, 8 bits) and brought back by bicubic and by the
    model; PSNR and SSIM compare MATLAB's Y channel of each result with the
    photo's, N pixels in from every border. Photos must have at least 11 + 2N
    pixels on each side; MS-SSIM needs 176 (shown as "-" below that). "grad x
    bic" is the gradient energy of the model's output over bicubic's: above 1
    is sharper.

    Deblurring (--task deblur): each photo is blurred by a random camera-shake
    kernel of 9 to 19 pixels (seeded by its file name) plus noise of sigma 2/255;
    the blurry photo, Richardson-Lucy given the true kernel, and the model are
    scored on Y, 16 pixels in from every border.
    """
    import torch

    from vidrestore.backends import resolve_device
    from vidrestore.models import DEFAULT_SR_MODEL, get_spec
    from vidrestore.models.registry import check_scale
    from vidrestore.training.evaluate import PROTOCOL, EvalResult, display_names, evaluate, evaluate_bicubic, load_image

    from vidrestore.models.registry import DEFAULT_DEBLUR_MODEL

    if model is None and weights is not None:
        model = _weights_arch(weights)
    if task is None:
        task = get_spec(model).task if model is not None else "sr"
    spec = get_spec(model or (DEFAULT_DEBLUR_MODEL if task == "deblur" else DEFAULT_SR_MODEL), task)  # type: ignore[arg-type]
    if task == "deblur":
        if scale is not None:
            raise UsageError("deblurring keeps the size: leave out --x2/--x3/--x4/--scale")
        from vidrestore.cli.eval_deblur import eval_deblur

        eval_deblur(spec, find_photos(folders), weights, json_path, device)
        return
    if scale is None:
        raise UsageError("give a scale: --x2, --x3, --x4 or --scale N")
    factor = scale
    check_scale(spec, factor)
    paths = find_photos(folders)
    if json_path is not None:
        check_json_output(json_path)
    check_photos(paths, factor)
    net, weights_file = load_model(spec, factor, weights)
    dev = resolve_device(device)  # type: ignore[arg-type]
    net.to(dev)

    names = display_names(paths)
    mean_label = f"mean ({len(paths)} photos)"
    table = Table(spec.name, names, mean_label)
    source = weights_file.name if weights_file is not None else "no weights"
    click.echo(f"{spec.name} x{factor} ({source}) on {len(paths)} photos, device {dev}")
    click.echo(table.header)
    base, ours = EvalResult({}), EvalResult({})
    for path, name in zip(paths, names, strict=True):
        image = load_image(path, factor, name=name)
        base.per_image.update(evaluate_bicubic([image], factor).per_image)
        ours.per_image.update(evaluate(net, spec.color, [image], factor, device=dev, tile=tile).per_image)
        click.echo(table.row(name, _scores(base, name), _scores(ours, name)))
        if dev == "cuda":
            torch.cuda.empty_cache()
    click.echo(table.row(mean_label, _scores(base), _scores(ours)))

    if json_path is not None:
        _write_json(json_path, spec.name, factor, weights_file, dev, names, base, ours, PROTOCOL)
        click.echo(f"wrote {json_path}", err=True)


def _write_json(path: Path, model: str, scale: int, weights: Path | None, device: str, names: list[str], base, ours, protocol: str) -> None:
    from vidrestore.io.paths import atomic_output

    def gain(b: dict, m: dict) -> float | None:
        return None if b["psnr"] is None or m["psnr"] is None else m["psnr"] - b["psnr"]

    images = []
    for name in names:
        b, m = _scores(base, name), _scores(ours, name)
        images.append({"name": name, "bicubic": b, "model": m, "gain_db": gain(b, m)})
    b, m = _scores(base), _scores(ours)
    report = {
        "model": model,
        "scale": scale,
        "weights": str(weights) if weights is not None else None,
        "device": device,
        "protocol": protocol,
        "metrics": {
            "psnr": "PSNR of the Y channel, dB",
            "ssim": "SSIM of the Y channel (Wang et al. 2004)",
            "ms_ssim": "MS-SSIM of the Y channel (Wang et al. 2003); null when a photo is under 176 pixels a side after the border crop",
            "grad_energy": "mean squared Sobel gradient magnitude of the Y channel (0-255 units): sharpness",
        },
        "images": images,
        "mean": {"bicubic": b, "model": m, "gain_db": gain(b, m)},
    }
    with atomic_output(path, overwrite=True) as tmp:  # a report, replaced like a log
        tmp.write_text(json.dumps(report, indent=2) + "\n")
